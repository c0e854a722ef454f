"""A side that closed a connection itself, and what its TCP then does (trial 11).

- D2: the agent's NDMP process SIGKILLed mid-backup: its kernel closed the control
  connection (FIN), then answered the media server's next DATA_GET_STATE with a RST
  faster than half the handshake's round trip (a LAN's round trip is mostly the hosts'
  own time). It read control_reset "a device between them (a firewall or NAT) did";
  it is control_closed by the agent, the RST the close's consequence
  (flowcheck.verify.reset_answer.closed_before_reset). Trial 10's idle-timeout RST,
  with no FIN from the RST's side before it, still reads as a device's.
- D9: the DMA SIGINTed: the media server's data RST and its control FIN 0.071 ms later
  came from one process exit; data_reset says so instead of pointing at a firewall.

Stored captures in captures/ndmjob-kill (README there); scapy-built ones from
captures/lab/clean-3-resources.pcap (NDMP v4, the handshake's round trip to the agent
0.035 ms), as tests/test_verify_control_reset_answer.py builds them.
"""

from __future__ import annotations

import struct
from decimal import Decimal
from pathlib import Path

from lab_edits import analyze_lab, lab_packets, last_from, next_seq, segment, write
from scapy.all import IP, Packet, Raw

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

NAME = "clean-3-resources"
MEDIA, AGENT = 5039, 10000  # the control connection's ports
LAST_HALT = 633  # resource 3's LOG_MESSAGE and NOTIFY_DATA_HALTED, one segment
KILL = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-kill"


def _stored(name: str) -> Analysis:
    config = build_config(load_file(KILL / f"{name}.toml"))
    return analyze(read_traffic([str(KILL / f"{name}.pcap.gz")], config), config)


def _error(analysis: Analysis) -> Finding:
    [finding] = [f for f in analysis.findings if str(f.severity) == "error"]
    return finding


def _get_state(template: Packet, seq: int, ack: int, ts: Decimal) -> Packet:
    """The media server's DATA_GET_STATE request (NDMP v4: record mark, 24 B header)."""
    header = struct.pack(">IIIIIII", 0x80000000 | 24, 900, 0, 0, 0x400, 0, 0)
    return segment(template, "PA", seq, ack, ts) / Raw(header)


def _poll_reset(tmp_path: Path, *, agent_fin: bool, rst_ttl: int | None = None) -> Analysis:
    """Resource 2 running (cut at frame 300); with agent_fin the agent closes the control
    connection 1 s later (FIN, frame 301) and the media server ACKs it; 4 s after the
    cut the media server's DATA_GET_STATE, answered 0.01 ms later by a RST (no ACK) in
    the agent's name: faster than half the round trip (0.035 ms). The RST carries the
    agent's TTL (64, as all the lab's packets), or rst_ttl."""
    packets = lab_packets(NAME, 300)
    media_seq, agent_seq = next_seq(packets, MEDIA, AGENT), next_seq(packets, AGENT, MEDIA)
    to_media, to_agent = last_from(packets, AGENT, MEDIA), last_from(packets, MEDIA, AGENT)
    start = packets[-1].time
    added = []
    if agent_fin:
        added = [segment(to_media, "FA", agent_seq, media_seq, start + Decimal(1)),
                 segment(to_agent, "A", media_seq, agent_seq + 1, start + Decimal("1.0001"))]
        agent_seq += 1
    at = start + Decimal(4)
    reset = segment(to_media, "R", agent_seq, 0, at + Decimal("0.00001"))
    if rst_ttl is not None:
        reset[IP].ttl = rst_ttl
    added += [_get_state(to_agent, media_seq, agent_seq, at), reset]
    return analyze_lab(write(tmp_path, f"poll-{agent_fin}", [*packets, *added]), NAME)


def test_the_agents_fin_then_its_fast_reset_is_control_closed(tmp_path: Path) -> None:
    finding = _error(_poll_reset(tmp_path, agent_fin=True))
    assert finding.code == "control_closed"
    assert "was closed by the agent 10.77.0.2 (FIN, frame 301) while the job's resource 2 " \
        "was running" in finding.message
    assert ("The RST that followed (frame 304) is the close's consequence, not a device's: "
            "the agent's system answers a closed connection's later packets with a RST "
            "(RFC 9293 3.10.7.1)") in finding.message
    assert "a device between them (a firewall or NAT) did" not in finding.message
    assert "the agent's NDMP service log" in finding.fix and "firewall" not in finding.fix
    assert 304 in finding.frames


def test_the_same_fast_reset_with_no_fin_before_it_and_a_ttl_of_its_own_is_a_devices(
        tmp_path: Path) -> None:
    """Trial 10's reading kept when the TTL shows it: no FIN from the RST's side, its
    TTL not the agent's: a device between them answered in the agent's name."""
    finding = _error(_poll_reset(tmp_path, agent_fin=False, rst_ttl=63))
    assert finding.code == "control_reset"
    assert ("its TTL 63, where 10.77.0.2's own packets arrive with 64, and it came faster "
            "than the round trip to the agent (0.035 ms in the handshake): a device between "
            "them (a firewall or NAT) sent it in 10.77.0.2's name") in finding.message


