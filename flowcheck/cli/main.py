"""Entry point (the `flowcheck` console script, `python -m flowcheck`): the command line
run on sys.argv, Ctrl-C and SIGTERM handled before its modules load (flowcheck.interrupts).

The command line itself is flowcheck.cli.app (typer and every command's module; each
command loads its pipeline, numpy among it, when it runs), imported here once the
handling is in place, so that an interruption while it loads is the documented exit,
one line and 130 (trial 34, D5), with the atexit handlers run (flowcheck.exiting). The
common command lines, `connections` or `analyze` with captures, `--format`, `--config`
and the configuration flags, `live` with options typer takes as they are and `regress`
with its paths and options, run without it (flowcheck.cli.direct). This module stays
light: the standard library and flowcheck's light modules only. `flowcheck --version` alone is
answered here, without loading the command line at all
(tests/test_cli_start_imports.py).
"""

from __future__ import annotations

import signal
import sys
from typing import NoReturn

from flowcheck.dispositions import catch
from flowcheck.errors import ExitStatus
from flowcheck.exiting import exit_now
from flowcheck.interrupts import raise_interrupt, say_interrupted


def main() -> NoReturn:
    """Run the command line on sys.argv and end the process with its exit code."""
    # Set already when flowcheck/__init__.py saw the command start; not for a program that
    # imports flowcheck and calls this. Unless ignored at the start (flowcheck.dispositions).
    catch(signal.SIGTERM, raise_interrupt)
    try:
        if sys.argv[1:] == ["--version"]:  # as cli.app's --version, without loading typer
            from flowcheck import __version__

            print(f"flowcheck {__version__}")
            exit_now(int(ExitStatus.OK))
        from flowcheck.cli.direct import direct_call, run_direct, take_debug
        from flowcheck.cli.output import tolerate_file_names

        tolerate_file_names()
        call = direct_call(take_debug(sys.argv[1:]))
        if call is not None:  # the common command lines: typer not even loaded
            exit_now(run_direct(call))
        from flowcheck.cli import app

        exit_now(app.run(None, ending=True))  # takes --debug out of sys.argv the same way
    except KeyboardInterrupt:
        say_interrupted()
        exit_now(int(ExitStatus.INTERRUPTED))


def run(argv: list[str] | None = None) -> int:
    """Run the CLI on argv and return the exit code (tests and scripts call this; it
    loads flowcheck.cli.app on its first call)."""
    from flowcheck.cli import app

    return app.run(argv)


if __name__ == "__main__":
    main()
