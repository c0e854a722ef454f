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
on by itself. The parser never waits for the child: it takes the offsets already sent
and walks the rest of a buffer itself (the first chunks, before the child is ready; a
child held back on a busy machine), and the child's offsets it has passed are dropped.
A child still behind the parser CATCH_UP_SECONDS after its start is ended: at nice 10 on
a machine whose cores are both busy it never caught up, and walked the whole file for
nothing, its CPU counted in the command's (bench's (c) 200k: 0.4-0.7 s more user CPU,
bench/README.md 2026-12-06 14:45); on a spare core it is ahead within milliseconds of
its start (its walk is ten times the parser's pace or more), so it is never ended there.
The message format is walk_ahead_child.py's.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from typing import ClassVar

import numpy as np

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "walk_ahead_child.py")
MESSAGE_RECORDS = 1 << 16  # offsets per message from the child
PIPE_BYTES = 1 << 20  # the pipe's capacity asked for (Linux's default limit for users)
# A child behind the parser this long after its start is ended (module docstring): on
# a spare core it starts in ~10 ms and walks a few million records a second.
CATCH_UP_SECONDS = 0.1
_END = -1


class WalkAhead:
    """The parent's side: the child's offsets, handed out per buffer, never waited for.

    take(lo, hi) returns the records the walk from file offset lo finds whole below hi
    (absolute offsets, ascending), the offset after them and the offset of an absurd
    record there if any, as PcapParser._walk would; `complete` False when the child's
    offsets stop before hi (it is behind, or its walk ended there), so that the caller
    walks on from there itself. None when it has nothing from lo on yet, or has ended
    (the caller walks itself). Messages already in the pipe are read, never waited
    for: a child slowed down (a busy machine) costs the parser nothing but its own
    walk, and its offsets behind the parser are dropped; one found behind the parser
    CATCH_UP_SECONDS after its start is ended (module docstring).
    """

    # Tests: wait for the child's offsets instead of walking by itself meanwhile (so that
    # the child is seen to give every record).
    blocking: ClassVar[bool] = False
    running: ClassVar[int] = 0  # children alive in this process (the reader caps them)

    def __init__(self, path: str, size: int, big_endian: bool, max_caplen: int,
                 kind: str = "pcap") -> None:
        """Start the child on the file's first size bytes: kind "pcap" (records of
        caplen up to max_caplen, in the given byte order) or "pcapng" (blocks up to
        max_caplen bytes long, the host's byte order). OSError if it cannot start."""
        # The child is a standard-library script run without site: it starts in ~10 ms.
        # Unbuffered: poll() on the descriptor then tells whether a message is waiting.
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-I", "-S", CHILD, kind, path, str(size),
             "big" if big_endian else "little", str(max_caplen), str(MESSAGE_RECORDS)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            close_fds=True, start_new_session=True, bufsize=0)
        assert self._proc.stdout is not None
        WalkAhead.running += 1
        self._pipe = self._proc.stdout
        with contextlib.suppress(ImportError, AttributeError, OSError):
            import fcntl  # POSIX (the reader starts a walk ahead there only)

            # Room for a whole message or more ahead (the default 64 KiB holds 8,192).
            fcntl.fcntl(self._pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._poller = select.poll()
        self._poller.register(self._pipe.fileno(), select.POLLIN)
        self._ready = np.empty(0, np.int64)  # offsets received, from the parser's on
        self._end: tuple[int, int | None] | None = None  # (stop, bad) once sent
        self.records_taken = 0  # records handed out (for tests: the child did the walk)
        self._started = time.monotonic()

    def take(self, lo: int, hi: int) -> tuple[np.ndarray, int, int | None, bool] | None:
        if self._proc is None or not self._receive(lo, hi):
            return None
        ready = self._ready = self._ready[np.searchsorted(self._ready, lo):]
        end = self._end
        if not ready.shape[0]:
            if end is None:
                if time.monotonic() - self._started > CATCH_UP_SECONDS:
                    self.close()  # passed by the parser after its start: a busy machine
                return None  # the child is behind: the parser walks this part itself
            if end[0] != lo:
                self.close()  # its walk ended before lo: the parser's alone from now on
                return None
        elif int(ready[0]) != lo:
            self.close()  # not the parser's chain (never expected): it walks on alone
            return None
        # Whole records: those whose next record starts at or before hi (the last one
        # sent is followed by the end's stop offset, or by an offset not received yet).
        count = ready.shape[0]
        whole = int(np.searchsorted(ready[1:], hi, side="right"))
        if end is not None and whole == count - 1 and end[0] <= hi:
            whole += 1
        self.records_taken += whole
        if whole < count - 1 or whole == count - 1 and (end is not None or ready[-1] >= hi):
            return ready[:whole], int(ready[whole]), None, True  # a record cut at hi
        if whole == count - 1:  # the child is behind hi: the parser walks on from its last
            return ready[:whole], int(ready[whole]), None, False
        assert end is not None
        stop, bad = end
        if bad is not None:
            return ready, stop, (bad if bad + 16 <= hi else None), True
        self.close()
        return ready, stop, None, False

    def _receive(self, lo: int, hi: int) -> bool:
        """Read the messages waiting (blocking: all the child sends, until an offset at or
        past hi or the end is here); False if the child died without its end message
        (then it is closed)."""
        while self._end is None and (not self._ready.shape[0] or int(self._ready[-1]) < hi):
            if not self.blocking and not self._poller.poll(0):
                return True
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
