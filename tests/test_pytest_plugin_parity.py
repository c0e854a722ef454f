"""The pytest plugin and `flowcheck regress` judge one library alike: each case regress
reports (an orphaned `NAME.toml`, a dangling link of a capture's name, a capture given
without an expected result, ...) is a failing item in the same words (docs/pytest-plugin.md).
Each test runs both on the same folder, regress's message taken from its JSON."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil

import pytest
from test_pytest_plugin_trial21 import NDMJOB, ROOT, _case, _run

from flowcheck.cli.main import run as cli

pytest_plugins = ["pytester"]

RING = ROOT / "captures" / "lab-ring"  # tcpdump -C parts


def _regress(pytester: pytest.Pytester, *paths: str) -> dict[str, dict]:
    """`flowcheck regress PATHS --format json` run where pytest runs: each case by path.
    In this process (cli.main.run, its stdout taken): its words are what is compared
    here; the command's own process is tested in tests/test_regress*.py (a subprocess
    was a second of CPU, mostly Python and numpy starting)."""
    out = io.StringIO()
    with contextlib.chdir(pytester.path), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(io.StringIO()):
        cli(["regress", "--format", "json", *paths])
    return {case["path"]: case for case in json.loads(out.getvalue())["cases"]}


def _fnmatch_escaped(text: str) -> str:
    """`text` as an fnmatch pattern matching itself (`[` and `?` in a message)."""
    return "".join(f"[{c}]" if c in "[]?*" else c for c in text)


def test_an_orphaned_configuration_fails_as_in_regress(pytester: pytest.Pytester) -> None:
    """`gone.toml` whose capture was renamed (`renamed.pcap`, no expected result yet):
    regress's ERROR, and now the plugin's failing item `lib/gone::gone`, in its words."""
    folder = pytester.path / "lib"
    _case(folder, "kept")
    (folder / "gone.toml").write_text('ndmp_port = 10000\n')
    (folder / "renamed.pcap").write_bytes((NDMJOB / "v4-backup.pcap").read_bytes())
    error = _regress(pytester, "lib")["lib/gone"]["error"]
    assert "gone.toml: a configuration with no capture beside it" in error
    result = _run(pytester, "lib", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*lib/gone::gone FAILED*",
                                 f"flowcheck: error: {_fnmatch_escaped(error)} (lib/gone)"])
    again = _run(pytester, "lib/gone::gone", "-v")  # the id printed, given back
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*lib/gone::gone FAILED*"])


def test_a_pyproject_beside_captures_is_no_orphan(pytester: pytest.Pytester) -> None:
    """Another file's TOML (pyproject.toml, settings of another tool) is no item."""
    folder = pytester.path / "lib"
    _case(folder, "kept")
    (folder / "pyproject.toml").write_text('[project]\nname = "x"\n')
    _run(pytester, "lib").assert_outcomes(passed=1)
    assert "lib/pyproject" not in _regress(pytester, "lib")


def test_a_dangling_link_without_expected_result_fails_as_in_regress(
        pytester: pytest.Pytester) -> None:
    """A new annexed capture whose content was never fetched (`git annex get` not run in
    the CI job): regress's ERROR, and the plugin's failing item in its words."""
    folder = pytester.path / "lib"
    _case(folder, "kept")
    os.symlink("../.git/annex/objects/aa/bb/SHA256E-s1--0.pcap", folder / "annexed.pcap")
    error = _regress(pytester, "lib")["lib/annexed.pcap"]["error"]
    assert "a link to a file that is not there" in error
    result = _run(pytester, "lib", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*lib/annexed::annexed.pcap FAILED*",
                                 f"flowcheck: error: {_fnmatch_escaped(error)} "
                                 "(lib/annexed.pcap)"])


def test_a_capture_given_without_expected_result_says_so(pytester: pytest.Pytester) -> None:
    """`pytest --flowcheck lib/new.pcap` said `no match in any of [<Dir lib>]`: regress
    says `no expected result`; now the item fails saying so, and how to record one. In a
    folder's walk such a capture stays uncollected (tests/data of pcaps is not a case)."""
    folder = pytester.path / "lib"
    _case(folder, "kept")
    (folder / "new.pcap").write_bytes((NDMJOB / "v4-backup.pcap").read_bytes())
    case = _regress(pytester, "lib/new.pcap")["lib/new.pcap"]
    assert (case["status"], case["changes"]) == ("changed", ["no expected result"])
    result = _run(pytester, "lib/new.pcap", "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*lib/new::new.pcap FAILED*",
        "flowcheck: lib/new.pcap (verdict pass): no expected result",
        "To record one: flowcheck regress --update lib/new.pcap (and review it).",
    ])
    _run(pytester, "lib/new::new.pcap").assert_outcomes(failed=1)  # the id given back
    _run(pytester, "lib").assert_outcomes(passed=1)


