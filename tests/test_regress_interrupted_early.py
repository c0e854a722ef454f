"""`regress --junit FILE` and `--format json` interrupted before the first case is judged
still write their report, an empty run and its `interrupted` case (trial 34, D6: SIGTERM
1.3 s into `regress fifty --junit t.xml` left no file, while docs/cli.md says both "always
write their report")."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from startup_pause import WORKTREE, interrupt_while_importing

CAPTURES = WORKTREE / "captures" / "ndmjob"

# flowcheck.regress: the command's first import, before it finds its cases;
# flowcheck.pipeline: the first case's analysis, before it is judged.
BEFORE_THE_FIRST_CASE = ["flowcheck.regress", "flowcheck.pipeline"]


def _cases(folder: Path) -> Path:
    """Two stored cases in `folder`/cases."""
    cases = folder / "cases"
    cases.mkdir()
    for name in ("v4-backup.pcap", "v4-backup.expected.json", "v4-three-resources.pcap",
                 "v4-three-resources.expected.json", "flowcheck.toml"):
        shutil.copy(CAPTURES / name, cases / name)
    return cases


@pytest.mark.parametrize("pause_at", BEFORE_THE_FIRST_CASE)
@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_the_junit_of_a_run_interrupted_before_its_first_case(
        tmp_path: Path, pause_at: str, sent: signal.Signals) -> None:
    junit = tmp_path / "reports" / "junit.xml"
    code, out, err = interrupt_while_importing(
        [sys.executable, "-m", "flowcheck", "regress", str(_cases(tmp_path)),
         "--junit", str(junit)], pause_at, sent, tmp_path)
    assert (code, out, err) == (130, b"", b"flowcheck: error: interrupted\n")
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("errors"), suite.get("failures")) == ("1", "1", "0")
    assert [case.get("name") for case in suite.iter("testcase")] == ["interrupted"]


@pytest.mark.parametrize("pause_at", BEFORE_THE_FIRST_CASE)
def test_the_json_of_a_run_interrupted_before_its_first_case(
        tmp_path: Path, pause_at: str) -> None:
    code, out, err = interrupt_while_importing(
        [sys.executable, "-m", "flowcheck", "regress", str(_cases(tmp_path)),
         "--format", "json"], pause_at, signal.SIGTERM, tmp_path)
    assert (code, err) == (130, b"flowcheck: error: interrupted\n")
    document = json.loads(out)
    assert document["interrupted"] is True
    assert (document["cases"], document["totals"]["cases"]) == ([], 0)
