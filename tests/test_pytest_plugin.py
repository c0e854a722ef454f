"""The pytest plugin (flowcheck/pytest_plugin.py): stored captures as test items, run by a
real pytest inside the test (pytester), as a user's repository would run them."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

# Imported here, at collection: a pytester test's own imports are unloaded after it
# (pytester restores sys.modules), numpy among them, which cannot be loaded twice.
from test_regress import _dumpcap_ring, _linked_tree

from flowcheck.regress import find_cases, judge

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"


def _repository(pytester: pytest.Pytester) -> Path:
    """A user's repository: captures/ with one capture, its expectation and config, one
    capture without an expectation, and another tool's `{}` whose capture is gone (not
    flowcheck's: not collected)."""
    folder = pytester.path / "captures"
    folder.mkdir()
    for name in ("v4-backup.pcap", "v4-backup.expected.json", "flowcheck.toml"):
        shutil.copy(CAPTURES / "ndmjob" / name, folder / name)
    shutil.copy(CAPTURES / "ndmjob" / "v3-backup.pcap", folder / "v3-backup.pcap")
    (folder / "gone.expected.json").write_text("{}")
    return folder


# Plugins installed beside pytest here that no repository of these tests uses, and not
# flowcheck's test dependencies: hypothesis's (entry point `hypothesispytest`) imports all
# of hypothesis at each run's terminal summary, 0.8 s of the 1.8 s (CPU) of a run of one
# capture; pytest-benchmark's (`benchmark`) warns in every run in this process when it
# is an xdist worker. Blocking a name that is not installed does nothing.
UNUSED_PLUGINS_OFF = ("-p", "no:hypothesispytest", "-p", "no:benchmark")


def runpytest(pytester: pytest.Pytester, *args: str, process: bool = False
              ) -> pytest.RunResult:
    """pytest in a user's repository (pytester's), UNUSED_PLUGINS_OFF: in this process
    (a new pytest session and config, which loads the plugin from its entry point as a
    user's pytest does; its output captured), or with `process` in a subprocess of its
    own. A subprocess was 1.3 s of CPU a run, nearly all of it Python, pytest, numpy
    and flowcheck starting (about 60 runs in these tests); the tests that need a real
    process (a name's bytes on a real stdout, xdist's workers, the project's own
    collection) ask for one."""
    if process:
        return pytester.runpytest_subprocess(*UNUSED_PLUGINS_OFF, *args)
    _analysis_loaded()
    return pytester.runpytest_inprocess(*UNUSED_PLUGINS_OFF, *args)


@functools.cache
def _analysis_loaded() -> None:
    """One stored case judged in this process, before the first in-process run: pytester
    unloads the modules a run imports when it ends, so each run would import the ~300
    modules of flowcheck's analysis again (and numpy's late ones, which cannot be loaded
    twice)."""
    (case,) = find_cases([str(CAPTURES / "ndmjob" / "v4-backup.pcap")])
    judge(case)


def _run(pytester: pytest.Pytester, *args: str, process: bool = False) -> pytest.RunResult:
    """pytest in a user's repository with the plugin asked for (it is off by default)."""
    return runpytest(pytester, "--flowcheck", *args, process=process)


def accept_as_printed(pytester: pytest.Pytester, shown: str) -> None:
    """pytest in the working directory fails one case and prints the command that accepts
    the change with the capture named `shown`; that command, run as printed, repairs it."""
    result = _run(pytester, ".")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"If the change is right: flowcheck regress --update "
                                 f"{shown} (and review the diff)."])
    fixed = subprocess.run([sys.executable, "-m", "flowcheck", "regress", "--update", shown],
                           capture_output=True, text=True, check=False)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_each_capture_with_an_expectation_is_one_passing_item(
        pytester: pytest.Pytester) -> None:
    _repository(pytester)
    result = _run(pytester, "captures", "-v", process=True)  # the plugin in a real pytest
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*captures/v4-backup::v4-backup.pcap PASSED*"])


def test_a_changed_result_fails_with_a_readable_diff_and_junit(
        pytester: pytest.Pytester) -> None:
    folder = _repository(pytester)
    expected_path = folder / "v4-backup.expected.json"
    expected = json.loads(expected_path.read_text())
    expected["verdict"] = "fail"
    expected["findings"]["data_unanswered"] = 1
    # Written by another version: the key is neither a change nor in the diff.
    expected["flowcheck_version"] = "0.0.1"
    expected_path.write_text(json.dumps(expected, indent=2))
    junit = pytester.path / "junit.xml"
    result = _run(pytester, "captures", f"--junitxml={junit}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*the analysis of captures/v4-backup.pcap no longer matches v4-backup.expected.json:",
        "  verdict: fail -> pass",
        "  findings: -data_unanswered 1",
        "--- expected (v4-backup.expected.json)",
        "+++ actual",
        '-  "verdict": "fail"',
        '+  "verdict": "pass"',
        "*flowcheck regress --update captures/v4-backup.pcap*",
    ])
    assert "Traceback" not in result.stdout.str()
    assert "flowcheck_version" not in result.stdout.str()
    (case,) = ET.parse(junit).getroot().iter("testcase")
    # The capture's path without suffix, as `tests.test_x` for Python tests (trial 10:
    # `captures.v4-backup.expected.json`, read by Jenkins as the class `json`).
    assert (case.get("classname"), case.get("name")) == ("captures.v4-backup", "v4-backup.pcap")
    failure = case.find("failure")
    assert failure is not None and "verdict: fail -> pass" in failure.get("message", "")


