"""A backup still running where the capture ends, its data connection open and no data
on it yet (recheck of trials 22-24, N1): the capture cannot show whether the data would
have flowed, however many seconds of unrelated traffic it holds after the job's last
packet. Step 5 is unknown and the verdict inconclusive, never the step_missing safety
net ("a flowcheck bug")."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from lab_edits import LAB, analyze_lab, fin_close, lab_packets, write
from scapy.all import IP, TCP, UDP, Ether

from flowcheck.cli.main import run as cli

# Frames 1-26 of clean-3-resources: the job up to DATA_START_BACKUP's reply (frame 26),
# its first data connection 10.77.0.1:5002 -> 10.77.0.2:6001 open, no data on it yet.
STARTED = 26


def _with_idle_tail(tmp_path: Path, seconds: float) -> Path:
    """The started job, then `seconds` later a packet between two other hosts."""
    packets = lab_packets("clean-3-resources", STARTED)
    other = Ether() / IP(src="10.77.0.9", dst="10.77.0.8") / UDP(sport=5353, dport=5353)
    other.time = packets[-1].time + Decimal(str(seconds))
    return write(tmp_path, "started-idle", [*packets, other])


def test_started_job_then_unrelated_traffic_is_inconclusive(tmp_path: Path) -> None:
    capture = _with_idle_tail(tmp_path, 12.0)
    analysis = analyze_lab(capture, "clean-3-resources")
    assert [f.code for f in analysis.findings if str(f.severity) == "error"] == []
    step = analysis.sessions[0].steps[4]
    assert step.status == "unknown"
    assert step.detail.startswith("unknown: no bytes agent to media server in the 12 s")
    assert "still running" in step.detail and "DATA_START_BACKUP (frame 25)" in step.detail
    assert analysis.verdict == "inconclusive"
    assert cli(["analyze", "--config", str(LAB / "clean-3-resources.toml"), str(capture)]) == 5


def test_job_ended_without_data_stays_missing(tmp_path: Path) -> None:
    """The control connection closed with no data ever sent: the job is over, step 5
    is missing (and a finding of its own explains it)."""
    packets = lab_packets("clean-3-resources", STARTED)
    media_port = packets[0][TCP].sport  # frame 1: the control connection's SYN
    packets += fin_close(packets, 10000, media_port, packets[-1].time + Decimal(12))
    analysis = analyze_lab(write(tmp_path, "started-closed", packets), "clean-3-resources")
    assert analysis.sessions[0].steps[4].status == "missing"
    assert "step_missing" not in {f.code for f in analysis.findings}
