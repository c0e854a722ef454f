"""Signal dispositions: a signal ignored when flowcheck started stays ignored.

POSIX and the shells hand an ignored signal (SIG_IGN) on across fork and exec, and mean
it: `nohup` ignores SIGHUP so that a command outlives its terminal (a lab engineer's
`nohup flowcheck live -i IF --write f.pcap &` left running after logging out), and a
shell without job control (a script, `sh -c`, a CI step) starts `cmd &` with SIGINT and
SIGQUIT ignored so that a Ctrl-C at the terminal does not reach it. A program catches
only the signals it was not told to ignore (the `if (signal(SIGINT, SIG_IGN) != SIG_IGN)`
idiom): CPython installs its KeyboardInterrupt for SIGINT only when SIGINT is not
ignored, tcpdump and dumpcap catch SIGHUP only when it is not. flowcheck's handlers
(interrupts.py, cli/main.py and cli/app.py SIGTERM, cli/live_run.py SIGINT, SIGTERM and
SIGHUP) go through `catch`.
Standard library only.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType

# What signal.signal takes and signal.getsignal gives: SIG_DFL, SIG_IGN, a function of
# (signal number, frame); None for a disposition set outside Python.
Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def catch(number: signal.Signals, handler: Callable[[int, FrameType | None], object]
          ) -> Handler:
    """Set `handler` for signal `number` unless it is ignored (SIG_IGN: it then stays
    ignored). Returns the disposition it had, for signal.signal to put back (putting
    back SIG_IGN changes nothing). Main thread only, as signal.signal."""
    previous = signal.getsignal(number)
    if previous is not signal.SIG_IGN:
        signal.signal(number, handler)
    return previous