def test_an_unreadable_expected_result_is_told_as_regress_tells_it(
        pytester: pytest.Pytester) -> None:
    """A merge conflict left in `a.expected.json`: regress's `expected result unreadable:
    ...` (CHANGED, which `--update` rewrites), not the plugin's own `error:`; a damaged
    capture beside it is the damage first in both."""
    folder = pytester.path / "lib"
    _case(folder, "a")
    (folder / "a.expected.json").write_text("<<<<<<< HEAD\n{}\n")
    (change,) = _regress(pytester, "lib")["lib/a.pcap"]["changes"]
    assert change.startswith("expected result unreadable: lib/a.expected.json: not valid JSON")
    result = _run(pytester, "lib")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"flowcheck: lib/a.pcap (verdict pass): {_fnmatch_escaped(change)}",
        "To rewrite it from this run: flowcheck regress --update lib/a.pcap "
        "(and review the diff).",
    ])
    whole = (folder / "a.pcap").read_bytes()
    (folder / "a.pcap").write_bytes(whole[:len(whole) // 2])
    error = _regress(pytester, "lib")["lib/a.pcap"]["error"]
    assert error.startswith("the stored capture is damaged: ")
    result = _run(pytester, "lib")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"flowcheck: error: {_fnmatch_escaped(error)} (lib/a.pcap)"])


def test_a_ring_folder_given_without_expected_result_says_so(
        pytester: pytest.Pytester) -> None:
    """`pytest --flowcheck lib/new-ring` (tcpdump -C parts, no `new-ring.expected.json`
    yet) said `no tests ran`; regress says `no expected result`, and now the item too."""
    folder = pytester.path / "lib"
    folder.mkdir()
    shutil.copytree(RING, folder / "new-ring")
    case = _regress(pytester, "lib/new-ring")["lib/new-ring"]
    assert (case["status"], case["changes"]) == ("changed", ["no expected result"])
    result = _run(pytester, "lib/new-ring", "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*lib/new-ring::new-ring FAILED*",
        "flowcheck: lib/new-ring (verdict *): no expected result",
        "To record one: flowcheck regress --update lib/new-ring (and review it).",
    ])


def test_hidden_folders_are_walked_by_neither(pytester: pytest.Pytester) -> None:
    """`flowcheck regress .` at a git-annex repository's top judged every annexed
    capture in `.git/annex/objects` (their keys keep the `.pcap`: `CHANGED`, `no expected
    result`, and `--update` wrote expected results into .git), and a capture put aside in
    `captures/.old/`; pytest enters no hidden folder. Regress now walks none below the
    path it is given either (one given by name is walked), as it left them out already
    for new rings and orphaned NAME.toml."""
    key = "SHA256E-s1--ab.pcap"
    objects = pytester.path / ".git" / "annex" / "objects" / "Aa" / "Bb" / key
    objects.mkdir(parents=True)
    shutil.copy(NDMJOB / "v4-backup.pcap", objects / key)
    _case(pytester.path / "captures", "v4")
    (pytester.path / "captures" / "v4.pcap").unlink()
    os.symlink(f"../.git/annex/objects/Aa/Bb/{key}/{key}", pytester.path / "captures" / "v4.pcap")
    (pytester.path / "captures" / ".old").mkdir()
    shutil.copy(NDMJOB / "v3-backup.pcap", pytester.path / "captures" / ".old" / "v3.pcap")
    assert list(_regress(pytester, ".")) == ["captures/v4.pcap"]
    _run(pytester, ".").assert_outcomes(passed=1)
    assert list(_regress(pytester, "captures/.old")) == ["captures/.old/v3.pcap"]


def test_a_folder_given_with_nothing_collected_fails_as_in_regress(
        pytester: pytest.Pytester) -> None:
    """`pytest --flowcheck empty` said `no tests ran` (exit 5); regress reports the
    folder (`no capture files in this folder or under it`, exit 3). When nothing at all
    is collected, each folder named on the command line has regress's cases as items."""
    (pytester.path / "empty" / "notes").mkdir(parents=True)
    (pytester.path / "empty" / "README.md").write_text("captures go here\n")
    error = _regress(pytester, "empty")["empty"]["error"]
    assert error == "no capture files in this folder or under it"
    result = _run(pytester, "empty", "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*empty::empty FAILED*",
                                 f"flowcheck: error: {error} (empty)"])


def test_a_new_library_given_has_its_captures_as_items(pytester: pytest.Pytester) -> None:
    """`pytest --flowcheck captures` before the first `regress --update`: regress says
    `no expected result` for each capture; the plugin said `no tests ran`."""
    folder = pytester.path / "captures"
    folder.mkdir()
    for name in ("a", "b"):
        shutil.copy(NDMJOB / "v4-backup.pcap", folder / f"{name}.pcap")
    assert {c["changes"][0] for c in _regress(pytester, "captures").values()} == {
        "no expected result"}
    result = _run(pytester, "captures", "-v")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines_random([
        "*captures/a::a.pcap FAILED*", "*captures/b::b.pcap FAILED*",
        "flowcheck: captures/a.pcap (verdict *): no expected result"])
