"""The lab's sidecar is NAME.toml beside NAME.pcap (the extension replaced, as `regress`
and `--config` look for it), and its help, its output and docs/lab.md say so (trial 20,
D21: docs/lab.md and the help said "FILE.toml"; a user passed the missing
clean-3-resources.pcap.toml to --config)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flowcheck.lab import __main__ as lab_main
from flowcheck.lab.capture import CaptureResult, sidecar_path
from flowcheck.lab.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent


def test_sidecar_replaces_the_extension() -> None:
    scenario = SCENARIOS["clean-3-resources"]
    assert sidecar_path(Path("/tmp/t/clean.pcap"), scenario) == Path("/tmp/t/clean.toml")
    assert sidecar_path(Path("/tmp/t/clean.pcapng"), scenario) == Path("/tmp/t/clean.toml")


@pytest.mark.parametrize("argv", [["--help"], ["capture", "--help"]])
def test_help_names_the_sidecar_as_written(argv: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "flowcheck.lab", *argv], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert "FILE.toml" not in result.stdout
    assert "x.pcap -> x.toml" in result.stdout


def test_docs_name_the_sidecar_as_written() -> None:
    text = (ROOT / "docs" / "lab.md").read_text()
    assert "FILE.toml" not in text
    assert "`clean.pcap` -> `clean.toml`" in text


def test_capture_prints_the_sidecar_it_wrote(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    def fake(scenario: str, output: Path, sidecar: bool = True) -> CaptureResult:
        return CaptureResult(scenario, output, output.with_suffix(".toml"), 714, [0], "")

    monkeypatch.setattr("flowcheck.lab.capture.capture_scenario", fake)
    assert lab_main.main(["capture", "clean-3-resources", "/tmp/t/clean.pcap"]) == 0
    assert "/tmp/t/clean.toml" in capsys.readouterr().out
    assert lab_main.main(["capture", "clean-3-resources", "/tmp/t/clean.pcap",
                          "--no-sidecar"]) == 0
    assert ".toml" not in capsys.readouterr().out
