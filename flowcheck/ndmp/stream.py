"""Sans-IO NDMP record decoder for one direction of a control connection (h11-style).

Feed it bytes with `receive_data`, tell it about holes with `receive_gap` and about the
end with `receive_eof`, then call `next_event` until it returns NEED_DATA. Events are
`RawMessage` (one ONC RPC record: 24-byte header plus body) or `DecodeProblem`.
Every byte is tagged with the frame and timestamp it arrived in, so a message knows the
frame holding its record mark (flowcheck.ndmp.captured_bytes keeps the bytes). It owns
no socket and never raises on any input. What it reads of record marks without consuming
bytes (where a record's fragments end, a cut header, a TLS record) is
flowcheck.ndmp.record_marks'.

`receive_cut` is for bytes the snap length left out: their count is exact, so framing
goes on (record marks give lengths). A record whose header was kept becomes a partial
message (`snapped`: its body is the part captured before the first cut byte), and so
does one whose header lost only its last word, the error code (`error_cut`: it still
names its message); one whose mark or more of its header was cut is counted as lost (a
"lost" problem, no garbage report), and when a mark was cut the decoder looks, silently,
for the next record start.

After a hole (`receive_gap`) the decoder resumes at the next record start it can prove:
the broken record's own fragment marks when the hole fell inside a fragment (its length
says where the next mark is), else the first record mark followed by a plausible header
(a last fragment, or a first fragment whose chain of marks ends in a last one: RFC 5531
11). The bytes passed over are told in a "skipped" problem.

A TLS handshake record where the next record mark should be, after at least one record
of the direction was read, is the session secured in band (a STARTTLS-like upgrade);
at the direction's very first byte (the capture holds its start: no hole before it, not
started mid-stream), it is a connection in TLS from its start (an NDMP server that
secures its control connections before its greeting, or another program's TLS: which
one, flowcheck.sessions.tls_start tells). Either way a "tls" problem names its frame,
and the rest of the direction is dropped unread (TLS 1.2 and 1.3 record layer, RFC 8446
5.1: content type 22, legacy version 3.x, a length of at most 2^14 + 2048).
"""

from __future__ import annotations

from collections import deque

from flowcheck.ndmp.captured_bytes import CapturedBytes
from flowcheck.ndmp.protocol import (
    FRAGMENT_LENGTH_MASK,
    HEADER,
    HEADER_SIZE,
    LAST_FRAGMENT,
    MAX_FRAGMENT,
    RECORD_MARK,
    plausible_header,
)
from flowcheck.ndmp.record_marks import (
    HEADER_BUT_ERROR,
    MARK_AND_HEADER,
    RECORD_CANDIDATE,
    RESYNC_MAX_RECORD,
    chain_ends,
    cut_record_start,
    next_mark_offset,
    tls_record_start,
)
from flowcheck.ndmp.stream_events import (
    NEED_DATA,
    DecodeProblem,
    Event,
    ProblemKind,
    RawMessage,
)


