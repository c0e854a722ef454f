"""`regress`'s cases that cannot be judged, and how they are named (trial 21): a missing
path, a dangling link, an orphaned configuration, a damaged capture, a malformed
expected result, a write that fails on --update."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from flowcheck.cli.main import run

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _two_cases(folder: Path) -> None:
    """v4-backup and v3-backup with their expected results and shared configuration."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("v4-backup.pcap", "v4-backup.expected.json", "v3-backup.pcap",
                 "v3-backup.expected.json", "flowcheck.toml"):
        shutil.copy(CAPTURES / "ndmjob" / name, folder / name)


def _json_run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    status = run(["regress", *args, "--format", "json"])
    captured = capsys.readouterr()
    return status, json.loads(captured.out), captured.err


def test_a_missing_path_is_an_error_case_and_the_reports_are_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Trial 21 D6: one mistyped path in a CI job gave no JSON document, no JUnit file,
    and the other cases were not judged."""
    _two_cases(tmp_path / "lib")
    monkeypatch.chdir(tmp_path)
    junit = tmp_path / "junit.xml"
    status, document, err = _json_run(["lib", "nonexist", "--junit", str(junit)], capsys)
    assert status == 3
    cases = {case["path"]: case for case in document["cases"]}
    assert cases["nonexist"]["status"] == "error"
    assert cases["nonexist"]["error"] == "no such file or directory"
    assert cases["nonexist"]["expected"] is None
    assert document["totals"]["ok"] == 2 and document["totals"]["error"] == 1
    assert "ERROR nonexist: no such file or directory" in err
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("errors")) == ("3", "1")


def test_an_error_case_names_its_expected_result_only_when_it_exists(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """An empty folder named on the command line: no `empty.expected.json` to name."""
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    status, document, _ = _json_run(["empty"], capsys)
    assert status == 3
    (case,) = document["cases"]
    assert case["status"] == "error" and case["expected"] is None


def test_a_folder_without_captures_is_an_error_case(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A folder (with a subfolder: not a ring) that holds no capture: the JSON document
    still comes, exit 3."""
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "README").write_text("notes\n")
    monkeypatch.chdir(tmp_path)
    status, document, _ = _json_run(["docs"], capsys)
    assert status == 3
    (case,) = document["cases"]
    assert case["path"] == "docs" and case["status"] == "error"
    assert "no capture files" in case["error"]


def test_a_dangling_capture_link_without_an_expected_result_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Trial 21 D16: a git-annex link whose content was never fetched was skipped
    silently when it had no expected result yet (exit 0)."""
    _two_cases(tmp_path)
    (tmp_path / "dangling.pcap").symlink_to("../nowhere.pcap")
    monkeypatch.chdir(tmp_path)
    assert run(["regress", "."]) == 3
    out = capsys.readouterr().out
    assert "ERROR dangling.pcap: " in out
    assert "dangling.pcap: a link to a file that is not there" in out
    assert "2 unchanged, 0 changed, 1 could not be judged" in out
    # Named on the command line: the same error, not "no such file or directory".
    assert run(["regress", "dangling.pcap"]) == 3
    assert "a link to a file that is not there" in capsys.readouterr().out



def test_messages_name_files_as_the_case_lines_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Trial 21 D13: `"path": "lfs.pcap"` but `"error": "/tmp/.../lfs.pcap: not a pcap
    ..."`: a CI runner's checkout path filled every error line. Relative to the working
    directory when under it, as `path` and `expected`."""
    lib = tmp_path / "lib" / "sub"
    _two_cases(lib)
    (lib / "lfs.pcap").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 1\n")
    (lib / "v3-backup.toml").write_text('agent_range = "6001-"\n')
    (lib / "v4-backup.expected.json").write_text("{bad")
    monkeypatch.chdir(tmp_path)
    _, document, err = _json_run(["lib"], capsys)
    assert str(tmp_path) not in err
    cases = {case["path"]: case for case in document["cases"]}
    # The capture's own name is the case's `path`, not repeated (trial 34 D8).
    assert cases["lib/sub/lfs.pcap"]["error"].startswith("not a pcap")
    assert cases["lib/sub/v3-backup.pcap"]["error"].startswith("lib/sub/v3-backup.toml: ")
    (change,) = cases["lib/sub/v4-backup.pcap"]["changes"]
    assert change.startswith("expected result unreadable: lib/sub/v4-backup.expected.json: ")
    # Outside the working directory, absolute as the paths.
    monkeypatch.chdir(CAPTURES)
    _, document, _ = _json_run([str(tmp_path / "lib")], capsys)
    assert any((case["error"] or "").startswith(f"{lib / 'v3-backup.toml'}: ")
               for case in document["cases"])


