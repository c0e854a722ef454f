"""Ctrl-C or SIGTERM while flowcheck still loads its modules (trial 34, D5): the documented
interrupted exit, one line and 130, from the console script and `python -m flowcheck`
alike. It was a KeyboardInterrupt traceback of 12 to 60 lines raised inside `import typer`
(death by SIGINT), and a silent death by SIGTERM (143 in a shell)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
from startup_pause import WORKTREE, console_script, interrupt_while_importing

CAPTURE = WORKTREE / "captures" / "ndmjob" / "v4-backup.pcap"

STARTERS = {
    "module": [sys.executable, "-m", "flowcheck"],
    "script": [str(console_script())] if console_script() else None,
}


@pytest.mark.parametrize("starter", sorted(STARTERS))
@pytest.mark.parametrize("pause_at", ["flowcheck.exiting", "typer", "numpy"])
@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_an_interrupt_while_loading_is_one_line_and_130(
        tmp_path: Path, starter: str, pause_at: str, sent: signal.Signals) -> None:
    """typer: the command line's library, the first heavy import of a command line
    with options (`analyze CAPTURE` alone loads no typer: flowcheck.cli.direct); numpy:
    imported when the command starts, with the pipeline (not to register the commands:
    their help screens need no numpy, tests/test_cli_start_imports.py)."""
    argv = STARTERS[starter]
    if argv is None:
        pytest.skip("no flowcheck console script beside this Python")
    options = ["--all-sessions"] if pause_at == "typer" else []
    code, out, err = interrupt_while_importing(
        [*argv, "analyze", str(CAPTURE), *options], pause_at, sent, tmp_path)
    assert (code, out, err) == (130, b"", b"flowcheck: error: interrupted\n")
