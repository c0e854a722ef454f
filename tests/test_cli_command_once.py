"""The app's click command is built once a process (flowcheck.cli.app.click_command):
typer built every parameter's validator again on each in-process run, a third of an
in-process `firewall` run. A run keeps nothing of its options for the next: a run after
others gives what the same command line gives in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowcheck.cli import app
from flowcheck.cli.main import run

ROOT = Path(__file__).resolve().parent.parent


def test_the_command_is_built_once() -> None:
    assert run(["firewall", "--media-range", "5001-5100"]) == 0
    built = app.click_command()
    assert run(["plan", "--help"]) == 0
    assert app.click_command() is built


@pytest.mark.parametrize("argv", [
    ["firewall", "--agent-range", "6001-6100"],
    ["plan", "--resources", "2", "--media-range", "5001-5010"],
    ["firewall", "--media-range"],
])
def test_a_run_after_others_is_a_fresh_process(argv: list[str], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Runs that set other options, an error and a help screen first; then argv's exit
    code, output and error line are those of `python -m flowcheck ARGV` alone."""
    for before in (["firewall", "--media-range", "5001-5100", "--format", "json"],
                   ["plan", "--resources", "9", "--agent-range", "6001-6002"],
                   ["firewall", "--no-such-option"], ["firewall", "--help"]):
        run(before)
    capsys.readouterr()
    code = run(argv)
    out, err = capsys.readouterr()
    fresh = subprocess.run([sys.executable, "-m", "flowcheck", *argv], capture_output=True,
                           text=True, cwd=tmp_path, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (code, out, err) == (fresh.returncode, fresh.stdout, fresh.stderr)
