"""Classic libpcap files: both byte orders, microsecond and nanosecond timestamps.

(Variants with longer record headers are walked by pcap_variants.py.)

The record walk is the hot path of the whole program. Each record's offset depends on
the previous record's caplen, so the chain is followed in Python (one indexing of a
32-bit memoryview per record, unrolled by four, unchecked: the records walked are
checked afterwards in bulk, a cut last record and absurd caplens found there),
except where the record sizes repeat a pattern, as in bulk transfers (full-size
segments and their ACKs): there the pattern is extended over the buffer and checked in
bulk with numpy, and only the checked part is kept, so the offsets are always exactly
those of the caplen chain. Every header field is then gathered in a few numpy operations.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable

import numpy as np

from flowcheck.sources.linktypes import linktype_name
from flowcheck.sources.records import FormatError, Located, Records, empty_records, u32_view
from flowcheck.sources.walk_ahead import WalkAhead

MAGIC_USEC = 0xA1B2C3D4
MAGIC_NSEC = 0xA1B23C4D
# Alexey Kuznetsov's patched libpcap (and SuSE 6.3's): microseconds, longer record
# headers (pcap_variants.py)
MAGIC_MODIFIED = 0xA1B2CD34
MAGICS = (MAGIC_USEC, MAGIC_NSEC, MAGIC_MODIFIED)
FILE_HEADER_SIZE = 24
RECORD_HEADER_SIZE = 16
MIN_MAX_CAPLEN = 262144  # a caplen above max(snaplen, this) is taken as corruption
PATTERN_MAX = 16  # longest repeating sequence of record sizes guessed
STRETCH_MIN = 2 * PATTERN_MAX  # records walked one by one before guessing
STRETCH_MAX = 1 << 13  # after poor guesses, the longest walk before guessing again
SPECULATE_REPEATS = 64  # periods in a first guess (then four times more per success)
# A guess that confirms fewer records than this costs more than walking them (numpy's
# fixed cost per guess): back off. Real bulk transfers break the pattern every few
# dozen records (ACKs, short writes); measured on bench/'s lab captures.
SPECULATE_MIN_GAIN = 1024
_NATIVE_U32 = struct.calcsize("I") == 4


def is_pcap_magic(head: bytes) -> bool:
    if len(head) < 4:
        return False
    return (struct.unpack("<I", head[:4])[0] in MAGICS
            or struct.unpack(">I", head[:4])[0] in MAGICS)


PCAPNG_SECTION = b"\x0a\x0d\x0d\x0a"
PCAPNG_BYTE_ORDERS = (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d")


def capture_header_at(buf: bytes | bytearray | memoryview, off: int) -> bool:
    """Whether a pcap file header (magic and major version 2) or a pcapng section header
    (its type and byte-order magic) starts at off: another capture file, where files
    were joined with `cat`. Looked at only where a record walk stops, never per record."""
    head = bytes(buf[off:off + 12])
    if head[:4] == PCAPNG_SECTION:
        return head[8:12] in PCAPNG_BYTE_ORDERS
    if len(head) < 6:
        return False
    for order in "<>":
        magic, major = struct.unpack_from(order + "IH", head)
        if magic in MAGICS:
            return major == 2
    return False


class PcapParser:
    """Locates the records of a pcap file, one buffer at a time (sans-IO)."""

    def __init__(self) -> None:
        self.header_done = False
        self.big_endian = False
        self.frac_scale = 1e-6
        self.linktype = 0
        self.snaplen = 0
        self.max_caplen = MIN_MAX_CAPLEN
        self.link_types: list[str] = []
        self.record_header_size = RECORD_HEADER_SIZE  # longer in the variants
        self._caplen_at = struct.Struct("<8xI").unpack_from  # (caplen,) of the record at off
        self._pattern: list[int] = []  # guessed repeating record sizes (with header)
        self._stretch = STRETCH_MIN  # records walked one by one before the next guess
        self.walk_ahead: WalkAhead | None = None  # another process walking ahead (reader.py)

    def _parse_header(self, buf: bytes | bytearray | memoryview, start: int) -> None:
        magic_le = struct.unpack_from("<I", buf, start)[0]
        if magic_le in MAGICS:
            self.big_endian, magic = False, magic_le
        else:
            magic = struct.unpack_from(">I", buf, start)[0]
            if magic not in MAGICS:
                raise FormatError(f"not a pcap file (magic 0x{magic_le:08x})")
            self.big_endian = True
        order = ">" if self.big_endian else "<"
        _major, _minor, _zone, _sigfigs, snaplen, network = struct.unpack_from(
            order + "HHiIII", buf, start + 4)
        self._caplen_at = struct.Struct(order + "8xI").unpack_from
        self.frac_scale = 1e-9 if magic == MAGIC_NSEC else 1e-6
        self.snaplen = snaplen
        self.max_caplen = max(snaplen, MIN_MAX_CAPLEN)
        # The upper bits of the link-type field carry FCS information, not the type.
        self.linktype = network & 0xFFFF
        self.link_types = [linktype_name(self.linktype)]
        self.header_done = True

    def locate(self, buf: bytes | bytearray | memoryview, base: int) -> Located:
        """Find the complete records in buf, whose first byte is at file offset base."""
        size = len(buf)
        off = 0
        if not self.header_done:
            if size < FILE_HEADER_SIZE:
                return Located(empty_records(), 0)
            self._parse_header(buf, 0)
            off = FILE_HEADER_SIZE
        offsets, off, bad_off = self._walk_at(buf, off, base)
        joined = self._joined_file(buf, offsets, bad_off)
        if joined is not None:
            # Files joined with cat: the next one's header is where a record should be.
            offsets = offsets[:int(np.searchsorted(offsets, joined))]
            return Located(self._gather(buf, offsets), joined, next_file=True)
        missing = 0
        header_size = self.record_header_size
        if bad_off is None and off + header_size <= size:
            missing = off + header_size + self._caplen_at(buf, off)[0] - size
        error = error_offset = None
        if bad_off is not None:
            error_offset = base + bad_off
            caplen = self._caplen_at(buf, bad_off)[0]
            error = (f"record at byte offset {error_offset} claims a captured length of "
                     f"{caplen} bytes (limit {self.max_caplen}): file corrupt")
        return Located(self._gather(buf, offsets), off, error, error_offset, missing)

    def _walk_at(self, buf: bytes | bytearray | memoryview, off: int,
                 base: int) -> tuple[np.ndarray, int, int | None]:
        """_walk's result for buf (at file offset base), from the walk ahead where it
        has the records (walk_ahead.py), else walked here."""
        ahead = self.walk_ahead
        taken = ahead.take(base + off, base + len(buf)) if ahead is not None else None
        if taken is None:
            return self._walk(buf, off)
        offsets, after, bad, complete = taken
        offsets = offsets - base
        if complete:
            return offsets, after - base, None if bad is None else bad - base
        more, off, bad_off = self._walk(buf, after - base)  # the walk ahead stopped here
        return np.concatenate((offsets, more)), off, bad_off

    @staticmethod
    def _joined_file(buf: bytes | bytearray | memoryview, offsets: np.ndarray,
                     bad_off: int | None) -> int | None:
        """Where another capture file's header starts, if the walk ran into one: at the
        absurd record (a pcapng section header's byte-order magic read as a caplen), or
        as the last record walked (a pcap header read as a record of caplen 0, its
        thiszone field, followed by an absurd one or by the buffer's end)."""
        if bad_off is not None and capture_header_at(buf, bad_off):
            return bad_off
        if offsets.size and capture_header_at(buf, int(offsets[-1])):
            return int(offsets[-1])
        return None

    def _walk(self, buf: bytes | bytearray | memoryview,
              off: int) -> tuple[np.ndarray, int, int | None]:
        """Record offsets, the offset after the last complete record, the first bad one.

        The chain is followed unchecked up to the buffer's end (an index past it ends a
        stretch); the walked records are then checked in bulk, in order, as
        walk_one_by_one would one at a time: the first whose header does not fit or
        whose record runs past the end ends the buffer's records, the first with an
        absurd caplen is the error (guessed records are whole and never absurd)."""
        size = len(buf)
        pieces: list[np.ndarray] = []
        walked: list[np.ndarray] = []
        u32 = u32_view(buf, self.big_endian)
        with _CaplenReader(buf, self.big_endian) as walk:
            off = self._fast_walk(walk, u32, off, size, pieces, walked)
        offsets = _join(pieces)
        for piece in walked:
            cut, bad = self._first_not_whole(u32, piece, size)
            if cut is not None:
                offsets = offsets[:int(np.searchsorted(offsets, cut))]
                # The next buffer goes on from the cut: its guess starts in phase there.
                self._pattern = repeating_sizes(offsets[-2 * PATTERN_MAX:].tolist(), cut)
                return offsets, cut, cut if bad else None
        return offsets, off, None

    def _first_not_whole(self, u32: np.ndarray, piece: np.ndarray,
                         size: int) -> tuple[int | None, bool]:
        """The first walked record (offsets piece, ascending) that is not a whole,
        sane record in a buffer of size bytes, and whether its caplen is absurd."""
        fits = int(np.searchsorted(piece, size - RECORD_HEADER_SIZE, side="right"))
        absurd = u32[piece[:fits] + 8] > self.max_caplen
        first = int(np.argmax(absurd)) if fits and absurd.any() else fits
        # The piece is a chain: a sane record ends where the next starts, inside the
        # buffer up to `first`; only the record before it may run past the end.
        if first:
            last = int(piece[first - 1])
            if last + RECORD_HEADER_SIZE + int(u32[last + 8]) > size:
                return last, False
        if first == piece.shape[0]:
            return None, False
        return int(piece[first]), first < fits

    def _fast_walk(self, walk: _CaplenReader, u32: np.ndarray, off: int, size: int,
                   pieces: list[np.ndarray], walked: list[np.ndarray]) -> int:
        """Offsets of the records that start before size, appended to pieces (those
        walked one by one also to walked), perhaps past whole records (see _walk).

        The caplen chain is followed in Python, a stretch at a time; after each stretch
        the record sizes are guessed to repeat the latest pattern (bulk transfers are
        runs of full-size segments and their ACKs) and the guess is checked in bulk.
        """
        while off < size:
            if self._pattern:
                off = self._speculate(u32, off, size, pieces)
                if off >= size:
                    break
            offsets, off = walk.run(off, size, self._stretch)
            pieces.append(np.fromiter(offsets, np.int64, len(offsets)))  # faster than np.array
            walked.append(pieces[-1])
            if off > size:
                break  # past the end: the stretch's last records are cut (see _walk)
            self._learn_pattern(offsets, off)
        return off

    def _learn_pattern(self, offsets: list[int], off: int) -> None:
        """The shortest repeating sequence of record sizes ending the stretch, if any."""
        self._pattern = repeating_sizes(offsets, off)
        if not self._pattern:
            # Irregular traffic: walk longer stretches before looking for a pattern again.
            self._stretch = min(self._stretch * 2, STRETCH_MAX)

    def _speculate(self, u32: np.ndarray, off: int, size: int,
                   pieces: list[np.ndarray]) -> int:
        """Follow the guessed pattern as far as the records confirm it; the new offset.

        Record k of the guess starts where record k-1 ends by its guessed size; the guess
        is right up to the first record whose caplen disagrees with its guessed size, so
        the accepted offsets are exactly those the caplen chain gives.
        """
        pattern = np.array(self._pattern, np.int64)
        if int(pattern.max()) > RECORD_HEADER_SIZE + self.max_caplen:
            self._pattern = []  # never guess absurd records: only walked ones are checked
            return off
        period_bytes = int(pattern.sum())
        repeats = SPECULATE_REPEATS
        accepted = 0
        while True:
            repeats = min(repeats, (size - off) // period_bytes)
            if repeats <= 0:
                break
            steps = np.tile(pattern, repeats)
            starts = np.empty(steps.shape[0] + 1, np.int64)
            starts[0] = off
            np.cumsum(steps, out=starts[1:])
            starts[1:] += off
            confirmed = u32[starts[:-1] + 8] + RECORD_HEADER_SIZE == steps
            good = steps.shape[0] if confirmed.all() else int(np.argmin(confirmed))
            pieces.append(starts[:good])
            accepted += good
            off = int(starts[good])
            if good < steps.shape[0]:
                break
            repeats *= 4
        if accepted < SPECULATE_MIN_GAIN:
            # A poor guess: walk longer before guessing again (irregular traffic).
            self._stretch = min(self._stretch * 2, STRETCH_MAX)
            self._pattern = []
        else:
            self._stretch = STRETCH_MIN
        return off

    def _gather(self, buf: bytes | bytearray | memoryview, starts: np.ndarray) -> Records:
        if not starts.size:
            return empty_records()
        # Each record header as one opaque 16-byte item: one gather, whole items copied.
        # (A variant's longer header starts with the same 16 bytes.)
        headers = np.ndarray(shape=(len(buf) - RECORD_HEADER_SIZE + 1,), dtype="V16",
                             buffer=buf, strides=(1,))[starts]
        fields = headers.view(">u4" if self.big_endian else "<u4").reshape(-1, 4)
        ts = fields[:, 1] * self.frac_scale
        ts += fields[:, 0]  # = seconds + fraction * scale, bit for bit, one temporary less
        caplen = fields[:, 2].astype(np.int32)
        wirelen = fields[:, 3].astype(np.int32)
        linktype = np.full(starts.shape[0], self.linktype, np.int32)
        return Records(ts, starts + self.record_header_size, caplen, wirelen, linktype)


class _CaplenReader:
    """Follows the caplen chain in Python, as cheaply as the interpreter allows.

    In the host's byte order the caplen is read through four 32-bit memoryview casts of
    the buffer, shifted by 0..3 bytes (an index is cheaper than struct.unpack_from);
    the other byte order uses struct. The casts are released on exit, so the caller
    may resize or reuse the buffer afterwards.
    """

    def __init__(self, buf: bytes | bytearray | memoryview, big_endian: bool) -> None:
        self._buf = buf
        self._unpack = struct.Struct((">" if big_endian else "<") + "8xI").unpack_from
        self._native = _NATIVE_U32 and big_endian == (sys.byteorder == "big")
        self._views: list[memoryview] = []

    def __enter__(self) -> _CaplenReader:
        if self._native:
            whole = memoryview(self._buf).cast("B")
            size = len(whole)
            self._views = [whole]
            for shift in range(4):
                part = whole[shift:shift + ((size - shift) // 4) * 4]
                self._views += [part, part.cast("I")]
        return self

    def __exit__(self, *_exc: object) -> None:
        for view in reversed(self._views):
            view.release()
        self._views = []

    def run(self, off: int, stop: int, count: int) -> tuple[list[int], int]:
        """Offsets of up to `count` records (a multiple of four) from off, while < stop,
        and the offset after the last; past stop if the chain left the buffer."""
        offsets: list[int] = []
        append = offsets.append
        if self._native:
            views = tuple(self._views[2::2])
            try:
                for _ in range(count >> 2):
                    if off >= stop:
                        break
                    append(off)
                    off += views[off & 3][(off >> 2) + 2] + 16
                    append(off)
                    off += views[off & 3][(off >> 2) + 2] + 16
                    append(off)
                    off += views[off & 3][(off >> 2) + 2] + 16
                    append(off)
                    off += views[off & 3][(off >> 2) + 2] + 16
            except IndexError:
                # The chain left the buffer (a record cut by its end, or an absurd
                # caplen): past stop; the caller finds which in bulk.
                return offsets, max(off, stop + 1)
            return offsets, off
        unpack, buf = self._unpack, self._buf
        try:
            for _ in range(count >> 2):
                if off >= stop:
                    break
                append(off)
                off += unpack(buf, off)[0] + 16
                append(off)
                off += unpack(buf, off)[0] + 16
                append(off)
                off += unpack(buf, off)[0] + 16
                append(off)
                off += unpack(buf, off)[0] + 16
        except struct.error:
            return offsets, max(off, stop + 1)  # as above
        return offsets, off


def repeating_sizes(offsets: list[int], off: int) -> list[int]:
    """The shortest repeating sequence (period up to PATTERN_MAX) of the sizes of the
    records at offsets, the last ending at off, that ends them; [] if none."""
    recent = offsets[-2 * PATTERN_MAX:] + [off]
    sizes = [b - a for a, b in zip(recent[:-1], recent[1:], strict=True)]
    for period in range(1, min(PATTERN_MAX, len(sizes) // 2) + 1):
        if sizes[-period:] == sizes[-2 * period:-period]:
            return sizes[-period:]
    return []


def walk_one_by_one(buf: bytes | bytearray | memoryview, off: int, header_size: int,
                    limit: int, caplen_at: Callable[..., tuple[int, ...]],
                    ) -> tuple[list[int], int, int | None]:
    """The records from off, one at a time with every check, while whole ones fit:
    (their offsets, the offset after the last, the first whose caplen exceeds limit or
    None). header_size: the record header's bytes (16, or a variant's); caplen_at reads
    a record's caplen as a 1-tuple."""
    size = len(buf)
    offsets: list[int] = []
    while off + header_size <= size:
        caplen = caplen_at(buf, off)[0]
        if caplen > limit:
            return offsets, off, off
        end = off + header_size + caplen
        if end > size:
            break
        offsets.append(off)
        off = end
    return offsets, off, None


def _join(pieces: list[np.ndarray]) -> np.ndarray:
    pieces = [piece for piece in pieces if piece.size]
    if not pieces:
        return np.empty(0, np.int64)
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
