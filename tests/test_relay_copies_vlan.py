"""`tcpdump -i any` on a router-on-a-stick (flowcheck.connections.relay_copies): VLAN
subinterfaces eth0.10 (ifindex 3) and eth0.20 (4) on one trunk eth0 (2), Linux cooked
capture v2. Each forwarded packet is captured four times: in on the trunk, in on
eth0.10, out on eth0.20, and out on the trunk again after the trunk's queue (5 to 52
ms). The queued egress copy has the ingress copy's interface index; only the packet
type (SLL2 byte 10: to this host, outgoing) tells where it was captured. Before the fix
each read as a retransmission (20). The same router whose egress leaves by another
interface (eth1, 5) is the truth.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.all import IP, TCP, wrpcap
from scapy.layers.l2 import CookedLinuxV2

from flowcheck.connections import track_connections

M, A = "10.0.10.1", "10.0.20.2"
TRUNK, VLAN10, VLAN20, ETH1 = 2, 3, 4, 5
HOST, OUTGOING = 0, 4  # SLL packet types
SEGMENTS, SIZE = 20, 1000


def _capture(path: Path, egress: int) -> Path:
    """The router's `-i any` capture of M's connection to A, its egress by `egress`."""
    frames = []
    ident = [100]

    def forward(at: float, queued: float, src: str, dst: str, sport: int, dport: int,
                flags: str, seq: int, ack: int, payload: bytes = b"") -> None:
        ident[0] += 1
        for ifindex, kind, ttl, when in ((TRUNK, HOST, 64, at),
                                         (VLAN10, HOST, 64, at + 0.000005),
                                         (VLAN20, OUTGOING, 63, at + 0.00001),
                                         (egress, OUTGOING, 63, at + queued)):
            packet = CookedLinuxV2(proto=0x0800, ifindex=ifindex, pkttype=kind, lladdrtype=1,
                                   lladdrlen=6, src=b"\x02\x00\x00\x00\x00\x01\x00\x00") / IP(
                src=src, dst=dst, ttl=ttl, id=ident[0], flags="DF") / TCP(
                sport=sport, dport=dport, flags=flags, seq=seq, ack=ack,
                window=8192) / payload
            packet.time = 1_700_000_000.0 + when
            frames.append(packet)

    forward(0.0, 0.0002, M, A, 40000, 10000, "S", 1000, 0)
    forward(0.001, 0.0002, A, M, 10000, 40000, "SA", 5000, 1001)
    forward(0.002, 0.0002, M, A, 40000, 10000, "A", 1001, 5001)
    for k in range(SEGMENTS):
        forward(0.010 + 0.001 * k, 0.005 + 0.0025 * k, M, A, 40000, 10000, "PA",
                1001 + k * SIZE, 5001, bytes([k]) * SIZE)
    forward(0.2, 0.0002, A, M, 10000, 40000, "A", 5001, 1001 + SEGMENTS * SIZE)
    frames.sort(key=lambda packet: float(packet.time))
    wrpcap(str(path), frames, linktype=276)
    return path


@pytest.mark.parametrize("egress", [TRUNK, ETH1])
def test_router_on_a_stick_trunk_copies_are_no_retransmissions(tmp_path: Path,
                                                               egress: int) -> None:
    (seen,) = track_connections([str(_capture(tmp_path / "any.pcap", egress))]).connections
    (truth,) = track_connections([str(_capture(tmp_path / "eth1.pcap", ETH1))]).connections
    assert truth.retransmits == 0 and truth.orig_copy_bytes == 3 * SEGMENTS * SIZE
    assert seen.retransmits == truth.retransmits
    assert seen.orig_copy_bytes == truth.orig_copy_bytes
    assert seen.missed_bytes == truth.missed_bytes == 0
