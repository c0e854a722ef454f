"""Words new-user trial 66 found wanting (item 6; captures/newuser66-twojobs,
captures/newuser66-words)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowcheck.cli.main import run
from flowcheck.config import build_config
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.report.answer import answer_rows

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
TWOJOBS = CAPTURES / "newuser66-twojobs" / "twojobs-s96.pcap"
WORDS = CAPTURES / "newuser66-words"
RANGES = ["--media-range", "5001-5100", "--agent-range", "6001-6100"]


def _report(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The table report's text, its lines joined by single spaces."""
    run(argv)
    return " ".join(capsys.readouterr().out.split())


def test_a_second_connection_of_the_same_rule_reads_as_under_the_verdict(
        capsys: pytest.CaptureFixture[str]) -> None:
    # (a) C6 from 5004 and C8 from 5005, the same range's rule: C8 repeated it whole.
    report = _report(["analyze", str(TWOJOBS), *RANGES], capsys)
    assert report.count("Fix: as under the verdict (S1).") == 2, report


def test_without_ranges_the_return_rule_names_the_ports_the_job_used() -> None:
    # (b) "TCP from 10.66.3.2 port 6001 back to 10.66.1.1 its dynamic (ephemeral) ports"
    # where the job used 6001-6002.
    config = build_config({})
    result = analyze(read_traffic([str(TWOJOBS)], config), config)
    session = next(s for s in result.sessions if s.remote_agent == "10.66.3.2")
    fix = dict(answer_rows(session, result.findings))["fix:"]
    assert "and TCP from 10.66.3.2 ports 6001-6002 back to 10.66.1.1 ports in its dynamic " \
        "(ephemeral) range (this connection's source port 5004 is drawn from it anew each " \
        "time)" in fix, fix


def test_data_refused_headline_names_the_endpoint_and_the_icmp(
        capsys: pytest.CaptureFixture[str]) -> None:
    # (c) It read "the data connection from 10.66.1.1 was refused".
    report = _report(["analyze", str(WORDS / "rtr-netprohib.pcap"), *RANGES], capsys)
    assert "cause: the data connection from 10.66.1.1 to 10.66.2.2:6001 was refused with " \
        "an ICMP unreachable (code 9) from 10.66.1.254 fix:" in report, report


def test_the_end_a_pcapng_recorded_is_said(capsys: pytest.CaptureFixture[str]) -> None:
    # (d) "223 ms before the end": the end was dumpcap's recorded stop time.
    run(["analyze", str(WORDS / "stopped-2if.pcapng.gz"), *RANGES, "--format", "json"])
    [early] = [f for f in json.loads(capsys.readouterr().out)["findings"]
               if f["code"] == "capture_ended_early"]
    assert "its last data packet frame 2138, 223 ms before the stop time the capture " \
        "recorded (frame 2138 is the capture's last packet)" in early["message"], early


@pytest.mark.parametrize("argv", [
    ["analyze", "-i", "m0"],  # no capture: typer's command line
    ["analyze", "x.pcap", "-i", "m0"],
    ["connections", "x.pcap", "--interface", "m0"],
])
def test_an_interface_asked_of_a_file_command_points_to_live(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # (e) It said "No such option: -i" and no more.
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert f"No such option: {argv[-2]}; that is flowcheck live's (it captures from an " \
        f"interface: flowcheck live -i IFACE); {argv[0]} reads capture files" in err, err
