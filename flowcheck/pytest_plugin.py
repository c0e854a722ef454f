"""pytest plugin: each stored capture with an expected result is one test item.

Registered under the `pytest11` entry point `flowcheck` (pyproject.toml) and off until
asked for (`pytest --flowcheck`, or `flowcheck = true` in the pytest ini): installed into
a CI image, it leaves other projects' golden files alone (trial 21 D2). Then
`pytest captures/` collects every `NAME.expected.json` that is flowcheck's (a JSON object
with `verdict`, or one that is not JSON beside a capture: a merge conflict) whose capture
(`NAME.pcap`, `.pcapng`, `.cap`, gzipped or not, the suffix in any case; a pcap file
`NAME` without a suffix; or a ring directory `NAME/`) lies beside it, runs `analyze` with
the capture's configuration (`NAME.toml`, a ring's own `flowcheck.toml`, else the
directory's `flowcheck.toml`; flowcheck/regress_cases.py), and
compares the reviewed summary. A failure shows what changed, key by key, and a unified
diff of the summary; pytest's own `--junitxml`, `-k`, `-x` and `--lf` work as for any
test. An item's id is its capture's path without the suffix, then the capture's name
(`captures/lab/x::x.pcap`): JUnit readers show the classname `captures.lab.x` as Python
tests' `tests.test_x`, not `x.expected.json`; names are escaped as regress's lines are
(`lat\\xe9.pcap`), so xdist and --junitxml carry them. That id, a capture's path or a ring
directory given on the command line is taken as its expected result. An expected result
whose capture is gone, or one shared by `x.pcap` and `x.pcap.gz`, an orphaned `NAME.toml`,
a dangling link of a capture's name and a capture given without an expected result fail
with regress's message. Disable with `-p no:flowcheck`.
Documentation: docs/pytest-plugin.md.
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from flowcheck.doc_files import doc_page
from flowcheck.errors import FlowcheckError
from flowcheck.folder_walk import FolderWalk
from flowcheck.printable import printable_name, printable_text
from flowcheck.pytest_cases import (
    EXPECTED,
    as_collected,
    cases_of,
    dangling_links,
    in_ring,
    is_ours,
)
from flowcheck.regress import (
    Case,
    capture_stem,
    capture_suffix,
    find_cases,
    is_ring,
    judge,
    named_as_shown,
    reason_alone,
    reviewed,
    shared_expectation,
)
from flowcheck.regress_cases import (
    _has_capture_magic,  # a capture by its content, as regress takes one
    is_orphaned_config,
    orphaned_config_problem,
)
from flowcheck.regress_diff import SessionChange
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


class NotCompared(AssertionError):
    """No expected result to compare with, as regress tells it (CHANGED, its one change
    `no expected result`, or `expected result unreadable: FILE: ...`, which `--update`
    rewrites); `actual` is the summary `--update` would write."""

    def __init__(self, change: str, actual: dict) -> None:
        super().__init__(change)
        self.change = change
        self.actual = actual


_WALK = pytest.StashKey[FolderWalk]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--flowcheck` and the ini key `flowcheck`: the plugin is off without one of them."""
    parser.getgroup("flowcheck").addoption(
        "--flowcheck", action="store_true", default=False,
        help="collect each stored capture with its NAME.expected.json as a test "
             f"({doc_page('pytest-plugin.md')})")
    parser.addini("flowcheck", type="bool", default=False,
                  help="collect stored captures as tests, as --flowcheck does")


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("flowcheck") or config.getini("flowcheck"))


