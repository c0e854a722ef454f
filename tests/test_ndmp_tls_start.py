"""A control connection in TLS from its first byte (an NDMP server that starts TLS before
its greeting): a session only on proof it is NDMP's (flowcheck.sessions.tls_start: the
configured media server and agent at its ends, a connection none of the readable
sessions explains fitting the job's between them while it lasts), then read as a session
secured in band (match_reason "encrypted", the announcement step unknown, the data
connections judged by their TCP outcomes); otherwise another protocol, as Webmin's
HTTPS on 10000 is.

The captures are the lab's (`media/agent --tls start`, flowcheck.lab.tls): stored ones,
one made afresh and checked against tshark's TLS dissector, and, for the negatives, the
stored ones read with configurations that do not prove it, and trial 23's TLS on the
NDMP port merged into a clear job between the same hosts (editcap, mergecap)."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import tshark_fork
from lab_edits import analyze_lab, lab_packets, write
from pcap_records import moved_back, read_records, write_records
from scapy.all import TCP
from test_ndmp_stream import events
from test_ndmp_tls_upgrade import CLIENT_HELLO, _analyze, hello_frames

from flowcheck.config import DEFAULT_RANGE, build_config, load_file
from flowcheck.lab.capture import capture_scenario
from flowcheck.ndmp.stream import NdmpStreamDecoder
from flowcheck.ndmp.stream_events import DecodeProblem
from flowcheck.pipeline import Analysis, analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
LAB = CAPTURES / "lab"


def _problems(decoder: NdmpStreamDecoder) -> list[tuple[str, list[int]]]:
    return [(e.kind, e.frames) for e in events(decoder) if isinstance(e, DecodeProblem)]


def test_decoder_stops_at_tls_from_the_first_byte() -> None:
    """A TLS handshake record at the direction's first byte: one "tls" problem naming
    its frame (the mid-stream upgrade's), then nothing however the stream goes on."""
    decoder = NdmpStreamDecoder()
    decoder.receive_data(CLIENT_HELLO + bytes(506), 1, 1.0)
    assert _problems(decoder) == [("tls", [1])]
    decoder.receive_data(bytes.fromhex("17030300200000") + bytes(30), 2, 2.0)
    decoder.receive_gap(100, 3, 3.0)
    decoder.receive_eof()
    assert events(decoder) == []


@pytest.mark.parametrize("start", ["hole", "mid_stream"])
def test_tls_bytes_after_an_unseen_start_are_no_tls_start(start: str) -> None:
    """Bytes after a hole, or in a capture started mid-stream, are not the direction's
    start: a TLS-like record there is not told as TLS (framing is looked for as before)."""
    decoder = NdmpStreamDecoder()
    if start == "hole":
        decoder.receive_gap(50, 1, 1.0)
    else:
        decoder.start_mid_stream()
    decoder.receive_data(CLIENT_HELLO + bytes(506), 2, 2.0)
    decoder.receive_eof()
    assert "tls" not in [kind for kind, _ in _problems(decoder)]


def _clean_read(analysis: Analysis, client_hello: int = 4, server_hello: int = 6) -> None:
    """What tls-start-clean reads: one finding saying the control connection is TLS from
    its first byte (M's ClientHello's frame; A's from its ServerHello's: the stored
    capture's 4 and 6 by default) and what that hides; one session whose callback and 3
    data connections are matched by direction and ports, steps 1, 2, 4, 5 ok on their
    TCP outcomes, the announcement step unknown."""
    assert analysis.verdict == "inconclusive"
    assert [f.code for f in analysis.findings] == ["ndmp_undecodable"]
    told = analysis.findings[0]
    assert told.message.startswith(
        f"The control connection is TLS from its first byte (frame {client_hello}): the "
        f"media server's first bytes are a TLS handshake record, and the agent's from frame "
        f"{server_hello}; not one NDMP message is in the clear.")
    assert "CONNECT_CLIENT_AUTH" in told.message and "announce" in told.message
    assert told.frames == [client_hello, server_hello] and told.session == "S1"
    (session,) = analysis.sessions
    assert session.kind == "backup" and session.match_reason == "encrypted"
    assert len(session.data_connections) == 3 and session.callback_uid
    assert [s.status for s in session.steps] == ["ok", "ok", "unknown", "ok", "ok"]
    assert f"carries TLS from its first byte (frame {client_hello}" in session.steps[2].detail


def test_a_clean_job_in_tls_from_the_start_is_a_session() -> None:
    """Stored tls-start-clean. On main's code: no session, no_control_session (TLS on
    the NDMP port: the job's or Webmin's?), its data connections unjudged."""
    _clean_read(_analyze(LAB / "tls-start-clean.pcap"))


def test_a_refused_data_connection_fails_with_tls_from_the_start() -> None:
    """Stored tls-start-data-port-in-use: the refusal is TCP's, so the job fails with
    data_refused (on main's code: inconclusive, no session, the refusal hidden)."""
    analysis = _analyze(LAB / "tls-start-data-port-in-use.pcap")
    assert analysis.verdict == "fail"
    assert {f.code for f in analysis.findings} == {"data_refused", "ndmp_undecodable"}
    (session,) = analysis.sessions
    assert session.match_reason == "encrypted"
    assert [s.status for s in session.steps][2:4] == ["unknown", "failed"]


def test_dual_stack_hosts_prove_it_by_their_paired_addresses() -> None:
    """Field check 48 (seed 104 run 10): control over IPv6, callback and data over
    IPv4. The configuration names each host by one address of each version, so the IPv4
    callback and data connection prove the IPv6 TLS the job's: the data connection's
    incomplete handshake fails the job (on main's code: inconclusive, no session)."""
    analysis = _analyze(CAPTURES / "field48-tls-start-matrix"
                        / "dual-stack-data-ack-dropped-tls-start.pcapng")
    assert analysis.verdict == "fail"
    (session,) = analysis.sessions
    assert (session.media_server, session.remote_agent) == ("fd77::1", "fd77:1::2")
    assert session.match_reason == "encrypted" and session.callback_uid
    assert [s.status for s in session.steps][:4] == ["ok", "ok", "unknown", "failed"]
    assert "handshake_incomplete" in {f.code for f in analysis.findings}



def test_a_clock_set_back_before_the_callback_still_proves_it(tmp_path: Path) -> None:
    """The same capture, its clock set back 2 s at the callback's SYN (frame 30): the
    callback and data connection, written while the TLS connection lasted, are stamped
    before it opened. In the capture's order (one file of one interface: its write
    order) they still fit its job and are its own: read as the file unstepped, FAIL,
    the data connection's incomplete handshake (by plain timestamps no connection
    fitted: no session, no_control_session, INCONCLUSIVE; with the proof in the file's
    order but the data connection looked for by direction and ports between the control
    connection's timestamps, sessions.by_ports: unannounced_connection, INCONCLUSIVE)."""
    stored = CAPTURES / "field48-tls-start-matrix" / "dual-stack-data-ack-dropped-tls-start"
    linktype, records = read_records(stored.with_suffix(".pcapng"))
    stepped = write_records(tmp_path / "stepped.pcap", linktype,
                            moved_back(records, 29, 2_000_000))
    config = build_config(load_file(stored.with_suffix(".toml")))
    analysis = analyze(read_traffic([str(stepped)], config), config)
    codes = {f.code for f in analysis.findings}
    assert "capture_clock_stepped" in codes and "no_control_session" not in codes
    (session,) = analysis.sessions
    assert (session.media_server, session.remote_agent) == ("fd77::1", "fd77:1::2")
    assert session.match_reason == "encrypted" and session.callback_uid
    assert [s.status for s in session.steps][:4] == ["ok", "ok", "unknown", "failed"]
    assert analysis.verdict == "fail" and "handshake_incomplete" in codes
    assert "unannounced_connection" not in codes

def _read_with(capture: Path, **changes: object) -> Analysis:
    config = replace(build_config(load_file(capture.with_suffix(".toml"))), **changes)
    return analyze(read_traffic([str(capture)], config), config)


@pytest.mark.parametrize("changes", [
    {"remote_agents": ("10.77.0.9",)},  # the TLS server is not a configured agent
    {"media_servers": ("10.77.0.9",)},  # nor its client a configured media server
    {"media_servers": (), "remote_agents": ()},  # no host configured: nothing proves it
    # No connection between the hosts fits the job's ranges.
    {"media_range": ((7001, 7100),), "agent_range": ((8001, 8100),)},
    # The ranges left at their default: every connection between the hosts fits them
    # (RDP or WinRM beside Webmin's HTTPS read as the job's: a false FAIL).
    {"media_range": tuple(DEFAULT_RANGE), "agent_range": tuple(DEFAULT_RANGE)},
], ids=["agent-unconfigured", "media-unconfigured", "no-hosts", "ranges-unfitted",
        "ranges-default"])
@pytest.mark.parametrize("name", ["tls-start-clean", "tls-start-data-port-in-use"])
def test_tls_from_the_start_unproven_stays_no_session(name: str, changes: dict) -> None:
    """Webmin-like: TLS on 10000 between hosts the configuration does not name as media
    server and agent, or with no connection between them fitting the job's, is another
    protocol, as before: no session, no_control_session (a warning), inconclusive; a
    refused connection between them is not judged. With the hosts unnamed, its fix says
    naming them would let flowcheck read the job's."""
    analysis = _read_with(LAB / f"{name}.pcap", **changes)
    assert analysis.sessions == []
    assert analysis.verdict == "inconclusive"
    # (Default ranges overlap and hold the NDMP port: the configuration's own warnings;
    # the configured hosts' other connections no session explains are
    # unannounced_connection, warnings, in a capture without a session too: trial 54.)
    assert {f.code for f in analysis.findings} - {"ranges_overlap", "range_holds_ndmp_port",
                                                  "unannounced_connection"} \
        == {"ndmp_undecodable", "no_control_session"}
    assert "carried TLS, not NDMP" in next(
        f.message for f in analysis.findings if f.code == "ndmp_undecodable")
    # Hosts not named: the fix says naming them lets the job's be read.
    missing = next(f for f in analysis.findings if f.code == "no_control_session")
    named = "--media-server 10.77.0.1 --remote-agent 10.77.0.2" in missing.fix
    assert named == ("remote_agents" in changes or "media_servers" in changes)


def test_tls_beside_a_clear_job_between_the_same_hosts_stays_no_session(
        tmp_path: Path) -> None:
    """Trial 23's TLS on the NDMP port (10.77.0.1 -> 10.77.0.2:10000, another program's
    or an encrypted job's) moved in time over a clear clean job between the same
    configured hosts: the job's own session explains the callback and data connections
    opened while the TLS lasts, so nothing proves the TLS a job's control connection:
    the job is judged alone (all its steps ok), the TLS stays another protocol. Since
    mergedsets the set is inconclusive, not pass: the TLS may be another job's control
    connection, encrypted, which no one can judge (its no_control_session warning, as
    the TLS capture alone reads)."""
    tls = CAPTURES / "trial23-other-protocol" / "tls-on-ndmp-port.pcap"
    clean = LAB / "clean-3-resources.pcap"
    firsts = [float(subprocess.run(["capinfos", "-a", "-S", "-T", "-r", str(path)],
                                   capture_output=True, text=True, check=True
                                   ).stdout.split()[-1]) for path in (tls, clean)]
    shifted, merged = tmp_path / "shifted.pcap", tmp_path / "merged.pcap"
    subprocess.run(["editcap", "-t", f"{firsts[1] - firsts[0] - 0.01:.6f}", str(tls),
                    str(shifted)], check=True)
    subprocess.run(["mergecap", "-w", str(merged), str(shifted), str(clean)], check=True)
    config = build_config(load_file(clean.with_suffix(".toml")))
    analysis = analyze(read_traffic([str(merged)], config), config)
    (session,) = analysis.sessions
    assert session.control_uid and session.match_reason == ""
    assert {step.status for step in session.steps} == {"ok"}
    assert analysis.verdict == "inconclusive"
    found = {f.code: f for f in analysis.findings if f.severity.value != "info"}
    assert sorted(found) == ["ndmp_undecodable", "no_control_session"]
    assert "carried TLS, not NDMP" in found["ndmp_undecodable"].message
    assert "beside the session judged (S1)" in found["no_control_session"].message


def test_the_lab_job_in_tls_from_the_start_reads_the_same_and_tshark_sees_it(
        tmp_path: Path) -> None:
    """tls-start-clean made afresh in network namespaces: flowcheck names the frames
    tshark's TLS dissector (port 10000 decoded as TLS) finds the ClientHello and
    ServerHello in, the first of each direction, and reads the run as the stored one."""
    capture = tmp_path / "tls-start-clean.pcap"
    capture_scenario("tls-start-clean", capture)
    _hellos_first_read(capture, _analyze(capture))


def _hellos_first_read(capture: Path, analysis: Analysis) -> None:
    """The hellos tshark finds are the control connection's first bytes, and `analysis`
    reads as the stored tls-start-clean with their frames."""
    hellos = hello_frames(capture)
    firsts = [frame for (frame,) in tshark_fork.fields(
        capture, "tcp.port == 10000 && tcp.len > 0", "frame.number")]
    assert firsts[:2] == [str(frame) for frame in hellos]  # no byte before them
    _clean_read(analysis, *hellos)


def test_the_frames_named_follow_the_capture_not_the_stored_run(tmp_path: Path) -> None:
    """Stored tls-start-clean without the agent's lone ACK of the ClientHello (frame 5),
    as a run where it rode on the ServerHello writes it: the ServerHello in frame 5,
    where the live test asserted frame 6; the same reading, the agent's TLS from 5."""
    packets = lab_packets("tls-start-clean")
    assert not packets[4][TCP].payload and packets[4][TCP].sport == 10000
    capture = write(tmp_path, "tls-start-clean-unacked", packets[:4] + packets[5:])
    assert hello_frames(capture) == (4, 5)
    _hellos_first_read(capture, analyze_lab(capture, "tls-start-clean"))


def test_an_announcement_inside_tls_is_not_said_lacking() -> None:
    """Stored tls-start-clean: its announcement is in the capture, encrypted; step 3 says
    so and not "though the capture lacks it" (review56b: words56's words for an
    announcement the sniffer lost, said of one inside TLS too)."""
    [session] = _analyze(LAB / "tls-start-clean.pcap").sessions
    detail = session.steps[2].detail
    assert "the announcement is inside it" in detail, detail
    assert "the announcement reached the connector, but whether" in detail, detail
    assert "lacks" not in detail, detail
