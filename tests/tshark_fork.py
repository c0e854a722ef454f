"""One tshark start for many captures read with the same options, for tshark_tcp: a
tshark spends about 0.3 s of CPU registering its dissectors before it reads the first
packet, and the shared run reads some 450 captures (CI: ~130 of the suite's CPU-seconds).

tshark_fork.c, loaded into tshark (LD_PRELOAD), stops tshark where it opens its capture
(registration and options done, no packet read) and forks a child per capture asked for;
each child goes on as tshark does with that capture, from the same state. The rows are
tshark's own: the same program, the same command line, one pass, a fresh dissection
state each (all 421 stored captures gave byte-identical rows, forward and in reverse
order, when this was written; tests/test_tshark_fork.py keeps checking the hardest).

The library is compiled once per machine into the cache (C compiler needed); without a
compiler, or when the server does not answer (the library not loaded, tshark gone), the
caller runs tshark itself (`Server.run` raises `Gone`), as before.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

SOURCE = Path(__file__).with_name("tshark_fork.c")


class Gone(Exception):
    """The server gave no answer: it could not start, or ended."""


@functools.cache
def library(cache: Path) -> Path | None:
    """tshark_fork.c compiled into `cache` (kept by its source's hash); None without a C
    compiler or when it does not compile."""
    source = SOURCE.read_bytes()
    built = cache / f"tshark_fork-{hashlib.sha256(source).hexdigest()[:16]}.so"
    if built.exists():
        return built
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    cache.mkdir(exist_ok=True)
    partial = built.with_suffix(f".{os.getpid()}")  # whole or not at all (workers build too)
    done = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(partial),
                           str(SOURCE), "-ldl"], capture_output=True)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        return None
    partial.replace(built)
    return built


class Server:
    """One tshark started with `command` (a tshark command line whose `-r` file exists),
    stopped before its capture opens; `run` reads another capture with the same command
    line. Ended at exit (its requests closed). OSError when `command` cannot start."""

    def __init__(self, command: Sequence[str], preload: Path) -> None:
        requests_in, self._requests = os.pipe()
        self._replies, replies_out = os.pipe()
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, pass_fds=(requests_in, replies_out),
                env={**os.environ, "LD_PRELOAD": str(preload),
                     "TSHARK_FORK_IN": str(requests_in), "TSHARK_FORK_OUT": str(replies_out)})
        except BaseException:  # no server (OSError: no such program): no pipe left open
            for end in (self._requests, self._replies):
                os.close(end)
            raise
        finally:
            os.close(requests_in)
            os.close(replies_out)
        self._reply = os.fdopen(self._replies, encoding="utf-8")
        self._closed = False
        atexit.register(self.close)

    def run(self, capture: Path, stdout: Path, stderr: Path) -> int:
        """tshark's exit status on `capture`, its output written to the files `stdout` and
        `stderr`. Gone when the server does not answer."""
        line = f"{capture}\t{stdout}\t{stderr}\n"
        if any(c in str(p) for p in (capture, stdout, stderr) for c in "\t\n"):
            raise Gone(f"a tab or newline in {line!r}")
        try:
            os.write(self._requests, line.encode())
        except (BrokenPipeError, OSError) as error:
            raise Gone(str(error)) from None
        status = self._reply.readline()
        if not status:
            raise Gone(f"tshark ended: {self._process.poll()}")
        return int(status)

    def close(self) -> None:
        """Close the requests (the server exits) and wait for it."""
        if self._closed:
            return
        self._closed = True
        os.close(self._requests)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reply.close()