def test_an_expected_result_that_cannot_be_written_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Trial 21 D6 (minor): `chattr +i` on a changed case's expected result gave
    `FILE: Operation not permitted` and JUnit's 'could not be judged': it was judged."""
    _two_cases(tmp_path)
    expected = tmp_path / "v3-backup.expected.json"
    expected.write_text(expected.read_text().replace('"pass"', '"fail"'))
    monkeypatch.chdir(tmp_path)
    real_write = Path.write_text

    def refuse(self: Path, *args: object, **kwargs: object) -> int:
        if self.name == "v3-backup.expected.json":
            raise PermissionError(1, "Operation not permitted", str(self))
        return real_write(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", refuse)
    junit = tmp_path / "junit.xml"
    status, document, err = _json_run([".", "--update", "--junit", str(junit)], capsys)
    assert status == 2  # an output that cannot be written, as every command's (was 3)
    case = next(c for c in document["cases"] if c["path"] == "v3-backup.pcap")
    assert case["status"] == "error"
    assert case["error"] == ("v3-backup.expected.json: cannot write the expected result "
                             "(Operation not permitted)")
    assert case["verdict"] == "pass" and case["changes"]
    assert "ERROR v3-backup.pcap: v3-backup.expected.json: cannot write" in err
    error = next(ET.parse(junit).getroot().iter("error"))
    assert error.get("message") == "expected result not written"


def _edited(path: Path, edit: object) -> None:
    document = json.loads(path.read_text())
    edit(document)  # type: ignore[operator]
    path.write_text(json.dumps(document, indent=2) + "\n")


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda d: d.__setitem__("verdic", d.pop("verdict")),
     "unknown key 'verdic'; missing key 'verdict'"),
    (lambda d: d.__setitem__("comment", "reviewed by bob"), "unknown key 'comment'"),
    (lambda d: d.pop("sessions"), "missing key 'sessions'"),
    (lambda d: d["sessions"][0].__setitem__("kindd", d["sessions"][0].pop("kind")),
     "sessions[1]: unknown key 'kindd'; sessions[1]: missing key 'kind'"),
    (lambda d: d.__setitem__("verdict", 1),
     """'verdict' is 1, not "pass", "fail" or "inconclusive\""""),
    (lambda d: d.__setitem__("connections", "3"), """'connections' is "3", not a whole number"""),
    (lambda d: d.__setitem__("findings", ["control_unanswered"]),
     """'findings' is ["control_unanswered"], not an object of finding codes and their"""),
], ids=["misspelled", "note", "removed", "session-key", "verdict-type", "count-type",
        "findings-list"])
def test_a_hand_broken_expected_result_is_unreadable_with_what_is_wrong(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        edit: object, problem: str) -> None:
    """Trial 21 D9: a misspelled key read as `verdic: expected "fail", got null` and
    `verdict: expected null, got "fail"`, a session's as `kind None -> restore`: the
    analysis did not change, the file is malformed."""
    _two_cases(tmp_path)
    _edited(tmp_path / "v3-backup.expected.json", edit)
    monkeypatch.chdir(tmp_path)
    assert run(["regress", "."]) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "v3-backup.expected.json" in line)
    assert line.strip().startswith(
        f"expected result unreadable: v3-backup.expected.json: {problem}"), out
    assert "None" not in out and "got null" not in out
    lines = out.splitlines()
    assert lines[lines.index(line) + 1] == ("    to rewrite it from this run: flowcheck "
                                            "regress --update v3-backup.pcap (then review "
                                            "the diff)"), out


def test_an_expected_result_without_flowcheck_version_is_well_formed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Files written before `flowcheck_version` existed still compare (docs/cli.md)."""
    _two_cases(tmp_path)
    _edited(tmp_path / "v3-backup.expected.json", lambda d: d.pop("flowcheck_version", None))
    assert run(["regress", str(tmp_path)]) == 0


def _cut_night(folder: Path) -> Path:
    """The night capture cut after 20000 bytes of its gzip (a cut download, a partial
    LFS object), with its expected result and configuration (trial 21 D4)."""
    source = CAPTURES / "ndmjob-night"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("night-datadrop.expected.json", "night-datadrop.toml"):
        shutil.copy(source / name, folder / name)
    (folder / "night-datadrop.pcap.gz").write_bytes(
        (source / "night-datadrop.pcap.gz").read_bytes()[:20000])
    return folder / "night-datadrop.expected.json"


def test_a_damaged_capture_is_an_error_that_update_leaves_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Trial 21 D4: a cut .pcap.gz was `CHANGED (verdict pass)` with 17 sessions
    missing, and `--update` recorded "pass" for a known failure."""
    expected = _cut_night(tmp_path)
    _two_cases(tmp_path)
    cut = tmp_path / "v3-backup.pcap"
    cut.write_bytes(cut.read_bytes()[:-7])  # ends mid-record
    before = expected.read_bytes(), (tmp_path / "v3-backup.expected.json").read_bytes()
    monkeypatch.chdir(tmp_path)
    for update in ([], ["--update"]):
        assert run(["regress", ".", *update]) == 3
        out = capsys.readouterr().out
        assert ("ERROR night-datadrop.pcap.gz: the stored capture is damaged: compressed "
                "data corrupt or cut: ") in out
        assert "ERROR v3-backup.pcap: the stored capture is damaged: " in out
        assert "(capture_truncated); restore it from the original" in out
        assert "restore it from the original" in out
        assert "1 unchanged, 0 changed" in out and "2 could not be judged" in out
        assert (expected.read_bytes(), (tmp_path / "v3-backup.expected.json").read_bytes()
                ) == before


