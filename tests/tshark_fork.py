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
caller runs tshark itself (`Server.run` raises `Gone`), as before. The cache is shared by
every checkout on the machine: a library built from another tshark_fork.c a day ago or
more is removed once no process uses it (each user holds a shared lock on its library
while it lives), and so are the partial files (`NAME.PID`) of processes killed before
they finished them (`sweep`).

`run` is subprocess.run for any test's `tshark -r CAPTURE ...` whose output is all it
reads: one server a command line (less its capture), kept for the process's later
captures read with the same one. `fields` is the tests' common such read: `-T fields`
rows of the packets a display filter shows.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import hashlib
import itertools
import locale
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

SOURCE = Path(__file__).with_name("tshark_fork.c")
# The compiled library (and tshark_tcp's kept rows), one folder a user for every run.
CACHE = Path(tempfile.gettempdir()) / f"flowcheck-tests-tshark-{os.getuid()}"


class Gone(Exception):
    """The server gave no answer: it could not start, or ended."""


# A library of another tshark_fork.c is removed once this old (seconds since it was built)
# and held by no process: a process of a checkout from before the lock (session 50) holds
# none, and none lives that long.
OLD = 24 * 3600
# Descriptors of the libraries this process uses, each under a shared lock until it ends:
# `sweep` (in another checkout's process) removes no library one is held on.
_HELD: list[int] = []


@functools.cache
def library(cache: Path) -> Path | None:
    """tshark_fork.c compiled into `cache` (kept by its source's hash), held (a shared
    lock) for as long as this process lives; the cache swept (`sweep`). None without a C
    compiler or when it does not compile."""
    source = SOURCE.read_bytes()
    built = cache / f"tshark_fork-{hashlib.sha256(source).hexdigest()[:16]}.so"
    for _ in range(3):  # another checkout's sweep may remove it before it is held
        if not built.exists() and not _build(built):
            return None
        try:
            held = os.open(built, os.O_RDONLY)
        except FileNotFoundError:  # swept between the two: build it again
            continue
        fcntl.flock(held, fcntl.LOCK_SH)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(built).st_ino == os.fstat(held).st_ino:  # not swept before the lock
                _HELD.append(held)
                sweep(cache, built)
                return built
        os.close(held)
    return None


