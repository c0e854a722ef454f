"""One input's bytes, read in chunks and never by seeking (flowcheck.sources.inputs says
which inputs form the capture set): a gzip stream inflated as it is read, a pipe read as
its bytes arrive, a regular file read up to the size it had when the set was resolved.

Errors: InputError from opening a path (flowcheck.sources.inputs.open_path);
CompressedStreamError when the gzip layer fails (what was inflated before stays valid).
"""

from __future__ import annotations

import gzip
import os
import select
import stat
import time
import zlib
from typing import BinaryIO

from flowcheck.sources.inflate import GzipInflater
from flowcheck.sources.inputs import GZIP_MAGIC, InputSpec, open_path


class Prefixed:
    """A read-only stream that first returns bytes already taken from another one."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._stream.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._stream.read(size)

    def read1(self, size: int) -> bytes:
        """Up to size bytes, from one read of the stream (a pipe: what is there)."""
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
            return data
        return (getattr(self._stream, "read1", None) or self._stream.read)(size)

    def readinto(self, target: memoryview | bytearray) -> int:
        return self._into(target, self._stream.readinto)

    def readinto1(self, target: memoryview | bytearray) -> int:
        reader = getattr(self._stream, "readinto1", None) or self._stream.readinto
        return self._into(target, reader)

    def _into(self, target: memoryview | bytearray, reader) -> int:  # noqa: ANN001
        if self._head:
            count = min(len(target), len(self._head))
            target[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        return reader(target) or 0

    def fileno(self) -> int:
        return self._stream.fileno()

    def close(self) -> None:
        self._stream.close()


# Seconds a read of a pipe waits for more bytes after its first ones (ByteSource.
# _read_available): a live capture's packets reach the tracker within this.
PIPE_GATHER = 0.05


class ByteSource:
    """The decompressed bytes of one input, read in chunks, never by seeking."""

    def __init__(self, spec: InputSpec) -> None:
        self.name = spec.name
        self._owned = spec.path is not None
        raw = open_path(spec.path) if spec.path is not None else spec.stream
        assert raw is not None
        self._raw = raw
        self.interactive = not _is_regular(raw)
        head = read_fully(raw, 4)
        self.compressed = head[:2] == GZIP_MAGIC
        stream: object = Prefixed(head, raw)
        if self.compressed:
            stream = GzipInflater(stream.read1)  # type: ignore[attr-defined]
        self._stream = stream
        self._size = spec.size
        # A regular file is read up to the size it had when the capture set was resolved:
        # one still being written (a sniffer writing it) has no end to read up to, and a
        # read to its current end would chase the writer (trial 18 D1).
        self._left = (spec.size if spec.size is not None and not self.compressed
                      and not self.interactive else None)
        # A compressed stream's error found after some bytes were inflated: those bytes
        # are returned first, the error on the next read.
        self._deferred: CompressedStreamError | None = None
        self._filled = 0  # bytes the current readinto placed in its target
        self._read = 0  # bytes readinto returned so far

    def remaining(self) -> int | None:
        """Bytes left to read, when known (an uncompressed regular file: of the size it
        had when seen first)."""
        return self._left

    def grew(self) -> bool:
        """Whether the file is now longer than the size read up to (still being written)."""
        if self._left is None or self._size is None:
            return False
        try:
            return os.fstat(self._raw.fileno()).st_size > self._size
        except (AttributeError, OSError, ValueError):
            return False

    def raw_position(self) -> int | None:
        """Bytes consumed from the underlying file (compressed bytes for .gz); on a pipe,
        which has no position, the bytes read from it so far (inflated, for a gzip
        stream: what the progress line can count; trial B: "0/? bytes" throughout)."""
        try:
            return self._raw.tell()
        except (OSError, AttributeError, ValueError):
            return self._read or None

    def readinto(self, target: memoryview) -> int:
        """Fill target; fewer bytes only at end of input or, on pipes, when none wait."""
        if self._deferred is not None:
            raise self._deferred
        # Bytes placed in target by this call: a compressed stream's error keeps them.
        self._filled = 0
        try:
            if self.interactive:
                count = self._read_available(target)
                self._read += count
                return count
            # Inflated a buffer at a time (readinto1): gzip raises at a cut without
            # returning what it inflated in that call, so one 8 MB readinto of a file
            # cut in its first chunk would lose every packet before the cut.
            reader = self._stream.readinto1 if self.compressed else self._stream.readinto  # type: ignore[attr-defined]
            if self._left is not None:
                target = target[:self._left]
            while self._filled < len(target):
                count = reader(target[self._filled:])
                if not count:
                    break
                self._filled += count
            if self._left is not None:
                self._left -= self._filled
            self._read += self._filled
            return self._filled
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            error = CompressedStreamError(str(exc) or "compressed data ends early")
            if not self._filled:
                raise error from None
            # What was inflated before the error is returned first (on a pipe too: a
            # cut .gz on standard input lost the packets of the read that met the cut,
            # a varying number with the pipe's timing; session 34's trial B).
            self._deferred = error
            self._read += self._filled
            return self._filled

    def _read_available(self, target: memoryview) -> int:
        # Block for the first bytes only, then take what comes within PIPE_GATHER: a live
        # capture must hand packets on as they arrive, not when a chunk is full; but a
        # pipe read as it fills (64 KiB at a time) made batches of ~50 packets, whose
        # fixed cost made `cat file | flowcheck -` 14 times slower than the file (trial
        # B of session 34: 7.5 s for 0.53 s).
        reader = getattr(self._stream, "readinto1", None) or self._stream.readinto  # type: ignore[attr-defined]
        self._filled = reader(target) or 0
        try:
            fd = self._raw.fileno()
        except (AttributeError, OSError, ValueError):
            return self._filled
        deadline = time.monotonic() + PIPE_GATHER
        while self._filled and self._filled < len(target):
            wait = max(0.0, deadline - time.monotonic())
            if not select.select([fd], [], [], wait)[0]:
                break
            count = reader(target[self._filled:]) or 0
            if not count:
                break
            self._filled += count
        return self._filled

    def close(self) -> None:
        if self.compressed:
            self._stream.close()  # type: ignore[attr-defined]
        if self._owned:
            self._raw.close()


class CompressedStreamError(Exception):
    """The gzip layer failed (cut or corrupt): everything before it stays valid."""


def _is_regular(stream: BinaryIO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        return True  # an in-memory stream: reads never block


def read_fully(stream: BinaryIO, count: int) -> bytes:
    """count bytes from a stream whose reads may return less (a pipe); fewer only at
    its end."""
    data = b""
    while len(data) < count:
        chunk = stream.read(count - len(data))
        if not chunk:
            break
        data += chunk
    return data
