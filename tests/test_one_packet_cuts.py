"""One frame removed from the control connection of a stored job: what the capture then
proves (a packet missing from the capture is not a packet the network dropped).

- An announcement the capture lacks (the sniffer lost it, or the other direction): the
  data that flowed shows the announcement reached the connector (step 3 `ok`, one rule
  for every way the address goes missing: new-user trial 54), not that it named the
  address it was reached on (a NAT device between the hosts: announced_address_mismatch,
  which needs the address read); step 3's detail says that cannot be checked unless a
  DATA_GET_STATE or MOVER_GET_STATE reply names the endpoint
  (flowcheck.verify.lost_announcement). A job whose only error is that mismatch so reads
  PASS with the warning that says what the capture lacks (ndmp_partial,
  capture_one_direction); a later session had made step 3 `unknown` there, which left a
  capture of one direction whose ACKs prove the data inconclusive (the trial's doubt).
- An agent that closed the session on media-server bytes its FIN acknowledges and the
  capture does not hold (the sniffer lost the request): step 3 `unknown`
  (flowcheck.verify.unanswered_close), as when the capture lacks that direction.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import tshark_fork
from stored import case_config, errors, stored_analysis, without_frame

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def _words(text: str) -> str:
    return " ".join(text.split())


def test_a_lost_announcement_no_reply_names_says_the_address_is_unchecked(
        tmp_path: Path) -> None:
    """captures/lab/announced-address-nat without frame 21, the DATA_LISTEN reply that
    announced 10.79.0.2:6001 (a DNAT sent the connection to 10.77.0.2)."""
    folder = CAPTURES / "lab"
    cut = without_frame(tmp_path, folder, "announced-address-nat", 21)
    analysis = stored_analysis(cut, config_path=case_config(folder, "announced-address-nat"))
    assert analysis.verdict == "pass"
    assert not errors(analysis)
    [session] = analysis.sessions
    assert [s.status for s in session.steps] == ["ok"] * 5
    detail = _words(session.steps[2].detail)
    assert "the announcement may be in it" in detail
    assert "the announcement reached the connector" in detail
    assert "whether it named the address C3 reached cannot be checked " \
        "(announced_address_mismatch needs the address read; no DATA_GET_STATE or " \
        "MOVER_GET_STATE reply in the capture names that endpoint)" in detail
    [partial] = [f for f in analysis.findings if f.code == "ndmp_partial"]
    assert "whether the address given is the one reached cannot be checked" \
        in _words(partial.message)


def test_the_same_job_seen_one_way_says_the_address_is_unchecked(tmp_path: Path) -> None:
    """The same job captured as `tcpdump -Q out` on the media server sees (its packets
    only, the DATA_LISTEN reply not among them): the data its ACKs prove shows the
    announcement reached the media server; the address is unchecked."""
    folder = CAPTURES / "lab"
    out = tmp_path / "nat-out.pcap"
    subprocess.run(["tshark", "-r", str(folder / "announced-address-nat.pcap"), "-Y",
                    "ip.src==10.77.0.1", "-w", str(out)], check=True, capture_output=True)
    analysis = stored_analysis(out, config_path=case_config(folder, "announced-address-nat"))
    assert analysis.verdict == "pass"
    assert "capture_one_direction" in [f.code for f in analysis.findings]
    [session] = analysis.sessions
    assert session.steps[2].status == "ok"
    detail = _words(session.steps[2].detail)
    assert "only one direction of the control connection" in detail
    assert "whether it named the address C3 reached cannot be checked" in detail


def test_lost_announcements_a_state_reply_names_still_pass() -> None:
    """ndmjob-sniffloss/par-ann-media: four jobs' announcing messages lost, each data
    connection's endpoint named by its session's DATA_GET_STATE reply: the data that
    flowed and the reply together show the announcement right."""
    folder = CAPTURES / "ndmjob-sniffloss"
    analysis = stored_analysis(folder / "par-ann-media.pcap.gz",
                               config_path=case_config(folder, "par-ann-media"))
    assert analysis.verdict == "pass"
    for session in analysis.sessions:
        detail = _words(session.steps[1].detail)
        assert session.steps[1].status == "ok"
        assert "the announcement reached the connector, though the capture lacks it; " \
            "its address checked: C" in detail  # newuser55: "so the announcement worked"
        assert "reached the endpoint the DATA_GET_STATE reply of frame" in detail


def test_an_agent_closing_on_a_lost_request_leaves_step_3_unknown(tmp_path: Path) -> None:
    """field38-matrix/range-small-listen-unanswered-snap96 without frame 457, the third
    DATA_LISTEN request the agent could not serve (no port left in its range): the agent's
    FIN acknowledges its 32 B, it read PASS."""
    folder = CAPTURES / "field38-matrix"
    name = "range-small-listen-unanswered-snap96"
    cut = without_frame(tmp_path, folder, name, 457)
    analysis = stored_analysis(cut, config_path=case_config(folder, name))
    assert analysis.verdict == "inconclusive"
    assert not errors(analysis)
    [session] = analysis.sessions
    assert session.steps[2].status == "unknown"
    detail = _words(session.steps[2].detail)
    assert ("the DATA_STOP reply (frame 456), 10.77.1.2 acknowledged 32 B more of "
            "10.77.0.1's control stream") in detail
    assert "The capture lacks those bytes of 10.77.0.1's (the sniffer lost them" in detail


def test_an_agent_closing_after_a_lost_connect_close_passes(tmp_path: Path) -> None:
    """A clean job (lab/clean-3-resources) without the media server's CONNECT_CLOSE: the
    agent's FIN acknowledges 28 B the capture lacks, a normal end, and the job passes."""
    folder = CAPTURES / "lab"
    [(close,)] = tshark_fork.fields(folder / "clean-3-resources.pcap", "ndmp.msg == 0x902",
                                    "frame.number", options=("-d", "tcp.port==10000,ndmp"))
    cut = without_frame(tmp_path, folder, "clean-3-resources", int(close))
    analysis = stored_analysis(cut, config_path=case_config(folder, "clean-3-resources"))
    assert analysis.verdict == "pass"


