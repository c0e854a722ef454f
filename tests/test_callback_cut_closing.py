"""The callback held only closing is not counted among a job's data connections when
the control connection's close the capture holds is a later RST (cutcb64b).

Stored captures cut as a sniffer started late would leave them (`editcap -r CAPTURE OUT
FROM-1000000`: the frames from FROM on, unchanged; the uncut capture is the truth):

- lab-trial17/mtu-blackhole-media.pcap.gz from frame 41: the media server's control FIN
  (frame 40) cut off, the callback 10.77.1.2:6021 -> 10.77.0.1:5001 first seen at the
  media server's FIN, the agent's LOG_MESSAGE (frame 44) answered by the media server's
  bare RST (frame 45). That log counted as the job speaking between the callback's
  first packet and the close (only_closing.job_spoke), so the callback was matched by
  ports as a data connection and step 2 said "no callback in the capture"
  (sessions.reset_answered).
- field47-tls-matrix/agent-killed-tls-loss.pcap.gz from frame 729: step 2 names C1
  10.77.1.2:6001 <-> 10.77.0.1:5002 (the data connection) or C2 10.77.1.2:6013 <->
  10.77.0.1:5001 (the callback) as maybe the callback, and steps 4-5 counted both as
  data connections without a word of it (verify.candidate_data).
- lab-trial28-ndp/routed-ptb-blackhole-agent.pcap from frame 68 (and
  lab-trial17/mtu-blackhole-media from 40): the data connection 6001 <-> 5002 first seen
  at the agent's ACK just after the control connection's close, the callback 6005 ->
  5001 first seen at the media server's FIN. The callbacks' sweep named the data
  connection the callback, step 2 `ok` (only_closing.name_closing_callbacks' unsure
  connections, sessions.late_closes).
- A data connection first seen beside the control connection's close, no FIN of it
  captured, read capture_ended_early ("The capture ended 4.39 ms after the data
  connection C2's first captured packet") once the callback beside it was no longer a
  data connection: the capture holds the job's end (candidate_data.closing_beside).
- field51-matrix/clean-restore-routed-captured-in-on-media.pcap.gz from frame 294 and
  field47-tls-matrix/restore-tls-one-direction-in.pcap from 285 (the agent's packets
  only): the callback's FIN, then the agent's ACK of the media server's FIN, which the
  capture lacks, was no close "acknowledged", so the callback was matched by ports as a
  data connection (only_closing.close_only).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pcap_records import read_records, write_records
from stored import CAPTURES, stored_analysis

from flowcheck.traffic import Analysis


def _cut(tmp_path: Path, folder: str, name: str, first: int) -> Analysis:
    """The stored capture from frame `first` on, analysed with its .toml."""
    source = CAPTURES / folder / name
    linktype, records = read_records(source)
    capture = write_records(tmp_path / "cut.pcap", linktype, records[first - 1:])
    return stored_analysis(capture, config_path=source.with_name(name.split(".")[0] + ".toml"))


def _ports(analysis: Analysis) -> dict[frozenset[int], str]:
    return {frozenset((c.orig_p, c.resp_p)): c.uid for c in analysis.traffic.connections}


def test_a_log_answered_by_the_reset_is_no_job_speaking(tmp_path: Path) -> None:
    analysis = _cut(tmp_path, "lab-trial17", "mtu-blackhole-media.pcap.gz", 41)
    [session] = analysis.sessions
    callback = _ports(analysis)[frozenset((6021, 5001))]
    steps = {s.step: s for s in session.steps}
    assert callback not in session.data_connections, steps[4].detail
    assert callback in session.closing_only
    assert steps[2].status == "unknown"
    assert f"{callback} 10.77.1.2:6021 <-> 10.77.0.1:5001 (its FIN " in steps[2].detail, \
        steps[2].detail
    assert f"its data connection {callback}" not in steps[4].detail, steps[4].detail


def test_steps_4_and_5_say_step_2s_candidates_may_be_the_callback(tmp_path: Path) -> None:
    analysis = _cut(tmp_path, "field47-tls-matrix", "agent-killed-tls-loss.pcap.gz", 729)
    [session] = analysis.sessions
    ports = _ports(analysis)
    data, callback = ports[frozenset((6001, 5002))], ports[frozenset((6013, 5001))]
    steps = {s.step: s for s in session.steps}
    assert f"{data} 10.77.1.2:6001" in steps[2].detail and \
        f"{callback} 10.77.1.2:6013" in steps[2].detail, steps[2].detail
    assert sorted(session.data_connections) == sorted([data, callback])
    for number in (4, 5):
        assert steps[number].detail.endswith(
            f"; {data} and {callback} are counted here among the data connections, and one "
            "of them may be the callback instead (step 2: the capture cannot tell which)"), \
            steps[number].detail


def test_a_data_connection_beside_a_callback_closing_is_not_named_the_callback(
        tmp_path: Path) -> None:
    for folder, name, first, callback_ports in (
            ("lab-trial28-ndp", "routed-ptb-blackhole-agent.pcap", 68, (6005, 5001)),
            ("lab-trial17", "mtu-blackhole-media.pcap.gz", 40, (6021, 5001))):
        analysis = _cut(tmp_path, folder, name, first)
        [session] = analysis.sessions
        ports = _ports(analysis)
        data, callback = ports[frozenset((6001, 5002))], ports[frozenset(callback_ports)]
        steps = {s.step: s for s in session.steps}
        assert session.callback_uid is None, (name, steps[2].detail)
        assert data in session.data_connections, (name, steps[4].detail)
        assert steps[2].status == "unknown"
        assert f"{data} " in steps[2].detail and f"{callback} " in steps[2].detail, \
            (name, steps[2].detail)
        assert "may be the callback instead" in steps[5].detail, (name, steps[5].detail)
        assert not [f for f in analysis.findings if f.code == "capture_ended_early"], name


def test_a_lone_callback_closing_unanswered_is_still_named(tmp_path: Path) -> None:
    """The one connection that may be a job's callback, in a capture of the agent's
    packets, nothing else beside it, stays the callback (field60-matrix's second
    restore from frame 27: its FIN and the agent's ACK of the media server's FIN, a
    close of one direction, close_only; not the sweep's reading, so this does not guard
    the unsure set: test_a_lone_maybe_callback_is_left_to_the_sweep does)."""
    analysis = _cut(tmp_path, "field60-matrix",
                    "two-ipv6-restores-data-synacks-dropped-by-agent-captured-in-on-media"
                    ".pcap.gz", 27)
    ports = _ports(analysis)
    callback = ports[frozenset((6084, 5001))]
    assert callback in {s.callback_uid for s in analysis.sessions}


def test_no_capture_ended_early_for_a_data_connection_seen_at_the_close(
        tmp_path: Path) -> None:
    analysis = _cut(tmp_path, "lab-trial17", "mtu-blackhole-media.pcap.gz", 41)
    assert not [f for f in analysis.findings if f.code == "capture_ended_early"]


def test_a_callback_closed_both_ways_in_one_direction_is_the_callback(
        tmp_path: Path) -> None:
    for folder, name, first, callback_ports in (
            ("field51-matrix", "clean-restore-routed-captured-in-on-media.pcap.gz", 294,
             (6041, 5001)),
            ("field47-tls-matrix", "restore-tls-one-direction-in.pcap", 285, (6077, 5001))):
        analysis = _cut(tmp_path, folder, name, first)
        [session] = analysis.sessions
        callback = _ports(analysis)[frozenset(callback_ports)]
        assert session.callback_uid == callback, name
        assert callback not in session.data_connections, name


def test_a_data_connection_whose_peer_fin_was_lost_stays_data(tmp_path: Path) -> None:
    """Both directions captured, with loss: the data connection first seen at the media
    server's ACK of its last data, then the agent's FIN and its ACK of the media server's
    FIN the sniffer lost, is no close of one direction (field38-matrix's
    agent-killed-loss-before-start from frame 764: it stays the job's data connection)."""
    analysis = _cut(tmp_path, "field38-matrix", "agent-killed-loss-before-start.pcap.gz", 764)
    [session] = analysis.sessions
    data = _ports(analysis)[frozenset((5002, 6001))]
    assert data in session.data_connections


@pytest.mark.parametrize(("folder", "name", "first", "callback_ports", "data_ports"), [
    ("lab", "callback-ack-dropped.pcap", 28, (6089, 5001), None),
    ("nu64", "router-any-dropped.pcap", 13, (6014, 5001), (6001, 5002))])
def test_a_lone_maybe_callback_is_left_to_the_sweep(
        tmp_path: Path, folder: str, name: str, first: int, callback_ports: tuple[int, int],
        data_ports: tuple[int, int] | None) -> None:
    """A connection that may be the callback closing (only_closing._rival: its FIN
    beside the control connection's close, not acknowledged in the capture, so
    name_closing_callbacks names it not) with no other connection that may be it too
    is no `unsure` one: the callbacks' sweep still names it, as the uncut capture does
    (review64f: with every unnamed rival unsure, lab/callback-ack-dropped from frame 28
    counted the callback 6089 -> 5001 as a data connection, step 2 unknown, and read
    data_stalled; nu64/router-any-dropped from 13 counted 6014 -> 5001 among 2 data
    connections). The guard of `len(candidates[i]) > 1 or i not in homeless` in
    name_closing_callbacks' unsure set."""
    analysis = _cut(tmp_path, folder, name, first)
    [session] = analysis.sessions
    ports = _ports(analysis)
    callback = ports[frozenset(callback_ports)]
    step2 = next(s for s in session.steps if s.step == 2)
    assert session.callback_uid == callback, step2.detail
    assert callback not in session.data_connections
    if data_ports is not None:
        assert session.data_connections == [ports[frozenset(data_ports)]]
    assert not [f for f in analysis.findings if f.code == "data_stalled"]
