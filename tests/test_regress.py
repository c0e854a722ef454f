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
