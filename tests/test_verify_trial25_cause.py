"""Trial 25: a job the network killed reads as the network's doing, not a host's.

Captures in captures/trial25-cause (their .toml say how each was made):
- pmtu-blackhole-no-data (D9): the agent's full-size segments dropped before the sniffer;
  its data connection carries nothing for 30 s, the media server gives up and its FIN
  is never answered while the agent's small packets still arrive. It read data_aborted
  ("the job was cancelled") and data_stalled ("the agent went down") at once.
- loss20-data-ack-lost (D3): 20% loss; the agent resends its SYN-ACK after the media
  server's ACK, nothing flows for 30 s, the agent's data comes after the media server's
  FIN. It read "closed it mid-transfer while the agent was still sending".
- agent-link-down-fins-cut (D7): the agent's link dies mid-backup, the capture ends
  right after the media server's FINs. It read control_closed, "its service stopped,
  restarted or crashed".
- loss30-agent-silent-halt-after (D4, second capture): 30% loss; 30 s with nothing from
  the agent after its data was acknowledged, the media server's FINs, then the agent's
  CONNECT_ERROR halt. It read data_halted_abnormally and control_reset, "crashed".
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from stored import stored_analysis

from flowcheck.pipeline import Analysis

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "captures" / "trial25-cause"


def _analyze(name: str) -> Analysis:
    return stored_analysis(HERE / f"{name}.pcap")


def _errors(analysis: Analysis) -> list:
    return [f for f in analysis.findings if str(f.severity) == "error"]


def test_d9_a_black_hole_before_any_data_is_one_stall_not_a_cancelled_job() -> None:
    analysis = _analyze("pmtu-blackhole-no-data")
    assert analysis.verdict == "fail"
    [finding] = _errors(analysis)
    assert finding.code == "data_stalled"
    message = finding.message
    assert "the job was cancelled" not in message and "went down" not in message
    # The silence, who gave up, and that the agent was up.
    assert "for 30 s after DATA_START_BACKUP was answered (frame 26)" in message
    assert "gave up waiting" in message
    assert "LOG_MESSAGE" in message and "frame 32" in message
    assert "path MTU black hole" in message
    assert "maxseg" in finding.fix or "MTU" in finding.fix
    step = analysis.sessions[0].steps[4]
    assert step.status == "failed"
    assert "never carried data" in step.detail


def test_d3_a_connection_whose_acks_were_lost_is_no_cut_mid_transfer() -> None:
    from flowcheck.report.answer import gist

    analysis = _analyze("loss20-data-ack-lost")
    assert analysis.verdict == "fail"
    [finding] = _errors(analysis)
    assert finding.code == "data_reset"
    message = finding.message
    assert "closed it mid-transfer" not in message and "still sending" not in message
    # The cause line (the first sentence) names the silence, not byte counts.
    cause = gist(message)
    assert "no data for 30 s" in cause and "packets between the hosts were lost" in cause
    # The evidence: the agent resent its SYN-ACK after the media server's ACK.
    assert "resent its SYN-ACK 2 times (frames 226, 228)" in message
    assert "completing the handshake, which the capture holds, never reaching it" in message
    assert "came only after that FIN" in message
    assert "8 retransmitted" in message  # the loss on the control connection too
    assert "See the job log" not in finding.fix
    assert "lose" in finding.fix or "loss" in finding.fix
    step = analysis.sessions[0].steps[4]
    assert step.status == "failed" and "mid-transfer" not in step.detail
    assert "SYN-ACK" in step.detail


def test_d3_the_bytes_after_the_fin_are_counted_once_in_a_capture_of_copies(
        tmp_path: Path) -> None:
    """loss20-data-ack-lost with every packet twice (mergecap of the capture with itself,
    as a SPAN session mirroring both ports gives it): data_reset's "the N B of the agent
    came only after that FIN" counts each byte once (Connection.sent_once), as step 5's
    detail does; it counted the copies too, twice the bytes the agent sent."""
    source = HERE / "loss20-data-ack-lost.pcap"
    copies = tmp_path / "loss20-data-ack-lost-twice.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(copies), str(source), str(source)],
                   check=True)
    once = _analyze("loss20-data-ack-lost")
    twice = stored_analysis(copies, config_path=HERE / "loss20-data-ack-lost.toml")
    [finding] = _errors(once)
    [copied] = _errors(twice)
    assert (finding.code, copied.code, copied.uid) == ("data_reset", "data_reset", finding.uid)
    conn = next(c for c in once.traffic.connections if c.uid == finding.uid)
    both = next(c for c in twice.traffic.connections if c.uid == finding.uid)
    sent = conn.sent_once("resp")  # the agent, the listener, sent the data
    assert sent > 0 and both.resp_bytes == 2 * sent  # the capture holds each packet twice
    assert f"the {sent:,} B of the agent 10.77.0.2 came only after that FIN" in finding.message
    assert f"the {sent:,} B of the agent 10.77.0.2 came only after that FIN" in copied.message, \
        copied.message


def test_d7_a_media_server_that_gave_up_on_a_silent_agent_did_not_crash() -> None:
    from flowcheck.report.answer import gist

    analysis = _analyze("agent-link-down-fins-cut")
    assert analysis.verdict == "fail"
    [finding] = _errors(analysis)
    message = finding.message
    assert "crashed" not in message and "stopped, restarted" not in message
    assert "went silent mid-transfer" in gist(message)
    assert "nothing came from the agent 10.77.0.2 on any of the session's connections for " \
           "30 s" in message
    assert "766,288 B" in message and "every byte acknowledged" in message
    assert "FIN, frame 922" in message and "FIN, frame 923" in message
    assert "timed out waiting" in message
    assert "whether the agent answers them is not in it" in message
    assert "job engine service" not in finding.fix
    assert finding.fix.startswith("Check that the agent 10.77.0.2 is up and reachable")


def test_d4_a_silent_agent_whose_halt_came_after_the_give_up_is_no_job_engine_crash() -> None:
    # Trial 25 D4's second capture (30% loss): 30 s with nothing from the agent after
    # its data was acknowledged, then the media server's FINs and only then the agent's
    # NOTIFY_DATA_HALTED CONNECT_ERROR, reset by the closed socket. It read
    # data_halted_abnormally + control_reset "(stopped, restarted or crashed)".
    from flowcheck.report.answer import gist

    analysis = _analyze("loss30-agent-silent-halt-after")
    assert analysis.verdict == "fail"
    [finding] = _errors(analysis)
    assert finding.code == "control_closed"
    message = finding.message
    assert "crashed" not in message and "crashed" not in finding.fix
    assert "went silent mid-transfer" in gist(message)
    assert "nothing came from the agent 10.77.0.2 on any of the session's connections for " \
           "30 s" in message
    assert "its last packet at +8.405s" in message
    assert "200,000 B" in message and "every byte acknowledged" in message
    assert "FIN, frame 216" in message and "FIN, frame 217" in message
    # The halt after the FINs is named as their consequence, and the agent was up then.
    assert "NOTIFY_DATA_HALTED" in message and "frame 219" in message
    assert "RST, frame 220" in message
    assert "is not in it" not in message  # the agent did answer the FINs
    assert 219 in finding.frames and 216 in finding.frames
    assert "was up after these FINs" in message and "did not cause it" in message
    assert "10 retransmitted packets on C1" in message  # the session lost packets
    assert finding.fix.startswith("Check the path between 10.77.0.2 and 10.77.0.1 for lost")
