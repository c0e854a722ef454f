"""`flowcheck live`'s output files and start-up checks (trial 15: D7, D8, D11c, D11d,
D11f): a --write file that fails mid-capture, a bad --html path, a sniffer that never
starts, the scapy sniffer on `any`, info findings while running. On the loopback
interface (CI runs as root)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_process import ended, send_on_loopback, wait_until_listening

from flowcheck.cli.live_run import _show_finding
from flowcheck.cli.main import run
from flowcheck.cli.options import OutputFormat
from flowcheck.model import Finding, Severity

LIVE = [sys.executable, "-m", "flowcheck", "live", "--interface", "lo"]


@pytest.mark.parametrize("sniffer", ["tcpdump", "scapy"])
def test_write_to_a_full_device_stops_with_one_line_and_the_report(sniffer: str) -> None:
    # Was: "internal error: OSError: [Errno 28] No space left on device", exit 4, no report.
    result = subprocess.run(
        [*LIVE, "--duration", "3", "--write", "/dev/full", "--sniffer", sniffer,
         "--format", "json"], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert "/dev/full: cannot write the capture" in result.stderr
    assert "No space left on device" in result.stderr
    if sniffer == "tcpdump":  # the pcap header comes after the start: a report is made
        assert json.loads(result.stdout.splitlines()[-1])["event"] == "report"
    assert Path("/dev/full").is_char_device()  # never removed as an unused --write file


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (needs root and mount; skipped without)."""
    folder = tmp_path / "t19disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "t19disk", str(folder)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("needs mount (root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_write_filling_its_disk_mid_capture_reports_what_came_before(tiny_disk: Path) -> None:
    saved = tiny_disk / "live.pcap"
    process = subprocess.Popen([*LIVE, "--duration", "30", "--write", str(saved),
                                "--format", "json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_until_listening(process, saved)
    with contextlib.suppress(OSError):  # live may stop while the bytes still go
        send_on_loopback(300_000)
    code, out, err = ended(process)  # the write error stops it, long before 30 s
    assert code == 2, err
    assert f"--write {saved}: cannot write the capture (No space left on device)" in err
    assert "Traceback" not in err and err.count("flowcheck: error:") == 1
    report = json.loads(out.splitlines()[-1])
    assert report["event"] == "report" and report["connections"]
    assert saved.stat().st_size > 0  # what was written stays


def test_bad_html_path_is_refused_before_the_capture(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    # Was: found after the whole capture, exit 2, and the final report lost. In this
    # process: the check comes before any sniffer starts, so no process boundary is in
    # play (capfd: standard error as a process's, a sniffer's lines too); a capture that
    # ran would last the 180 s duration. Real live processes: the other tests here.
    saved = tmp_path / "live.pcap"
    code = run(["live", "--interface", "lo", "--duration", "180", "--html",
                str(tmp_path / "missing" / "x.html"), "--write", str(saved)])
    err = capfd.readouterr().err
    assert code == 2
    assert err.startswith("flowcheck: error: --html ")
    assert "cannot write" in err and "listening" not in err
    assert not saved.exists()


def test_html_check_leaves_no_file_behind(tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    result = subprocess.run([*LIVE, "--duration", "1", "--html", str(report)],
                            capture_output=True, text=True, check=False, timeout=60)
    # A verdict, whichever: other tests' TCP on lo (no NDMP among it) is a fail (exit 1),
    # nothing at all inconclusive (5). The HTML report is what this test is about.
    assert result.returncode in (0, 1, 5), result.stderr
    assert "Traceback" not in result.stderr
    assert report.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("sniffer", ["tcpdump", "scapy"])
def test_a_sniffer_that_never_starts_leaves_no_write_file(
        tmp_path: Path, sniffer: str, capsys: pytest.CaptureFixture[str]) -> None:
    # In this process: the sniffer fails at its start (tcpdump a process of its own,
    # scapy in this one), before live's capture loop; what is asserted is the exit code
    # and the file, not the process's. Real live processes: the other tests of this file.
    saved = tmp_path / "live.pcap"
    interface = "t19nosuch0"
    code = run(["live", "--interface", interface, "--duration", "1", "--sniffer", sniffer,
                "--write", str(saved)])
    assert code == 3, capsys.readouterr().err
    assert not saved.exists(), os.listdir(tmp_path)


def test_scapy_names_why_it_cannot_sniff_any(capfd: pytest.CaptureFixture[str]) -> None:
    # In this process, as the test above; capfd: standard error as a process's.
    code = run(["live", "--interface", "any", "--duration", "1", "--sniffer", "scapy"])
    err = capfd.readouterr().err
    assert code == 3
    assert "no such network interface" not in err
    assert "cannot capture on the 'any' pseudo-interface" in err
    assert "tcpdump" in err and err.count("\n") == 1


def test_info_findings_wait_for_the_final_report(capsys: pytest.CaptureFixture[str]) -> None:
    # Trial 15: each job's ndmp_vendor_message was printed while running and again in
    # the report (70 of 96 lines of a 6-minute run). JSON events keep every finding.
    info = Finding("ndmp_vendor_message", Severity.INFO, "vendor code 0xF001")
    warning = Finding("ranges_overlap", Severity.WARNING, "overlap")
    for finding in (info, warning):
        _show_finding(finding, OutputFormat.table)
    assert capsys.readouterr().out == "WARNING ranges_overlap: overlap\n"
    _show_finding(info, OutputFormat.json)
    assert json.loads(capsys.readouterr().out)["code"] == "ndmp_vendor_message"
