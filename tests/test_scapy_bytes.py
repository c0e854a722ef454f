"""scapy_bytes writes the bytes scapy writes: the generated captures made with it are the
ones scapy made (tests/test_connections_unacked.py, tests/test_connections_acked_unseen.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.all import IP, TCP, Ether, Raw, wrpcap
from scapy_bytes import tcp_frame, write_frames

M, A = "10.77.0.1", "10.77.0.2"
CASES = [  # src, dst, sport, dport, flags, seq, ack, window, payload bytes
    (M, A, 5033, 10000, "S", 0xFFFF_0000, 0, 65535, 0),
    (A, M, 10000, 5033, "SA", 0xFFFF_F000, 0xFFFF_0001, 65535, 0),
    (M, A, 5033, 10000, "PA", 0xFFFF_FFFF, 1, 65535, 100),
    (A, M, 10000, 5033, "PA", 5, 0, 8192, 301),  # an odd length: the checksum's pad byte
    (M, A, 40000, 6001, "FA", 1_001, 0x8000_0000, 0, 1),
    (A, M, 6001, 40000, "R", 0, 0, 0, 0),
    (M, A, 1, 2, "FSRPAUEC", 0x1234_5678, 0x9ABC_DEF0, 1, 1448),
]


def scapy_packet(case: tuple) -> Ether:
    src, dst, sport, dport, flags, seq, ack, window, size = case
    packet = (Ether() / IP(src=src, dst=dst) /
              TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=window))
    return packet / Raw(b"x" * size) if size else packet


@pytest.mark.parametrize("case", CASES)
def test_a_frame_is_scapys(case: tuple) -> None:
    *fields, size = case
    assert tcp_frame(*fields, payload=b"x" * size) == bytes(scapy_packet(case))


def test_a_capture_is_wrpcaps(tmp_path: Path) -> None:
    """Times as the generators give them: a millisecond apart, some a second later."""
    times = [1_700_000_000 + k * 0.001 + (1.0 if k > 4 else 0) for k in range(len(CASES))]
    packets = [scapy_packet(case) for case in CASES]
    for packet, ts in zip(packets, times, strict=True):
        packet.time = ts
    wrpcap(str(tmp_path / "scapy.pcap"), packets)
    frames = [tcp_frame(*case[:-1], payload=b"x" * case[-1]) for case in CASES]
    ours = write_frames(tmp_path / "ours.pcap", frames, times)
    assert ours.read_bytes() == (tmp_path / "scapy.pcap").read_bytes()
