"""The sans-IO record decoder, each reader fed three ways (h11's tr())."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from test_ndmp_wire import REPLY, REQUEST, header, msg, record, u32, xdr_string

from flowcheck.ndmp.stream import NdmpStreamDecoder
from flowcheck.ndmp.stream_events import NEED_DATA, DecodeProblem, RawMessage

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def events(decoder: NdmpStreamDecoder) -> list[RawMessage | DecodeProblem]:
    out = []
    while (event := decoder.next_event()) is not NEED_DATA:
        out.append(event)  # type: ignore[arg-type]
    return out


def feed_three_ways(data: bytes) -> list[list[RawMessage | DecodeProblem]]:
    """Whole buffer, one byte at a time (each its own frame), and with trailing bytes."""
    results = []
    whole = NdmpStreamDecoder()
    whole.receive_data(data, 1, 1.0)
    results.append(events(whole))
    bytewise = NdmpStreamDecoder()
    got: list[RawMessage | DecodeProblem] = []
    for index in range(len(data)):
        bytewise.receive_data(data[index:index + 1], index + 1, float(index))
        got.extend(events(bytewise))
    results.append(got)
    trailing = NdmpStreamDecoder()
    trailing.receive_data(data + b"\x80\x00\x00", 1, 1.0)  # a record mark begun, not ended
    results.append(events(trailing))
    return results


def messages_of(found: list[RawMessage | DecodeProblem]) -> list[tuple[int, int, int, bytes]]:
    return [(m.sequence, m.raw_type, m.code, m.body) for m in found if isinstance(m, RawMessage)]


def test_several_records_in_one_buffer_three_ways() -> None:
    data = (msg(1, REQUEST, 0x502, u32(0) + u32(4) + xdr_string("Hi"))
            + msg(1, REQUEST, 0x900, u32(4)) + msg(2, REPLY, 0x900, u32(0), reply_sequence=1))
    for found in feed_three_ways(data):
        assert messages_of(found) == [(1, 0, 0x502, u32(0) + u32(4) + xdr_string("Hi")),
                                      (1, 0, 0x900, u32(4)), (2, 1, 0x900, u32(0))]
        assert not [e for e in found if isinstance(e, DecodeProblem)]


def test_multi_fragment_record_three_ways() -> None:
    body = xdr_string("a log line long enough to split")
    message = header(7, REQUEST, 0x603) + u32(0) + u32(9) + body + u32(0) + u32(0)
    data = record(message, fragments=[5, 20, 13])
    for found in feed_three_ways(data):
        assert messages_of(found) == [(7, REQUEST, 0x603, message[24:])]


def test_zero_length_last_fragment() -> None:
    message = header(3, REQUEST, 0x902)
    data = u32(len(message)) + message + u32(0x80000000)  # empty last fragment ends it
    for found in feed_three_ways(data + msg(4, REQUEST, 0x400)):
        assert [(m[0], m[2]) for m in messages_of(found)] == [(3, 0x902), (4, 0x400)]


def test_frame_is_that_of_the_record_mark() -> None:
    decoder = NdmpStreamDecoder()
    first, second = msg(1, REQUEST, 0x900, u32(4)), msg(2, REQUEST, 0x901, u32(0))
    decoder.receive_data(first + second[:3], 10, 10.0)
    decoder.receive_data(second[3:], 11, 11.0)
    found = [e for e in events(decoder) if isinstance(e, RawMessage)]
    assert [(m.sequence, m.frame) for m in found] == [(1, 10), (2, 10)]


def test_absurd_fragment_length_is_undecodable_then_resynchronises() -> None:
    garbage = u32(0x7FFFFFF0) + b"junk" * 10  # 2 GiB fragment: not NDMP
    good = msg(5, REQUEST, 0x400)
    for found in feed_three_ways(garbage + good):
        kinds = [e.kind for e in found if isinstance(e, DecodeProblem)]
        assert kinds[0] == "absurd_fragment"
        assert messages_of(found) == [(5, REQUEST, 0x400, b"")]


def test_record_shorter_than_header_is_undecodable() -> None:
    for found in feed_three_ways(record(b"\x00" * 10) + msg(2, REQUEST, 0x400)):
        assert [e.kind for e in found if isinstance(e, DecodeProblem)] == ["short_record"]
        assert [m[0] for m in messages_of(found)] == [2]


def test_gap_keeps_the_captured_header_as_partial_and_resynchronises() -> None:
    decoder = NdmpStreamDecoder()
    cut = msg(3, REQUEST, 0x401, xdr_string("tar") + u32(0))
    decoder.receive_data(cut[:30], 20, 2.0)  # header captured, body cut
    decoder.receive_gap(100, 22, 2.2)
    decoder.receive_data(b"tail of something lost" + msg(4, REQUEST, 0x400), 22, 2.2)
    found = events(decoder)
    partial = [e for e in found if isinstance(e, RawMessage) and e.partial]
    assert [(m.sequence, m.code, m.frame) for m in partial] == [(3, 0x401, 20)]
    problems = [e for e in found if isinstance(e, DecodeProblem)]
    assert [p.kind for p in problems] == ["cut", "skipped"]
    assert problems[0].frames == [20, 22]
    # The hole's bytes are data, the words follow the report's byte style.
    assert (problems[0].missing, problems[0].detail) == (100, "100 B never captured")
    # The record's next mark fell in the hole: the bytes before a provable start are told.
    assert (problems[1].detail, problems[1].skipped) == ("unproven", 22)
    assert [(m.sequence, m.partial) for m in found if isinstance(m, RawMessage)] == [
        (3, True), (4, False)]


def test_gap_before_a_header_is_complete_loses_the_message() -> None:
    decoder = NdmpStreamDecoder()
    decoder.receive_data(msg(3, REQUEST, 0x400)[:10], 5, 1.0)
    decoder.receive_gap(18, 7, 1.1)
    decoder.receive_data(msg(4, REQUEST, 0x400), 7, 1.1)
    found = events(decoder)
    assert [m[0] for m in messages_of(found)] == [4]
    assert [e.kind for e in found if isinstance(e, DecodeProblem)] == ["cut"]


def test_stream_ending_inside_a_record_is_cut() -> None:
    decoder = NdmpStreamDecoder()
    decoder.receive_data(msg(1, REQUEST, 0x900, u32(4))[:-2], 3, 0.5)
    decoder.receive_eof()
    found = events(decoder)
    assert [(m.sequence, m.partial) for m in found if isinstance(m, RawMessage)] == [(1, True)]
    [cut] = [e for e in found if isinstance(e, DecodeProblem)]
    assert (cut.kind, cut.missing) == ("cut", None)  # the end, no hole


def test_garbage_stream_is_reported_not_raised() -> None:
    decoder = NdmpStreamDecoder()
    decoder.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 20, 1, 0.0)
    decoder.receive_eof()
    found = events(decoder)
    assert not [e for e in found if isinstance(e, RawMessage)]
    assert {e.kind for e in found if isinstance(e, DecodeProblem)} <= {
        "absurd_fragment", "garbage", "bad_header", "short_record"}
    assert found


def test_mid_stream_start_skips_to_the_first_record() -> None:
    decoder = NdmpStreamDecoder()
    decoder.start_mid_stream()
    decoder.receive_data(b"\x00\x01rest of an earlier message" + msg(9, REPLY, 0x400, u32(0),
                                                                      reply_sequence=8), 1, 0.0)
    found = events(decoder)
    assert messages_of(found) == [(9, REPLY, 0x400, u32(0))]
    assert not [e for e in found if isinstance(e, DecodeProblem)]  # expected, not garbage


def test_fuzz_random_bytes_never_raise() -> None:
    rng = random.Random(1234)
    for _ in range(300):
        decoder = NdmpStreamDecoder()
        for frame in range(rng.randint(1, 6)):
            decoder.receive_data(rng.randbytes(rng.randint(0, 200)), frame, 0.0)
            if rng.random() < 0.2:
                decoder.receive_gap(rng.randint(1, 50), frame, 0.0)
            events(decoder)
        decoder.receive_eof()
        events(decoder)


def test_fuzz_mutated_real_stream_never_raises() -> None:
    # The agent side of a real session, rebuilt from the decoded records.
    from test_ndmp_tshark import decode_capture

    streams = decode_capture(CAPTURES / "ndmjob" / "v4-backup.pcap", 10000)
    assert streams and streams[0].messages
    original = b"".join(
        msg(m.sequence, 1 if m.type == "reply" else 0, m.code, u32(m.error),
            reply_sequence=m.reply_sequence) for m in streams[0].messages)
    rng = random.Random(99)
    for _ in range(200):
        data = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        decoder = NdmpStreamDecoder()
        cut = rng.randrange(len(data))
        decoder.receive_data(bytes(data[:cut]), 1, 0.0)
        events(decoder)
        decoder.receive_data(bytes(data[cut:]), 2, 0.0)
        decoder.receive_eof()
        events(decoder)


@pytest.mark.parametrize("split", [1, 7, 28, 29])
def test_header_split_anywhere(split: int) -> None:
    data = msg(1, REQUEST, 0x900, u32(3))
    decoder = NdmpStreamDecoder()
    decoder.receive_data(data[:split], 1, 0.0)
    assert decoder.next_event() is NEED_DATA
    decoder.receive_data(data[split:], 2, 0.1)
    found = events(decoder)
    assert messages_of(found) == [(1, REQUEST, 0x900, u32(3))]
    assert found[0].frame == 1  # type: ignore[union-attr]


def _file_history(sequence: int, size: int = 12000) -> bytes:
    """A big FH_ADD_FILE request as ndmjob sends it: 3996-byte non-last fragments."""
    message = header(sequence, REQUEST, 0x703) + bytes(range(256)) * (size // 256)
    return record(message, fragments=[3996] * ((len(message) - 1) // 3996))


def test_hole_inside_a_fragment_follows_the_record_marks() -> None:
    """Trial 14 D4 (L-v4-fhmid): the hole falls inside a fragment of a big message, the
    next message is big too (a non-last first mark): decoding resumes right after the
    broken message, and the rest of it is told as skipped."""
    data = _file_history(7) + _file_history(8) + msg(9, REQUEST, 0x400)
    for size in (len(data), 1448, 7):  # at once, as segments, in small pieces
        decoder = NdmpStreamDecoder()
        decoder.receive_data(data[:5000], 1, 1.0)
        decoder.receive_gap(1448, 2, 1.1)
        found = events(decoder)
        for frame, start in enumerate(range(6448, len(data), size), 3):
            decoder.receive_data(data[start:start + size], frame, 1.2)
            found += events(decoder)
        decoder.receive_eof()
        found += events(decoder)
        assert [(m.sequence, m.partial) for m in found if isinstance(m, RawMessage)] == [
            (7, True), (8, False), (9, False)]
        skipped = [(e.detail, e.skipped) for e in found
                   if isinstance(e, DecodeProblem) and e.kind == "skipped"]
        assert skipped == [("rest", len(_file_history(7)) - 6448)]


def test_hole_in_a_last_fragment_resumes_at_its_end() -> None:
    """The broken record's end is known from its mark: a header-like tail of it is not
    taken for a record, the record after it is."""
    body = bytes(40) + u32(28) + header(5, REQUEST, 0x400) + bytes(12)  # looks like a record
    data = msg(3, REQUEST, 0x703, body) + msg(4, REPLY, 0x400, u32(0), reply_sequence=2)
    decoder = NdmpStreamDecoder()
    decoder.receive_data(data[:40], 1, 1.0)
    decoder.receive_gap(20, 2, 1.1)
    decoder.receive_data(data[60:], 3, 1.2)
    decoder.receive_eof()
    found = events(decoder)
    assert [(m.sequence, m.partial) for m in found if isinstance(m, RawMessage)] == [
        (3, True), (4, False)]


def test_hole_over_a_small_message_resumes_at_a_multi_fragment_one() -> None:
    """Trial 14 D4 (L-v2-env100-auth): the hole took a whole small message; the next one
    starts with a non-last fragment mark (a v2 DATA_START_BACKUP with a long env list)."""
    start_backup = record(header(5, REQUEST, 0x401) + bytes(9000), fragments=[3996, 3996])
    decoder = NdmpStreamDecoder()
    decoder.receive_data(msg(3, REQUEST, 0x900, u32(2)), 1, 1.0)
    decoder.receive_gap(48, 2, 1.1)
    decoder.receive_data(start_backup, 3, 1.2)
    found = events(decoder)
    assert [(m.sequence, m.code) for m in found if isinstance(m, RawMessage)] == [
        (3, 0x900), (5, 0x401)]
    assert not [e for e in found if isinstance(e, DecodeProblem) and e.kind == "skipped"]


def test_hole_over_a_record_mark_skips_to_a_proven_start_and_says_so() -> None:
    """The hole took a fragment mark: the broken message's later fragments (a non-last
    mark followed by file history, not a header) are passed over; the next message's
    first fragment, whose marks chain to a last fragment, is taken."""
    first = _file_history(7)
    data = first + _file_history(8) + msg(9, REQUEST, 0x400)
    decoder = NdmpStreamDecoder()
    decoder.receive_data(data[:3000], 1, 1.0)
    decoder.receive_gap(2000, 2, 1.1)  # over the mark at 4000
    for frame, start in enumerate(range(5000, len(data), 1448), 3):
        decoder.receive_data(data[start:start + 1448], frame, 1.2)
    decoder.receive_eof()
    found = events(decoder)
    assert [(m.sequence, m.partial) for m in found if isinstance(m, RawMessage)] == [
        (7, True), (8, False), (9, False)]
    skipped = [(e.detail, e.skipped) for e in found
               if isinstance(e, DecodeProblem) and e.kind == "skipped"]
    assert skipped == [("unproven", len(first) - 5000)]


def test_a_header_in_payload_is_no_record_start_unless_its_marks_chain() -> None:
    """After a hole, bytes that look like a non-last mark and a header, but whose next
    'mark' is no record mark chaining to a last fragment, are passed over."""
    fake = u32(3996) + header(1, REQUEST, 0x400)  # 'fragment' of 3996: runs into garbage
    filler = b"\xff" * 4000  # where its next mark would be: an absurd length
    decoder = NdmpStreamDecoder()
    decoder.receive_gap(100, 1, 1.0)
    decoder.receive_data(fake + filler + msg(4, REQUEST, 0x400), 2, 1.1)
    decoder.receive_eof()
    found = events(decoder)
    assert [m.sequence for m in found if isinstance(m, RawMessage)] == [4]
