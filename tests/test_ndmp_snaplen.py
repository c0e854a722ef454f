"""Snap-length cuts (captured < wire length) through reassembly, the sans-IO decoder,
body layouts and the collector: a known cut of exact length, never a hole."""

from __future__ import annotations

from test_ndmp_messages import DATA_CONNECT, MOVER_LISTEN, Session
from test_ndmp_stream import events
from test_ndmp_wire import REPLY, REQUEST, greeting, msg, u32, v3_tcp_addr, v4_tcp_addr

from flowcheck.ndmp.messages import fitting_versions
from flowcheck.ndmp.reassembly import Chunk, Reassembler
from flowcheck.ndmp.stream import NdmpStreamDecoder
from flowcheck.ndmp.stream_events import DecodeProblem, RawMessage

SYN, ACK = 0x02, 0x10
ADDR = v4_tcp_addr(("10.77.0.1", 5014), env=[("HOST", "media")])
LISTEN_REPLY = msg(7, REPLY, MOVER_LISTEN, u32(0) + ADDR, reply_sequence=6)
HALTED = msg(8, REQUEST, 0x501, u32(1))  # NOTIFY_DATA_HALTED, v4: reason only


def cut_stream(packets: list[bytes], keep: int) -> list[tuple[bytes, int]]:
    """Each packet as the capture kept it: its first `keep` bytes and its wire length."""
    return [(p[:keep], len(p)) for p in packets]


def feed(packets: list[tuple[bytes, int]], bytewise: bool) -> list[RawMessage | DecodeProblem]:
    """Whole packets, or one byte at a time (each byte its own receive_data)."""
    decoder = NdmpStreamDecoder()
    out: list[RawMessage | DecodeProblem] = []
    for frame, (kept, wire) in enumerate(packets, start=1):
        pieces = [kept[i:i + 1] for i in range(len(kept))] if bytewise else [kept]
        for piece in pieces:
            decoder.receive_data(piece, frame, float(frame))
            out.extend(events(decoder))
        decoder.receive_cut(wire - len(kept), frame, float(frame))
        out.extend(events(decoder))
    decoder.receive_eof()
    return out + events(decoder)


def test_reassembler_delivers_the_cut_with_its_exact_length() -> None:
    r = Reassembler()
    r.segment(0, SYN, b"", 1, 0.0)
    out = r.segment(1, ACK, b"abc", 2, 0.1, wire_len=10)
    out += r.segment(11, ACK, b"de", 3, 0.2, wire_len=5)
    out += r.segment(11, ACK, b"de", 4, 0.3, wire_len=5)  # retransmitted: trimmed
    assert out == [Chunk(b"abc", 2, 0.1, cut=7), Chunk(b"de", 3, 0.2, cut=3)]
    assert (r.delivered, r.cut, r.missing, r.retransmitted) == (5, 10, 0, 5)


def test_reassembler_out_of_order_cut_segment_waits_without_a_gap() -> None:
    r = Reassembler()
    r.segment(0, SYN, b"", 1, 0.0)
    assert r.segment(9, ACK, b"xy", 3, 0.2, wire_len=4) == []
    out = r.segment(1, ACK, b"ab", 2, 0.1, wire_len=8)
    assert out == [Chunk(b"ab", 2, 0.1, cut=6), Chunk(b"xy", 3, 0.2, cut=2)]
    assert r.close() == []


def test_header_kept_body_cut_is_partial_with_the_captured_fields() -> None:
    packets = cut_stream([LISTEN_REPLY, HALTED], keep=4 + 24 + 20)
    for bytewise in (False, True):
        found = feed(packets, bytewise)
        [listen, halted] = [e for e in found if isinstance(e, RawMessage)]
        assert not [e for e in found if isinstance(e, DecodeProblem)]
        assert listen.partial and listen.snapped and listen.body_len == len(LISTEN_REPLY) - 28
        assert listen.body == (u32(0) + ADDR)[:20] and listen.frame == 1
        assert not halted.partial and halted.body == u32(1) and halted.frame == 2


