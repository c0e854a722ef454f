"""The lab's command line and the bookkeeping of its stored captures (no root needed)."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.findings import CATALOGUE
from flowcheck.lab.__main__ import _check_bytes, _parser, main
from flowcheck.lab.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent
# ndmjob-lab's v4-tape-* are stored cut and gzipped (its README.md says how).
STORED = sorted((ROOT / "captures" / "lab").glob("*.pcap")) + sorted(
    (ROOT / "captures" / "ndmjob-lab").glob("*.pcap")) + sorted(
    (ROOT / "captures" / "ndmjob-lab").glob("*.pcap.gz"))


def _lab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowcheck.lab", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def test_list_names_every_scenario() -> None:
    result = _lab("list")
    assert result.returncode == 0
    listed = {line.split()[0] for line in result.stdout.splitlines()}
    assert listed == set(SCENARIOS)


def test_unknown_scenario_is_one_line_error() -> None:
    result = _lab("capture", "no-such-scenario", "/tmp/never-written.pcap")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no-such-scenario" in result.stderr


# Errors or warnings by the request they answer (findings.ndmp_error_severity): a poll's
# error reply (TAPE_GET_STATE after TAPE_CLOSE) does not fail a job; by whether the zero
# window reopened (data_receiver_stalled: a warning then).
_BY_MESSAGE = {"ndmp_error_reply", "data_receiver_stalled"}


def test_scenario_expectations_use_catalogue_codes() -> None:
    for scenario in SCENARIOS.values():
        assert scenario.expect_verdict in ("pass", "fail", "inconclusive")
        assert set(scenario.expect_codes) <= set(CATALOGUE), scenario.name
        errors = [c for c in scenario.expect_codes
                  if str(CATALOGUE[c]) == "error" and c not in _BY_MESSAGE]
        if errors or not set(scenario.expect_codes) & _BY_MESSAGE:
            assert (scenario.expect_verdict == "fail") == bool(errors), scenario.name


def _name(capture: Path) -> str:
    """`v4-tape-paused.pcap.gz` -> `v4-tape-paused`: the name its sidecars share."""
    return capture.name.removesuffix(".gz").removesuffix(".pcap")


def _scenario_of(capture: Path) -> str:
    """The scenario a stored capture was made by: its own name, or for a capture cut
    from another with editcap (its sidecar's "made by: editcap ... SOURCE.pcap THIS"),
    the source's (stored as SOURCE.pcap or SOURCE.pcap.gz)."""
    if _name(capture) in SCENARIOS:
        return _name(capture)
    made = next(line for line in _sidecar(capture).read_text().splitlines()
                if line.startswith("# made by: "))
    assert made.startswith("# made by: editcap "), made
    source = next(word for word in made.split() if word.endswith(".pcap"))
    assert any((capture.parent / f"{source}{gz}").exists() for gz in ("", ".gz")), source
    return Path(source).stem


def _sidecar(capture: Path) -> Path:
    return capture.with_name(f"{_name(capture)}.toml")


@pytest.mark.parametrize("capture", STORED, ids=_name)
def test_stored_capture_has_scenario_sidecar_and_readme_line(capture: Path) -> None:
    scenario = SCENARIOS[_scenario_of(capture)]
    config = build_config(load_file(_sidecar(capture)))
    assert config.ndmp_port == scenario.ndmp_port
    assert config.profile == ("ndmp" if capture.parent.name == "ndmjob-lab" else "backup-exec-9")
    assert _name(capture) in (capture.parent / "README.md").read_text()
    # pcap, Ethernet: what tcpdump on a veth writes (LINUX_SLL2 from `tcpdump -i any`).
    with gzip.open(capture) if capture.suffix == ".gz" else capture.open("rb") as stream:
        header = stream.read(24)
    assert header[:4] == bytes.fromhex("d4c3b2a1")
    link_type = 276 if scenario.capture_tool == "tcpdump-any" else 1
    assert int.from_bytes(header[20:24], "little") == link_type


def test_tls_takes_when_it_starts_and_alone_is_the_in_band_upgrade() -> None:
    """`--tls` alone is `--tls auth` (after CONNECT_CLIENT_AUTH, as before `start`
    existed), `--tls start` TLS from the first byte; anything else is a usage error."""
    parser = _parser()
    for role in ("media", "agent"):
        assert parser.parse_args([role]).tls == ""
        assert parser.parse_args([role, "--tls"]).tls == "auth"
        assert parser.parse_args([role, "--tls", "start"]).tls == "start"
    result = _lab("media", "--tls", "never")
    assert result.returncode == 2 and "invalid choice: 'never'" in result.stderr


@pytest.mark.parametrize(("argv", "words"), [
    (["media", "--bytes", "20000000"], "in a backup the agent sends the data: give the "
                                       "agent --bytes N"),
    (["media", "--browse", "--bytes", "5"], "a browse (--browse) moves no data")])
def test_media_bytes_where_the_media_server_sends_nothing_is_one_line(
        argv: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    """media --bytes sizes only a restore's data (the media server sends it): for a
    backup it changed nothing, silently (newuser65 item 7: `media --bytes 20000000`, the
    agent sent its own 200,000 B per resource). Now one line, exit 2, before any
    connection; with --restore it is taken."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "--bytes sizes the data the media server sends, a restore's (--restore)" in last
    assert words in last, last
    parser = _parser()
    _check_bytes(parser, parser.parse_args(["media", "--restore", "--bytes", "5"]))
    assert parser.parse_args(["media"]).bytes is None  # a restore's default: 200,000 B
