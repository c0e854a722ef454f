"""The pytest plugin against trial 21's library: odd names through xdist and --junitxml
(D1, D5), other projects' golden files (D2), cases regress reports as errors (D3), ids
and paths given back to pytest (D12), and the accept command of a name starting with
`-` (D14)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_pytest_plugin import accept_as_printed, runpytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
NDMJOB = ROOT / "captures" / "ndmjob"


def _case(folder: Path, name: str, *, suffix: str = ".pcap") -> None:
    """v4-backup stored as NAME (its capture, expected result and folder config)."""
    folder.mkdir(exist_ok=True)
    shutil.copy(NDMJOB / "flowcheck.toml", folder / "flowcheck.toml")
    shutil.copy(NDMJOB / "v4-backup.pcap", folder / f"{name}{suffix}")
    shutil.copy(NDMJOB / "v4-backup.expected.json", folder / f"{name}.expected.json")


def _run(pytester: pytest.Pytester, *args: str, process: bool = False) -> pytest.RunResult:
    return runpytest(pytester, "--flowcheck", "-p", "no:cacheprovider", *args,
                     process=process)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_a_name_that_is_not_utf8_runs_and_junit_stays_valid(
        pytester: pytest.Pytester, workers: list[str]) -> None:
    """D1: `lat\\xe9-data.pcap` (a Latin-1 byte): the item runs under xdist and in one
    process, its id escaped as regress's lines are, and --junitxml is written whole."""
    _case(pytester.path / "odd", "lat\udce9-data")
    junit = pytester.path / "junit.xml"
    # A real process: the name's bytes written to a real stdout (and xdist's workers').
    result = _run(pytester, "odd", "-v", f"--junitxml={junit}", *workers, process=True)
    result.assert_outcomes(passed=1)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    (case,) = ET.parse(junit).getroot().iter("testcase")
    assert (case.get("classname"), case.get("name")) == (
        "odd.lat\\xe9-data", "lat\\xe9-data.pcap")


def test_a_control_character_in_a_name_gives_valid_junit(pytester: pytest.Pytester) -> None:
    """D5: `ctl\\x01char.pcap`: the classname is escaped too (ElementTree refuses U+0001)."""
    _case(pytester.path / "odd", "ctl\x01char")
    junit = pytester.path / "junit.xml"
    _run(pytester, "odd", f"--junitxml={junit}", process=True).assert_outcomes(passed=1)
    (case,) = ET.parse(junit).getroot().iter("testcase")
    assert (case.get("classname"), case.get("name")) == (
        "odd.ctl\\x01char", "ctl\\x01char.pcap")


def _other_project(pytester: pytest.Pytester) -> None:
    """Trial 21's backup-team repository: golden files of other tools beside a Python test."""
    tests = pytester.path / "tests"
    (tests / "golden").mkdir(parents=True)
    (tests / "golden" / "one.json").write_text('{"x":1}')
    (tests / "golden.expected.json").write_text('{"rows": 3}')
    shutil.copy(NDMJOB / "v4-backup.pcap", tests / "fixture.pcap")
    (tests / "fixture.expected.json").write_text('{"fixture": "for another tool"}')
    (tests / "test_a.py").write_text("def test_a():\n    assert True\n")


