"""`flowcheck analyze` run as a user runs it (python -m flowcheck, from the repository's
root), for the tests that read its output: text, or the JSON document."""

from __future__ import annotations

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
