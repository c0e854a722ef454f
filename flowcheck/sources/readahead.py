"""Chunk reads of one byte source: on demand, or one chunk ahead in a background thread.

Reading a regular file is mostly copying it from the page cache (about 0.15 s per GB),
during which the interpreter's lock is released; the rest of flowcheck is
single-threaded. So while the consumer decodes and tracks one chunk, a thread reads (and
for .gz, inflates) the next one: at most one read in flight, so memory grows by one
chunk per file being read. Pipes and terminals are never read ahead, nor a file
smaller than one chunk (see reader.py).
"""

from __future__ import annotations

import os
import threading
from queue import SimpleQueue

import numpy as np

from flowcheck.sources.byte_source import ByteSource


def usable_cores() -> int:
    """CPUs this process may run on (its affinity): with one, reading ahead only adds
    thread switches."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


# Chunk buffers are allocated in whole steps of this many bytes, and with room for this
# much carried over, so all of a file's buffers are one size (chunk_size plus a step,
# unless a record is longer). Sized to the bytes a chunk needed (the carried partial
# record plus chunk_size), each was a few bytes longer or shorter than the one freed
# before it: glibc could not reuse the freed one's memory whenever the new one was
# longer, and the heap grew to hold several chunks' holes (the 1 GB benchmark: peak RSS
# 95-103 MB, now 79-81 MB). The room past the bytes read is never touched: no memory.
BUFFER_STEP = 64 << 10


class Reads:
    """The chunk reads of one source, done when their result is asked for.

    start() says what the next read is (the bytes carried over, the bytes still missing
    of a cut record); result() returns (buffer, count): a fresh buffer with the carried
    bytes first and count bytes read after them. On demand, the buffer is allocated
    only then, when the consumer is done with the batch before (memory as before
    read-ahead: two chunks).
    """

    def __init__(self, source: ByteSource) -> None:
        self._source = source
        self._request: tuple[bytes, int, int] | None = None
        self._next: tuple[memoryview, int] | None = None

    def start(self, carry: bytes, missing: int, chunk_size: int) -> None:
        self._request = (carry, missing, chunk_size)

    def result(self) -> tuple[memoryview, int]:
        buf, start = self._take()
        return buf, self._fill(buf, start)

    def _take(self) -> tuple[memoryview, int]:
        """The next read's buffer (the carried bytes copied in) and where reading starts."""
        if self._next is None:
            assert self._request is not None
            self._next = self._allocate(*self._request)
        taken, self._next, self._request = self._next, None, None
        return taken

    def _allocate(self, carry: bytes, missing: int, chunk_size: int) -> tuple[memoryview, int]:
        # A record longer than a chunk is completed in one read, not chunk by chunk.
        want = max(chunk_size, missing)
        remaining = self._source.remaining()
        if remaining is not None:
            want = min(want, remaining + 1)  # the + 1 finds the end in the same read
        size = len(carry) + want
        # Allocated alike (BUFFER_STEP): a freed buffer's memory fits the next one.
        room = -(-max(size, chunk_size + BUFFER_STEP) // BUFFER_STEP) * BUFFER_STEP
        buf = memoryview(np.empty(room, np.uint8))[:size]
        buf[:len(carry)] = carry
        return buf, len(carry)

    def _fill(self, buf: memoryview, start: int) -> int:
        with buf[start:] as target:
            return self._source.readinto(target)

    def close(self) -> None:
        self._request = self._next = None


class ReadAhead(Reads):
    """Reads: each start()ed read runs at once in a background thread; result() waits
    for it and raises what the read raised (CompressedStreamError, OSError), in order.

    close() waits for the read in flight (one chunk at most) and ends the thread, so the
    source can be closed safely; the thread is a daemon only as a last resort.
    """

    def __init__(self, source: ByteSource) -> None:
        super().__init__(source)
        self._requests: SimpleQueue[tuple[memoryview, int] | None] = SimpleQueue()
        self._results: SimpleQueue[tuple[int, BaseException | None]] = SimpleQueue()
        self._in_flight = False
        self._thread = threading.Thread(target=self._serve, name="flowcheck-read-ahead",
                                        daemon=True)
        self._thread.start()

    def start(self, carry: bytes, missing: int, chunk_size: int) -> None:
        assert not self._in_flight
        self._next = self._allocate(carry, missing, chunk_size)
        self._requests.put(self._next)
        self._in_flight = True

    def result(self) -> tuple[memoryview, int]:
        assert self._in_flight
        buf, _start = self._take()
        count, error = self._results.get()
        self._in_flight = False
        if error is not None:
            raise error
        return buf, count

    def _serve(self) -> None:
        while (request := self._requests.get()) is not None:
            try:
                self._results.put((self._fill(*request), None))
            except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
                self._results.put((0, exc))

    def close(self) -> None:
        self._requests.put(None)
        self._thread.join()
        super().close()
