"""Ctrl-C and SIGTERM as the documented interrupted exit from a command's first line: one
line `flowcheck: error: interrupted` on standard error and exit code 130 (docs/cli.md).

A command spends its first 0.3 to 1 s loading its modules (typer, numpy, the commands),
a window that a Ctrl-C at a prompt or a CI job's timeout hits (trial 34, D5): Ctrl-C
there printed a KeyboardInterrupt traceback of 12 to 60 lines raised inside `import
typer`, and SIGTERM killed the process silently (143 in a shell). flowcheck/__init__.py
calls `install` when the process is the flowcheck command, before anything else of
flowcheck loads; what is left is the interpreter's own start (site, the console script's
`import re`). Standard library modules only: this module is imported first.
"""

from __future__ import annotations

import os
import signal
import sys
from types import TracebackType

from flowcheck.dispositions import catch

INTERRUPTED = 130  # flowcheck.errors.ExitStatus.INTERRUPTED (not imported: it needs enum)


def install() -> None:
    """SIGTERM raises KeyboardInterrupt, as SIGINT does (a CI job's timeout, `kill`,
    `systemctl stop`); a KeyboardInterrupt that nothing caught, one raised while the
    modules load, ends the process with the one line and 130 instead of its traceback.
    Main thread only (a signal handler can be set there alone). A SIGTERM ignored when
    the process started stays ignored (flowcheck.dispositions)."""
    catch(signal.SIGTERM, raise_interrupt)
    shown_otherwise = sys.excepthook

    def interrupted_or_shown(kind: type[BaseException], error: BaseException,
                             trace: TracebackType | None) -> None:
        if not issubclass(kind, KeyboardInterrupt):
            shown_otherwise(kind, error, trace)
            return
        say_interrupted()
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):  # closed pipe, or a stream already closed
                pass
        os._exit(INTERRUPTED)  # Python would end an unhandled Ctrl-C by SIGINT itself

    sys.excepthook = interrupted_or_shown


def raise_interrupt(*_: object) -> None:
    """A signal handler: raise KeyboardInterrupt where the main thread is."""
    raise KeyboardInterrupt


def say_interrupted() -> None:
    """The one line, Ctrl-C and SIGTERM ignored from now on: a second one does not cut
    it, and the process is ending (its caller exits next)."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    try:
        sys.stderr.write("flowcheck: error: interrupted\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # closed, its reader gone, or None
        pass
