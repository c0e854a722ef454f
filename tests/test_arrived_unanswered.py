"""control_unanswered on a Linux cooked capture holding only the media server's SYNs,
each marked arriving at the capture host (cooked_host.arrived_unanswered).

Lab matrix seed 119 run 12: ndmjob's control SYNs dropped by the agent's input chain,
`tcpdump -i any` on the agent: 9 SYNs marked PACKET_HOST at TTL 64, nothing else; the
fix ended "A capture on 10.77.0.2, or of both directions, shows which way is lost",
though the marks place this capture on 10.77.0.2 (or the first router toward it).
A router's capture that forwarded them (each SYN also marked leaving, one lower) or a
plain Ethernet capture keeps those words.
"""

from __future__ import annotations

from pathlib import Path

from scapy.all import IP, TCP, Ether
from scapy.layers.l2 import CookedLinuxV2
from scapy_files import write_packets

from flowcheck.config import build_config
from flowcheck.pipeline import analyze, read_traffic

T0 = 1_700_000_000.0
SENT = (0.0, 1.0, 3.0, 7.0)
ARRIVED = "This capture's Linux cooked headers mark every SYN from 10.77.0.1 as arriving"
# The fallback, data_unanswered's words since field check 59 (it read "A capture on
# 10.77.0.2, or of both directions, shows which way is lost": newuser55's list).
ELSEWHERE = ("This capture holds no packet from 10.77.0.2 to 10.77.0.1, so not whether "
             "10.77.0.2 answered: a capture of both directions on 10.77.0.2 shows it")


def _syn(at: float, ttl: int) -> object:
    return (IP(src="10.77.0.1", dst="10.77.0.2", ttl=ttl, id=0x4000, flags="DF")
            / TCP(sport=5099, dport=10000, flags="S", seq=1103477421, window=64240))


def _capture(tmp: Path, link: str) -> Path:
    """The media server's control SYNs at SENT: `host` each marked arriving (SLL2
    PACKET_HOST, TTL 64); `router` each also marked leaving 0.02 ms later one lower
    (PACKET_OUTGOING, another ifindex); `ether` on Ethernet."""
    packets = []
    for at in SENT:
        if link == "ether":
            frames = [(at, Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                       / _syn(at, 64))]
        else:
            frames = [(at, CookedLinuxV2(proto=0x0800, ifindex=2, lladdrtype=1, pkttype=0,
                                         lladdrlen=6, src=bytes(8)) / _syn(at, 64))]
            if link == "router":
                frames.append((at + 2e-5, CookedLinuxV2(
                    proto=0x0800, ifindex=3, lladdrtype=1, pkttype=4, lladdrlen=6,
                    src=bytes(8)) / _syn(at, 63)))
        for when, packet in frames:
            packet.time = T0 + when  # type: ignore[attr-defined]
            packets.append(packet)
    return write_packets(tmp / f"{link}.pcap", packets)


def _fix(tmp: Path, link: str) -> str:
    config = build_config({"media_servers": ["10.77.0.1"], "remote_agents": ["10.77.0.2"]})
    analysis = analyze(read_traffic([str(_capture(tmp, link))], config), config)
    [finding] = [f for f in analysis.findings if f.code == "control_unanswered"]
    return finding.fix


def test_syns_marked_arriving_place_the_capture_on_the_agent(tmp_path: Path) -> None:
    fix = _fix(tmp_path, "host")
    assert ARRIVED in fix
    assert ("the capture was taken on 10.77.0.2, or on the first router from 10.77.0.1 "
            "toward it, which passed none of them on" in fix)
    assert "(tcpdump -Q in)" in fix
    assert ELSEWHERE not in fix


def test_syns_forwarded_or_unmarked_keep_the_capture_elsewhere(tmp_path: Path) -> None:
    for link in ("router", "ether"):
        fix = _fix(tmp_path, link)
        assert ARRIVED not in fix, link
        assert ELSEWHERE in fix, link
