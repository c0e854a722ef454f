"""What a command loads before it reads a byte: the start-up every run pays (bench/README.md,
"the start-up floor"), measured without a clock: the modules a real child process
imports (`python -X importtime`, which lists every import on standard error).

`flowcheck --version` and the help screens load no numpy, no pipeline, no report library;
`--version` not even typer. A command loads its pipeline only when it runs, and only the
parts it uses: `connections` builds sessions but runs none of the checks, draws no graph
and, with JSON to a pipe, no progress bar (rich)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from import_listing import modules_imported
from startup_pause import WORKTREE, console_script

from flowcheck.cli.main import run

CAPTURE = WORKTREE / "captures" / "ndmjob" / "v4-backup.pcap"

STARTERS = {
    "module": [sys.executable, "-X", "importtime", "-m", "flowcheck"],
    "script": ([sys.executable, "-X", "importtime", str(console_script())]
               if console_script() else None),
}

# Never needed to print a version or a help screen: the reading path, its arrays, the
# analysis, the reports and their libraries, the configuration file's parser.
NOT_FOR_HELP = {"numpy", "networkx", "rich", "tomllib", "scapy", "pyshark",
                "flowcheck.pipeline", "flowcheck.sources", "flowcheck.decode",
                "flowcheck.connections", "flowcheck.model", "flowcheck.ndmp",
                "flowcheck.sessions", "flowcheck.verify", "flowcheck.report",
                "flowcheck.profiles", "flowcheck.config", "flowcheck.live"}


def _imported(argv: list[str], cwd: Path) -> tuple[int, set[str], str]:
    """Run flowcheck with argv as `starter` does: (exit code, every module imported,
    standard output)."""
    env = {**os.environ, "PYTHONPATH": str(WORKTREE)}
    env.pop("NO_COLOR", None)
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd,
                            timeout=120)
    return result.returncode, modules_imported(result.stderr), result.stdout


def _starter(name: str) -> list[str]:
    argv = STARTERS[name]
    if argv is None:
        pytest.skip("no flowcheck console script beside this Python")
    return argv


@pytest.mark.parametrize("starter", sorted(STARTERS))
def test_version_loads_neither_typer_nor_numpy(starter: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, modules, out = _imported([*_starter(starter), "--version"], tmp_path)
    # The line typer's --version prints (cli.app, as `flowcheck --version --help` still
    # goes through it).
    assert run(["--version"]) == 0
    assert (code, out) == (0, capsys.readouterr().out)
    assert "flowcheck.cli.main" in modules  # the listing works: the entry point is there
    assert not modules & (NOT_FOR_HELP | {"typer", "click", "pydantic", "flowcheck.cli.app"})


COMMANDS = ["", "connections", "ndmp", "analyze", "crosscheck", "live", "regress", "firewall",
            "plan"]
# The console script and `-m` both call flowcheck.cli.main:main with the same arguments:
# for every command's --help the script's child imported the module's modules less
# runpy, with the same exit code and output (session 52, all nine). The script is run
# for the top-level help and one command's; `-m` for each command's.
SCRIPT_HELPS = ["", "analyze"]


@pytest.mark.parametrize(("command", "starter"),
                         [(command, starter) for command in COMMANDS for starter in sorted(STARTERS)
                          if starter == "module" or command in SCRIPT_HELPS])
def test_help_loads_no_pipeline(starter: str, command: str, tmp_path: Path) -> None:
    argv = [*_starter(starter), *([command] if command else []), "--help"]
    code, modules, out = _imported(argv, tmp_path)
    assert code == 0 and out.startswith("Usage: flowcheck")
    assert "typer" in modules  # the listing works: the command line's library is there
    assert not modules & NOT_FOR_HELP, sorted(modules & NOT_FOR_HELP)


def test_connections_loads_no_checks_graph_or_progress_bar(tmp_path: Path) -> None:
    code, modules, out = _imported(
        [*STARTERS["module"], "connections", str(CAPTURE), "--format", "json"], tmp_path)
    assert code == 0 and '"connections"' in out
    # It read, decoded and labelled the sessions (role, session: as analyze gives them) ...
    assert {"numpy", "flowcheck.connections", "flowcheck.sessions",
            "flowcheck.verify.other_protocol"} <= modules
    # ... and loaded nothing else: no verification step, no graph, no progress bar.
    # (other_stall: the fold's words of a stalled other protocol, loading no check;
    # plain_reading: a capture of plain NDMP labelled as analyze reads it, by the ndmp
    # profile, from the sessions alone.)
    verify_checks = {m for m in modules if m.startswith("flowcheck.verify.")
                     and m not in {"flowcheck.verify.other_protocol",
                                   "flowcheck.verify.other_stall",
                                   "flowcheck.verify.plain_reading"}}
    assert not verify_checks, sorted(verify_checks)
    unneeded = {"networkx", "rich", "flowcheck.graph", "flowcheck.report.analyze"}
    assert not modules & unneeded, sorted(modules & unneeded)