def test_a_start_reply_whose_request_was_lost_still_starts_the_job(tmp_path: Path) -> None:
    """trial42-keepalive/keepalive-probe-reset-media without frame 25, the DATA_START_BACKUP
    request (the media server sent nothing after it, so no hole names it): the agent's
    successful reply shows the job started, and the RST 6.1 s later reset it while it
    ran: control_reset, as the whole capture reads (it read PASS)."""
    folder = CAPTURES / "trial42-keepalive"
    name = "keepalive-probe-reset-media"
    cut = without_frame(tmp_path, folder, name, 25)
    analysis = stored_analysis(cut, config_path=case_config(folder, name))
    assert analysis.verdict == "fail"
    assert [f.code for f in errors(analysis)] == ["control_reset"]


def test_a_halt_never_acknowledged_as_the_last_packet_is_unknown(tmp_path: Path) -> None:
    """ndmjob-idle/idle-rst-agent without frame 5152, the RST in the media server's name
    that answered the agent's NOTIFY_DATA_HALTED: the halt is the control connection's
    last packet, never acknowledged nor resent, 1.8 s before the capture's end; whether it
    reached the DMA cannot be seen (it read PASS)."""
    folder = CAPTURES / "ndmjob-idle"
    name = "idle-rst-agent"
    cut = without_frame(tmp_path, folder, name, 5152)
    analysis = stored_analysis(cut, config_path=case_config(folder, name))
    assert analysis.verdict == "inconclusive"
    assert not errors(analysis)
    [session] = analysis.sessions
    detail = _words(session.steps[-1].detail)
    assert session.steps[-1].status == "unknown"
    assert "the NOTIFY_DATA_HALTED of 10.77.1.2 (frame 5151) is the last packet" in detail
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert "NOTIFY_DATA_HALTED of 10.77.1.2 (frame 5151)" in _words(early.message)