def test_cut_mark_counts_one_record_lost_then_framing_resumes_quietly() -> None:
    # Two records in one packet, the second's mark in the cut part; the next packet
    # starts with a record again.
    packets = [(LISTEN_REPLY[:40], len(LISTEN_REPLY) + len(HALTED)), (HALTED, len(HALTED))]
    for bytewise in (False, True):
        found = feed(packets, bytewise)
        kinds = [e.kind for e in found if isinstance(e, DecodeProblem)]
        messages = [e for e in found if isinstance(e, RawMessage)]
        assert kinds == ["lost"]  # no garbage, no "cut" (hole) report
        assert [(m.code, m.partial) for m in messages] == [(MOVER_LISTEN, True),
                                                           (0x501, False)]


def test_cut_header_loses_the_record_but_not_the_framing() -> None:
    packets = cut_stream([LISTEN_REPLY, HALTED], keep=10) + [(HALTED, len(HALTED))]
    for bytewise in (False, True):
        found = feed(packets, bytewise)
        assert [e.kind for e in found if isinstance(e, DecodeProblem)] == ["lost", "lost"]
        assert [m.code for m in found if isinstance(m, RawMessage)] == [0x501]


def test_nothing_captured_is_lost_records_never_garbage() -> None:
    packets = cut_stream([LISTEN_REPLY, HALTED, HALTED], keep=2)
    for bytewise in (False, True):
        found = feed(packets, bytewise)
        assert {e.kind for e in found if isinstance(e, DecodeProblem)} == {"lost"}
        assert not [e for e in found if isinstance(e, RawMessage)]


def test_wire_length_tells_v4_from_v3_addresses() -> None:
    v4 = u32(0) + v4_tcp_addr(("10.77.0.1", 5014))
    v3 = u32(0) + v3_tcp_addr("10.77.0.1", 5014)
    assert fitting_versions("MOVER_LISTEN", True, v4[:12], wire_len=len(v4)) == {4}
    assert fitting_versions("MOVER_LISTEN", True, v3[:12], wire_len=len(v3)) == {2, 3}
    # The union arm itself was cut: nothing can be ruled out.
    assert fitting_versions("MOVER_LISTEN", True, v4[:2], wire_len=len(v4)) == {2, 3, 4}
    # Whole bodies go through the same function: byte for byte.
    assert fitting_versions("MOVER_LISTEN", True, v4) == {4}
    assert fitting_versions("MOVER_LISTEN", True, v3) == {2, 3}


def snapped_session(keep: int) -> Session:
    """A v4 session whose every packet kept only `keep` payload bytes."""
    s = Session()
    packets = [("resp", greeting(4)), ("orig", msg(1, REQUEST, 0x900, u32(4))),
               ("resp", msg(2, REPLY, 0x900, u32(0), reply_sequence=1)),
               ("orig", msg(2, REQUEST, DATA_CONNECT, v4_tcp_addr(("10.77.0.1", 5014)))),
               ("resp", msg(3, REPLY, DATA_CONNECT, u32(0), reply_sequence=2))]
    for direction, payload in packets:
        s.frame += 1
        s.collector.segment("C1", direction, s.seq[direction], ACK,  # type: ignore[arg-type]
                            payload[:keep], s.frame, float(s.frame), wire_len=len(payload))
        s.seq[direction] += len(payload)
    return s


def test_collector_one_summary_finding_and_the_address_when_it_fits() -> None:
    stream = snapped_session(keep=28 + 16).stream()  # the env count is cut
    [finding] = stream.findings
    assert finding.code == "ndmp_partial" and stream.snap_finding is finding
    assert "first 44 bytes" in finding.message and "tcpdump -s 0" in finding.fix
    assert [(a.ip, a.port) for a in stream.announcements] == [("10.77.0.1", 5014)]
    assert stream.version == 4 and stream.snap_cut > 0


def test_collector_version_from_codes_when_every_body_is_cut() -> None:
    stream = snapped_session(keep=30).stream()
    assert [f.code for f in stream.findings] == ["ndmp_partial"]
    assert all(m.partial for m in stream.messages if m.code != 0x900 or m.type == "request")
    # DATA_CONNECT rules v2 out; v3 and v4 cannot be told apart: v4 is taken, and said.
    assert (stream.version, stream.version_source) == (4, "likely")
    assert not stream.announcements


def test_full_capture_has_no_snap_state() -> None:
    s = Session()
    s.send("resp", greeting(4))
    stream = s.stream()
    assert stream.snap_cut == 0 and stream.snap_finding is None and not stream.findings