def test_a_capture_stored_cut_on_purpose_is_compared(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A new capture that is cut is a new case (`--update` records capture_truncated in
    its first expected result, for review); one whose expected result records it is
    compared as any other."""
    expected = _cut_night(tmp_path)
    expected.unlink()
    monkeypatch.chdir(tmp_path)
    assert run(["regress", "."]) == 1
    # newuser54: CHANGED and exit 1 said nothing of --update; it now says what records it.
    assert ("CHANGED night-datadrop.pcap.gz (verdict inconclusive)\n    no expected result\n"
            "    to record one from this run: flowcheck regress --update "
            "night-datadrop.pcap.gz (then review it)\n") in capsys.readouterr().out
    assert run(["regress", ".", "--update"]) == 0
    assert json.loads(expected.read_text())["findings"]["capture_truncated"] == 1
    assert run(["regress", "."]) == 0
    assert "ok night-datadrop.pcap.gz" in capsys.readouterr().out


def test_a_renamed_capture_is_hinted_and_its_orphaned_configuration_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Trial 21 D15: `git mv night.pcap night-renamed.pcap` gave an unrelated `CHANGED
    ... no expected result` and an orphan's `ERROR`; `night.toml` was never mentioned.
    A NAME.toml that is not a flowcheck configuration (pyproject.toml) is not a case."""
    _two_cases(tmp_path)
    (tmp_path / "v3-backup.pcap").rename(tmp_path / "v3-renamed.pcap")
    (tmp_path / "v3-backup.toml").write_text((tmp_path / "flowcheck.toml").read_text())
    (tmp_path / "old.toml").write_text((tmp_path / "flowcheck.toml").read_text())
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-q"\n')
    monkeypatch.chdir(tmp_path)
    assert run(["regress", "."]) == 3
    out = capsys.readouterr().out
    assert ("ERROR v3-backup: v3-backup.expected.json: no capture beside it (deleted, or "
            "never checked out; renamed? v3-renamed.pcap beside it has no expected result: "
            "move v3-backup.expected.json and v3-backup.toml to its name)") in out
    assert ("ERROR old: old.toml: a configuration with no capture beside it (deleted, or "
            "never checked out; renamed? v3-renamed.pcap beside it has no expected result: "
            "move old.toml to its name)") in out
    assert "pyproject" not in out
    assert "1 unchanged, 1 changed, 2 could not be judged" in out


def test_an_orphaned_configuration_of_a_suffixless_capture_says_how_to_name_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`trace.toml` beside the pcap file `trace.dmp`: a suffixless capture's files take
    its whole name (`trace.dmp.toml`), so it configured nothing (trial 21's library)."""
    _two_cases(tmp_path)
    shutil.copy(tmp_path / "v3-backup.pcap", tmp_path / "trace.dmp")
    (tmp_path / "trace.toml").write_text((tmp_path / "flowcheck.toml").read_text())
    assert run(["regress", str(tmp_path)]) == 3
    assert ("trace.toml: a configuration with no capture beside it (deleted, or never "
            "checked out; trace.dmp beside it is a capture without a capture suffix, whose "
            "files take its whole name: rename trace.toml to trace.dmp.toml)"
            ) in capsys.readouterr().out


@pytest.mark.parametrize(("name", "reason"), [
    ("empty", "empty directory, no capture files in it"),
    ("zero.pcap", "empty file"),
    ("notes.pcap", "not a pcap or pcapng file (starts with 6e 6f 74 65)"),
])
def test_an_error_line_names_its_capture_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], name: str, reason: str) -> None:
    """Trial 34 D8: `ERROR bad/empty: bad/empty: empty directory, no capture files in it`,
    the reader's message naming the file after the line had; docs/cli.md's `ERROR
    nonexist: no such file or directory` names it once. The JSON `error` is the line's
    text, its `path` the capture."""
    (tmp_path / "bad" / "empty").mkdir(parents=True)
    (tmp_path / "bad" / "zero.pcap").write_bytes(b"")
    (tmp_path / "bad" / "notes.pcap").write_text("notes on last night's job\n")
    monkeypatch.chdir(tmp_path)
    assert run(["regress", f"bad/{name}"]) == 3
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "ERROR" in line]
    assert line == f"ERROR bad/{name}: {reason}"
    _, document, _ = _json_run([f"bad/{name}"], capsys)
    (case,) = document["cases"]
    assert (case["path"], case["error"]) == (f"bad/{name}", reason)
