"""`regress` itself. Every stored capture against its reviewed expected result runs through
the pytest plugin (flowcheck/pytest_plugin.py; `captures` is in testpaths), not here."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import signal
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from child_signals import sigint_as_default
from stored import stored_cases

from flowcheck import __version__
from flowcheck.cli.main import run
from flowcheck.regress import find_cases, reviewed

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
CASES = stored_cases()


def test_every_capture_has_a_documented_config() -> None:
    for case in CASES:
        assert case.config_path is not None, f"{case.capture} has no .toml configuration"


def test_regress_detects_a_changed_expectation(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    source = CAPTURES / "ndmjob"
    for name in ("v4-backup.pcap", "v4-backup.expected.json", "flowcheck.toml"):
        shutil.copy(source / name, tmp_path / name)
    junit = tmp_path / "junit.xml"
    assert run(["regress", str(tmp_path), "--junit", str(junit)]) == 0
    expected = json.loads((tmp_path / "v4-backup.expected.json").read_text())
    expected["verdict"] = "fail"
    expected["findings"] = {"data_unanswered": 1}
    (tmp_path / "v4-backup.expected.json").write_text(json.dumps(expected))
    assert run(["regress", str(tmp_path), "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    assert "CHANGED" in out and "verdict" in out
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "1"
    # Seconds per case and in all, as JUnit consumers (Jenkins, GitLab) show them.
    (case,) = suite.iter("testcase")
    assert float(case.get("time", "-1")) >= 0
    assert suite.get("time") == case.get("time")
    # --update rewrites the expectation from the run; the next run is clean again.
    assert run(["regress", str(tmp_path), "--update"]) == 0
    assert json.loads((tmp_path / "v4-backup.expected.json").read_text())["verdict"] == "pass"
    assert run(["regress", str(tmp_path)]) == 0


def test_regress_without_captures_is_an_input_error(tmp_path: Path) -> None:
    assert run(["regress", str(tmp_path)]) == 3


def test_regress_of_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`cd captures && flowcheck regress .` (and a ring directory named as `.`): the path
    has no name until it is made absolute; cases print as the user named them."""
    for name in ("v4-backup.pcap", "v4-backup.expected.json", "flowcheck.toml"):
        shutil.copy(CAPTURES / "ndmjob" / name, tmp_path / name)
    shutil.copytree(CAPTURES / "lab-ring", tmp_path / "ring")
    shutil.copy(CAPTURES / "lab-ring.expected.json", tmp_path / "ring.expected.json")
    monkeypatch.chdir(tmp_path)
    assert run(["regress", "."]) == 0
    out = capsys.readouterr().out
    assert "ok v4-backup.pcap" in out and "ok ring " in out and "2 unchanged" in out
    monkeypatch.chdir(tmp_path / "ring")
    assert run(["regress", "."]) == 0
    assert run(["regress", "../ring"]) == 0
    assert "1 unchanged" in capsys.readouterr().out