def test_no_halt_long_after_the_data_closed_is_not_a_pass(tmp_path: Path) -> None:
    """trial42-keepalive/keepalive-reset-agent without frame 2887, the agent's RST of the
    control connection: the data connection closed at 12.5 s and the capture, both
    directions, ran on to 32.7 s with no halt nor any packet of the control connection.
    Not a capture that stopped mid-job, and the data alone does not show the job ended
    (it read PASS; flowcheck.verify.silent_end)."""
    folder = CAPTURES / "trial42-keepalive"
    name = "keepalive-reset-agent"
    cut = without_frame(tmp_path, folder, name, 2887)
    analysis = stored_analysis(cut, config_path=case_config(folder, name))
    assert analysis.verdict == "inconclusive"
    assert not errors(analysis)
    [session] = analysis.sessions
    data = session.steps[-1]
    assert data.status == "unknown"
    assert "the job's end is not in the capture: no NOTIFY_DATA_HALTED" in \
        _words(data.detail)
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert "The capture holds no end of the backup" in early.message
    assert "stopped while" not in early.message


def test_an_agents_own_unseen_bytes_before_its_fin_are_not_silence(tmp_path: Path) -> None:
    """field38-matrix/agent-killed-one-direction-in (the agent's packets only) without
    frame 13, its DATA_START_BACKUP reply: its FIN's sequence number is 32 B past the
    last byte the capture holds of it, so it did not "answer none" of the media server's
    96 B it acknowledged; step 3 stays unknown, and says so."""
    folder = CAPTURES / "field38-matrix"
    name = "agent-killed-one-direction-in"
    cut = without_frame(tmp_path, folder, name, 13)
    analysis = stored_analysis(cut, config_path=case_config(folder, name))
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    detail = _words(session.steps[2].detail)
    assert session.steps[2].status == "unknown"
    assert "acknowledged 96 B more of 10.77.0.1's control stream, sent 32 B the capture " \
        "lacks" in detail
    assert "answered none of it" not in detail


@pytest.mark.parametrize("frame", [456, 459, 460])
def test_a_gap_that_hides_no_reply_does_not_hide_the_receivers_silence(
        tmp_path: Path, frame: int) -> None:
    """field38-matrix/range-small-listen-unanswered-snap96 without frame 460 (the media
    server's FIN: a gap of the requester's), 459 (the agent's FIN: a gap of 1 in its
    sequence numbers, a FIN) or 456 (its DATA_STOP reply: bytes the media server's
    DATA_LISTEN request acknowledged, so sent before it): the agent's own sequence
    numbers show it sent nothing after the request, so it went unanswered, as the whole
    capture reads (each read PASS)."""
    folder = CAPTURES / "field38-matrix"
    name = "range-small-listen-unanswered-snap96"
    cut = without_frame(tmp_path, folder, name, frame)
    analysis = stored_analysis(cut, config_path=case_config(folder, name))
    assert analysis.verdict == "fail"
    assert [f.code for f in errors(analysis)] == ["step_missing"]
    [session] = analysis.sessions
    assert session.steps[2].status == "missing"
    request = 456 if frame == 456 else 457  # editcap renumbers the frames after the cut
    assert f"the DATA_LISTEN request (frame {request}) was never answered by 10.77.1.2" in \
        _words(session.steps[2].detail)


def test_a_lost_announcement_has_no_time_and_says_the_capture_lacks_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ndmjob/v4-backup without frame 11, its DATA_CONNECT (newuser55): step 2 read
    "+0.000s" (the control connection's start) and "the announcement reached the
    connector; so the announcement worked" of an announcement ndmp_partial says the
    capture never held. Now no time ("-": no packet dates it) and words that keep what
    the capture lacks apart from what the data proves."""
    from flowcheck.cli.main import run

    cut = without_frame(tmp_path, CAPTURES / "ndmjob", "v4-backup", 11)
    assert run(["analyze", str(cut), "--profile", "ndmp", "--config",
                str(CAPTURES / "ndmjob" / "flowcheck.toml")]) == 0
    out = capsys.readouterr().out
    [row] = [line for line in out.splitlines()
             if line.startswith("2 ") and "announced on the control connection" in line]
    assert row.split("10.77.0.2:10000")[1].split()[0] == "-", row
    detail = _words(out[out.index(row):out.index("\n3 ")])  # the step's wrapped lines
    assert "the announcement reached the connector, though the capture lacks it; its " \
        "address checked: C2 reached the endpoint the DATA_GET_STATE reply of frame" in detail
    assert "so the announcement worked" not in detail
