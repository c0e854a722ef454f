"""A new user's trial of the commands' outputs and options (cliedges): `-` as an output
file, a single-value option given twice, a ring directory's own flowcheck.toml, and
output paths that cannot be written (exit 2, as every usage error)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowcheck.cli.main import run

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
RING = CAPTURES / "lab-ring"
RING_PART = RING / "ring.pcap0"
FLOWCHECK = [sys.executable, "-m", "flowcheck"]


@pytest.fixture(autouse=True)
def _in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in a folder of its own: no ./flowcheck.toml, and a file named `-` is seen."""
    monkeypatch.chdir(tmp_path)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("option", ["--html", "--mermaid", "--graph"])
def test_analyze_refuses_dash_as_an_output_file(
        option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Was: exit 0 and a file named `-` in the current folder.
    code, _, err = _run(["analyze", str(RING_PART), option, "-"], capsys)
    assert code == 2, err
    assert err.startswith(f"flowcheck: error: {option} -: standard output carries the report")
    assert err.count("\n") == 1
    assert not (tmp_path / "-").exists()


def test_live_refuses_dash_as_its_html_file(tmp_path: Path) -> None:
    # Refused before the capture starts: no sniffer, no file named `-`. (`--write -` is
    # standard output: tests/test_cli_live_write_stdout.py.)
    result = subprocess.run([*FLOWCHECK, "live", "-i", "lo", "--duration", "30", "--html",
                             "-"], capture_output=True, text=True, check=False, timeout=25,
                            cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("flowcheck: error: --html -: standard output carries")
    assert "listening" not in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "-").exists()


def test_live_write_to_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    # Was exit 3 (input unreadable) while --html to the same folder was exit 2: an output
    # that cannot be written is a usage error, checked before the capture.
    target = tmp_path / "missing" / "x.pcap"
    result = subprocess.run([*FLOWCHECK, "live", "-i", "lo", "--duration", "30", "--write",
                             str(target)], capture_output=True, text=True, check=False,
                            timeout=25)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"flowcheck: error: --write {target}: cannot write "
                             "(No such file or directory)\n")


@pytest.mark.parametrize(("argv", "option", "values"), [
    (["connections", str(RING_PART), "--filter", "host 10.77.0.1", "--filter", "port 22"],
     "--filter", "'host 10.77.0.1', 'port 22'"),
    (["connections", str(RING_PART), "--filter=port 22", "--filter=port 23"],
     "--filter", "'port 22', 'port 23'"),
    (["analyze", str(RING_PART), "--format", "json", "--format", "table"],
     "--format", "'json', 'table'"),
    (["analyze", str(RING_PART), "--ndmp-port", "10000", "--ndmp-port", "10001"],
     "--ndmp-port", "'10000', '10001'"),
    (["live", "-i", "lo", "--interface=lo2", "--duration", "1"],
     "--interface", "'lo', 'lo2'"),
])
def test_a_single_value_option_given_twice_is_a_usage_error(
        argv: list[str], option: str, values: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Was: the last one won silently (a filter forgotten, a table for a script).
    code, out, err = _run(argv, capsys)
    assert code == 2, err
    assert err.startswith(f"flowcheck: error: {option} given twice ({values}): ")
    assert out == ""


def test_two_filters_are_shown_joined_in_one_expression(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["connections", str(RING_PART), "--filter", "host 10.77.0.1",
                         "--filter", "port 22"], capsys)
    assert code == 2
    assert err.rstrip().endswith("--filter '(host 10.77.0.1) and (port 22)'")


def test_repeatable_options_stay_repeatable(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["analyze", str(RING), "--media-range", "5001-5050",
                           "--media-range", "5051-5100", "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["config"]["media_range"] == "5001-5050,5051-5100"


@pytest.mark.parametrize("direct", [True, False])
def test_a_ring_directory_brings_its_own_configuration(
        direct: bool, capsys: pytest.CaptureFixture[str]) -> None:
    # Was: the defaults (ranges 1025-65535, no resources), while regress and the pytest
    # plugin took the directory's flowcheck.toml. `direct`: the command line without
    # typer (cli.direct); else one with another option (typer's).
    argv = ["analyze", str(RING)] + ([] if direct else ["--all-sessions"])
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert f"configuration: {RING / 'flowcheck.toml'}\n" in out
    assert "media range 5001-5100; agent range 6001-6100" in out


def test_a_ring_directorys_configuration_yields_to_config_and_flags(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chosen = tmp_path / "mine.toml"
    chosen.write_text('media_range = "5001-5200"\n')
    code, out, err = _run(["analyze", str(RING), "--config", str(chosen), "--agent-range",
                           "6001-6200", "--format", "json"], capsys)
    assert code in (0, 1, 5), err
    config = json.loads(out)["config"]
    assert config["file"] == str(chosen)
    assert (config["media_range"], config["agent_range"]) == ("5001-5200", "6001-6200")
    assert config["resources"] is None  # nothing of the ring's own file


def test_several_captures_take_no_ring_configuration(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["analyze", str(RING), str(RING_PART), "--format", "json"],
                          capsys)
    assert "Traceback" not in err
    assert json.loads(out)["config"]["file"] is None


def test_a_ring_directorys_bad_configuration_is_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ring = tmp_path / "ring"
    ring.mkdir()
    os.symlink(RING_PART, ring / "ring.pcap0")
    (ring / "flowcheck.toml").write_text("resources = true\n")
    code, _, err = _run(["analyze", str(ring)], capsys)
    assert code == 2
    assert err == (f"flowcheck: error: resources: true is not a whole number "
                   f"(in {ring / 'flowcheck.toml'})\n")


def test_regress_keeps_its_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    # regress is left as it was: its --format given twice is not refused.
    code, out, err = _run(["regress", str(RING), "--format", "table", "--format", "json"],
                          capsys)
    assert code == 0, err
    assert json.loads(out)["cases"]  # the last --format, as before
