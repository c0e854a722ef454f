"""What a one-shot command's process skips: the garbage collector's walks over what it
read, and the interpreter's teardown.

At exit CPython frees every object one by one as it clears the modules: on a capture of
200,000 connections that took 0.6 s, a fifth of the whole run, after the report was
already written. A command that has finished ends here instead: its streams flushed,
the `atexit` handlers run (weakref finalizers, temporary directories), then `os._exit`.
"""

from __future__ import annotations

import atexit
import gc
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn


@contextmanager
def read_once() -> Iterator[None]:
    """Around a one-shot command's read of its capture set: automatic garbage collection
    off while reading, then everything alive frozen (gc.freeze: never walked again) and
    collection back as it was.

    Why: what was read lives until the command ends, and the collector walked all of it
    to find nothing (the tracker makes no cycles): the first collection after the read,
    0.5 s on 200,000 connections, then again and again while the report was made.
    flowcheck.connections turns collection off while reading too, but must give it back
    to the caller as it found it; only the command knows that the records stay. Callers
    that go on afterwards (tests, scripts: cli.main.run, cli.app.run) call gc.unfreeze().
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # also restarts the count that triggers the next collection
        if collecting:
            gc.enable()


# What one-shot commands read (their Traffic, with every connection), held here until
# the process ends (keep_to_exit).
_KEPT: list[object] = []


def keep_to_exit(value: object) -> None:
    """Hold `value` (a command's Traffic) until the process ends, so that it is not freed
    when the command returns. Why: freeing 200,000 connections' records one object at a
    time took 0.26 s after the report was written (the teardown exit_now skips, paid
    earlier). Callers that go on (tests, scripts: cli.app.run) call release_kept()."""
    _KEPT.append(value)


def release_kept() -> None:
    """Let go of what keep_to_exit held (freed now, unless referenced elsewhere)."""
    _KEPT.clear()


def exit_now(code: int) -> NoReturn:
    """End the process with `code` (0-255), skipping the teardown; with other threads
    still running (their work would be cut short), the usual `sys.exit` instead.

    A standard stream whose reader has left (`| head`) is not an error here: its
    unwritten rest is dropped, as the commands already do for their reports. Nor is a
    Ctrl-C or SIGTERM: the command's result is out, and one arriving now would only
    print "Exception ignored in atexit callback" and its traceback (trial 34, D5).
    """
    if threading.active_count() > 1:
        sys.exit(code)
    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_functions is None:  # not CPython: the usual way
        sys.exit(code)
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)
    run_exit_functions()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # closed pipe, or a stream already closed
            pass
    os._exit(code)
