"""The common command lines (`connections` or `analyze`, captures, `--format json|table`)
run without typer (flowcheck.cli.direct): the same output and exit code as typer's, and
neither typer nor pydantic (typer's validators) loaded for them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from import_listing import modules_imported

from flowcheck.cli.direct import direct_call
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
    assert direct_call(direct) is not None and direct_call(parsed) is None
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
    assert direct_call(argv) is None


RUN = "import sys; from flowcheck.cli.main import run; sys.exit(run(sys.argv[1:]))"


@pytest.mark.parametrize(("starter", "unloaded"), [
    (["-m", "flowcheck"], {"typer", "pydantic", "flowcheck.cli.app"}),
    (["-c", RUN], {"pydantic"})])  # cli.main.run goes through cli.app: typer is loaded
def test_no_typer_for_a_common_command_line(starter: list[str], unloaded: set[str]) -> None:
    """The entry point (cli.main.main) imports neither typer nor pydantic for a common
    command line, cli.main.run no pydantic; the document is written all the same."""
    done = subprocess.run([sys.executable, "-X", "importtime", *starter, "connections",
                           CAPTURE, "--format", "json"], capture_output=True, text=True,
                          timeout=120, check=False)
    modules = modules_imported(done.stderr)
    assert done.returncode == 0 and '"connections"' in done.stdout
    assert "flowcheck.cli.commands" in modules  # the listing works
    assert not unloaded & modules
