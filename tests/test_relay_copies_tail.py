"""What copies.py carries across batches once relay copies showed (copies_tail.kept_tail).

A mirror of a router's two ports (as tests/test_relay_copies.py): M's data segments to
A captured coming in and, after a queueing delay of 5 ms to 233 ms, going out (other MAC
addresses, hop limit one lower). Meanwhile X sends Y a bulk transfer through no router,
captured once. Read in small chunks, the router's copies are still found across the
batch boundaries; the packets carried from batch to batch are the relayed host pair's
unpaired ones of the last second and the last 0.5 ms of the others, not every flow's
unpaired packets of the last second. Nothing is timed: the carried packets are counted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.all import IP, TCP, Ether, IPv6
from scapy_files import write_packets

import flowcheck.connections.copies as copies
from flowcheck.connections import track_connections

M, A = "2001:db8::1", "2001:db8:1::2"
M_MAC, R0_MAC, R1_MAC, A_MAC = ("02:00:00:00:00:01", "02:00:00:00:00:fe",
                                "02:00:00:00:01:fe", "02:00:00:00:01:02")
X, Y = "192.0.2.10", "192.0.2.20"
SEGMENTS, SIZE = 20, 1000
BULK = 2000  # X's segments to Y, 0.2 ms apart (0.4 s)


def capture(path: Path) -> Path:
    """M's segments to A in and out of the router, X's bulk transfer to Y, by time."""
    events: list[tuple[float, Ether]] = []

    def routed(at: float, delay: float, src: str, dst: str, sport: int, dport: int,
               flags: str, seq: int, ack: int, payload: bytes = b"") -> None:
        seg = TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack,
                  window=8192) / payload
        toward_a = src == M
        came = Ether(src=M_MAC, dst=R0_MAC) if toward_a else Ether(src=A_MAC, dst=R1_MAC)
        left = Ether(src=R1_MAC, dst=A_MAC) if toward_a else Ether(src=R0_MAC, dst=M_MAC)
        events.append((at, came / IPv6(src=src, dst=dst, hlim=64) / seg))
        events.append((at + delay, left / IPv6(src=src, dst=dst, hlim=63) / seg))

    routed(0.0, 0.0002, M, A, 40000, 5001, "S", 1000, 0)
    routed(0.001, 0.0002, A, M, 5001, 40000, "SA", 7000, 1001)
    routed(0.002, 0.0002, M, A, 40000, 5001, "A", 1001, 7001)
    for k in range(SEGMENTS):
        routed(0.010 + 0.001 * k, 0.005 + 0.012 * k, M, A, 40000, 5001, "PA",
               1001 + k * SIZE, 7001, bytes([k]) * SIZE)
    routed(0.700, 0.0002, A, M, 5001, 40000, "A", 7001, 1001 + SEGMENTS * SIZE)
    plain = Ether(src="02:00:00:00:02:01", dst="02:00:00:00:02:02")
    for k in range(BULK):
        events.append((0.005 + 0.0002 * k, plain / IP(src=X, dst=Y, id=k + 1) / TCP(
            sport=41000, dport=6001, flags="PA", seq=1 + 100 * k, ack=1) / (b"x" * 100)))
    events.sort(key=lambda event: event[0])
    packets = []
    for at, packet in events:
        packet.time = 1_700_000_000 + at
        packets.append(packet)
    write_packets(str(path), packets)
    return path


def test_the_tail_carries_the_relayed_host_pairs_packets_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After the first router copy, every tail carried X's unpaired segments of the last
    second (here up to all of them so far: 1,000s); now X's of the last 0.5 ms (a few),
    while M's segments still find their copies across the boundaries."""
    others: list[int] = []
    kept = copies.kept_tail

    def counted(*args: object, **kwargs: object) -> object:
        tail = kept(*args, **kwargs)  # type: ignore[arg-type]
        if tail is not None:
            mine = [key[0][0] == 6 for key in tail.keys]
            others.append(sum(1 for index in tail.key_of.tolist() if not mine[index]))
        return tail

    monkeypatch.setattr(copies, "kept_tail", counted)
    path = capture(tmp_path / "router.pcap")
    relayed, bulk = sorted(track_connections([str(path)], chunk_size=16 << 10).connections,
                           key=lambda c: ":" not in c.orig_h)
    assert len(others) > 15
    assert relayed.orig_copy_bytes == SEGMENTS * SIZE and relayed.retransmits == 0
    assert bulk.retransmits == 0 and bulk.orig_copy_bytes == 0
    assert max(others) <= 10, max(others)