def _build(built: Path) -> bool:
    """Compile tshark_fork.c into `built`, whole or not at all (the xdist workers build
    at once: the first one's file is kept). False without a C compiler or when it does
    not compile."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return False
    built.parent.mkdir(exist_ok=True)
    partial = built.with_suffix(f".{os.getpid()}")
    done = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(partial),
                           str(SOURCE), "-ldl"], capture_output=True)
    try:
        if done.returncode != 0:
            return False
        with contextlib.suppress(FileExistsError):
            os.link(partial, built)  # never replaced: a process may hold the one there
        return True
    finally:
        partial.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether a process `pid` exists (a number reused since counts: kept)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def sweep(cache: Path, own: Path) -> None:
    """Remove from `cache` what no process uses: the libraries other than `own` (built
    from another tshark_fork.c) built OLD seconds ago or more that no process holds
    (`library`'s lock), and the partial files and folders (`NAME.PID`: a library being
    compiled, tshark_tcp's rows being written, a process's scratch folder) of processes
    that have ended. The kept rows and their lock files stay."""
    for path in cache.iterdir():
        _, dot, suffix = path.name.rpartition(".")
        if dot and suffix.isdigit():
            if not _alive(int(suffix)):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        elif (path.name.startswith("tshark_fork-") and path.suffix == ".so"
              and path != own):
            try:
                other = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            if time.time() - os.fstat(other).st_mtime < OLD:
                os.close(other)
                continue
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                path.unlink(missing_ok=True)  # under the lock: no user can hold it now
            except BlockingIOError:  # a process uses it
                pass
            finally:
                os.close(other)


class Server:
    """One tshark started with `command` (a tshark command line whose `-r` file exists),
    stopped before its capture opens; `run` reads another capture with the same command
    line. Ended at exit (its requests closed). OSError when `command` cannot start."""

    def __init__(self, command: Sequence[str], preload: Path,
                 output: tuple[Path, Path] | None = None, *, names: bool = True) -> None:
        """output: the files for the server's own stdout and stderr (what tshark writes
        before its capture opens: the warning for root on stderr), else none kept.
        names: False, the children open none of Wireshark's name files (OUIs, port names,
        enterprise numbers: tshark_fork.c's NAME_FILES, parsed again by each child), for
        numeric fields read with name resolution off, which those tables cannot change
        (tshark_tcp's shared run)."""
        requests_in, self._requests = os.pipe()
        self._replies, replies_out = os.pipe()
        own = [os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
               for path in output or ()] or [subprocess.DEVNULL] * 2
        try:
            # Its own process group, which its children join: a timeout ends both.
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=own[0], stderr=own[1],
                pass_fds=(requests_in, replies_out), start_new_session=True,
                env={**os.environ, "LD_PRELOAD": str(preload),
                     "TSHARK_FORK_IN": str(requests_in), "TSHARK_FORK_OUT": str(replies_out),
                     **({} if names else {"TSHARK_FORK_NO_NAMES": "1"})})
        except BaseException:  # no server (OSError: no such program): no pipe left open
            for fd in (self._requests, self._replies):
                os.close(fd)
            raise
        finally:
            for fd in (requests_in, replies_out, *(own if output else ())):
                os.close(fd)
        self._reply = os.fdopen(self._replies, encoding="utf-8")
        self._output = output
        self._before: tuple[str, str] | None = None
        self._closed = False
        atexit.register(self.close)

    @property
    def pid(self) -> int:
        """The server's process id (its children's process group)."""
        return self._process.pid

    def run(self, capture: Path, stdout: Path, stderr: Path,
            timeout: float | None = None) -> int:
        """tshark's exit status on `capture`, its output written to the files `stdout` and
        `stderr`. Gone when the server does not answer; TimeoutError when the child has
        not ended after `timeout` seconds (the server and the child are then killed)."""
        line = f"{capture}\t{stdout}\t{stderr}\n"
        if any(c in str(p) for p in (capture, stdout, stderr) for c in "\t\n"):
            raise Gone(f"a tab or newline in {line!r}")
        request = memoryview(line.encode())
        try:
            while request:  # a line of any length (a pipe may take part of it at a time)
                request = request[os.write(self._requests, request):]
        except OSError as error:  # BrokenPipeError: the server ended
            raise Gone(str(error)) from None
        # One request at a time: the reply buffer is empty until its line comes.
        if timeout is not None and not select.select([self._replies], [], [], timeout)[0]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self.close()
            raise TimeoutError(f"{capture}: no answer in {timeout} s")
        status = self._reply.readline()
        if not status:
            raise Gone(f"tshark ended: {self._process.poll()}")
        return int(status)

    def before(self, encoding: str) -> tuple[str, str]:
        """What tshark wrote to stdout and stderr before its capture opened (output's
        files; empty without them), once it has answered a request."""
        if self._before is None:
            self._before = tuple(  # type: ignore[assignment]
                path.read_text(encoding=encoding) for path in self._output or ()) or ("", "")
        assert self._before is not None
        return self._before

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


# This process's idle fork servers by command line less its capture (several when threads
# read with the same one at once), the one used last at the end; None: a server of that
# command line gave no answer, tshark is started for each capture instead.
_IDLE: dict[tuple[str, ...], list[Server] | None] = {}
# Idle servers kept at most (each holds ~65 MB of its own after registration; an xdist
# worker meets a few dozen command lines, most of them in one test file's tests): the
# ones used longest ago are ended first.
KEPT = 8
_LOCK = threading.Lock()
# The servers' capture name (never opened), as long as a path the system opens (PATH_MAX
# less its NUL): each child's capture goes into that string, which tshark's messages name.
_PLACEHOLDER = "/" + "-" * (os.pathconf("/", "PC_PATH_MAX") - 2)
_SCRATCH: list[Path] = []
_COUNT = itertools.count()


def _scratch() -> Path:
    """A folder of this process for the children's output files (the cache's
    `scratch.PID`: `sweep` removes it once the process has ended without), removed at
    exit."""
    with _LOCK:
        if not _SCRATCH:
            _SCRATCH.append(CACHE / f"scratch.{os.getpid()}")
            _SCRATCH[0].mkdir(parents=True, exist_ok=True)
            atexit.register(shutil.rmtree, _SCRATCH[0], True)
        return _SCRATCH[0]


def _keep(key: tuple[str, ...], server: Server) -> None:
    """Put `server` back as idle for `key` (ended instead when key's servers gave no
    answer), then end the idle servers used longest ago beyond KEPT."""
    ended: list[Server] = []
    with _LOCK:
        idle = _IDLE.get(key)
        (ended if idle is None else idle).append(server)
        lists = [servers for servers in _IDLE.values() if servers]
        extra = sum(map(len, lists)) - KEPT
        for servers in lists:
            while extra > 0 and servers:
                ended.append(servers.pop(0))
                extra -= 1
    for server in ended:
        server.close()


