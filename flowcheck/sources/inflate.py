"""A gzip stream (RFC 1952) inflated into the reader's buffers in large steps.

Why not gzip.GzipFile: it inflates 128 KB of input per call and checks each member's
CRC-32 in a second pass, both on the read-ahead thread, which gives up the GIL for each
and then waits for it behind the parser on the main thread (up to the interpreter's
switch interval, 5 ms, each time): on a 256 MB capture the main thread sat 2.4 s waiting
for bytes, the file read 3.2x slower than the same file uncompressed. Here zlib inflates
a whole megabyte of input per call straight from the file and checks each member's
trailer (CRC-32 and length) itself (windowBits 31: RFC 1952's wrapper), so the thread
takes the GIL a few times per chunk instead of hundreds.

Members follow each other (`cat a.gz b.gz`, RFC 1952 2.2); zero bytes after a member
are padding, as gzip.GzipFile takes them. Errors: EOFError at an input cut inside a
member (the bytes inflated before it were returned already), zlib.error for corrupt
data or a trailer that does not match, gzip.BadGzipFile for bytes after a member that
are neither padding nor another member's magic.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable

INPUT_STEP = 1 << 20  # compressed bytes read and inflated per call
_GZIP_WBITS = 31  # zlib: a gzip wrapper (16) around a 32 KB window (15)
_MAGIC = b"\x1f\x8b"


class GzipInflater:
    """The decompressed bytes of a gzip stream, read with readinto1 like gzip.GzipFile.

    read_some(n) returns up to n compressed bytes, b"" at the end of the input, and on a
    pipe whatever is there (never waiting for all n)."""

    def __init__(self, read_some: Callable[[int], bytes]) -> None:
        self._read_some = read_some
        self._inflate = zlib.decompressobj(_GZIP_WBITS)
        self._pending = b""  # compressed bytes read, not yet given to zlib
        self._in_member = False  # bytes of the current member given to zlib
        self._input_ended = False

    def readinto1(self, target: memoryview | bytearray) -> int:
        """Inflate into target; 0 only at the end of the stream. Raises EOFError,
        zlib.error or gzip.BadGzipFile (module doc)."""
        while True:
            if self._inflate.eof and not self._next_member():
                return 0
            if not self._pending and (self._input_ended or not self._more()):
                if self._in_member:
                    raise EOFError("Compressed file ended before the end-of-stream "
                                   "marker was reached")
                return 0
            self._in_member = True
            data = self._inflate.decompress(self._pending, len(target))
            self._pending = self._inflate.unconsumed_tail or self._inflate.unused_data
            if data:
                count = len(data)
                target[:count] = data
                return count

    def _more(self) -> bool:
        """Read the next compressed bytes into _pending; False at the input's end."""
        self._pending = self._read_some(INPUT_STEP)
        if not self._pending:
            self._input_ended = True
        return bool(self._pending)

    def _next_member(self) -> bool:
        """After a member's end: skip zero padding and start the next member; False when
        the stream ends there."""
        while True:
            self._pending = self._pending.lstrip(b"\0")
            if len(self._pending) >= len(_MAGIC):
                break
            more = b"" if self._input_ended else self._read_some(INPUT_STEP)
            if not more:
                self._input_ended = True
                if not self._pending:
                    return False
                break  # one byte left: no magic
            self._pending += more
        if self._pending[:2] != _MAGIC:
            raise gzip.BadGzipFile(f"Not a gzipped file ({self._pending[:2]!r})")
        self._inflate = zlib.decompressobj(_GZIP_WBITS)
        self._in_member = False
        return True

    def close(self) -> None:
        """Nothing to release: the stream's owner closes the file."""
