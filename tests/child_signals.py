"""The signals of the tests' processes: how a child to be interrupted starts, and the
check that no test leaves its pytest worker's signal state changed (tests/conftest.py).

POSIX: a child inherits an ignored SIGINT (SIG_IGN) and its parent's signal mask across
exec, and Python then installs no KeyboardInterrupt handler. A shell without job control
(a script, `sh -c`, an agent's tool) starts `cmd &` with SIGINT and SIGQUIT ignored, so
a suite started that way (`python -m pytest > log &`) has every worker ignore SIGINT
from its start, and so did every child it started: four tests that interrupt a child
with SIGINT saw it finish as if never signalled (the full suite twice; a foreground run
passes them). `preexec_fn=sigint_as_default` starts the child as a shell's foreground
job starts it, however pytest was started; the autouse fixture in tests/conftest.py
(signals_kept) fails a test that changes the worker's SIGINT or SIGTERM disposition or
its signal mask, which every later test's children would inherit."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

import pytest

# Dispositions a child inherits or a test's in-process CLI run sets (cli.main sets
# SIGTERM, cli.live_run SIGINT, SIGTERM and SIGHUP) and must give back.
KEPT = (signal.SIGINT, signal.SIGTERM)


def sigint_as_default() -> None:
    """In the forked child before exec: SIGINT's default action, and not blocked."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


# The signals a command catches (flowcheck.dispositions): a child started as a shell's
# foreground job has each at its default, unless nohup or a script's `&` ignores one.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def started_ignoring(*ignored: signal.Signals) -> Callable[[], None]:
    """A preexec_fn: STOP_SIGNALS at their default and not blocked, however pytest was
    started (`nohup pytest`, `pytest &` in a script), then `ignored` ignored, as
    `nohup` (SIGHUP) or a script's `cmd &` (SIGINT) starts a command."""
    def preexec() -> None:
        for number in STOP_SIGNALS:
            signal.signal(number, signal.SIG_IGN if number in ignored else signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, set(STOP_SIGNALS))

    return preexec


def signal_state() -> tuple[tuple[object, ...], frozenset[int]]:
    """The calling thread's view: the handlers of KEPT (Python's, as signal.getsignal
    gives them: SIG_DFL, SIG_IGN, a function; None when set outside Python) and the
    signals its mask blocks (numbers)."""
    handlers = tuple(signal.getsignal(number) for number in KEPT)
    return handlers, frozenset(int(number)
                               for number in signal.pthread_sigmask(signal.SIG_BLOCK, []))


def describe(state: tuple[tuple[object, ...], frozenset[int]]) -> str:
    """One line: `SIGINT=<handler> SIGTERM=<handler> blocked=[names]`."""
    handlers, blocked = state
    named = " ".join(f"{number.name}={_handler_name(handler)}"
                     for number, handler in zip(KEPT, handlers, strict=True))
    return f"{named} blocked=[{', '.join(signal.Signals(n).name for n in sorted(blocked))}]"


def _handler_name(handler: object) -> str:
    if isinstance(handler, signal.Handlers):
        return handler.name
    return getattr(handler, "__qualname__", repr(handler))


@contextlib.contextmanager
def signals_kept(test: str) -> Iterator[None]:
    """Fails `test` (its teardown) when it leaves the dispositions of KEPT or the mask
    other than it found them, after putting them back (the worker's later tests start
    as this one did). Only in the main thread: pytest runs tests there."""
    before = signal_state()
    yield
    after = signal_state()
    if after == before:
        return
    handlers, blocked = before
    for number, handler in zip(KEPT, handlers, strict=True):
        if handler is not None:  # set outside Python: cannot be put back from here
            signal.signal(number, handler)  # type: ignore[arg-type]
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    pytest.fail(f"{test} left its process's signals changed: {describe(after)}, was "
                f"{describe(before)} (inherited by every later test's children)",
                pytrace=False)
