"""`flowcheck analyze` run as a user runs it (python -m flowcheck, from the repository's
root), for the tests that read its output: text, or the JSON document; and any command's
JSON document from a run in this process."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def analyze_cli(capture: Path, config: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`python -m flowcheck analyze --config CONFIG [OPTIONS] CAPTURE`, its output as text
    (the exit code not checked)."""
    return subprocess.run([sys.executable, "-m", "flowcheck", "analyze", "--config",
                           str(config), *options, str(capture)],
                          capture_output=True, text=True, check=False, cwd=ROOT)


def analyze_json(capture: Path, config: Path,
                 exit_codes: Collection[int] = (0, 1, 5)) -> dict:
    """The JSON document of `analyze --format json`, its exit code asserted one of
    `exit_codes` (pass 0, fail 1, inconclusive 5: contract.md; stderr shown when not)."""
    result = analyze_cli(capture, config, "--format", "json")
    assert result.returncode in exit_codes, result.stderr
    return json.loads(result.stdout)


def run_json(*argv: str, exit_codes: Collection[int] = (0, 1, 5)) -> dict:
    """The JSON document `flowcheck ARGV` (argv holding --format json) prints, run in this
    process (flowcheck.cli.main.run: no interpreter start, the modules already loaded),
    its exit code asserted one of `exit_codes`. For tests that read a command's result,
    not its process (analyze_cli and test_cli_debug run the commands as processes)."""
    from flowcheck.cli.main import run

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = run(list(argv))
    assert code in exit_codes, (code, printed.getvalue()[-2000:])
    return json.loads(printed.getvalue())
