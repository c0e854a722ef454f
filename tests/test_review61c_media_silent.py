"""Review 61c of field67 (agent_not_seen hedged when the capture holds no TCP packet from
the media servers): field check 67's run 19 taken on the media server with `tcpdump -i
any -Q in` (captures/review61c), alone and with the media server's own loopback
connection (10.77.0.1 -> 10.77.0.1, a local service) beside it. That connection's
packets counted as the media server's direction captured, and agent_not_seen's fix said
again that a job with the unseen agent "never reached the network at this capture point",
though the SYNs the media server sends are just what `-Q in` leaves out
(flowcheck.verify.absent_agents._media_silent).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.all import ICMP, IP, CookedLinux, ICMPv6EchoReply, IPv6, Raw
from scapy_files import read_packets, write_packets
from stored import shared_analysis, stored_analysis
from test_field67_matrix import assert_unseen_agent_hedged

HERE = Path(__file__).resolve().parents[1] / "captures" / "review61c"
NAME = "two-jobs-dual-control-dropped-by-agent-in-on-media"


@pytest.mark.parametrize("suffix", ["", "-with-loopback"])
def test_a_capture_of_what_reached_the_media_server_cannot_hold_its_syns(suffix: str) -> None:
    """agent_not_seen says unanswered SYNs would leave no packet, with the media server's
    packets to itself in the capture too, and its fix names them first."""
    assert_unseen_agent_hedged(shared_analysis(HERE / f"{NAME}{suffix}.pcap.gz"))


def test_a_capture_holding_the_media_servers_icmp_is_not_called_one_direction(
        tmp_path: Path) -> None:
    """Field check 67's run 19 (`-Q out` on the agent's host) with an ICMP and an ICMPv6
    echo reply from the media server to the agent put in after frame 6 (as a capture
    filtering out only the media server's TCP, or its TCP taking another path, holds
    them): capture_one_direction says only the TCP is missing; agent_not_seen said "(one
    direction only: capture_one_direction)" and "this capture of one direction"."""
    capture = HERE.parent / "field67-matrix" / (
        "two-jobs-dual-control-dropped-by-agent-out-on-agent.pcap.gz")
    packets = read_packets(capture)
    replies = []
    for packet in (IP(src="10.77.0.1", dst="10.77.0.3") / ICMP(type=0) / Raw(b"x" * 16),
                   IPv6(src="fd77::1", dst="fd77::3") / ICMPv6EchoReply() / Raw(b"x" * 16)):
        reply = CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x02\x00\x00\x00"
                            b"\x00\x01\x00\x00") / packet
        reply.time = packets[5].time
        replies.append(reply)
    edited = write_packets(tmp_path / "icmp-from-media.pcap", [*packets[:6], *replies,
                                                               *packets[6:]])
    analysis = stored_analysis(edited, config_path=HERE.parent / "field67-matrix" / (
        "two-jobs-dual-control-dropped-by-agent-out-on-agent.toml"))
    one_way = [f.message for f in analysis.findings if f.code == "capture_one_direction"]
    assert len(one_way) == 2 and all("only its TCP is missing" in m for m in one_way)
    [unseen] = [f for f in analysis.findings if f.code == "agent_not_seen"]
    assert "TCP packet that left the media server 10.77.0.1 or fd77::1 " in unseen.message
    assert "one direction" not in unseen.message + unseen.fix
