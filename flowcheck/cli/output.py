"""Standard output, and what happens when its reader leaves (`flowcheck ... | head`).

Two kinds of writer. A report (every command's table or JSON document, and the final
report of `live`) is finished when its reader leaves: the rest goes to /dev/null and the
command ends with the exit code it would have had (the verdict's). A stream (`live`'s
findings as they come) stops: the reader leaving is how `live ... | head` ends the
capture. Without this, typer turns the EPIPE into exit 1 (a failed verification, even
for a pass), and a document still in Python's buffer fails at exit with exit 120.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

# Written to a file or a pipe, a report keeps whole rows instead of rich's 80 columns.
PIPED_WIDTH = 200


def reader_left(exc: OSError) -> bool:
    """Whether a write to standard output failed because nobody reads it any more: EPIPE
    (a pipe's reader closed it) or EIO (the terminal was closed: a hung-up terminal
    fails every write, write(2))."""
    return isinstance(exc, BrokenPipeError) or exc.errno == errno.EIO


def discard_stdout() -> None:
    """Send the rest of standard output to /dev/null: the reader has left. The file
    descriptor is replaced, so what Python or rich still holds in a buffer drains there
    too (at exit) instead of failing with EPIPE."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


@contextlib.contextmanager
def report_output() -> Iterator[None]:
    """Around the writing of a report to sys.stdout: if its reader leaves (a pipe closed,
    a terminal closed: reader_left), the rest is discarded and the command goes on to
    its exit code. The report is flushed inside, so
    an EPIPE cannot wait in Python's buffer for the interpreter's exit."""
    try:
        yield
        sys.stdout.flush()
    except OSError as exc:
        if not reader_left(exc):
            raise
        discard_stdout()


def make_console(*, stderr: bool = False) -> Console:
    """The console reports print to: the terminal's width, or wide when piped. A report:
    when its reader leaves, the rest goes to /dev/null (discard_stdout). `stderr`: print
    to standard error instead, when standard output carries a document (`regress
    --junit -`)."""
    from rich.console import Console  # imported here: start-up time matters

    class ReportConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich's own handler exits 1, the code of a failed verification, even for
            # a pass.
            self.quiet = True
            discard_stdout()

    # emoji=False: an IPv6 address such as 2001:db8:77:100::1 holds ":100:", which rich
    # printed as an emoji.
    # NO_COLOR (no-color.org, any value but empty): no escape sequence at all, bold and
    # dim too (rich drops only the colours); the words carry every status already.
    stream = sys.stderr if stderr else sys.stdout
    return ReportConsole(highlight=False, emoji=False, stderr=stderr,
                         color_system=None if os.environ.get("NO_COLOR") else "auto",
                         width=None if stream.isatty() else PIPED_WIDTH)


def watch_reader(on_leave: Callable[[], None]) -> None:
    """When standard output is a pipe, call `on_leave()` (once, from a daemon thread) as
    soon as its reader closes it, without waiting for the next write: a stream that
    writes rarely (`live` prints only findings) still stops when `head` has its lines.
    Linux and the BSDs report POLLERR on a pipe's write end whose readers are gone
    (poll(2)); nothing is watched for a terminal or a file."""
    try:
        descriptor = sys.stdout.fileno()
        is_pipe = stat.S_ISFIFO(os.fstat(descriptor).st_mode)
    except (OSError, ValueError):  # no real descriptor (a test's captured stdout)
        return
    if not is_pipe or not hasattr(select, "poll"):
        return

    def wait() -> None:
        poller = select.poll()
        poller.register(descriptor, 0)  # no events asked: only POLLERR/POLLHUP come
        if any(events & (select.POLLERR | select.POLLHUP)
               for _, events in poller.poll()):
            on_leave()

    threading.Thread(target=wait, name="flowcheck-reader-watch", daemon=True).start()


def stdout_reader_gone() -> bool:
    """Whether standard output is a pipe whose reader has closed it (POLLERR on its write
    end, as watch_reader waits for), asked now, without waiting."""
    try:
        descriptor = sys.stdout.fileno()
        if not stat.S_ISFIFO(os.fstat(descriptor).st_mode) or not hasattr(select, "poll"):
            return False
    except (OSError, ValueError):
        return False
    poller = select.poll()
    poller.register(descriptor, 0)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def tolerate_file_names() -> None:
    """Standard output that does not fail on a file name that is not UTF-8. Python keeps
    such a name's bytes as lone surrogates (PEP 383); in a UTF-8 locale other than
    C.UTF-8 (or with PYTHONIOENCODING=utf-8) its standard output is strict, and a text
    report naming the file (capture_unreadable, ...) ended in an internal error. Written
    as `\\udcNN` instead, as standard error already does (backslashreplace)."""
    stream = sys.stdout
    if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
        stream.reconfigure(errors="backslashreplace")