@pytest.mark.parametrize("text", ["{bad", "[1, 2]", "\udcff"])
def test_a_broken_expected_result_is_a_changed_case(
        tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A corrupt NAME.expected.json (a bad hand edit, a merge conflict) is one broken case
    naming the file: the other cases are still judged, exit 1, and --update repairs it."""
    for name in ("v4-backup.pcap", "v4-backup.expected.json", "v3-backup.pcap",
                 "v3-backup.expected.json", "flowcheck.toml"):
        shutil.copy(CAPTURES / "ndmjob" / name, tmp_path / name)
    broken = tmp_path / "v3-backup.expected.json"
    broken.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert run(["regress", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err == ""
    lines = captured.out.splitlines()
    assert any(line.startswith("ok ") and "v4-backup.pcap" in line for line in lines)
    assert any("expected result unreadable" in line and str(broken) in line for line in lines)
    assert lines[-1] == "1 unchanged, 1 changed"
    assert run(["regress", str(tmp_path), "--update"]) == 0
    assert json.loads(broken.read_text())["verdict"] == "pass"


def _two_cases(folder: Path) -> None:
    """v4-backup and v3-backup with their expected results and shared configuration."""
    for name in ("v4-backup.pcap", "v4-backup.expected.json", "v3-backup.pcap",
                 "v3-backup.expected.json", "flowcheck.toml"):
        shutil.copy(CAPTURES / "ndmjob" / name, folder / name)


def test_a_case_that_cannot_be_judged_leaves_the_others_judged_and_the_junit_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Git LFS pointer checked out instead of its capture (CI without `git lfs pull`),
    an expected result whose capture is gone, a dangling link (git-annex without
    `annex get`): each is an ERROR line and a JUnit <error>; the other cases are still
    judged; exit 3; the JUnit file's folder is made (trial 9: exit 4, nothing written)."""
    _two_cases(tmp_path)
    (tmp_path / "lfs.pcap").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 1\n")
    shutil.copy(CAPTURES / "ndmjob" / "v4-backup.expected.json", tmp_path / "lfs.expected.json")
    shutil.copy(CAPTURES / "ndmjob" / "v4-backup.expected.json", tmp_path / "gone.expected.json")
    (tmp_path / "annexed.pcap").symlink_to(tmp_path / ".git" / "annex" / "objects" / "x")
    shutil.copy(CAPTURES / "ndmjob" / "v4-backup.expected.json",
                tmp_path / "annexed.expected.json")
    junit = tmp_path / "reports" / "flowcheck.xml"
    assert run(["regress", str(tmp_path), "--junit", str(junit)]) == 3
    out = capsys.readouterr().out
    assert "ok " in out and out.count("ERROR") == 3
    assert "a Git LFS pointer, not the capture: fetch the content (git lfs pull)" in out
    assert "gone.expected.json: no capture beside it" in out
    assert "annexed.pcap: a link to a file that is not there" in out
    assert "2 unchanged, 0 changed, 3 could not be judged" in out
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("errors"), suite.get("failures")) == ("5", "3", "0")
    times = [float(case.get("time", "-1")) for case in suite.iter("testcase")]
    assert len(times) == 5 and min(times) >= 0
    assert float(suite.get("time", "-1")) == pytest.approx(sum(times), abs=0.003)


