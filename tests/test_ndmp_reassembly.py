"""TCP reassembly of one direction: order, retransmissions, overlaps, holes."""

from __future__ import annotations

from flowcheck.ndmp.reassembly import PATIENCE_SEGMENTS, Chunk, Gap, Reassembler

SYN, ACK, PSH = 0x02, 0x10, 0x08


def data_of(deliveries: list) -> bytes:
    return b"".join(d.data for d in deliveries if isinstance(d, Chunk))


def test_in_order_from_the_syn() -> None:
    r = Reassembler()
    assert r.segment(1000, SYN, b"", 1, 0.0) == []
    out = r.segment(1001, ACK | PSH, b"abc", 2, 0.1) + r.segment(1004, ACK, b"def", 3, 0.2)
    assert data_of(out) == b"abcdef"
    assert [(d.frame, d.data) for d in out] == [(2, b"abc"), (3, b"def")]


def test_out_of_order_waits_then_drains() -> None:
    r = Reassembler()
    r.segment(0, SYN, b"", 1, 0.0)
    assert r.segment(4, ACK, b"def", 3, 0.2) == []  # arrives before bytes 1-3
    out = r.segment(1, ACK, b"abc", 2, 0.1)
    assert data_of(out) == b"abcdef"
    assert [d.frame for d in out] == [2, 3]


def test_retransmission_and_overlap_trimmed() -> None:
    r = Reassembler()
    r.segment(100, SYN, b"", 1, 0.0)
    out = r.segment(101, ACK, b"hello", 2, 0.1)
    out += r.segment(101, ACK, b"hello", 3, 0.2)  # full retransmission
    out += r.segment(104, ACK, b"lo world", 4, 0.3)  # overlaps "lo"
    assert data_of(out) == b"hello world"
    assert r.retransmitted == 5 + 2


def test_overlapping_out_of_order_segments() -> None:
    r = Reassembler()
    r.segment(0, SYN, b"", 1, 0.0)
    r.segment(5, ACK, b"56789", 3, 0.0)
    r.segment(3, ACK, b"3456", 4, 0.0)
    out = r.segment(1, ACK, b"12", 5, 0.0)
    assert data_of(out) == b"123456789"


def test_hole_never_filled_is_a_gap_at_close() -> None:
    r = Reassembler()
    r.segment(0, SYN, b"", 1, 0.0)
    out = r.segment(1, ACK, b"ab", 2, 0.0)
    out += r.segment(10, ACK, b"xyz", 3, 0.5)  # bytes 3-9 lost
    out += r.close()
    assert data_of(out) == b"abxyz"
    gaps = [d for d in out if isinstance(d, Gap)]
    assert [(g.missing, g.frame) for g in gaps] == [(7, 3)]


def test_hole_given_up_after_patience() -> None:
    r = Reassembler()
    r.segment(0, SYN, b"", 1, 0.0)
    out = []
    seq = 101  # the first 100 bytes were never captured (snap length, drop)
    for frame in range(PATIENCE_SEGMENTS + 2):
        out += r.segment(seq, ACK, b"x" * 10, frame + 2, 0.0)
        seq += 10
    assert any(isinstance(d, Gap) and d.missing == 100 for d in out)
    assert data_of(out) == b"x" * 10 * (PATIENCE_SEGMENTS + 2)


def test_no_syn_starts_at_first_segment() -> None:
    r = Reassembler()
    out = r.segment(5000, ACK, b"mid", 7, 0.0) + r.segment(5003, ACK, b"dle", 8, 0.0)
    assert data_of(out) == b"middle"
    assert r.started_mid_stream


def test_sequence_wraparound() -> None:
    r = Reassembler()
    r.segment(0xFFFFFFFD, SYN, b"", 1, 0.0)
    out = r.segment(0xFFFFFFFE, ACK, b"ab", 2, 0.0) + r.segment(0, ACK, b"cd", 3, 0.0)
    assert data_of(out) == b"abcd"
