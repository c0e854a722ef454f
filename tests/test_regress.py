"""`regress` itself. Every stored capture against its reviewed expected result runs through
the pytest plugin (flowcheck/pytest_plugin.py; `captures` is in testpaths), not here."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from flowcheck.cli.main import run
from flowcheck.regress import find_cases

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
CASES = find_cases([str(CAPTURES)])


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