def test_a_bad_configuration_is_exit_2_and_the_others_are_judged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _two_cases(tmp_path)
    (tmp_path / "v3-backup.toml").write_text('agent_range = "6001-"\n')
    assert run(["regress", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "ok " in out and "ERROR" in out
    assert f"{tmp_path / 'v3-backup.toml'}: agent_range" in out


def test_a_folder_named_twice_runs_each_case_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _two_cases(tmp_path)
    assert run(["regress", str(tmp_path), str(tmp_path / "v4-backup.pcap"),
                str(tmp_path)]) == 0
    assert "2 unchanged, 0 changed" in capsys.readouterr().out


def test_two_captures_of_one_name_are_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`gzip -k x.pcap` leaves x.pcap and x.pcap.gz, both judged against x.expected.json,
    which --update wrote from whichever ran last (trial 9: never green)."""
    import gzip

    _two_cases(tmp_path)
    source = tmp_path / "v4-backup.pcap"
    (tmp_path / "v4-backup.pcap.gz").write_bytes(gzip.compress(source.read_bytes()))
    assert run(["regress", str(tmp_path)]) == 3
    out = capsys.readouterr().out
    assert "v4-backup.expected.json is the expected result of v4-backup.pcap too" in out


def test_a_name_too_long_for_its_expected_result_is_an_error_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 245-character capture name: `NAME.expected.json` is past the file system's 255
    (trial 9: exit 4)."""
    _two_cases(tmp_path)
    shutil.copy(tmp_path / "v4-backup.pcap", tmp_path / ("x" * 245 + ".pcap"))
    assert run(["regress", str(tmp_path)]) == 3
    out = capsys.readouterr().out
    assert ".expected.json: File name too long" in out and "2 unchanged" in out


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_an_interrupted_run_writes_the_junit_of_the_cases_judged(
        tmp_path: Path, sent: signal.Signals) -> None:
    """SIGINT (Ctrl-C, a cancelled CI job) or SIGTERM (a CI job's timeout) after the first
    case's line: exit 130, and the JUnit file holds the cases judged by then (trial 9:
    nothing written; SIGTERM killed it with 143)."""
    import subprocess
    import sys

    for number in range(40):
        for suffix in (".pcap", ".expected.json"):
            shutil.copy(CAPTURES / "ndmjob" / f"v4-three-resources{suffix}",
                        tmp_path / f"case{number:02}{suffix}")
    shutil.copy(CAPTURES / "ndmjob" / "flowcheck.toml", tmp_path / "flowcheck.toml")
    junit = tmp_path / "reports" / "junit.xml"
    process = subprocess.Popen([sys.executable, "-m", "flowcheck", "regress", str(tmp_path),
                                "--junit", str(junit)], stdout=subprocess.PIPE, text=True,
                               cwd=tmp_path, preexec_fn=sigint_as_default)
    assert process.stdout is not None
    assert process.stdout.readline().startswith("ok ")
    process.send_signal(sent)
    process.communicate(timeout=60)
    assert process.returncode == 130
    tests = int(ET.parse(junit).getroot().get("tests") or 0)
    assert 1 <= tests < 40


def test_a_folder_that_cannot_be_read_is_an_error_not_skipped(tmp_path: Path) -> None:
    """`chmod 000` on a subfolder, flowcheck without CAP_DAC_OVERRIDE (setpriv drops it
    from root, as CI runs): the folder walk skipped it and the run passed (trial 9)."""
    import subprocess
    import sys

    _two_cases(tmp_path)
    hidden = tmp_path / "sub"
    hidden.mkdir()
    for name in ("v4-backup.pcap", "v4-backup.expected.json", "flowcheck.toml"):
        shutil.copy(tmp_path / name, hidden / name)
    hidden.chmod(0)
    try:
        result = subprocess.run(
            ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps",
             "-dac_override,-dac_read_search", sys.executable, "-m", "flowcheck", "regress",
             str(tmp_path)], capture_output=True, text=True, check=False, cwd=tmp_path)
    finally:
        hidden.chmod(0o755)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "ERROR sub:" in result.stdout and "permission denied" in result.stdout
    assert "2 unchanged, 0 changed, 1 could not be judged" in result.stdout


def test_lines_are_not_wrapped_when_piped(tmp_path: Path) -> None:
    """A CI log: each case on one line, however long its path (trial 9: wrapped at 200)."""
    import subprocess
    import sys

    deep = tmp_path / ("a-long-folder-name-" * 8) / ("another-long-folder-" * 6)
    deep.mkdir(parents=True)
    _two_cases(deep)
    result = subprocess.run([sys.executable, "-m", "flowcheck", "regress", str(deep)],
                            capture_output=True, text=True, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("ok ") for line in lines[:2])


def _suffix_cases(folder: Path) -> None:
    """Captures named as Windows tools and users name them: upper-case or mixed-case
    suffixes, and one with no suffix at all beside its expected result; plus a README
    and a suffix-less file that is not a capture, which are not cases."""
    import gzip

    ndmjob, lab = CAPTURES / "ndmjob", CAPTURES / "lab"
    shutil.copy(ndmjob / "flowcheck.toml", folder / "flowcheck.toml")
    shutil.copy(ndmjob / "v4-backup.pcap", folder / "B.PCAP")
    shutil.copy(ndmjob / "v4-backup.expected.json", folder / "B.expected.json")
    (folder / "c.Pcap.GZ").write_bytes(gzip.compress((ndmjob / "v3-backup.pcap").read_bytes()))
    shutil.copy(ndmjob / "v3-backup.expected.json", folder / "c.expected.json")
    shutil.copy(lab / "clean-dumpcap.pcapng", folder / "D.PCAPNG")
    shutil.copy(lab / "clean-dumpcap.toml", folder / "D.toml")
    shutil.copy(lab / "clean-dumpcap.expected.json", folder / "D.expected.json")
    shutil.copy(ndmjob / "v2-backup.pcap", folder / "noext")
    shutil.copy(ndmjob / "v2-backup.expected.json", folder / "noext.expected.json")
    (folder / "README.md").write_text("# captures\n")
    (folder / "NOTES").write_text("not a capture\n")


def test_capture_suffixes_match_in_any_case_and_a_suffixless_capture_with_its_expectation(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`B.PCAP`, `c.Pcap.GZ`, `D.PCAPNG` (with its own `D.toml`) and `noext` beside
    `noext.expected.json` are cases; README.md and NOTES are not (trial 9: the upper-case
    and suffix-less captures were skipped, exit 0)."""
    _suffix_cases(tmp_path)
    assert run(["regress", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("B.PCAP", "c.Pcap.GZ", "D.PCAPNG", "noext"):
        assert f"ok {tmp_path / name} " in out
    assert out.splitlines()[-1] == "4 unchanged, 0 changed"
    # A first --update writes each expectation beside its capture.
    for expected in tmp_path.glob("*.expected.json"):
        expected.unlink()
    (tmp_path / "noext.toml").write_text('profile = "ndmp"\n')
    assert run(["regress", str(tmp_path), "--update"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.expected.json")) == [
        "B.expected.json", "D.expected.json", "c.expected.json", "noext.expected.json"]


def test_a_suffixless_file_without_a_sidecar_is_not_a_case(tmp_path: Path) -> None:
    """Only its expected result or its NAME.toml makes a suffix-less capture a case: a
    folder's loose files (README, LICENSE, a capture nobody reviewed) stay out."""
    _suffix_cases(tmp_path)
    (tmp_path / "noext.expected.json").unlink()
    names = sorted(case.capture.name for case in find_cases([str(tmp_path)]))
    assert names == ["B.PCAP", "D.PCAPNG", "c.Pcap.GZ"]


def test_junit_to_standard_output_sends_the_lines_to_standard_error(tmp_path: Path) -> None:
    """`--junit -`: the JUnit XML alone on standard output (`> report.xml`, a pipe), the
    case lines on standard error (trial 9: a file named `-`, the lines on stdout)."""
    import subprocess
    import sys

    _two_cases(tmp_path)
    result = subprocess.run([sys.executable, "-m", "flowcheck", "regress", str(tmp_path),
                             "--junit", "-"], capture_output=True, text=True, check=False,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    suite = ET.fromstring(result.stdout.encode())
    assert (suite.tag, suite.get("tests"), suite.get("failures")) == ("testsuite", "2", "0")
    assert "ok v3-backup.pcap" in result.stderr and "2 unchanged, 0 changed" in result.stderr
    assert not (tmp_path / "-").exists()


def test_a_ring_directorys_name_toml_beside_it_wins_over_its_own(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ring.toml` beside `ring/` comes before `ring/flowcheck.toml`, as for any case
    (docs/pytest-plugin.md; trial 9: the one inside won, ring.toml silently ignored)."""
    shutil.copytree(CAPTURES / "lab-ring", tmp_path / "ring")
    shutil.copy(CAPTURES / "lab-ring.expected.json", tmp_path / "ring.expected.json")
    inside = (tmp_path / "ring" / "flowcheck.toml").read_text()
    (tmp_path / "ring.toml").write_text(inside.replace('"6001-6100"', '"6001-6002"'))
    (case,) = find_cases([str(tmp_path)])
    assert case.config_path == tmp_path / "ring.toml"
    assert run(["regress", str(tmp_path)]) == 1  # three agent ports needed, two allowed
    assert "CHANGED" in capsys.readouterr().out


def test_update_of_a_folder_writes_the_first_expectation_of_a_ring_inside_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A ring-buffer folder (ring.pcap0, ring.pcap1, ...) without its expected result yet
    is a case of the folder that holds it, as a new capture is: `regress --update DIR`
    writes `ring.expected.json` (trial 9: only `regress --update DIR/ring` did). A
    folder of other files and a hidden one (.git/lfs/objects holds capture contents)
    are not cases."""
    _two_cases(tmp_path)
    shutil.copytree(CAPTURES / "lab-ring", tmp_path / "ring")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "README.md").write_text("# how the captures were made\n")
    shutil.copytree(CAPTURES / "lab-ring", tmp_path / ".git" / "lfs" / "objects")
    assert run(["regress", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"CHANGED {tmp_path / 'ring'} " in out and "no expected result" in out
    assert out.splitlines()[-1] == "2 unchanged, 1 changed"
    assert run(["regress", str(tmp_path), "--update"]) == 0
    written = json.loads((tmp_path / "ring.expected.json").read_text())
    assert reviewed(written) == json.loads((CAPTURES / "lab-ring.expected.json").read_text())
    assert run(["regress", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 unchanged, 0 changed"


def _linked_tree(top: Path) -> Path:
    """captures/ with two cases, a subfolder case, a ring, and links: `loop -> ..` (back
    up the tree), `alias -> ring` (a folder inside it), `shared1` and `shared2` both to a
    folder outside it holding one case."""
    folder = top / "captures"
    (folder / "sub").mkdir(parents=True)
    _two_cases(folder)
    for suffix in (".pcap", ".expected.json"):
        shutil.copy(CAPTURES / "ndmjob" / f"v4-backup{suffix}", folder / "sub" / f"x{suffix}")
    shutil.copy(CAPTURES / "ndmjob" / "flowcheck.toml", folder / "sub" / "flowcheck.toml")
    shutil.copytree(CAPTURES / "lab-ring", folder / "ring")
    shutil.copy(CAPTURES / "lab-ring.expected.json", folder / "ring.expected.json")
    (top / "shared").mkdir()
    _two_cases(top / "shared")
    (top / "shared" / "v3-backup.pcap").unlink()
    (top / "shared" / "v3-backup.expected.json").unlink()
    (folder / "loop").symlink_to("..")
    (folder / "alias").symlink_to("ring")
    (folder / "shared1").symlink_to("../shared")
    (folder / "shared2").symlink_to("../shared")
    return folder


def test_links_to_folders_are_followed_each_real_folder_once(tmp_path: Path) -> None:
    """`ln -s .. captures/loop` is not walked round and round, a link to a ring inside the
    folder is not a second case of it (trial 10: `alias`, a new ring, CHANGED), and a link
    to a folder outside is walked once, however many links lead there (trial 10: never)."""
    folder = _linked_tree(tmp_path)
    names = [str(case.capture.relative_to(folder)) for case in find_cases([str(folder)])]
    assert names == ["ring", "shared1/v4-backup.pcap", "sub/x.pcap", "v3-backup.pcap",
                     "v4-backup.pcap"]
    assert run(["regress", str(folder)]) == 0
    # The folder named through a link to it, and again by its own name: once.
    (tmp_path / "link").symlink_to("captures")
    assert len(find_cases([str(tmp_path / "link"), str(folder)])) == 5


def _dumpcap_ring(folder: Path) -> list[Path]:
    """v4-backup cut into three parts named as dumpcap -b / editcap -c name a ring
    (ring_00000_YYYYMMDDhhmmss.pcap, ...), in `folder`."""
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["editcap", "-c", "1000", str(CAPTURES / "ndmjob" / "v4-backup.pcap"),
                    str(folder / "ring.pcap")], check=True, capture_output=True)
    parts = sorted(folder.glob("ring_*.pcap"))
    assert len(parts) == 3
    return parts


def test_a_folder_of_one_dumpcap_rings_parts_is_one_case(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ring/ holding ring_00000_....pcap .. ring_00002_....pcap alone is one ring case,
    as a tcpdump ring folder is (trial 10: a case per part, each --update writing its
    own expectation); named on its own it is one case too."""
    shutil.copy(CAPTURES / "ndmjob" / "v4-backup.pcap", tmp_path / "v4-backup.pcap")
    shutil.copy(CAPTURES / "ndmjob" / "v4-backup.expected.json",
                tmp_path / "v4-backup.expected.json")
    shutil.copy(CAPTURES / "ndmjob" / "flowcheck.toml", tmp_path / "flowcheck.toml")
    parts = _dumpcap_ring(tmp_path / "ring")
    assert [c.capture.name for c in find_cases([str(tmp_path)])] == ["ring", "v4-backup.pcap"]
    assert run(["regress", str(tmp_path), "--update"]) == 0
    written = json.loads((tmp_path / "ring.expected.json").read_text())
    assert reviewed(written) == json.loads((tmp_path / "v4-backup.expected.json").read_text())
    assert not list((tmp_path / "ring").glob("*.expected.json"))
    # An expectation of one part (an older --update's) is not a case of its own.
    shutil.copy(tmp_path / "ring.expected.json", parts[0].with_suffix(".expected.json"))
    capsys.readouterr()
    assert run(["regress", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 unchanged, 0 changed"
    (case,) = find_cases([str(tmp_path / "ring")])
    assert case.capture == tmp_path / "ring"


def test_dumpcap_ring_parts_beside_other_captures_are_cases_of_their_own(
        tmp_path: Path) -> None:
    """A ring's parts make their folder one case only when they are its only captures:
    beside another capture, or a single part, each file is a case."""
    _two_cases(tmp_path)
    parts = _dumpcap_ring(tmp_path)
    names = [c.capture.name for c in find_cases([str(tmp_path)])]
    assert names == [p.name for p in parts] + ["v3-backup.pcap", "v4-backup.pcap"]
    single = tmp_path / "single"
    single.mkdir()
    parts[0].rename(single / parts[0].name)
    assert find_cases([str(single)])[0].capture == single / parts[0].name


def test_update_records_the_flowcheck_version_and_comparing_skips_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--update writes `flowcheck_version` first in the expected result; a file written by
    another version, or without the key (an older flowcheck's, as in captures/), is
    compared on the reviewed summary alone."""
    _two_cases(tmp_path)
    expected = tmp_path / "v4-backup.expected.json"
    assert "flowcheck_version" not in json.loads(expected.read_text())
    assert run(["regress", str(tmp_path)]) == 0
    expected.write_text(expected.read_text().replace('"pass"', '"fail"'))
    assert run(["regress", str(tmp_path), "--update"]) == 0
    written = json.loads(expected.read_text())
    assert next(iter(written.items())) == ("flowcheck_version", __version__)
    assert json.loads((tmp_path / "v3-backup.expected.json").read_text()).get(
        "flowcheck_version") is None  # unchanged: not rewritten
    expected.write_text(json.dumps({**written, "flowcheck_version": "0.0.1"}, indent=2))
    capsys.readouterr()
    assert run(["regress", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 unchanged, 0 changed"


def test_format_json_is_one_document_with_each_case_and_the_totals(tmp_path: Path) -> None:
    """`--format json`: one JSON document on standard output (each case's path, status,
    verdict, changes, error, seconds; the totals), the lines on standard error, the exit
    code as without it."""
    import subprocess
    import sys

    _two_cases(tmp_path)
    changed = tmp_path / "v3-backup.expected.json"
    changed.write_text(changed.read_text().replace('"pass"', '"fail"'))
    shutil.copy(CAPTURES / "ndmjob" / "v4-backup.expected.json", tmp_path / "gone.expected.json")

    def regress(*flags: str) -> tuple[int, dict, str]:
        done = subprocess.run([sys.executable, "-m", "flowcheck", "regress", ".", *flags],
                              capture_output=True, text=True, check=False, cwd=tmp_path)
        return done.returncode, json.loads(done.stdout), done.stderr

    def regress_here(*flags: str) -> tuple[int, dict]:
        """The same command in this process (cli.main.run): the runs after the first
        check only its exit code and document (a subprocess was a second of CPU)."""
        out = io.StringIO()
        with contextlib.chdir(tmp_path), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(io.StringIO()):
            code = run(["regress", ".", *flags])
        return code, json.loads(out.getvalue())

    code, document, err = regress("--format", "json")
    assert code == 3 and "ok v4-backup.pcap" in err and "could not be judged" in err
    assert document["flowcheck"] == __version__ and document["interrupted"] is False
    by_path = {case["path"]: case for case in document["cases"]}
    assert sorted(by_path) == ["gone", "v3-backup.pcap", "v4-backup.pcap"]
    assert by_path["v4-backup.pcap"] == {
        "path": "v4-backup.pcap", "expected": "v4-backup.expected.json", "status": "ok",
        "verdict": "pass", "changes": [], "error": None, "session_changes": [],
        "finding_changes": [], "seconds": by_path["v4-backup.pcap"]["seconds"]}
    assert by_path["v3-backup.pcap"]["status"] == "changed"
    assert by_path["v3-backup.pcap"]["changes"] == ['verdict: expected "fail", got "pass"']
    assert by_path["gone"]["status"] == "error" and by_path["gone"]["verdict"] is None
    assert "no capture beside it" in by_path["gone"]["error"]
    totals = document["totals"]
    assert {k: totals[k] for k in ("cases", "ok", "changed", "updated", "error")} == {
        "cases": 3, "ok": 1, "changed": 1, "updated": 0, "error": 1}
    assert totals["seconds"] >= 0 and all(c["seconds"] >= 0 for c in document["cases"])
    (tmp_path / "gone.expected.json").unlink()
    code, document = regress_here("--format", "json", "--update")
    assert code == 0
    assert [c["status"] for c in document["cases"]] == ["updated", "ok"]
    assert document["cases"][0]["changes"] == ['verdict: expected "fail", got "pass"']
    code, document = regress_here("--format", "json")
    assert code == 0 and document["totals"]["ok"] == 2


def test_format_json_and_junit_to_standard_output_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _two_cases(tmp_path)
    assert run(["regress", str(tmp_path), "--format", "json", "--junit", "-"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--junit - and --format json both write to standard output" in captured.err


def test_an_interrupted_json_run_says_so_with_the_cases_judged(tmp_path: Path) -> None:
    """SIGTERM (a CI job's timeout) after the first case: the document holds the cases
    judged by then and `"interrupted": true`, exit 130."""
    import subprocess
    import sys

    for number in range(40):
        for suffix in (".pcap", ".expected.json"):
            shutil.copy(CAPTURES / "ndmjob" / f"v4-three-resources{suffix}",
                        tmp_path / f"case{number:02}{suffix}")
    shutil.copy(CAPTURES / "ndmjob" / "flowcheck.toml", tmp_path / "flowcheck.toml")
    process = subprocess.Popen([sys.executable, "-m", "flowcheck", "regress", str(tmp_path),
                                "--format", "json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert process.stderr is not None
    assert process.stderr.readline().startswith("ok ")
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 130
    document = json.loads(out)
    assert document["interrupted"] is True
    assert 1 <= document["totals"]["cases"] == len(document["cases"]) < 40


def test_names_and_changes_with_brackets_are_printed_as_they_are(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """rich reads `[...]` as markup: a folder named `[/]` raised MarkupError (exit 4) and a
    change holding `[data_unanswered]` lost its words (cliedges, session 16)."""
    folder = tmp_path / "[" / "]night [bold]"  # shown as `.../[/]night [bold]`
    folder.mkdir(parents=True)
    for name in ("v4-backup.pcap", "v4-backup.expected.json", "flowcheck.toml"):
        shutil.copy(CAPTURES / "ndmjob" / name, folder / name)
    expected = json.loads((folder / "v4-backup.expected.json").read_text())
    expected["findings"] = {"[data_unanswered]": 1}
    (folder / "v4-backup.expected.json").write_text(json.dumps(expected))
    assert run(["regress", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "[/]night [bold]" in out and "[data_unanswered]" in out
