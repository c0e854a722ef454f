"""The pcap record walk of a large file, done ahead by a second process on the other core.

Each record's offset depends on the previous record's caplen, so the walk is a chain
followed in Python (pcap.py): about 0.3 microseconds a record, 20-30% of the engine's
time on real bulk captures, and the interpreter's lock keeps a thread from taking it
off the main one. A child process (`python -m flowcheck.sources.walk_ahead`) walks the
same chain over a read-only memory map of the file, with the same code, and sends the
records' absolute offsets down a pipe; the reader's parser takes them per chunk
instead of walking (PcapParser.locate). The pipe's capacity bounds how far ahead the
child runs, so memory stays bounded.

The offsets are exactly those the parser's own walk gives: the chain is unique from
the first record, and where the child's walk stops (an absurd caplen, a record cut by
the file's end, a window it cannot walk, its death) the parser walks on by itself. The
child starts while the parser walks the first chunks; the parser uses it from the
first chunk at which it is ready, skipping the offsets it has passed.

Message format on the pipe (native int64): a count n >= 0 and n offsets, ascending, each
continuing the chain; at the end -1, the offset after the last record sent (`stop`),
and the offset of the record with an absurd caplen there (or -1).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import select
import signal
import subprocess
import sys
from typing import ClassVar

import numpy as np

WINDOW = 32 << 20  # bytes of the map walked per message (then released)
_END = -1


class WalkAhead:
    """The parent's side: the child's offsets, handed out per buffer.

    take(lo, hi) returns the records the walk from file offset lo finds whole below hi
    (absolute offsets, ascending), the offset after them and the offset of an absurd
    record there if any, as PcapParser._walk would; `complete` False when the child's
    walk stopped before hi, so that the caller walks on from there itself. None while
    the child is not yet ready, or once it has ended (the caller walks itself).
    """

    # Tests: wait for the child from the first buffer on instead of walking until it is
    # ready (otherwise a small file may be read before the child has started).
    wait_first: ClassVar[bool] = False
    running: ClassVar[int] = 0  # children alive in this process (the reader caps them)

    def __init__(self, path: str, size: int, big_endian: bool, max_caplen: int,
                 kind: str = "pcap") -> None:
        # The child runs this very flowcheck, wherever the parent found it.
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "flowcheck.sources.walk_ahead", kind, path, str(size),
             "big" if big_endian else "little", str(max_caplen)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            close_fds=True, start_new_session=True, env=env)
        assert self._proc.stdout is not None
        WalkAhead.running += 1
        self._pipe = self._proc.stdout
        self._ready = np.empty(0, np.int64)  # offsets received, not yet handed out
        self._end: tuple[int, int | None] | None = None  # (stop, bad) once sent
        self._synced = self.wait_first  # the child is ready: blocking reads from now on
        self.records_taken = 0  # records handed out (for tests: the child did the walk)

    def take(self, lo: int, hi: int) -> tuple[np.ndarray, int, int | None, bool] | None:
        if self._proc is None:
            return None
        if not self._synced:
            if not select.select([self._pipe], [], [], 0)[0]:
                return None  # not ready yet: the parser walks this buffer itself
            self._synced = True
        if not self._receive_past(lo, hi):
            return None
        ready = self._ready[np.searchsorted(self._ready, lo):]
        end = self._end
        if not (ready.shape[0] and int(ready[0]) == lo
                or not ready.shape[0] and end is not None and end[0] == lo):
            self.close()  # not the parser's chain (never expected): it walks on alone
            return None
        # Whole records: those whose next record starts at or before hi (the last one
        # sent is followed by the end's stop offset).
        whole = int(np.searchsorted(ready[1:], hi, side="right"))
        if end is not None and whole == ready.shape[0] - 1 and end[0] <= hi:
            whole += 1
        self._ready = ready  # kept from lo on: a pcapng parser asks again after a block
        self.records_taken += whole
        if whole < ready.shape[0]:
            return ready[:whole], int(ready[whole]), None, True
        assert end is not None
        stop, bad = end
        if bad is not None:
            return ready, stop, (bad if bad + 16 <= hi else None), True
        self.close()
        return ready, stop, None, False

    def _receive_past(self, lo: int, hi: int) -> bool:
        """Read messages until an offset at or past hi or the end is here; False if the
        child died without its end message (then it is closed)."""
        while self._end is None and (not self._ready.shape[0] or int(self._ready[-1]) < hi):
            count = self._read_ints(1)
            if count is None:
                self.close()
                return False
            if int(count[0]) == _END:
                tail = self._read_ints(2)
                if tail is None:
                    self.close()
                    return False
                stop, bad = int(tail[0]), int(tail[1])
                self._end = (stop, bad if bad >= 0 else None)
                break
            block = self._read_ints(int(count[0]))
            if block is None:
                self.close()
                return False
            kept = self._ready[np.searchsorted(self._ready, lo):]  # drop what the parser passed
            block = block[np.searchsorted(block, lo):]
            self._ready = np.concatenate((kept, block)) if kept.shape[0] else block
        return True

    def _read_ints(self, count: int) -> np.ndarray | None:
        values = np.empty(count, np.int64)
        view = memoryview(values).cast("B")
        got = 0
        while got < len(view):
            n = self._pipe.readinto(view[got:])
            if not n:
                return None
            got += n
        return values

    def close(self) -> None:
        """End the child (if still running) and wait for it, so its time is counted."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        WalkAhead.running -= 1
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(OSError):
            self._pipe.close()
        proc.wait()


