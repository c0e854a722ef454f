"""How a control connection's reset came (flowcheck.verify.reset_answer), trial 10: a
stateful firewall whose idle timeout expired the control connection while the data
flowed answered its next packet with a RST in the peer's name, or dropped it.

- D1: the RST answered the agent's NOTIFY_DATA_HALTED (never acknowledged): the halt
  never reached the DMA, the job failed; it passed, a reset "after the job halted" being
  suppressed. control_reset now.
- D2: a RST that answered a packet faster than the round trip to the peer came from a
  device between them; the silence before the exchange it cut reads the idle timeout
  (it read "soon after the last message: one side gave the session up").
- D3: a FIN resent into the void after a long silence is control_stalled (it was
  control_closed, blaming the job engine).
- D7: resends a later reply answered (a shaped link) are no "ACKs lost" control_stalled
  (flowcheck.connections.accounting.resends_acked; test_connections_resends).

Built from captures/lab/clean-3-resources.pcap (NDMP v4, the handshake's round trip to
the agent 0.035 ms), and on the trial's captures stored in captures/ndmjob-idle.
"""

from __future__ import annotations

import struct
from decimal import Decimal
from pathlib import Path

import pytest
from lab_edits import analyze_lab, lab_packets, last_from, next_seq, segment, write
from scapy.all import IP, Packet, Raw
from stored import shared_analysis

from flowcheck.pipeline import Analysis

NAME = "clean-3-resources"
MEDIA, AGENT = 5039, 10000  # the control connection's ports
LAST_HALT = 633  # resource 3's LOG_MESSAGE and NOTIFY_DATA_HALTED, one segment
IDLE = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-idle"


def _get_state(template: Packet, seq: int, ack: int, ts: Decimal) -> Packet:
    """The media server's DATA_GET_STATE request (NDMP v4: record mark, 24 B header)."""
    packet = segment(template, "PA", seq, ack, ts)
    header = struct.pack(">IIIIIII", 0x80000000 | 24, 900, 0, 0, 0x400, 0, 0)
    return packet / Raw(header)


def _answered(tmp_path: Path, idle: str, delay: str, rst_ttl: int | None = None) -> Analysis:
    """Resource 2 running (cut at frame 300); `idle` seconds after the cut the media
    server's DATA_GET_STATE, answered `delay` seconds later by a RST (no ACK) in the
    agent's name, with the agent's TTL (64) or rst_ttl (a device's)."""
    packets = lab_packets(NAME, 300)
    media_seq, agent_seq = next_seq(packets, MEDIA, AGENT), next_seq(packets, AGENT, MEDIA)
    at = packets[-1].time + Decimal(idle)
    request = _get_state(last_from(packets, MEDIA, AGENT), media_seq, agent_seq, at)
    reset = segment(last_from(packets, AGENT, MEDIA), "R", agent_seq, 0, at + Decimal(delay))
    if rst_ttl is not None:
        reset[IP].ttl = rst_ttl
    return analyze_lab(write(tmp_path, "answered", [*packets, request, reset]), NAME)


def test_a_reset_faster_than_the_round_trip_after_a_silence_reads_as_an_idle_timeout(
        tmp_path: Path) -> None:
    analysis = _answered(tmp_path, "10", "0.00001", rst_ttl=255)
    [finding] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert finding.code == "control_reset"
    assert ("The RST, in the agent 10.77.0.2's name, answered the media server's "
            "DATA_GET_STATE (frame 301) 0.01 ms after it instead of acknowledging it: its "
            "TTL 255, where 10.77.0.2's own packets arrive with 64, and it came faster than "
            "the round trip to the agent (0.035 ms in the handshake): a device between them "
            "(a firewall or NAT) sent it in 10.77.0.2's name") in finding.message
    assert "sat idle 10 s (no NDMP message from frame 220 to frame 301)" in finding.message
    assert "soon after" not in finding.message
    assert "idle timeout for port 10000" in finding.fix and "keepalives" in finding.fix
    assert finding.frames == [219, 301, 302]


def test_a_reset_as_slow_as_the_round_trip_may_be_the_agents(tmp_path: Path) -> None:
    # The capture is cut mid-transfer (frame 300): the agent's data stopped there, with no
    # FIN, 10 s before its RST: its host stopped, not an idle timeout (field check 39 k03,
    # verify.host_stopped).
    [finding] = [f for f in _answered(tmp_path, "10", "0.005").findings
                 if f.code == "control_reset"]
    assert "faster than the round trip" not in finding.message
    assert ("the agent no longer had the connection, or a device between them (a firewall "
            "or NAT) that no longer had its state answered in its name") in finding.message
    assert "sat idle 10 s" in finding.message
    assert "had gone silent on its data connection too" in finding.message
    assert "Either its host stopped" in finding.message
    assert "idle timeout for port 10000" not in finding.fix
    assert finding.fix.startswith("See 10.77.0.2's system log")
    assert "the agent's NDMP service log" in finding.fix
    assert "the media server's job engine" not in finding.fix


