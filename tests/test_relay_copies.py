"""Relay copies on Ethernet, over IPv6 (flowcheck.connections.relay_copies): a mirror of
a router's two ports holds each packet it forwarded twice, the egress copy (other MAC
addresses, hop limit one lower) after a queueing delay well beyond 0.5 ms, growing as the
queue fills. IPv6 has no
identification: a resend without timestamps is bit-identical to its original, and only
where and how it was captured tells it from a copy. The same packets captured on the
ingress port alone are the truth.
"""

from __future__ import annotations

from pathlib import Path

from scapy.all import TCP, Ether, IPv6
from scapy_files import write_packets

from flowcheck.connections import track_connections

M, A = "2001:db8::1", "2001:db8:1::2"
M_MAC, R0_MAC, R1_MAC, A_MAC = ("02:00:00:00:00:01", "02:00:00:00:00:fe",
                                "02:00:00:00:01:fe", "02:00:00:00:01:02")
# Seconds the router's egress queue holds M's data segment k: it fills, 5 ms to 233 ms.
QUEUE = [0.005 + 0.012 * k for k in range(20)]
SEGMENTS, SIZE, LOST = 20, 1000, 9  # data segments, bytes each, the one lost after R


def _legs(src: str, dst: str, sport: int, dport: int, flags: str, seq: int, ack: int,
          payload: bytes = b"") -> tuple[Ether, Ether]:
    """The packet as it comes in to R and as it leaves (MACs rewritten, hop limit -1)."""
    toward_a = src == M
    seg = TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=8192) / payload
    inner = (Ether(src=M_MAC, dst=R0_MAC) if toward_a else Ether(src=A_MAC, dst=R1_MAC))
    outer = (Ether(src=R1_MAC, dst=A_MAC) if toward_a else Ether(src=R0_MAC, dst=M_MAC))
    return (inner / IPv6(src=src, dst=dst, hlim=64) / seg,
            outer / IPv6(src=src, dst=dst, hlim=63) / seg)


def _captures(tmp: Path) -> tuple[Path, Path]:
    """(both ports, the ingress port alone: M's side for M's packets, A's for A's)."""
    events: list[tuple[float, int, Ether]] = []  # (time, ingress 0 / egress 1, packet)

    def send(at: float, delay: float, *packet: object) -> None:
        came, left = _legs(*packet)  # type: ignore[arg-type]
        events.extend(((at, 0, came), (at + delay, 1, left)))

    send(0.0, 0.0002, M, A, 40000, 5001, "S", 1000, 0)
    send(0.001, 0.0002, A, M, 5001, 40000, "SA", 7000, 1001)
    send(0.002, 0.0002, M, A, 40000, 5001, "A", 1001, 7001)
    for k in range(SEGMENTS):
        at = 0.010 + 0.001 * k
        payload = bytes([k]) * SIZE
        segment = (M, A, 40000, 5001, "PA", 1001 + k * SIZE, 7001, payload)
        send(at, QUEUE[k], *segment)  # the egress copy: dropped after R when LOST
        if k == LOST:  # resent bit for bit (no timestamps, no IPv6 ID) 300 ms later
            send(at + 0.300, QUEUE[-1], *segment)
    acked = 1001 + SEGMENTS * SIZE
    send(0.700, 0.0002, A, M, 5001, 40000, "A", 7001, acked)
    events.sort(key=lambda event: event[0])
    both, ingress = tmp / "both.pcap", tmp / "ingress.pcap"
    for path, chosen in ((both, events), (ingress, [e for e in events if e[1] == 0])):
        packets = []
        for at, _, packet in chosen:
            packet.time = 1_700_000_000 + at
            packets.append(packet)
        write_packets(str(path), packets)
    return both, ingress


def test_ipv6_router_copies_and_a_bit_identical_resend(tmp_path: Path) -> None:
    both, ingress = _captures(tmp_path)
    (seen,) = track_connections([str(both)]).connections
    (truth,) = track_connections([str(ingress)]).connections
    assert truth.retransmits == 1  # the resend of the segment lost after the router
    assert seen.retransmits == truth.retransmits
    assert seen.orig_pkts == 2 * truth.orig_pkts
    assert seen.orig_copy_bytes == (SEGMENTS + 1) * SIZE  # each egress copy's payload
    assert seen.missed_bytes == truth.missed_bytes == 0
