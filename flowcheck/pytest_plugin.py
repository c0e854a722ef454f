"""pytest plugin: each stored capture with an expected result is one test item.

Registered under the `pytest11` entry point `flowcheck` (pyproject.toml), so installing
flowcheck is enough: `pytest captures/` collects every `NAME.expected.json` whose capture
(`NAME.pcap`, `.pcapng`, `.cap`, gzipped or not, the suffix in any case; a pcap file
`NAME` without a suffix; or a ring directory `NAME/`) lies beside it, runs `analyze` with
the capture's configuration (`NAME.toml`, a ring's own `flowcheck.toml`, else the
directory's `flowcheck.toml`; flowcheck/regress_cases.py), and
compares the reviewed summary. A failure shows what changed, key by key, and a unified
diff of the summary; pytest's own `--junitxml`, `-k`, `-x` and `--lf` work as for any
test. An item's id is its capture's path without the suffix, then the capture's name
(`captures/lab/x::x.pcap`): JUnit readers show the classname `captures.lab.x` as Python
tests' `tests.test_x`, not `x.expected.json`. Disable with `-p no:flowcheck`.
Documentation: docs/pytest-plugin.md.
"""

from __future__ import annotations

import difflib
import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowcheck.errors import FlowcheckError
from flowcheck.folder_walk import FolderWalk
from flowcheck.regress import (
    Case,
    analyze_case,
    case_for_expected,
    compare,
    holds_one_ring,
    is_ring,
    read_expected,
    reviewed,
)
from flowcheck.regress_diff import SessionChange, session_changes
from flowcheck.report.regress import readable_lines


class ExpectationChanged(AssertionError):
    """The analysis no longer matches the reviewed expected result."""

    def __init__(self, changes: list[str], expected: dict, actual: dict,
                 session_changes: list[SessionChange] | None = None) -> None:
        super().__init__("; ".join(changes))
        self.changes = changes
        self.expected = expected
        self.actual = actual
        self.session_changes = session_changes or []  # the differing sessions, named


_WALK = pytest.StashKey[FolderWalk]()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A folder reached again (a link back up the tree, `ln -s .. captures/loop`; a
    second link to one folder) is not collected again: each real folder once, as in
    `flowcheck regress` (flowcheck/folder_walk.py). None leaves the other rules to decide."""
    if not collection_path.is_dir():
        return None
    walk = config.stash.get(_WALK, None)
    if walk is None:
        here = config.invocation_params.dir
        walk = config.stash[_WALK] = FolderWalk(here / arg.split("::")[0] for arg in config.args)
    return None if walk.enters(collection_path) else True


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not file_path.name.endswith(".expected.json"):
        return None
    case = case_for_expected(file_path)
    if case is None:
        return None  # an expected result whose capture is gone: not ours to judge
    if _in_ring(file_path.parent):
        return None  # a ring's part, judged in its set (as `flowcheck regress` does)
    stem = file_path.name.removesuffix(".expected.json")
    folder = parent.nodeid  # "." for the rootdir
    return ExpectationFile.from_parent(parent, path=file_path, case=case, name=file_path.name,
                                       nodeid=stem if folder in ("", ".") else f"{folder}/{stem}")


class ExpectationFile(pytest.Collector):
    """`NAME.expected.json`: collects the one capture it describes. Its id is the
    capture's path without suffix (pytest's JUnit classname is the id's path part with
    `.py` alone dropped). A Collector, not a pytest.File: `--lf` skips each File whose
    path is not in a failed id, and this id names no file."""

    def __init__(self, *, case: Case, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.case = case

    def collect(self) -> Iterator[pytest.Item]:
        yield CaptureItem.from_parent(self, name=self.case.capture.name, case=self.case)


class CaptureItem(pytest.Item):
    """One stored capture analysed and compared with its expected result."""

    def __init__(self, *, case: Case, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        expected = read_expected(self.case.expected_path)
        actual, seen = analyze_case(self.case)
        changes = compare(expected, actual)
        if changes:
            raise ExpectationChanged(changes, expected, actual,
                                     session_changes(reviewed(expected), actual, seen))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: str | None = None) -> str:
        if isinstance(excinfo.value, FlowcheckError):  # unreadable capture or expectation
            return f"flowcheck: error: {excinfo.value} ({self.case.capture})"
        if not isinstance(excinfo.value, ExpectationChanged):
            return str(super().repr_failure(excinfo))
        error = excinfo.value
        capture = _shown(self.case.capture)
        lines = [f"flowcheck: the analysis of {capture} no longer matches "
                 f"{self.case.expected_path.name}:"]
        lines += [f"  {change}" for change in readable_lines(
            error.changes, error.session_changes, error.expected, error.actual)]
        lines.append("")
        lines += difflib.unified_diff(
            _pretty(reviewed(error.expected)), _pretty(error.actual),
            fromfile=f"expected ({self.case.expected_path.name})", tofile="actual",
            lineterm="")
        lines += ["", f"If the change is right: flowcheck regress --update {capture}"
                      " (and review the diff)."]
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"flowcheck capture {self.case.capture.name}"


def _in_ring(folder: Path) -> bool:
    """Whether `folder` is itself a ring case: its expected result beside it, or one
    dumpcap ring's parts alone in it (an expectation of one part, left by an older
    `regress --update`, is not a case)."""
    try:
        return is_ring(folder) or holds_one_ring(folder)
    except OSError:
        return False  # pytest reports a folder it cannot list


def _shown(path: Path) -> str:
    """`path` as the user can type it where pytest runs: relative to the working
    directory when under it, else absolute (not relative to the rootdir, which may lie
    above it); quoted for a shell."""
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    return shlex.quote(str(shown))


def _pretty(summary: dict) -> list[str]:
    return json.dumps(summary, indent=2, sort_keys=True).splitlines()