def test_the_same_fast_reset_with_the_agents_own_ttl_is_the_agents(tmp_path: Path) -> None:
    """No FIN before it, faster than half the round trip, but with the TTL of the
    agent's own packets: the agent's system sent it (a LAN kernel's RST for a socket it
    no longer has beats half a LAN round trip); the timing must not name a device."""
    finding = _error(_poll_reset(tmp_path, agent_fin=False))
    assert finding.code == "control_reset"
    assert ("faster than half the round trip to the agent (0.035 ms in the handshake), but "
            "with the TTL of 10.77.0.2's own packets (64), so the agent's own system sent "
            "it") in finding.message
    assert "a device between them (a firewall or NAT) did" not in finding.message
    assert "sent it in 10.77.0.2's name" not in finding.message
    assert finding.fix.startswith("See the agent's NDMP service log")


def test_a_reset_of_the_halt_after_the_resetting_side_closed_is_its_own(
        tmp_path: Path) -> None:
    """After the job's last halt was sent, the media server closed (FIN) just before it
    arrived and its TCP answered the halt with a RST 0.01 ms later: control_reset (the
    halt never reached the DMA), the RST read as the media server's own."""
    packets = lab_packets(NAME, LAST_HALT)
    halt = packets[-1]
    media_seq, agent_seq = next_seq(packets, MEDIA, AGENT), next_seq(packets, AGENT, MEDIA)
    fin = segment(last_from(packets, MEDIA, AGENT), "FA", media_seq,
                  agent_seq - len(halt[Raw].load), halt.time - Decimal("0.00002"))
    reset = segment(last_from(packets, MEDIA, AGENT), "R", media_seq + 1, 0,
                    halt.time + Decimal("0.00001"))
    finding = _error(analyze_lab(write(tmp_path, "halt", [*packets[:-1], fin, halt, reset]),
                                 NAME))
    assert finding.code == "control_reset"
    assert "The halt never reached the DMA" in finding.message
    assert ("the media server had closed the connection itself (its FIN, frame "
            f"{LAST_HALT}) and its system answers a closed connection's later packets with "
            "a RST") in finding.message
    assert "faster than the round trip" not in finding.message
    assert "the media server's job engine log" in finding.fix and "IPS" not in finding.fix


def test_trial_11_agent_killed() -> None:
    """C-agentkill9: FIN frame 1678, the RST 0.0169 ms after DATA_GET_STATE (frame 2431),
    the handshake's round trip to the agent 0.0379 ms."""
    analysis = _stored("agent-kill9-media")
    finding = _error(analysis)
    assert finding.code == "control_closed" and analysis.verdict == "fail"
    assert "closed by the agent 10.77.0.2 (FIN, frame 1678)" in finding.message
    assert "The RST that followed (frame 2432) is the close's consequence" in finding.message
    assert "firewall" not in finding.message + finding.fix


def test_trial_11_agent_killed_behind_a_router() -> None:
    finding = _error(_stored("agent-kill9-router-media"))
    assert finding.code == "control_closed"
    assert "closed by the agent 10.77.1.2 (FIN, frame 1630)" in finding.message
    assert "The RST that followed (frame 2206)" in finding.message


def test_trial_11_dma_interrupted_ended_both_connections() -> None:
    """C-dmaint: the media server's data RST (frame 1645), its control FIN 0.071 ms
    later (frame 1646)."""
    finding = _error(_stored("dma-sigint-media"))
    assert finding.code == "data_reset"
    assert ("The media server 10.77.0.1 also closed the session's control connection (FIN, "
            "frame 1646) 0.071 ms later. It ended both connections at once") in finding.message
    assert "the job was cancelled or interrupted, or the job engine stopped or crashed" \
        in finding.message
    assert "the media server's system event log" in finding.fix
    assert "look for a firewall or IPS" not in finding.fix
    assert finding.frames == [1645, 1646, 1648]


def test_agent_crash_closing_data_and_control_is_control_closed() -> None:
    """Trial 14 D9 (agent-crash-restore-names-media): the agent's ndmjob crashed on a
    400-name DATA_START_RECOVER: its FIN on the data connection (frame 62), on the control
    connection 10 ms later (frame 63), no reply. Before: data_aborted alone ("the job was
    cancelled, or an error on its side"); the control connection's close, the stronger
    evidence, is the root cause and the data connection's close its consequence."""
    analysis = _stored("agent-crash-restore-names-media")
    errors = [f for f in analysis.findings if str(f.severity) == "error"]
    assert [f.code for f in errors] == ["control_closed"], [f.code for f in analysis.findings]
    [error] = errors
    assert "closed by the agent 10.77.1.2 (FIN, frame 63)" in error.message
    assert "DATA_START_RECOVER, frame 16, never answered" in error.message
    assert "too (FIN, frame 62, just before), before any data" in error.message
    assert "NDMP service log" in error.fix
    assert analysis.sessions[0].steps[3].status == "failed"
