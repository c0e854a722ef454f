"""The walk-ahead child (walk_ahead.py): a capture file's record or block offsets, down
stdout.

Run as a script with the standard library alone (`python -I -S walk_ahead_child.py KIND
PATH SIZE ORDER MAX_CAPLEN BATCH`), so that it starts in about 10 ms: no site, no numpy, no
flowcheck package. It follows the same chain as the parser (pcap.py, pcapng.py) with
the same tests, one record at a time over a read-only memory map of the file's first
SIZE bytes:
- pcap (KIND "pcap"): the record at off is whole when its 16-byte header and caplen
  bytes end inside SIZE; the first caplen above MAX_CAPLEN is absurd (its offset is
  sent as the end's `bad`) and ends the walk, as does the first record that is not whole.
- pcapng (KIND "pcapng", the host's byte order): every block's length at +4; the walk
  stops before the first block whose length is below 12, not a multiple of 4, above
  MAX_CAPLEN (the block length limit) or past SIZE, or a section header block whose
  byte-order magic is not the host's.

Messages (native int64): a count n >= 0 and n offsets (FIRST_BATCH at first, twice as
many each time up to BATCH, fewer in the last: the parser gets the first at once; and
those of about MESSAGE_BYTES of the file at most, whose pages are then given back, so
the child's memory stays at a few MB of the map whatever the record sizes); at the end
-1, the offset after the last one sent (`stop`) and the absurd record's offset there, or
-1.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import operator
import os
import signal
import struct
import sys
from array import array

FIRST_BATCH = 1024
NICENESS = 10
MESSAGE_BYTES = 8 << 20  # of the file, at most (about) per message
RELEASE = 8 << 20  # walked bytes of the map given back to the system at a time
PCAPNG_SECTION = 0x0A0D0D0A
PCAPNG_BYTE_ORDER = 0x1A2B3C4D


def _send(out: object, values: array) -> None:
    out.write(array("q", [len(values)]).tobytes() + values.tobytes())  # type: ignore[attr-defined]


def _send_end(out: object, stop: int, bad: int) -> None:
    out.write(array("q", [-1, stop, bad]).tobytes())  # type: ignore[attr-defined]
    out.flush()  # type: ignore[attr-defined]


def _release(mapped: mmap.mmap, released: int, off: int) -> int:
    """Give the walked pages back (the page cache keeps them): RSS stays small."""
    done = off & ~(mmap.PAGESIZE - 1)
    if done - released >= RELEASE:
        with contextlib.suppress(AttributeError, OSError):  # not on Linux
            mapped.madvise(mmap.MADV_DONTNEED, released, done - released)
        return done
    return released


def _caplen_views(mapped: mmap.mmap, size: int) -> list[memoryview]:
    """Four 32-bit views of the map shifted by 0..3 bytes: the caplen of the record at off
    is views[off & 3][(off >> 2) + 2] (an index is about twice as fast as an unpack)."""
    whole = memoryview(mapped)
    return [whole[shift:shift + ((size - shift) // 4) * 4].cast("I") for shift in range(4)]


def walk_pcap(mapped: mmap.mmap, size: int, big_endian: bool, max_caplen: int,
              batch: int, out: object) -> None:
    off, released = 24, 0
    native = big_endian == (sys.byteorder == "big") and array("I").itemsize == 4
    views = _caplen_views(mapped, size) if native else []
    caplen_at = struct.Struct((">" if big_endian else "<") + "8xI").unpack_from
    most, batch = batch, min(batch, FIRST_BATCH)
    while True:
        limit = off + MESSAGE_BYTES
        offsets, after = _unchecked(views, off, batch, limit) if native else (array("q"), off)
        # Every record walked whole and sane (the next starts 16 + caplen bytes on, caplen
        # within the limit, inside the file)? Else walk them again with each test.
        if not (offsets and after <= size and max(map(
                operator.sub, itertools.chain(offsets[1:], (after,)), offsets)) - 16 <= max_caplen):
            offsets, after, bad, finished = _checked(mapped, caplen_at, off, size, max_caplen,
                                                     batch, limit)
            if finished:  # the file's end, a cut or absurd record
                _send(out, offsets)
                _send_end(out, after, bad)
                return
        _send(out, offsets)
        off, batch = after, min(batch * 2, most)
        released = _release(mapped, released, off)


def _unchecked(views: list[memoryview], off: int, batch: int,
               limit: int) -> tuple[array, int]:
    """Up to about batch record offsets from off, up to about offset limit, by their
    caplens alone (four a turn), and the offset after the last; none if the walk left
    the map (near the file's end). The step is pcap.py's _CaplenReader.run, repeated
    here because this script imports no flowcheck module (it starts without them)."""
    offsets = array("q")
    append = offsets.append
    try:
        for _ in range(batch >> 2):
            if off >= limit:
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
        return array("q"), off  # the checked walk takes it
    return offsets, off


def _checked(mapped: mmap.mmap, caplen_at: object, off: int, size: int, max_caplen: int,
             batch: int, limit: int) -> tuple[array, int, int, bool]:
    """The records from off with every test, up to batch of them or offset limit:
    (offsets, the offset after them, the absurd record's offset or -1, whether the walk
    ended there: the file's end, a cut or absurd record)."""
    offsets = array("q")
    last = size - 16  # a record's header must fit
    for _ in range(batch):
        if off >= limit:
            return offsets, off, -1, False
        if off > last:
            return offsets, off, -1, True
        caplen = caplen_at(mapped, off)[0]  # type: ignore[operator]
        if caplen > max_caplen:
            return offsets, off, off, True
        after = off + 16 + caplen
        if after > size:
            return offsets, off, -1, True
        offsets.append(off)
        off = after
    return offsets, off, -1, False


def walk_pcapng(mapped: mmap.mmap, size: int, max_length: int, batch: int,
                out: object) -> None:
    words = memoryview(mapped)[:size & ~3].cast("I")  # blocks start on 4-byte boundaries
    off, released = 0, 0
    last = size - 12  # a block's type, length and first word must fit
    most, batch = batch, min(batch, FIRST_BATCH)
    while True:
        offsets = array("q")
        append = offsets.append
        limit, finished = off + MESSAGE_BYTES, True
        for _ in range(batch):
            if off >= limit:
                finished = False
                break
            if off > last:
                break
            word = off >> 2
            length = words[word + 1]
            if length < 12 or length & 3 or length > max_length or off + length > size:
                break
            if words[word] == PCAPNG_SECTION and words[word + 2] != PCAPNG_BYTE_ORDER:
                break  # a section in the other byte order: the parser walks on alone
            append(off)
            off += length
        else:
            finished = False
        _send(out, offsets)
        if finished:
            _send_end(out, off, -1)
            return
        batch = min(batch * 2, most)
        released = _release(mapped, released, off)


def main(argv: list[str]) -> int:
    # The parent handles Ctrl-C; it ends this process (or its pipe's end does).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Only spare time: the parent's read-ahead thread, which it cannot do without, and
    # other work on the machine come first (the parent walks what this has not).
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    kind, path, size_text, order, limit_text, batch_text = argv
    size, limit, batch = int(size_text), int(limit_text), max(1, int(batch_text))
    out = sys.stdout.buffer
    try:
        with open(path, "rb") as file:
            if size < 16:
                _send_end(out, 0 if kind == "pcapng" else 24, -1)
                return 0
            mapped = mmap.mmap(file.fileno(), size, access=mmap.ACCESS_READ)
            with contextlib.suppress(AttributeError, OSError):
                mapped.madvise(mmap.MADV_SEQUENTIAL)
            if kind == "pcapng":
                walk_pcapng(mapped, size, limit, batch, out)
            else:
                walk_pcap(mapped, size, order == "big", limit, batch, out)
    except (OSError, ValueError):
        return 1  # the parent walks on by itself
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    with contextlib.suppress(OSError):
        sys.stdout.flush()
    os._exit(code)