def pytest_configure(config: pytest.Config) -> None:
    """Command-line paths taken as the case they name (trial 21 D12): an id pytest
    printed (`captures/x::x.pcap`), a capture (`captures/x.pcap`) or a ring directory
    (`captures/lab-ring`) becomes its expected result, the file the item is collected
    from (`captures/x.expected.json::x.pcap`)."""
    if _enabled(config):
        here = config.invocation_params.dir
        config.args[:] = [as_collected(arg, here) for arg in config.args]


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A folder reached again (a link back up the tree, `ln -s .. captures/loop`; a
    second link to one folder) is not collected again: each real folder once, as in
    `flowcheck regress` (flowcheck/folder_walk.py). None leaves the other rules to decide."""
    if not _enabled(config) or not collection_path.is_dir():
        return None
    walk = config.stash.get(_WALK, None)
    if walk is None:
        here = config.invocation_params.dir
        walk = config.stash[_WALK] = FolderWalk(here / arg.split("::")[0] for arg in config.args)
    return None if walk.enters(collection_path) else True


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """An expected result of flowcheck's (its cases), an orphaned `NAME.toml` and a
    capture given on the command line without an expected result (a case each, which
    fails as regress reports it)."""
    if not _enabled(parent.config):
        return None
    if not file_path.name.endswith(EXPECTED):
        return _alone(file_path, parent)
    if in_ring(file_path.parent):
        return None  # a ring's part, judged in its set (as `flowcheck regress` does)
    if not is_ours(file_path):
        return None  # another tool's golden file (trial 21 D2)
    stem = file_path.name.removesuffix(EXPECTED)
    return ExpectationFile.from_parent(parent, path=file_path, name=printable_name(file_path.name),
                                       nodeid=_node_id(parent, stem))


def _alone(file_path: Path, parent: pytest.Collector) -> LoneCase | None:
    """The case of a file no expected result collects, as `flowcheck regress` finds it:
    an orphaned `NAME.toml` (is_orphaned_config; regress's ERROR), or a capture named on
    the command line (`pytest --flowcheck lib/new.pcap`; regress's `no expected
    result`); None for any other file (a capture met in a folder's walk: tests/data of
    pcaps is no library)."""
    if is_orphaned_config(file_path):
        bare = file_path.with_suffix("")
        case = Case(bare, None, orphaned_config_problem(file_path))
    elif parent.session.isinitpath(file_path) and (
            capture_suffix(file_path.name) is not None or _has_capture_magic(file_path)):
        (case,) = find_cases([str(file_path)])
    else:
        return None
    return LoneCase.from_parent(parent, path=file_path, name=printable_name(file_path.name),
                                nodeid=_node_id(parent, capture_stem(case.capture)), case=case)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
        collector: pytest.Collector) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A folder's dangling links of a capture's name without an expected result (a new
    git-annex capture whose content was never fetched) are cases, as in regress: pytest
    lists no link whose target is not there, so they are added to the folder's nodes."""
    report = yield
    if (isinstance(collector, pytest.Directory) and report.passed
            and _enabled(collector.config) and isinstance(report.result, list)):
        report.result.extend(_dangling_links(collector))
        report.result.extend(_new_ring(collector))
    return report


def _new_ring(folder: pytest.Directory) -> Iterator[LoneCase]:
    """A ring's folder named on the command line before its expected result exists
    (`pytest --flowcheck lib/new-ring`): its case, which fails as regress reports it
    (`no expected result`), as a capture given alone does."""
    if (folder.session.isinitpath(folder.path) and not is_ring(folder.path)
            and in_ring(folder.path)):
        (case,) = find_cases([str(folder.path)])
        yield LoneCase.from_parent(folder, path=folder.path, name=printable_name(folder.name),
                                   nodeid=printable_name(folder.nodeid), case=case)


def _dangling_links(folder: pytest.Directory) -> Iterator[LoneCase]:
    """A LoneCase for each dangling link of a capture's name in `folder` whose expected
    result is not flowcheck's (with one, its ExpectationFile holds the case)."""
    for link in dangling_links(folder.path):
        yield LoneCase.from_parent(folder, path=link, name=printable_name(link.name),
                                   nodeid=_node_id(folder, capture_stem(link)),
                                   case=Case(link, None))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """When nothing at all was collected (seen before `-k` or `--lf` deselect), each
    folder named on the command line has the cases regress finds in it as items (a
    folder without captures, a new library's captures without expected results), which
    fail as regress reports them, instead of pytest's `no tests ran`."""
    if items or not _enabled(config) or config.args_source is not pytest.Config.ArgsSource.ARGS:
        return
    owners: dict[Path, Path] = {}  # expected result -> its first capture, as in regress
    folders = [config.invocation_params.dir / arg.split("::")[0] for arg in config.args]
    for case in find_cases([str(folder) for folder in folders if folder.is_dir()]):
        stem = os.path.relpath(case.capture.with_name(capture_stem(case.capture)),
                               config.rootpath)
        name = printable_name(case.capture.name)
        items.append(CaptureItem.from_parent(
            session, name=name, nodeid=f"{printable_name(stem)}::{name}",
            path=case.capture, case=case,
            owner=owners.setdefault(case.expected_path, case.capture)))


def _node_id(parent: pytest.Collector, stem: str) -> str:
    """The id of a case's collector: its folder's id, then the capture's name without
    its suffix (`captures/lab/x`), escaped (flowcheck/printable.py)."""
    folder = printable_name(parent.nodeid)  # "." for the rootdir
    stem = printable_name(stem)
    return stem if folder in ("", ".") else f"{folder}/{stem}"


class ExpectationFile(pytest.Collector):
    """`NAME.expected.json`: collects the capture it describes (each, when `x.pcap` and
    `x.pcap.gz` share it: the second fails as in `flowcheck regress`; the missing capture
    when it is gone: it fails too). Its id is the capture's path without suffix (pytest's
    JUnit classname is the id's path part with `.py` alone dropped), names escaped
    (flowcheck/printable.py). A Collector, not a pytest.File: `--lf` skips each File whose
    path is not in a failed id, and this id names no file."""

    def collect(self) -> Iterator[pytest.Item]:
        cases = cases_of(self.path)
        for case in cases:
            yield CaptureItem.from_parent(self, name=printable_name(case.capture.name),
                                          case=case, owner=cases[0].capture)


class LoneCase(pytest.Collector):
    """A case no expected result collects (an orphaned `NAME.toml`, a dangling link of a
    capture's name, a capture given without an expected result), at the file that makes
    it; its one item is named as regress names the case (`lib/gone::gone`)."""

    def __init__(self, *, case: Case, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.case = case

    def collect(self) -> Iterator[pytest.Item]:
        yield CaptureItem.from_parent(self, name=printable_name(self.case.capture.name),
                                      case=self.case, owner=self.case.capture)


class CaptureItem(pytest.Item):
    """One stored capture analysed and compared with its expected result."""

    def __init__(self, *, case: Case, owner: Path, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.owner = owner  # the capture judged against the expected result

    def runtest(self) -> None:
        if self.owner != self.case.capture:
            raise shared_expectation(self.case, self.owner)
        result = judge(self.case)  # as regress judges it (FlowcheckError: no capture, ...)
        if result.expected is None:  # no expected result, or an unreadable one
            raise NotCompared(result.changes[0], result.actual)
        if result.changes:
            raise ExpectationChanged(result.changes, result.expected, result.actual,
                                     result.session_changes)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: str | None = None) -> str:
        if isinstance(excinfo.value, FlowcheckError):  # unreadable capture or expectation
            # Files named as regress names them, the capture once (its ERROR line's text).
            reason = reason_alone(named_as_shown(str(excinfo.value)), self.case.capture)
            return printable_text(named_as_shown(
                f"flowcheck: error: {reason} ({self.case.capture})"))
        capture = _shown(self.case.capture)
        if isinstance(excinfo.value, NotCompared):
            first = excinfo.value.change == "no expected result"
            todo = "To record one" if first else "To rewrite it from this run"
            return printable_text(
                f"flowcheck: {capture} (verdict {excinfo.value.actual['verdict']}): "
                f"{excinfo.value.change}\n\n{todo}: flowcheck regress --update {capture}"
                f" (and review {'it' if first else 'the diff'}).")
        if not isinstance(excinfo.value, ExpectationChanged):
            return str(super().repr_failure(excinfo))
        error = excinfo.value
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
        return printable_text("\n".join(lines))

    def reportinfo(self) -> tuple[Path, int, str]:
        # Escaped: xdist sends the location as UTF-8 (trial 21 D1).
        return (Path(printable_name(str(self.path))), 0,
                f"flowcheck capture {printable_name(self.case.capture.name)}")


def _shown(path: Path) -> str:
    """`path` as the user can type it where pytest runs: relative to the working
    directory when under it, else absolute (not relative to the rootdir, which may lie
    above it); quoted for a shell."""
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    text = str(shown)
    if text.startswith("-"):
        text = f"./{text}"  # not an option to flowcheck (trial 21 D14)
    return shlex.quote(printable_name(text))


def _pretty(summary: dict) -> list[str]:
    return json.dumps(summary, indent=2, sort_keys=True).splitlines()
