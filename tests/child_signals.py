"""A child process that takes SIGINT as a terminal's Ctrl-C would reach it.

POSIX: a child inherits an ignored SIGINT (SIG_IGN) and its parent's signal mask across
exec, and Python then installs no KeyboardInterrupt handler: a test that interrupts a
child with SIGINT would depend on what earlier tests in its pytest worker left (the full
suite saw such children finish as if never signalled). `preexec_fn=sigint_as_default`
starts the child as a shell's foreground job starts it."""

from __future__ import annotations

import signal


def sigint_as_default() -> None:
    """In the forked child before exec: SIGINT's default action, and not blocked."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
