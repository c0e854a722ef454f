"""A sender's bit-identical resend that leaves by another way than its original is no
relay copy (flowcheck.connections.relay_copies): the rule must not hide real loss.

IPv6 without TCP timestamps (Windows' default) resends a lost segment bit for bit. On a
host's own Ethernet capture the "interface" is the MAC address pair: when the host
switches its default router (R1 -> R2, neighbour unreachability detection) between a
segment and its resend, the resend goes to another destination MAC with the same hop
limit. A bridge forwards a frame with its MAC pair unchanged, so that is no bridge's
copy; before the fix it read as one, and every later packet of the host pair as an
egress copy whose ingress copy the sniffer dropped (200 of them: retransmits 0, 200,000
missed bytes). tshark (`tcp.analysis.retransmission`) and the same capture without the
router change are the truth.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tshark_fork
from scapy.all import IP, TCP, Ether, IPv6, wrpcap
from scapy.layers.l2 import CookedLinuxV2
from scapy_files import write_packets

from flowcheck.config import build_config
from flowcheck.connections import track_connections
from flowcheck.pipeline import read_traffic

A, B = "2001:db8::10", "2001:db8:2::20"
A_MAC, R1_MAC, R2_MAC = "02:00:00:00:00:10", "02:00:00:00:00:01", "02:00:00:00:00:02"
SIZE, FIRST, LOST, LATER = 1000, 10, 5, 200  # bytes a segment, segments, the lost, after
T0 = 1_700_000_000.0


def _segments(link: object) -> list:
    """A's connection to B: the handshake, FIRST segments (LOST lost after the capture
    point), B's ACK up to it, the RTO resend 300 ms later, then LATER segments; each
    frame framed by link(at, outgoing, second_way) (second_way: after the change)."""
    frames = []

    def add(at: float, out: bool, second: bool, src: str, dst: str, sport: int,
            dport: int, flags: str, seq: int, ack: int, payload: bytes = b"") -> None:
        packet = link(out, second) / IPv6(src=src, dst=dst, hlim=64) / TCP(  # type: ignore[operator]
            sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=8192) / payload
        packet.time = T0 + at
        frames.append(packet)

    def data(at: float, second: bool, k: int) -> None:
        add(at, True, second, A, B, 40000, 10000, "PA", 1001 + k * SIZE, 5001,
            bytes([k % 256]) * SIZE)

    add(0.000, True, False, A, B, 40000, 10000, "S", 1000, 0)
    add(0.010, False, False, B, A, 10000, 40000, "SA", 5000, 1001)
    add(0.011, True, False, A, B, 40000, 10000, "A", 1001, 5001)
    for k in range(FIRST):
        data(0.020 + 0.001 * k, False, k)
    add(0.040, False, False, B, A, 10000, 40000, "A", 5001, 1001 + LOST * SIZE)
    data(0.320, True, LOST)  # the resend, bit for bit, the other way
    add(0.330, False, True, B, A, 10000, 40000, "A", 5001, 1001 + FIRST * SIZE)
    for k in range(FIRST, FIRST + LATER):
        data(0.340 + 0.0005 * k, True, k)
    add(0.500, False, True, B, A, 10000, 40000, "A", 5001, 1001 + (FIRST + LATER) * SIZE)
    return frames


def _tshark_retransmissions(capture: Path) -> int:
    """The frames tshark marks tcp.analysis.retransmission."""
    return len(tshark_fork.fields(capture, "tcp.analysis.retransmission", "frame.number"))


@pytest.mark.parametrize("change", [False, True])
def test_a_resend_through_another_router_is_a_retransmission(tmp_path: Path,
                                                              change: bool) -> None:
    def ethernet(out: bool, second: bool) -> Ether:
        router = R2_MAC if (second and change) else R1_MAC
        return Ether(src=A_MAC, dst=router) if out else Ether(src=router, dst=A_MAC)

    capture = tmp_path / "gateway.pcap"
    write_packets(str(capture), _segments(ethernet))
    (seen,) = track_connections([str(capture)]).connections
    assert _tshark_retransmissions(capture) == 1  # the premise: one resend
    assert seen.retransmits == 1
    assert seen.missed_bytes == 0 and seen.gaps == 0
    assert seen.orig_copy_bytes == 0


def test_a_resend_by_another_interface_makes_no_later_packet_a_copy(tmp_path: Path) -> None:
    """`tcpdump -i any` on a host with two interfaces (ifindex 2, 3) whose route moves to
    the second between the segment and its resend. The resend alone is one pair that looks
    bridged (another interface, the same hop limit: a VLAN's packet captured again on its
    trunk after the trunk's queue looks the same); one pair is no sustained pattern, so
    the later packets by that interface are no egress copies without their ingress copy."""
    def cooked(out: bool, second: bool) -> CookedLinuxV2:
        return CookedLinuxV2(proto=0x86DD, ifindex=3 if second else 2,
                             pkttype=4 if out else 0, lladdrtype=1, lladdrlen=6,
                             src=b"\x02\x00\x00\x00\x00\x10\x00\x00")

    capture = tmp_path / "any.pcap"
    wrpcap(str(capture), _segments(cooked), linktype=276)
    (seen,) = track_connections([str(capture)]).connections
    assert _tshark_retransmissions(capture) == 1  # the premise: one resend
    # At most the resend itself is taken for a copy (its segment then a gap): none of the
    # LATER segments after it.
    assert seen.orig_copy_bytes <= SIZE
    assert seen.missed_bytes <= SIZE


def _router_any(path: Path, unpaired: range) -> Path:
    """`tcpdump -i any` (SLL2) on a router forwarding 40 segments of M's to A: each captured in
    on ifindex 2 (to this host, TTL 64) and out on 5 (outgoing, 63) 5 ms later, but for
    the segments `unpaired`, whose ingress copy the capture lacks."""
    frames = []
    for k in range(40):
        for ifindex, kind, ttl, later in ((2, 0, 64, 0.0), (5, 4, 63, 0.005)):
            if k in unpaired and ifindex == 2:
                continue
            packet = CookedLinuxV2(proto=0x0800, ifindex=ifindex, pkttype=kind, lladdrtype=1,
                                   lladdrlen=6, src=b"\x02\x00\x00\x00\x00\x01\x00\x00") / IP(
                src="10.0.10.1", dst="10.0.20.2", ttl=ttl, id=100 + k, flags="DF") / TCP(
                sport=40000, dport=10000, flags="PA", seq=1001 + k * SIZE, ack=5001,
                window=8192) / (bytes([k]) * SIZE)
            packet.time = T0 + 0.001 * k + later
            frames.append(packet)
    frames.sort(key=lambda packet: float(packet.time))
    wrpcap(str(path), frames, linktype=276)
    return path


@pytest.mark.parametrize(("unpaired", "sniffer"), [(range(30, 32), True),
                                                   (range(12, 40), False)])
def test_the_sniffer_is_blamed_for_a_few_unpaired_egress_copies_only(
        tmp_path: Path, unpaired: range, sniffer: bool) -> None:
    """A few egress copies without their ingress copy among many pairs read as a sniffer
    that fell behind; more unpaired than paired are the capture's lack, said so, with no
    claim the sniffer dropped them."""
    traffic = read_traffic([str(_router_any(tmp_path / "r.pcap", unpaired))], build_config())
    (seen,) = traffic.connections
    assert seen.retransmits == 0
    (found,) = [f for f in traffic.findings if f.code == "capture_duplicates"]
    assert f"{len(unpaired)} more were captured as such copies leave" in found.message
    assert ("dropped" in found.message) is sniffer
