"""An NDMP peer that stopped answering: `ndmp_no_reply` (error).

The agent's TCP accepts the control connection and acknowledges the media server's
requests, but its NDMP service never greets (a hung service, or another program on the
port) or never answers a request; the media server gives up and closes. Every
connection opened, so such a job passed (plain NDMP: a "browse" session) or failed with
Backup Exec's callback `step_missing` and a firewall fix.

Built from captures/lab/clean-3-resources.pcap: frame 3 ends the control connection's
handshake, frame 4 is the agent's NDMP_NOTIFY_CONNECTED, frame 6 the media server's
CONNECT_OPEN (frame 7 the agent's ACK of it, frame 8 its reply).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lab_edits import analyze_lab, fin_close, lab_packets, last_from, next_seq, segment, write
from scapy_files import read_packets

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

NAME = "clean-3-resources"
MEDIA_PORT = 5039


def _findings(path: Path, profile: str | None = None) -> list[Finding]:
    return analyze_lab(path, NAME, profile).findings


def _closed_after(tmp_path: Path, cut: int, closer: int, wait: str, name: str) -> Path:
    packets = lab_packets(NAME, cut)
    other = MEDIA_PORT if closer == 10000 else 10000
    return write(tmp_path, name, [*packets, *fin_close(
        packets, closer, other, packets[-1].time + Decimal(wait))])


@pytest.mark.parametrize("profile", ["backup-exec-9", "ndmp"])
def test_a_service_that_never_greets_is_an_error(tmp_path: Path, profile: str) -> None:
    """Handshake, then nothing from the agent; the media server closes 30 s later."""
    path = _closed_after(tmp_path, 3, MEDIA_PORT, "30", "silent")
    analysis = analyze_lab(path, NAME, profile)
    [error] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert error.code == "ndmp_no_reply" and analysis.verdict == "fail"
    assert "accepted the control connection 10.77.0.1:5039 -> 10.77.0.2:10000 but never sent " \
        "an NDMP message" in error.message
    assert "gave up and closed the connection 30 s later (frame 4)" in error.message
    assert "Webmin" in error.message and "netstat" in error.fix
    steps = analysis.sessions[0].steps
    assert [s.status for s in steps[1:]] == ["unknown"] * (len(steps) - 1)


def test_a_request_never_answered_names_it(tmp_path: Path) -> None:
    """CONNECT_OPEN acknowledged (frame 7) but never answered; closed 30 s later."""
    [error] = [f for f in _findings(_closed_after(tmp_path, 7, MEDIA_PORT, "30", "hung"))
               if str(f.severity) == "error"]
    assert error.code == "ndmp_no_reply"
    assert error.message.startswith("The agent 10.77.0.2 never answered CONNECT_OPEN (frame 6)")
    assert error.frames == [6, 8]
    assert "restart the service" in error.fix


def test_the_agent_closing_instead_of_answering(tmp_path: Path) -> None:
    [error] = [f for f in _findings(_closed_after(tmp_path, 7, 10000, "0.001", "agent-close"))
               if f.code == "ndmp_no_reply"]
    assert "it closed the connection instead (frame 8)" in error.message


def test_a_close_without_waiting_for_the_reply_is_no_silence(tmp_path: Path) -> None:
    """The media server closes 1 ms after its request: it never waited for an answer."""
    path = _closed_after(tmp_path, 7, MEDIA_PORT, "0.001", "no-wait")
    assert "ndmp_no_reply" not in {f.code for f in _findings(path)}


@pytest.mark.parametrize(("wait", "reported"), [("40", True), ("5", False)])
def test_a_silence_on_an_open_connection(tmp_path: Path, wait: str, reported: bool) -> None:
    """No close: the capture goes on (a keepalive from the media server `wait` s after
    the request); 30 s of silence shows it, 5 s may be a capture stopped early."""
    packets = lab_packets(NAME, 7)
    keepalive = segment(last_from(packets, MEDIA_PORT, 10000), "A",
                        next_seq(packets, MEDIA_PORT, 10000) - 1,
                        next_seq(packets, 10000, MEDIA_PORT),
                        packets[-1].time + Decimal(wait))
    path = write(tmp_path, f"open-{wait}", [*packets, keepalive])
    analysis = analyze_lab(path, NAME, "ndmp")
    codes = {f.code for f in analysis.findings}
    assert ("ndmp_no_reply" in codes) == reported
    if not reported:  # the capture stopped while the agent had 5 s to answer: unknown
        [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
        assert "the answer to CONNECT_OPEN (frame 6)" in early.message
        # The fix asks for the NDMP silence, not TCP's retry (second new-user trial: it
        # said "at least 3 s after the last connection attempt").
        assert early.fix == ("Capture the whole job: start the capture before the job "
                             "starts and stop it after the job ends (at least 30 s after "
                             "the last NDMP message, the silence that shows a peer "
                             "stopped answering).")
        assert analysis.verdict == "inconclusive"
        assert all(s.status == "unknown" for s in analysis.sessions[0].steps[1:])


def test_the_whole_job_has_no_silence() -> None:
    from lab_edits import LAB

    assert "ndmp_no_reply" not in {f.code for f in _findings(LAB / f"{NAME}.pcap")}


LATE_GREETING = Path(__file__).resolve().parent.parent / "captures" / "trial27" / \
    "hung-late-greeting-m.pcap"


def _analyze_trial27(path: Path) -> Analysis:
    config = build_config(load_file(LATE_GREETING.with_suffix(".toml")))
    return analyze(read_traffic([str(path)], config), config)


def test_a_greeting_after_the_media_server_gave_up_is_no_answer() -> None:
    """A hung agent: 14.9 s of silence, the media server closes (frame 4), only then the
    agent's NOTIFY_CONNECTED (frame 6): its late answer, not a port check (trial 27 D3)."""
    analysis = _analyze_trial27(LATE_GREETING)
    [error] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert error.code == "ndmp_no_reply" and analysis.verdict == "fail"
    assert "NDMP_NOTIFY_CONNECTED (frame 6) came only after it" in error.message
    assert "gave up and closed the connection 14.9 s later (frame 4)" in error.message
    assert "port check" not in analysis.sessions[0].steps[0].detail


def test_a_port_check_greeted_after_its_quick_close_stays_a_port_check(
        tmp_path: Path) -> None:
    """The same packets, the close 5 ms after the handshake: a monitoring check closes at
    once, and the agent's greeting then comes after the close too."""
    packets = read_packets(str(LATE_GREETING))
    start = packets[2].time
    for index, delay in ((3, "0.005"), (4, "0.0051"), (5, "0.006"), (6, "0.0061")):
        packets[index].time = start + Decimal(delay)
    analysis = _analyze_trial27(write(tmp_path, "quick-check", list(packets)))
    assert "ndmp_no_reply" not in {f.code for f in analysis.findings}
    # The port check alone: no job in the capture (review56f, verify.probes_only).
    assert analysis.verdict == "inconclusive"
    assert [f.code for f in analysis.findings if f.severity != "info"] == [
        "no_control_session"]
    detail = analysis.sessions[0].steps[0].detail
    assert "a port check" in detail and "greeted it" not in detail
    assert "after it opened (frame 4), before the agent's greeting (NOTIFY_CONNECTED, " \
        "frame 6)" in detail