def _walk_file(path: str, size: int, big_endian: bool, max_caplen: int) -> None:
    """The child: walk the file's records from the first, writing messages to stdout."""
    from flowcheck.sources.pcap import FILE_HEADER_SIZE, PcapParser

    out = sys.stdout.buffer
    parser = PcapParser()
    parser.big_endian, parser.max_caplen, parser.header_done = big_endian, max_caplen, True
    off, bad = FILE_HEADER_SIZE, None
    with open(path, "rb") as file:
        if size <= off:
            _send_end(out, off, None)
            return
        mapped = mmap.mmap(file.fileno(), size, access=mmap.ACCESS_READ)
        with contextlib.suppress(AttributeError, OSError):
            mapped.madvise(mmap.MADV_SEQUENTIAL)
        whole = memoryview(mapped)
        while off < size:
            start = off & ~(mmap.PAGESIZE - 1)
            end = min(start + WINDOW, size)
            offsets, cut, bad = parser._walk(whole[start:end], off - start)  # noqa: SLF001
            offsets += start
            out.write(np.array([offsets.shape[0]], np.int64).tobytes())
            out.write(offsets.tobytes())
            if bad is not None:
                off, bad = cut + start, bad + start
                break
            if cut + start <= off or end == size:
                off = cut + start
                break  # no progress (a record longer than a window) or the file's end
            off = cut + start
            walked = (off & ~(mmap.PAGESIZE - 1)) - start
            if walked > 0:
                with contextlib.suppress(AttributeError, OSError):  # not on Linux
                    mapped.madvise(mmap.MADV_DONTNEED, start, walked)  # keep RSS small
    _send_end(out, off, bad)


def _walk_blocks(path: str, size: int) -> None:
    """The child for a pcapng file in the host's byte order: the chain of block offsets
    from the first (every block type has its length at +4), each section header's
    byte order checked; it stops before the first block whose length is not a valid
    one inside the file, or whose section is in the other byte order."""
    from flowcheck.sources.pcapng import BYTE_ORDER_MAGIC, MAX_BLOCK_LENGTH, SHB_TYPE

    out = sys.stdout.buffer
    usable = size & ~3
    if usable < 12:
        _send_end(out, 0, None)
        return
    with open(path, "rb") as file:
        mapped = mmap.mmap(file.fileno(), size, access=mmap.ACCESS_READ)
        with contextlib.suppress(AttributeError, OSError):
            mapped.madvise(mmap.MADV_SEQUENTIAL)
        words = memoryview(mapped)[:usable].cast("I")
        values = np.frombuffer(mapped, np.uint32, usable >> 2)
        word, last = 0, (size - 12) >> 2  # a block's header (12 bytes) must fit
        stretch, released = 1 << 10, 0
        while True:
            walked: list[int] = []
            append = walked.append
            try:
                for _ in range(stretch):
                    if word > last:
                        break
                    append(word)
                    word += words[word + 1] >> 2
            except IndexError:
                pass  # the chain left the file: the bulk test below stops before it
            at = np.array(walked, np.int64)
            lengths = values[at + 1].astype(np.int64)
            bad = ((lengths < 12) | (lengths & 3 != 0) | (lengths > MAX_BLOCK_LENGTH)
                   | ((at << 2) + lengths > size)
                   | ((values[at] == SHB_TYPE) & (values[np.minimum(at + 2, values.shape[0] - 1)]
                                                  != BYTE_ORDER_MAGIC)))
            good = int(np.argmax(bad)) if bad.any() else at.shape[0]
            out.write(np.array([good], np.int64).tobytes())
            out.write((at[:good] << 2).tobytes())
            if good < at.shape[0] or word > last:
                stop = int(at[good]) << 2 if good < at.shape[0] else word << 2
                _send_end(out, stop, None)
                return
            stretch = min(stretch * 2, 1 << 16)
            done = (word << 2) & ~(mmap.PAGESIZE - 1)
            if done - released >= WINDOW:
                with contextlib.suppress(AttributeError, OSError):  # not on Linux
                    mapped.madvise(mmap.MADV_DONTNEED, released, done - released)
                released = done


def _send_end(out: object, stop: int, bad: int | None) -> None:
    out.write(np.array([_END, stop, -1 if bad is None else bad], np.int64).tobytes())  # type: ignore[attr-defined]
    out.flush()  # type: ignore[attr-defined]


def main(argv: list[str]) -> int:
    # The parent handles Ctrl-C; it ends this process (or its pipe's end does).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kind, path, size, order, max_caplen = argv
    try:
        if kind == "pcapng":
            _walk_blocks(path, int(size))
        else:
            _walk_file(path, int(size), order == "big", int(max_caplen))
    except (BrokenPipeError, OSError, ValueError):
        return 1  # the parent walks on by itself
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    with contextlib.suppress(OSError):
        sys.stdout.flush()
    os._exit(code)
