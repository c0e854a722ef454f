"""The common command lines (`connections` or `analyze`, captures, `--format json|table`)
run without typer's parsing (cli.app._direct_call): the same output and exit code as
typer's, and no pydantic (typer's validators) loaded for them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flowcheck.cli import app
from flowcheck.cli.main import run

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = str(ROOT / "captures" / "ndmjob" / "v4-backup.pcap")
REFUSED = str(sorted((ROOT / "captures" / "lab").glob("*.pcap"))[0])


@pytest.mark.parametrize("command", ["connections", "analyze"])
@pytest.mark.parametrize("form", ["json", "table", None])
def test_direct_same_as_typer(command: str, form: str | None,
                              capsys: pytest.CaptureFixture[str]) -> None:
    direct = [command, CAPTURE, REFUSED] + (["--format", form] if form else [])
    # The same request in a form only typer reads (--format=VALUE, `--`).
    parsed = [command] + ([f"--format={form}"] if form else []) + ["--", CAPTURE, REFUSED]
    assert app._direct_call(direct) is not None and app._direct_call(parsed) is None
    code = run(direct)
    out, err = capsys.readouterr()
    assert (run(parsed), *capsys.readouterr()) == (code, out, err)
    assert out


@pytest.mark.parametrize("argv", [
    [], ["connections"], ["connections", "--format", "json"], ["ndmp", CAPTURE],
    ["connections", CAPTURE, "--format", "JSON"], ["connections", CAPTURE, "--format"],
    ["connections", CAPTURE, "--format", "json", "--format", "table"],
    ["analyze", "-", "--format", "json"], ["analyze", CAPTURE, "--html", "x.html"],
    ["connections", CAPTURE, "-h"]])
def test_other_command_lines_left_to_typer(argv: list[str]) -> None:
    assert app._direct_call(argv) is None


def test_no_pydantic_for_a_common_command_line() -> None:
    script = ("import sys; from flowcheck.cli.main import run; "
              f"code = run(['connections', {CAPTURE!r}, '--format', 'json']); "
              "print(code, 'pydantic' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.stderr.split() == ["0", "False"]