def test_a_changed_session_is_named_with_its_hosts(pytester: pytest.Pytester) -> None:
    """A changed `sessions` says which session changed and how (trial 12 D4), as
    `regress` does, before the diff."""
    folder = _repository(pytester)
    expected_path = folder / "v4-backup.expected.json"
    expected = json.loads(expected_path.read_text())
    expected["sessions"][0]["steps"]["3"] = "failed"
    expected["sessions"][0]["steps"]["4"] = "missing"
    expected_path.write_text(json.dumps(expected, indent=2))
    result = _run(pytester, "captures")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*the analysis of captures/v4-backup.pcap no longer matches v4-backup.expected.json:",
        "  sessions: 1 of 1 changed",
        "    S1 (10.77.0.1 -> 10.77.0.2, started *): step 3 failed -> ok, step 4 missing -> ok",
        "--- expected (v4-backup.expected.json)",
    ])
    assert "sessions: expected [" not in result.stdout.str()


def test_a_ring_directory_is_one_item(pytester: pytest.Pytester) -> None:
    folder = pytester.path / "captures"
    shutil.copytree(CAPTURES / "lab-ring", folder / "lab-ring")
    shutil.copy(CAPTURES / "lab-ring.expected.json", folder / "lab-ring.expected.json")
    result = _run(pytester, "captures", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*captures/lab-ring::lab-ring PASSED*"])


def test_an_unreadable_capture_fails_in_one_line(pytester: pytest.Pytester) -> None:
    folder = _repository(pytester)
    (folder / "v4-backup.pcap").write_bytes(b"this is not a capture at all")
    result = _run(pytester, "captures")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["flowcheck: error: *not a pcap or pcapng file*v4-backup.pcap)"])
    assert "Traceback" not in result.stdout.str()


def test_disabled_with_p_no_flowcheck(pytester: pytest.Pytester) -> None:
    _repository(pytester)
    result = runpytest(pytester, "captures", "-p", "no:flowcheck")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_the_projects_own_captures_run_once_through_the_plugin() -> None:
    """`python -m pytest` (the README's command) collects captures/ through the plugin
    (pyproject's testpaths name it, and the plugin is on), one item per expected result,
    and tests/ holds no second copy of those checks (tests/test_regress.py had them)."""
    import tomllib

    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"]
    assert "captures" in options["testpaths"] and options["flowcheck"] is True
    # The two paths, not the whole of testpaths: collecting tests/'s other 425 modules
    # (their imports) was most of this run, and the suite's own run collects them all.
    # --assert=plain: collecting only, no assert of tests/ runs, and with
    # PYTHONDONTWRITEBYTECODE (set here) pytest rewrote every test module's asserts anew
    # for this run; the items collected are the same.
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                             "-p", "no:cacheprovider", "--assert=plain", "captures",
                             "tests/test_regress.py"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:]
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    expected = sorted(str(p.relative_to(ROOT)).removesuffix(".expected.json")
                      for p in CAPTURES.rglob("*.expected.json"))
    from_plugin = sorted(i.split("::")[0] for i in ids if i.startswith("captures/"))
    assert from_plugin == expected and len(expected) >= 29
    # No test under tests/ is parametrized by a stored capture's name any more.
    in_regress = [i for i in ids if i.startswith("tests/test_regress.py")]
    assert in_regress and not [i for i in in_regress if ".pcap" in i]


def test_a_broken_expectation_fails_in_one_line(pytester: pytest.Pytester) -> None:
    folder = _repository(pytester)
    (folder / "v4-backup.expected.json").write_text("<<<<<<< HEAD\n{}\n")
    result = _run(pytester, "captures")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(  # as regress tells it (tests/test_pytest_plugin_parity.py)
        ["flowcheck: captures/v4-backup.pcap (verdict pass): expected result unreadable: "
         "captures/v4-backup.expected.json: not valid JSON*"])
    assert "Traceback" not in result.stdout.str()


