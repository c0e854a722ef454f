"""What `regress` says changed (trial 21): sessions aligned, not compared by position (D8);
the verdict first and the findings as deltas, in the lines, the JUnit message and the
JSON (D10); JUnit names as the pytest plugin gives them, and an interrupted run said in
the JUnit report (D11)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from flowcheck.cli.main import run
from flowcheck.regress import find_cases, run_cases
from flowcheck.regress_diff import aligned
from flowcheck.report.regress import readable_lines, write_junit

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
NIGHT = CAPTURES / "ndmjob-night"


def _night(folder: Path) -> Path:
    """The 20-session night (backups and restores) in `folder`; its expected result."""
    for path in NIGHT.iterdir():
        if path.suffix != ".md":
            shutil.copy(path, folder / path.name)
    return folder / "night-datadrop.expected.json"


def _edit(path: Path, edit: dict) -> None:
    document = json.loads(path.read_text())
    document.update(edit)
    path.write_text(json.dumps(document, indent=2))


def _session(kind: str, *steps: str) -> dict:
    return {"kind": kind, "steps": {str(n): s for n, s in enumerate(steps, 1)},
            "data_connections": 1, "callback": True}


def test_one_session_more_at_the_start_is_one_new_session_the_others_unchanged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """D8: the expected result lacks the first session (an upgrade that finds one session
    more); it was `sessions: 5 of 5 changed` with every session 'changed'."""
    expected = _night(tmp_path)
    sessions = json.loads(expected.read_text())["sessions"]
    _edit(expected, {"sessions": sessions[1:]})
    assert run(["regress", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "    sessions: 1 new, 19 unchanged (expected 19, got 20)" in lines
    (told,) = [line for line in lines if line.startswith("      ")]
    # Named by its start (all 20 sessions run between the same two hosts).
    assert ", started 2026-12-02T" in told and ": new session (backup, steps 1 ok" in told


def test_sessions_are_aligned_as_a_diff_aligns_lines() -> None:
    backup = _session("backup", "ok", "ok", "ok", "ok", "ok")
    browse = _session("browse", "ok", "failed", "not_applicable")
    failed = _session("backup", "ok", "ok", "ok", "failed", "missing")
    restore = _session("restore", "ok", "ok", "ok", "ok", "ok")
    # One added in front (trial 21's night.pcap): the others pair with their own.
    assert aligned([browse, failed, restore], [backup, browse, failed, restore]) == [
        (None, 0), (0, 1), (1, 2), (2, 3)]
    # One lost in the middle, one changed after it.
    assert aligned([backup, browse, failed, restore], [backup, failed, backup]) == [
        (0, 0), (1, None), (2, 1), (3, 2)]


def test_a_lost_session_is_named_by_its_expected_position() -> None:
    from flowcheck.regress_diff import SeenSession, session_changes

    backup = _session("backup", "ok", "ok")
    browse = _session("browse", "ok", "failed")
    seen = [SeenSession("S1", "10.0.0.1", "10.0.0.2", [], 0.0)]
    (change,) = session_changes({"sessions": [browse, backup]}, {"sessions": [backup]}, seen)
    assert (change.index, change.expected_index, change.session) == (1, 1, None)
    assert change.line == "expected session 1: missing (browse, steps 1 ok, 2 failed)"


def test_the_verdict_comes_first_and_the_findings_as_deltas() -> None:
    """D10: `findings: expected {...}, got {...}` (330 characters) and the verdict last."""
    expected = {"verdict": "pass", "connections": 12,
                "findings": {"ranges_overlap": 1, "port_reused_within_hold": 6}}
    actual = {"verdict": "fail", "connections": 13,
              "findings": {"port_reused_within_hold": 7, "range_too_small": 2}}
    changes = ["connections: expected 12, got 13", "findings: expected {...}, got {...}",
               'verdict: expected "pass", got "fail"']
    assert readable_lines(changes, [], expected, actual) == [
        "verdict: pass -> fail",
        "findings: port_reused_within_hold 6 -> 7, +range_too_small 2, -ranges_overlap 1",
        "connections: 12 -> 13"]


def test_a_value_of_another_type_stays_as_it_is() -> None:
    changes = ['verdict: expected 1, got "fail"', 'findings: expected ["x"], got {}']
    assert readable_lines(changes, [], {"verdict": 1, "findings": ["x"]},
                          {"verdict": "fail", "findings": {}}) == [
        'verdict: expected 1, got "fail"', 'findings: expected ["x"], got {}']


def _changed_night(folder: Path) -> None:
    expected = _night(folder)
    findings = json.loads(expected.read_text())["findings"]
    _edit(expected, {"verdict": "pass", "findings": {**findings, "ranges_overlap": 1}})


def test_the_junit_message_and_the_json_say_the_first_change(tmp_path: Path) -> None:
    """D10: every failure's message was "expected result changed"; the JSON's findings
    change was a dict in a string only."""
    _changed_night(tmp_path)
    junit = tmp_path / "j.xml"
    done = subprocess.run([sys.executable, "-m", "flowcheck", "regress", str(tmp_path),
                           "--junit", str(junit), "--format", "json"], capture_output=True,
                          text=True, check=False, timeout=120)
    assert done.returncode == 1, done.stderr
    (failure,) = ET.parse(junit).iter("failure")
    assert failure.get("message") == "verdict: pass -> fail (and 1 more)"
    (case,) = json.loads(done.stdout)["cases"]
    assert case["finding_changes"] == [{"code": "ranges_overlap", "expected": 1, "got": 0}]
    assert case["changes"][-1] == 'verdict: expected "pass", got "fail"'  # as before


def test_junit_names_are_the_pytest_plugins(tmp_path: Path) -> None:
    """D11: regress wrote classname "regress" and the path as name, the plugin
    `captures.lab.x` and `x.pcap`: a CI's history was lost moving from one to the other."""
    folder = tmp_path / "captures" / "night"
    folder.mkdir(parents=True)
    _changed_night(folder)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

    def names(*command: str) -> list[tuple[str | None, str | None]]:
        subprocess.run([sys.executable, *command], capture_output=True, check=False,
                       cwd=tmp_path, env=env, timeout=120)
        return [(case.get("classname"), case.get("name"))
                for case in ET.parse(tmp_path / "j.xml").iter("testcase")]

    ours = names("-m", "flowcheck", "regress", "captures", "--junit", "j.xml")
    assert ours == [("captures.night.night-datadrop", "night-datadrop.pcap.gz")]
    assert names("-m", "pytest", "-p", "no:cacheprovider", "--flowcheck", "captures",
                 "--junitxml=j.xml") == ours


def test_an_interrupted_runs_junit_says_so(tmp_path: Path) -> None:
    """D11: the report of a run cut by SIGTERM was `tests="44" failures="0" errors="0"`,
    a green build for a 232-case library."""
    _night(tmp_path)
    results = run_cases(find_cases([str(tmp_path)]))
    junit = tmp_path / "j.xml"
    write_junit(results, junit, interrupted=True)
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("errors"), suite.get("failures")) == ("2", "1", "0")
    last = list(suite.iter("testcase"))[-1]
    assert last.get("name") == "interrupted"
    error = last.find("error")
    assert error is not None and "interrupted" in (error.text or "")