def test_another_projects_suite_is_left_alone(pytester: pytest.Pytester) -> None:
    """D2: flowcheck installed, its plugin is off until asked for (`--flowcheck` or the ini
    key `flowcheck = true`); asked for, it still takes only its own expected results."""
    _other_project(pytester)
    runpytest(pytester, "-p", "no:cacheprovider").assert_outcomes(passed=1)
    _run(pytester).assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nflowcheck = true\n")
    runpytest(pytester, "-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_ini_key_turns_the_plugin_on(pytester: pytest.Pytester) -> None:
    _case(pytester.path / "captures", "v4")
    runpytest(pytester, "captures").assert_outcomes()
    pytester.makeini("[pytest]\nflowcheck = true\n")
    runpytest(pytester, "captures").assert_outcomes(passed=1)


def test_an_orphan_expectation_and_a_shared_one_fail_as_in_regress(
        pytester: pytest.Pytester) -> None:
    """D3: an expected result whose capture is gone, and x.pcap.gz beside x.pcap sharing
    x.expected.json, fail with regress's message instead of vanishing."""
    folder = pytester.path / "lib"
    _case(folder, "kept")
    _case(folder, "gone")
    (folder / "gone.pcap").unlink()
    _case(folder, "x")
    shutil.copy(folder / "x.pcap", folder / "x.pcap.gz")
    subprocess.run(["gzip", "-f", "-k", str(folder / "x.pcap")], check=True)
    result = _run(pytester, "lib", "-v")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines_random([
        "*lib/gone::gone FAILED*",
        "*lib/x::x.pcap.gz FAILED*",
        "flowcheck: error: *gone.expected.json: no capture beside it (deleted, or never "
        "checked out)*",
        "flowcheck: error: x.expected.json is the expected result of x.pcap too: give each "
        "capture its own name*",
    ])
    regress = subprocess.run([sys.executable, "-m", "flowcheck", "regress", "lib"],
                             cwd=pytester.path, capture_output=True, text=True, check=False)
    assert regress.stdout.count("ERROR") == 2


def test_printed_ids_captures_and_rings_can_be_given_back(pytester: pytest.Pytester) -> None:
    """D12: the id pytest prints, the capture's path and a ring directory each run their
    one case."""
    folder = pytester.path / "captures"
    _case(folder, "a")
    _case(folder, "b")
    shutil.copytree(ROOT / "captures" / "lab-ring", folder / "lab-ring")
    shutil.copy(ROOT / "captures" / "lab-ring.expected.json", folder / "lab-ring.expected.json")
    for arg, shown in (("captures/a::a.pcap", "captures/a::a.pcap"),
                       ("captures/a.pcap", "captures/a::a.pcap"),
                       ("captures/lab-ring", "captures/lab-ring::lab-ring"),
                       ("captures/lab-ring::lab-ring", "captures/lab-ring::lab-ring")):
        result = _run(pytester, arg, "-v")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"*{shown} PASSED*"])


def test_the_accept_command_of_a_name_starting_with_a_dash_runs(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """D14: `-x.pcap` is named `./-x.pcap`, not taken for an option."""
    folder = pytester.path / "odd"
    _case(folder, "-x")
    expected = json.loads((folder / "-x.expected.json").read_text())
    (folder / "-x.expected.json").write_text(json.dumps({**expected, "verdict": "fail"}))
    monkeypatch.chdir(folder)
    accept_as_printed(pytester, "./-x.pcap")


def test_an_orphan_expectation_alone_in_its_folder_fails(pytester: pytest.Pytester) -> None:
    """D3: the folder left holding only an expected result is no ring: its item fails."""
    folder = pytester.path / "lib" / "solo"
    folder.parent.mkdir()
    _case(folder, "gone")
    (folder / "gone.pcap").unlink()
    (folder / "flowcheck.toml").unlink()
    result = _run(pytester, "lib")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*gone.expected.json: no capture beside it*"])


def test_a_hand_broken_expectation_of_flowcheck_is_still_its_item(
        pytester: pytest.Pytester) -> None:
    """D2: `verdict` misspelled by hand is still flowcheck's file (its other keys): the item
    fails as regress reports it, not dropped as another tool's."""
    folder = pytester.path / "lib"
    _case(folder, "v4")
    expected = json.loads((folder / "v4.expected.json").read_text())
    expected["verdic"] = expected.pop("verdict")
    expected.pop("flowcheck_version", None)
    (folder / "v4.expected.json").write_text(json.dumps(expected))
    _run(pytester, "lib").assert_outcomes(failed=1)


def test_a_damaged_capture_fails_as_regress_reports_it(pytester: pytest.Pytester) -> None:
    """A cut capture was an ordinary change in the plugin while regress reports it as an
    error (trial 21 D4): both now say it is damaged."""
    folder = pytester.path / "cut"
    _case(folder, "v4")
    whole = (folder / "v4.pcap").read_bytes()
    (folder / "v4.pcap").write_bytes(whole[:len(whole) // 2])
    result = _run(pytester, "cut")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the stored capture is damaged: *"])
    regress = subprocess.run([sys.executable, "-m", "flowcheck", "regress", str(folder)],
                             capture_output=True, text=True, check=False)
    assert "the stored capture is damaged" in regress.stdout
