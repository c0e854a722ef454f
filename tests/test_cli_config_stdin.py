"""`--config -` reads the configuration from standard input (new-user trial: it looked
for a file named `-`, "No such file", exit 2), as `-` names standard input for a
CAPTURE; with a CAPTURE `-` too, one stream cannot carry both: a usage error naming the
clash. Real runs of `python -m flowcheck`, standard input a pipe."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowcheck.cli.main import run

CAPTURES = Path(__file__).resolve().parent.parent / "captures" / "lab"
PCAP = CAPTURES / "agent-connects-data.pcap"
FLOWCHECK = [sys.executable, "-m", "flowcheck"]


def _flowcheck(argv: list[str], stdin: bytes, cwd: Path) -> subprocess.CompletedProcess:
    """Run in a folder of its own: no ./flowcheck.toml, and no file named `-`."""
    return subprocess.run([*FLOWCHECK, *argv], input=stdin, capture_output=True,
                          cwd=cwd, timeout=120, check=False)


def test_plan_reads_its_configuration_from_standard_input(tmp_path: Path) -> None:
    settings = b'media_range = "5001-5100"\nagent_range = "6001-6100"\nresources = 3\n'
    result = _flowcheck(["plan", "--config", "-", "--format", "json"], settings, tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["plan"]["resources"] == 3
    assert (document["plan"]["media_ports"], document["plan"]["agent_ports"]) == (100, 100)
    assert document["config"]["file"] == "standard input"


def test_analyze_reads_the_same_verdict_as_from_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The stored case's configuration (ranges 5001-5100 / 6001-6100) given on standard
    input reads as given with --config FILE; without it the defaults read otherwise.
    The piped run is a real process; the runs it is compared with, and the table's
    header, run in this process (the same folder, standard input a stream of the
    bytes): their process is not what they show."""
    toml = PCAP.with_suffix(".toml")
    piped = _flowcheck(["analyze", "--config", "-", "--format", "json", str(PCAP)],
                       toml.read_bytes(), tmp_path)
    monkeypatch.chdir(tmp_path)

    def here(argv: list[str], stdin: bytes = b"") -> tuple[int, str]:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = run(argv)
        return code, capsys.readouterr().out

    named = here(["analyze", "--config", str(toml), "--format", "json", str(PCAP)])
    bare = here(["analyze", "--format", "json", str(PCAP)])
    assert piped.returncode == named[0] == 1, piped.stderr
    codes = [[f["code"] for f in json.loads(out)["findings"]]
             for out in (piped.stdout, named[1])]
    assert codes[0] == codes[1]
    assert json.loads(piped.stdout)["config"]["media_range"] == "5001-5100"
    assert json.loads(bare[1])["config"]["media_range"] != "5001-5100"
    assert "configuration: standard input" in here(
        ["analyze", "--config", "-", str(PCAP)], toml.read_bytes())[1]


def test_an_error_in_it_names_standard_input(tmp_path: Path) -> None:
    result = _flowcheck(["plan", "--config", "-", "--resources", "2"],
                        b'media_range = "5001-"\n', tmp_path)
    assert result.returncode == 2
    assert result.stderr.decode() == ("flowcheck: error: media_range: '5001-' is not a port "
                                      "or LO-HI range (in standard input)\n")


@pytest.mark.parametrize("command", ["analyze", "connections", "crosscheck"])
def test_a_capture_on_standard_input_too_is_a_usage_error(command: str,
                                                          tmp_path: Path) -> None:
    result = _flowcheck([command, "--config", "-", "-"], PCAP.read_bytes(), tmp_path)
    assert result.returncode == 2
    err = result.stderr.decode()
    assert err.startswith("flowcheck: error: --config - and the CAPTURE - both name "
                          "standard input") and err.count("\n") == 1, err