def test_upper_case_and_suffixless_captures_are_collected(pytester: pytest.Pytester) -> None:
    """`B.PCAP` and a capture without a suffix beside its expected result are items, as
    in `flowcheck regress` (trial 9: skipped)."""
    folder = pytester.path / "captures"
    folder.mkdir()
    shutil.copy(CAPTURES / "ndmjob" / "flowcheck.toml", folder / "flowcheck.toml")
    shutil.copy(CAPTURES / "ndmjob" / "v4-backup.pcap", folder / "B.PCAP")
    shutil.copy(CAPTURES / "ndmjob" / "v4-backup.expected.json", folder / "B.expected.json")
    shutil.copy(CAPTURES / "ndmjob" / "v3-backup.pcap", folder / "noext")
    shutil.copy(CAPTURES / "ndmjob" / "v3-backup.expected.json",
                folder / "noext.expected.json")
    result = _run(pytester, "captures", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*captures/B::B.PCAP PASSED*"])


def test_a_ring_directorys_name_toml_beside_it_wins(pytester: pytest.Pytester) -> None:
    """`lab-ring.toml` beside the ring comes before the ring's own flowcheck.toml (as
    documented; trial 9: the inner one won)."""
    folder = pytester.path / "captures"
    shutil.copytree(CAPTURES / "lab-ring", folder / "lab-ring")
    shutil.copy(CAPTURES / "lab-ring.expected.json", folder / "lab-ring.expected.json")
    inside = (folder / "lab-ring" / "flowcheck.toml").read_text()
    (folder / "lab-ring.toml").write_text(inside.replace('"6001-6100"', '"6001-6002"'))
    result = _run(pytester, "captures")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*verdict: pass -> *"])


def _failing_repository(pytester: pytest.Pytester) -> Path:
    """_repository with v4-backup's expected verdict changed: its item fails."""
    folder = _repository(pytester)
    expected_path = folder / "v4-backup.expected.json"
    expected = json.loads(expected_path.read_text())
    expected_path.write_text(json.dumps({**expected, "verdict": "fail"}, indent=2))
    return folder


def test_the_update_hint_runs_from_the_working_directory(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest run inside captures/ under a rootdir above it: the hint names the capture
    from where the user is, and that command repairs the case (trial 10: relative to the
    rootdir, `captures/v4-backup.pcap`, not found from captures/)."""
    folder = _failing_repository(pytester)
    pytester.makeini("[pytest]\n")
    monkeypatch.chdir(folder)
    accept_as_printed(pytester, "v4-backup.pcap")
    _run(pytester, ".").assert_outcomes(passed=1)


def test_the_update_hint_outside_the_working_directory_is_absolute(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _failing_repository(pytester)
    elsewhere = pytester.path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = _run(pytester, str(folder), f"--rootdir={pytester.path}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*flowcheck regress --update {folder / 'v4-backup.pcap'} *"])


def test_k_and_last_failed_select_captures(pytester: pytest.Pytester) -> None:
    """`-k NAME` selects by the capture's name, and `--lf` reruns a failed capture next to a
    failed Python test (with the id naming no file, a pytest.File collector was skipped)."""
    _failing_repository(pytester)
    pytester.makepyfile(test_other="def test_fails():\n    assert False\n")
    result = _run(pytester, "captures", "-k", "v4-back", "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*captures/v4-backup::v4-backup.pcap FAILED*"])
    _run(pytester, "captures", "test_other.py").assert_outcomes(failed=2)
    for name in ("v3-backup.expected.json", "v3-backup.pcap"):
        shutil.copy(CAPTURES / "ndmjob" / name, pytester.path / "captures" / name)
    again = _run(pytester, "test_other.py", "captures", "--lf", "-v")
    again.assert_outcomes(failed=2)
    again.stdout.fnmatch_lines(["*captures/v4-backup::v4-backup.pcap FAILED*"])


def test_a_link_loop_collects_each_capture_once(pytester: pytest.Pytester) -> None:
    """`ln -s .. captures/loop` (and two links to one folder outside): each real folder is
    collected once, as `flowcheck regress` walks it (trial 10: the captures 40 times, until
    the path was too long)."""

    _linked_tree(pytester.path)
    result = _run(pytester, "captures", "--collect-only", "-q")
    ids = sorted(line for line in result.stdout.lines if "::" in line)
    assert ids == ["captures/ring::ring", "captures/shared1/v4-backup::v4-backup.pcap",
                   "captures/sub/x::x.pcap", "captures/v3-backup::v3-backup.pcap",
                   "captures/v4-backup::v4-backup.pcap"]


def test_a_dumpcap_ring_folder_is_one_item(pytester: pytest.Pytester) -> None:
    """ring/ with one dumpcap ring's parts and ring.expected.json beside it is one item;
    an expectation of one part inside it (an older `regress --update`) is not an item
    (trial 10: an item per part)."""

    folder = _repository(pytester)
    parts = _dumpcap_ring(folder / "ring")
    expected = folder / "v4-backup.expected.json"
    shutil.copy(expected, folder / "ring.expected.json")
    for part in parts:
        shutil.copy(expected, part.with_suffix(".expected.json"))
    result = _run(pytester, "captures", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*captures/ring::ring PASSED*"])
