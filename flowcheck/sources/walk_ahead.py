"""The record walk of a large capture file, done ahead by a second process on the other core.

Each record's offset depends on the previous record's length, so the walk is a chain
followed in Python (pcap.py, pcapng.py): about 0.3 microseconds a record, 20-30% of the
engine's time on real bulk captures, and the interpreter's lock keeps a thread from
taking it off the main one. A child process (walk_ahead_child.py, a standard-library
script) follows the same chain over a read-only memory map of the file, with the same
tests, and sends the absolute offsets down a pipe; the reader's parser takes them per
chunk instead of walking (PcapParser.locate, PcapngParser._epb_run). The pipe's
capacity bounds how far ahead the child runs, so memory stays bounded.

The offsets are exactly those the parser's own walk gives: the chain is unique from
the first record, and where the child's walk stops (an absurd caplen, a record cut by
the file's end, a pcapng section in the other byte order, its death) the parser walks
on by itself. The child starts while the parser walks the first chunk; the parser uses
it from the first chunk at which it is ready, skipping the offsets it has passed.
The message format is walk_ahead_child.py's.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
from typing import ClassVar

import numpy as np

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "walk_ahead_child.py")
MESSAGE_RECORDS = 1 << 16  # offsets per message from the child
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
        """Start the child on the file's first size bytes: kind "pcap" (records of
        caplen up to max_caplen, in the given byte order) or "pcapng" (blocks up to
        max_caplen bytes long, the host's byte order). OSError if it cannot start."""
        # The child is a standard-library script run without site: it starts in ~10 ms.
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-I", "-S", CHILD, kind, path, str(size),
             "big" if big_endian else "little", str(max_caplen), str(MESSAGE_RECORDS)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            close_fds=True, start_new_session=True)
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
            if not self._ready_to_read():
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

    def _ready_to_read(self) -> bool:
        # poll, not select: select cannot watch a descriptor above FD_SETSIZE (1024), which
        # a capture set of many files may reach.
        poller = select.poll()
        poller.register(self._pipe.fileno(), select.POLLIN)
        return bool(poller.poll(0))

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