class NdmpStreamDecoder:
    """Record marking and headers of one byte stream; memory is one record at most."""

    def __init__(self) -> None:
        self._bytes = CapturedBytes()
        self._events: deque[RawMessage | DecodeProblem] = deque()
        self._resync = False
        self._resync_after_gap = False
        self._skipped = 0  # bytes dropped while resynchronising
        self._skipped_rest = 0  # of them, the rest of a record a hole broke
        self._skip_start: tuple[int, float] | None = None
        self._after_hole = False  # resynchronising after a hole: skipped bytes are told
        # Stream offset of the next fragment mark of the record a hole broke, when the
        # hole fell inside one of its fragments (the mark is then after the hole).
        self._follow: int | None = None
        self._follow_is_end = False  # _follow is the broken record's end, not a mark
        self._records = 0  # records framed (RawMessage events, and those whose header was cut)
        self._tls = False  # the direction went on in TLS: nothing more is read
        self._from_start = True  # no hole and no mid-stream start: base 0 is byte 0
        self.bytes_received = 0

    def buffered_frames(self) -> set[int]:
        """The frames of the bytes buffered and not framed yet: a message decoded later
        names one of them, or a later packet's (RawMessage.frame)."""
        return self._bytes.frames()

    # -- input ---------------------------------------------------------------------
    def receive_data(self, data: bytes, frame: int = 0, ts: float = 0.0) -> None:
        if not data:
            return
        if self._tls:
            self.bytes_received += len(data)
            return
        self._bytes.tag(frame, ts)
        self._bytes.buf += data
        self.bytes_received += len(data)

    def receive_cut(self, missing: int, frame: int = 0, ts: float = 0.0) -> None:
        """The next `missing` stream bytes were on the wire but not captured (snap length)."""
        if missing <= 0 or self._tls:
            return
        if self._resync:
            self._parse()
        end = self._bytes.tag(frame, ts)
        if self._resync and self._follow is None and cut_record_start(self._bytes, missing):
            self._flush_skipped(final=False)
            self._resync = self._resync_after_gap = self._after_hole = False
        if self._resync:
            # Framing is lost: no record can start in what is buffered (too few bytes
            # before the cut) nor inside the cut; go on after it. Peers write about one
            # record per packet, so each such cut counts as one record lost.
            self._problem("lost", "packet cut by the snap length while framing was lost",
                          [frame], ts)
            self._skip(len(self._bytes.buf))
            self._bytes.base += missing
            self._follow, self._follow_is_end = None, False  # a mark may lie in the cut
            return
        self._bytes.add_cut(end, missing)  # kept as zero bytes so offsets stay exact

    def start_mid_stream(self) -> None:
        """The capture began after the connection did: skip to the first record mark."""
        self._from_start = False
        self._resync = True
        self._resync_after_gap = True

    def receive_gap(self, missing: int, frame: int = 0, ts: float = 0.0) -> None:
        """Bytes were lost before the next data: finish what can be, then resynchronise."""
        if self._tls:
            return
        self._from_start = False
        self._parse()
        if self._resync:  # framing was already lost: what is buffered is skipped too
            follow = (self._follow, self._follow_is_end) if self._follow is not None else None
            self._skip(len(self._bytes.buf), rest=follow is not None)
        else:
            follow = next_mark_offset(self._bytes)
        self._flush_skipped(final=False)
        self._break_record(f"{missing:,} B never captured", frame, ts, missing=missing)
        hole_end = self._bytes.base + missing
        self._bytes.base = hole_end  # offsets go on across the hole: marks keep their place
        if follow is None or follow[0] < hole_end:
            follow = None
        self._follow, self._follow_is_end = follow or (None, False)
        self._resync = True
        self._resync_after_gap = True
        self._after_hole = True

    def receive_eof(self) -> None:
        if self._tls:
            return
        self._parse()
        if self._resync:
            if self._after_hole:
                self._skip(len(self._bytes.buf), rest=self._follow is not None)
            self._flush_skipped(final=True)
        elif self._bytes.buf:
            frame, ts = self._bytes.tag_at(self._bytes.base + len(self._bytes.buf) - 1)
            self._break_record("stream ended inside a record", frame, ts)
        self._bytes.drop(len(self._bytes.buf))

    def next_event(self) -> Event:
        if not self._events:
            self._parse()
        if self._events:
            return self._events.popleft()
        return NEED_DATA

    # -- parsing -------------------------------------------------------------------
    def _parse(self) -> None:
        while True:
            if self._resync and self._follow is not None and not self._follow_marks():
                return
            if self._resync and not self._scan():
                return
            record = self._take_record()
            if record is None:
                return

    def _take_record(self) -> bool | None:
        """Consume one complete record if the buffer holds it; None when more is needed."""
        buf = self._bytes.buf
        pos = 0
        fragments: list[bytes] = []
        total = 0
        kept: int | None = None  # record bytes captured before the first cut byte
        while True:
            if len(buf) - pos < 4:
                return None
            if self._bytes.known_until(pos, 4) < 4:
                # The mark was cut: where this record ends (and the next begins) is
                # unknown. Count it lost and look for the next record start quietly.
                frame, ts = self._bytes.tag_at(self._bytes.base + pos)
                self._problem("lost", "record mark cut by the snap length", [frame], ts)
                self._bytes.drop(self._bytes.unknown_end(pos))
                self._resync = self._resync_after_gap = True
                return True
            (mark,) = RECORD_MARK.unpack_from(buf, pos)
            length = mark & FRAGMENT_LENGTH_MASK
            if length > MAX_FRAGMENT or total + length > MAX_FRAGMENT:
                frame, ts = self._bytes.tag_at(self._bytes.base + pos)
                if pos == 0 and (self._records or self._at_first_byte()) \
                        and tls_record_start(buf):
                    self._problem("tls", "a TLS handshake record where the next record "
                                  "mark should be", [frame], ts)
                    self._bytes.drop(len(buf))
                    self._tls = True
                    return None
                self._problem("absurd_fragment",
                              f"record fragment of {length:,} bytes (over 16 MiB): not NDMP",
                              [frame], ts)
                self._bytes.drop(pos + 1)
                self._resync = True
                return True
            if len(buf) - pos - 4 < length:
                return None
            if kept is None and (known := self._bytes.known_until(pos + 4, length)) < length:
                kept = total + known
            fragments.append(bytes(buf[pos + 4:pos + 4 + length]))
            total += length
            pos += 4 + length
            if mark & LAST_FRAGMENT:
                break
        record = b"".join(fragments)
        frame, ts = self._bytes.tag_at(self._bytes.base)
        if len(record) < HEADER_SIZE:
            self._problem("short_record",
                          f"record of {len(record)} bytes, shorter than the 24-byte header",
                          [frame], ts)
            self._bytes.drop(pos)
            return True
        if kept is not None and kept < HEADER_BUT_ERROR:
            # The header was cut but the length is known: framing goes on, and a record
            # framed counts as read (what a TLS record after it is told by).
            self._problem("lost", "record header cut by the snap length", [frame], ts)
            self._records += 1
            self._bytes.drop(pos)
            return True
        seq, stamp, raw_type, code, reply_seq, error = HEADER.unpack_from(record)
        error_cut = kept is not None and kept < HEADER_SIZE
        if error_cut:
            error = 0  # not captured (zero filler): a reply's error is unknown, not none
        if raw_type > 1:
            self._problem("bad_header", f"message type {raw_type} is neither request nor "
                          "reply: not NDMP", [frame], ts)
            self._bytes.drop(1)
            self._resync = True
            return True
        if kept is None:
            message = RawMessage(seq, stamp, raw_type, code, reply_seq, error,
                                 record[HEADER_SIZE:], frame, ts, size=pos)
        else:
            message = RawMessage(seq, stamp, raw_type, code, reply_seq, error,
                                 record[HEADER_SIZE:max(kept, HEADER_SIZE)], frame, ts,
                                 partial=True, body_len=len(record) - HEADER_SIZE, size=pos,
                                 error_cut=error_cut)
        self._events.append(message)
        self._records += 1
        self._bytes.drop(pos)
        return True

    def _at_first_byte(self) -> bool:
        """Is the buffer's start the direction's first byte (nothing read or lost before)?"""
        return self._from_start and self._bytes.base == 0 and not self._resync

    def _scan(self) -> bool:
        """Look for a provable record start; True when the buffer now begins with one."""
        buf = self._bytes.buf
        pos = 0
        while True:
            found = RECORD_CANDIDATE.search(buf, pos)
            if found is None:
                self._skip(max(0, len(buf) - (MARK_AND_HEADER - 1)))
                return False
            pos = found.start()
            if len(buf) - pos < MARK_AND_HEADER:
                self._skip(pos)
                return False
            (mark,) = RECORD_MARK.unpack_from(buf, pos)
            length = mark & FRAGMENT_LENGTH_MASK
            if HEADER_SIZE <= length <= RESYNC_MAX_RECORD and \
                    self._bytes.known_until(pos, MARK_AND_HEADER) == MARK_AND_HEADER:
                _, _, raw_type, code, reply_seq, error = HEADER.unpack_from(buf, pos + 4)
                if plausible_header(raw_type, code, reply_seq, error):
                    chain = True if mark & LAST_FRAGMENT else chain_ends(self._bytes, pos)
                    if chain is None:  # its fragments are not all here yet: wait
                        self._skip(pos)
                        return False
                    if chain:
                        self._skip(pos)
                        self._flush_skipped(final=False)
                        self._resync = False
                        self._resync_after_gap = False
                        self._after_hole = False
                        return True
            pos += 1

    def _follow_marks(self) -> bool:
        """Skip the rest of the record a hole broke along its own fragment marks; True
        when the buffer begins at the record after it (framing restored), or framing is
        lost after all (a cut mark: _follow is None, scan)."""
        while self._follow is not None:
            pos = self._follow - self._bytes.base
            if pos < 0:  # bytes past the mark were dropped: look for a record start
                self._follow, self._follow_is_end = None, False
                return True
            if pos > len(self._bytes.buf):
                self._skip(len(self._bytes.buf), rest=True)
                return False
            self._skip(pos, rest=True)
            if self._follow_is_end:  # the broken record ended here: the next one starts
                self._follow = None
                self._follow_is_end = False
                self._flush_skipped(final=False)
                self._resync = self._resync_after_gap = self._after_hole = False
                return True
            if len(self._bytes.buf) < 4:
                return False
            if self._bytes.known_until(0, 4) < 4:
                self._follow = None  # the mark was cut: look for a record start
                return True
            (mark,) = RECORD_MARK.unpack_from(self._bytes.buf)
            length = mark & FRAGMENT_LENGTH_MASK
            if length > MAX_FRAGMENT:
                self._follow = None
                return True
            self._follow += 4 + length
            self._follow_is_end = bool(mark & LAST_FRAGMENT)
        return True

    def _skip(self, count: int, rest: bool = False) -> None:
        if count <= 0:
            return
        if self._skip_start is None:
            self._skip_start = self._bytes.tag_at(self._bytes.base)
        if rest:
            self._skipped_rest += count
        else:
            self._skipped += count
        self._bytes.drop(count)

    def _flush_skipped(self, final: bool) -> None:
        frame, ts = self._skip_start or (0, 0.0)
        if self._after_hole:
            for count, detail in ((self._skipped_rest, "rest"), (self._skipped, "unproven")):
                if count:
                    self._problem("skipped", detail, [frame], ts, skipped=count)
        elif self._skipped and not self._resync_after_gap:
            where = "until the stream ended" if final else "before the next record"
            self._problem("garbage", f"{self._skipped:,} B that are not NDMP {where}",
                          [frame], ts, skipped=self._skipped)
        self._skipped = self._skipped_rest = 0
        self._skip_start = None

    def _break_record(self, why: str, frame: int, ts: float,
                      missing: int | None = None) -> None:
        """A hole (`missing` bytes never captured) or the end (None) breaks the current
        record: keep its header if we have it."""
        buf = self._bytes.buf
        if self._resync or not buf:
            self._bytes.drop(len(buf))
            self._problem("cut", why, [frame], ts, missing=missing)
            return
        first_frame, first_ts = self._bytes.tag_at(self._bytes.base)
        record = bytearray()
        pos = 0
        while len(buf) - pos >= 4 and self._bytes.known_until(pos, 4) == 4:
            (mark,) = RECORD_MARK.unpack_from(buf, pos)
            chunk = buf[pos + 4:pos + 4 + (mark & FRAGMENT_LENGTH_MASK)]
            known = self._bytes.known_until(pos + 4, len(chunk))
            record += chunk[:known]
            pos += 4 + len(chunk)
            if mark & LAST_FRAGMENT or known < len(chunk):
                break
        if len(record) >= HEADER_SIZE:
            seq, stamp, raw_type, code, reply_seq, error = HEADER.unpack_from(record)
            if raw_type <= 1:
                self._events.append(RawMessage(seq, stamp, raw_type, code, reply_seq, error,
                                               bytes(record[HEADER_SIZE:]), first_frame,
                                               first_ts, partial=True))
        self._problem("cut", why, sorted({first_frame, frame}), first_ts, missing=missing)
        self._bytes.drop(len(buf))

    # -- helpers -------------------------------------------------------------------
    def _problem(self, kind: ProblemKind, detail: str, frames: list[int], ts: float,
                 skipped: int = 0, missing: int | None = None) -> None:
        self._events.append(DecodeProblem(kind, detail, frames, ts, skipped, missing))