def run(command: Sequence[str], *, check: bool = False,
        timeout: float | None = None, names: bool = True) -> subprocess.CompletedProcess[str]:
    """subprocess.run(command, capture_output=True, text=True, check=, timeout=) for a
    tshark command line that reads one capture (`-r FILE`): by a fork server of this
    process for the command line less FILE (started on the first capture asked for; the
    same stdout, stderr and exit status as a tshark of its own; one server a folder, as
    a relative FILE is the caller's folder's), or by a tshark of its own where no C
    compiler builds the library, the server gives no answer, its child cannot start, or
    FILE is longer than any path the system opens (tshark's error then names FILE).
    subprocess.CalledProcessError (check) and subprocess.TimeoutExpired as
    subprocess.run raises them. names: False, the server's children open none of
    Wireshark's name files (Server's `names`), for a caller whose output those tables
    cannot change (numeric fields, -n); a tshark of its own, where one runs, still reads
    them."""
    command = list(command)
    at = command.index("-r") + 1
    if len(os.fsencode(command[at])) > len(_PLACEHOLDER):  # no system opens such a path
        return subprocess.run(command, capture_output=True, text=True, check=check,
                              timeout=timeout)  # whose error then names it, not the server's
    # A server reads a relative path from the folder it started in: one a folder.
    key = (os.getcwd(), *command[:at], *command[at + 1:], *(() if names else ("\0no names",)))
    preload = library(CACHE)
    with _LOCK:
        idle = _IDLE[key] = _IDLE.pop(key, [])  # now the one used last
        server = idle.pop() if idle else None
    if preload is not None and idle is not None:
        scratch = _scratch()
        number = next(_COUNT)
        if server is None:
            # What tshark writes before it opens the capture, which each child's output
            # then follows (the warning for root on stderr), is read after its first reply.
            placeholder = [*command[:at], _PLACEHOLDER, *command[at + 1:]]
            server = Server(placeholder, preload, (scratch / f"{number}.server-out",
                                                   scratch / f"{number}.server-err"),
                            names=names)
        out, err = scratch / f"{number}.out", scratch / f"{number}.err"
        try:
            status = server.run(Path(command[at]), out, err, timeout)
        except Gone:
            server.close()
            with _LOCK:
                _IDLE[key] = None
        except TimeoutError:
            raise subprocess.TimeoutExpired(command, timeout or 0) from None
        else:
            _keep(key, server)
            # 125: the child could not start (tshark has no such status); above 128: it
            # died of a signal, which a tshark of its own shows as subprocess.run does.
            if status != 125 and status <= 128:
                # As text=True reads a pipe: the locale's encoding, universal newlines.
                encoding = locale.getpreferredencoding(False)
                before = server.before(encoding)
                done = subprocess.CompletedProcess(command, status,
                                                   before[0] + out.read_text(encoding=encoding),
                                                   before[1] + err.read_text(encoding=encoding))
                out.unlink()
                err.unlink()
                if check:
                    done.check_returncode()
                return done
    return subprocess.run(command, capture_output=True, text=True, check=check,
                          timeout=timeout)


def fields(capture: Path | str, display: str, *names: str, options: Sequence[str] = (),
           check: bool = True, timeout: float | None = None,
           name_files: bool = True) -> list[list[str]]:
    """tshark's `-T fields` rows of the packets of `capture` that the display filter
    `display` shows ("": every packet), by `run`: one row a packet, a string a field of
    `names` in their order ("" where the packet has none; several occurrences as tshark
    joins them, `-E occurrence=`/`aggregator=` among `options`). options: tshark's other
    options (`-o`, `-E`, `-d`), kept before `-T fields`. Names are not resolved (`-n`:
    addresses and ports as numbers, no lookup). check: subprocess.CalledProcessError when
    tshark exits non-zero (without it, the rows it printed before it failed: a malformed
    file's); subprocess.TimeoutExpired after `timeout` seconds. name_files: False, the
    forked tshark without Wireshark's name files (run's `names`): for fields whose values
    those tables cannot change."""
    command = ["tshark", "-n", "-r", str(capture), *options, "-T", "fields",
               *(["-Y", display] if display else [])]
    for name in names:
        command += ["-e", name]
    out = run(command, check=check, timeout=timeout, names=name_files).stdout
    return [line.split("\t") for line in out.splitlines()]