def test_a_reset_from_between_without_a_silence_is_no_idle_timeout(tmp_path: Path) -> None:
    [finding] = [f for f in _answered(tmp_path, "0.5", "0.00001", rst_ttl=255).findings
                 if f.code == "control_reset"]
    assert "a device between them (a firewall or NAT) sent it" in finding.message
    assert "so not after an idle timeout" in finding.message
    assert "idle timeout for port" not in finding.fix and "IPSs" in finding.fix


def test_a_slow_reset_with_a_ttl_of_its_own_is_a_devices(tmp_path: Path) -> None:
    """As slow as the round trip, but with a TTL the agent's own packets do not have: a
    device between them sent it, however slow."""
    [finding] = [f for f in _answered(tmp_path, "10", "0.005", rst_ttl=63).findings
                 if f.code == "control_reset"]
    assert ("its TTL 63, where 10.77.0.2's own packets arrive with 64: a device between "
            "them (a firewall or NAT) sent it in 10.77.0.2's name") in finding.message
    assert "faster than" not in finding.message
    assert "the agent no longer had the connection" not in finding.message
    assert finding.fix.endswith("at an interval shorter than that timeout.")


def _halt_reset(tmp_path: Path, flags: str) -> Analysis:
    """The job's last halt (frame 633), then 0.03 ms later the media server's RST with
    `flags` ("R": in answer, no ACK; "RA": acknowledging the halt), nothing more."""
    packets = lab_packets(NAME, LAST_HALT)
    agent_seq = next_seq(packets, AGENT, MEDIA)
    reset = segment(last_from(packets, MEDIA, AGENT), flags, next_seq(packets, MEDIA, AGENT),
                    agent_seq if "A" in flags else 0,
                    packets[-1].time + Decimal("0.00003"))
    return analyze_lab(write(tmp_path, f"halt-{flags}", [*packets, reset]), NAME)


def test_a_reset_that_answered_the_halt_is_control_reset(tmp_path: Path) -> None:
    """Trial 10 D1: the halt never acknowledged, the RST came instead: the DMA never
    learned the job ended (ndmjob: "Operation ended in failure")."""
    analysis = _halt_reset(tmp_path, "R")
    [finding] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert finding.code == "control_reset" and analysis.verdict == "fail"
    assert (f"was reset (RST, frame {LAST_HALT + 1}) after the job's resource 3 halted "
            f"(NOTIFY_DATA_HALTED, frame {LAST_HALT}) and before the session's "
            "CONNECT_CLOSE. The halt never reached the DMA") in finding.message
    assert ("answered the agent's NOTIFY_DATA_HALTED (frame 633) 0.03 ms after it instead "
            "of acknowledging it") in finding.message


def test_a_reset_that_acknowledged_the_halt_is_no_failure(tmp_path: Path) -> None:
    """An abortive close by a media server that got the halt (its RST acknowledges it):
    the job had ended; as a reset after the halt always was, not reported."""
    analysis = _halt_reset(tmp_path, "RA")
    assert "control_reset" not in {f.code for f in analysis.findings}


def test_a_fin_resent_into_the_void_after_a_silence_is_control_stalled(
        tmp_path: Path) -> None:
    """Trial 10 D3: resource 2 running, 10 s of silence, then the media server closes the
    control connection and resends its FIN twice, never answered."""
    packets = lab_packets(NAME, 300)
    template = last_from(packets, MEDIA, AGENT)
    seq, ack = next_seq(packets, MEDIA, AGENT), next_seq(packets, AGENT, MEDIA)
    at = packets[-1].time + Decimal(10)
    fins = [segment(template, "FA", seq, ack, at + Decimal(d)) for d in ("0", "0.2", "0.6")]
    analysis = analyze_lab(write(tmp_path, "fins", [*packets, *fins]), NAME)
    [finding] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert finding.code == "control_stalled"
    assert ("the media server 10.77.0.1 sent its FIN (frame 301) again and again (2 "
            "retransmissions, the last in frame 303) and the agent 10.77.0.2 never "
            "acknowledged it") in finding.message
    assert "here after its idle timeout" in finding.message
    assert "sat idle 10 s (no NDMP message from frame 220 to frame 301)" in finding.message


def _stored(name: str) -> Analysis:
    # The run's one analysis of the stored case (capture and NAME.toml), read only.
    return shared_analysis(IDLE / f"{name}.pcap.gz")


