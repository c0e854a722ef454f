"""Error classes and exit codes (the contract's table, docs/cli.md).

Findings are data; these exceptions are only for input the program cannot use at all.
The CLI maps each to its exit code and prints one line, never a traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0  # success / verdict pass
    FAIL = 1  # verdict fail, changed expectations, crosscheck differences
    USAGE = 2  # usage or configuration error
    INPUT = 3  # input unreadable: missing, empty, unknown format, permission, no interface
    INTERNAL = 4  # a bug in flowcheck: one line, the traceback only with FLOWCHECK_DEBUG=1
    INCONCLUSIVE = 5  # verdict inconclusive: the capture cannot show whether a step worked
    INTERRUPTED = 130  # Ctrl-C


def verdict_status(verdict: str) -> ExitStatus:
    """The exit code of a verdict: pass 0, fail 1, inconclusive 5 (contract)."""
    return {"pass": ExitStatus.OK, "fail": ExitStatus.FAIL,
            "inconclusive": ExitStatus.INCONCLUSIVE}[verdict]


class FlowcheckError(Exception):
    exit_status = ExitStatus.FAIL


class UsageError(FlowcheckError):
    """Bad flags or configuration (names the offending key)."""

    exit_status = ExitStatus.USAGE


class InputError(FlowcheckError):
    """Nothing could be read from an input."""

    exit_status = ExitStatus.INPUT