@pytest.mark.parametrize(("name", "words"), [
    # On the agent, behind the router: the router's RST in the media server's name.
    ("idle-rst-agent", ["after the job halted (NOTIFY_DATA_HALTED, frame 5151)",
                        "The halt never reached the DMA", "sat idle 8.79 s",
                        "its TTL 64, where 10.77.0.1's own packets arrive with 63: a device "
                        "between them (a firewall or NAT) sent it in 10.77.0.1's name"]),
    ("idle-hostfw-rst-media", ["after the job halted (NOTIFY_DATA_HALTED, frame 5002)",
                               "The DMA's DATA_GET_STATE never reached the agent",
                               "sat idle 7.94 s"]),
    ("idle-rst-65s-media", ["its TTL 64, where 10.77.1.2's own packets arrive with 63",
                            "faster than the round trip to the agent (0.0789 ms",
                            "sat idle 29.5 s (no NDMP message from frame 173 to frame 2070)"]),
    ("idle-rst-restore-media", ["answered the media server's FIN (frame 5241)",
                                "faster than the round trip", "sat idle 29.9 s"]),
])
def test_trial_10_resets(name: str, words: list[str]) -> None:
    analysis = _stored(name)
    [finding] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert finding.code == "control_reset" and analysis.verdict == "fail"
    for word in words:
        assert word in finding.message
    assert "idle timeout for port 10000" in finding.fix


@pytest.mark.parametrize(("name", "rst"), [
    ("idle-rst-65s-media", 2071),      # DATA_GET_STATE reset mid-backup, data cut after
    ("idle-rst-restore-media", 5242),  # the killed DMA's FIN reset mid-restore
])
def test_a_reset_while_the_job_ran_fails_the_data_step(name: str, rst: int) -> None:
    """A control connection reset while its job ran ended the job before its data: the
    data step (step 4 of `ndmp`) fails on the RST, as it does on control_closed; it read
    `ok` on the bytes that had flowed."""
    analysis = _stored(name)
    [session] = analysis.sessions
    flow = session.steps[-1]
    assert flow.name == "backup or restore data flows" and flow.status == "failed"
    assert (f"the control connection was reset (RST, frame {rst}) while the job ran, with "
            "no NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED (control_reset): the job ended "
            "before its data did") in flow.detail
    assert rst in flow.frames and session.control_uid in flow.uids


@pytest.mark.parametrize("name", ["idle-rst-agent", "idle-hostfw-rst-media"])
def test_a_reset_after_the_halt_leaves_the_data_step_ok(name: str) -> None:
    """Reset after the job halted: its data had all flowed; the job's end failed."""
    flow = _stored(name).sessions[0].steps[-1]
    assert flow.name == "backup or restore data flows" and flow.status == "ok"
    assert "control_reset" not in flow.detail


def test_trial_10_fin_resent_after_the_idle_timeout() -> None:
    [finding] = [f for f in _stored("idle-drop-restore-media").findings
                 if str(f.severity) == "error"]
    assert finding.code == "control_stalled"
    assert "sent its FIN (frame 5351) again and again (4 retransmissions" in finding.message
    # The agent closed the data connection 10.5 s into the silence and no halt came:
    # the 29.9 s up to the FIN are the media server's wait (trial 26 D8).
    assert "the device's idle timeout is at most 10.5 s" in finding.message
    assert "sat idle 29.9 s" not in finding.message


def test_trial_10_resends_answered_late_are_no_stall() -> None:
    """Trial 10 D7: the DATA_GET_STATE resent twice on the shaped link was answered by
    its reply, which the media server ACKed; the job failed on the media server's side
    only (the firewall dropped its poll 30 s later): this capture holds no failure."""
    analysis = _stored("idle-drop-30s-agent")
    assert "control_stalled" not in {f.code for f in analysis.findings}
    assert {f.code for f in analysis.findings} == {"capture_ended_early"}


def test_a_poll_lost_after_a_silence_reads_as_an_idle_timeout(tmp_path: Path) -> None:
    """The dropping twin: 10 s of silence, then the media server's DATA_GET_STATE resent
    twice and never acknowledged, the capture going on 5 s: control_stalled names the
    silence as the idle timeout (it wanted 60 s)."""
    packets = lab_packets(NAME, 300)
    media_seq, agent_seq = next_seq(packets, MEDIA, AGENT), next_seq(packets, AGENT, MEDIA)
    at = packets[-1].time + Decimal(10)
    template = last_from(packets, MEDIA, AGENT)
    polls = [_get_state(template, media_seq, agent_seq, at + Decimal(d))
             for d in ("0", "0.2", "0.6", "5")]
    analysis = analyze_lab(write(tmp_path, "lost", [*packets, *polls]), NAME)
    [finding] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert finding.code == "control_stalled"
    assert ("here after its idle timeout: before them the control connection had sat idle "
            "10 s (no NDMP message from frame 220 to frame 301)") in finding.message
