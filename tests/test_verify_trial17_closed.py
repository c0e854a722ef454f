"""A session that ended inside the capture is judged on what it did (new-user trial 17).

Real captures from trial 17's lab (captures/lab-trial17, their .toml say how each was
made), the flowcheck.lab agent and media server through a router:
- mtu-blackhole-media (D6): the router's link has MTU 1000 and it drops its own ICMP
  "fragmentation needed". The agent's data never arrives; 30 s later the media server
  closes the data and control connections. It read control_closed ("the job engine
  stopped, restarted or crashed"; see the event log) although the agent's ACK shows
  15,928 B sent that never arrived.
- nat-announced-closed-media (D7): a NAT; the agent announces its own address, the media
  server cannot reach it and both close the control connection (FIN each way) 0.001 s
  later. It read inconclusive, capture_ended_early ("capture the whole job"), although
  the session was over.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "captures" / "lab-trial17"


def _analyze(path: Path, name: str) -> Analysis:
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def _errors(analysis: Analysis) -> list:
    return [f for f in analysis.findings if str(f.severity) == "error"]


def test_data_sent_never_arrived_is_the_black_hole_not_a_crash() -> None:
    analysis = _analyze(LAB / "mtu-blackhole-media.pcap.gz", "mtu-blackhole-media")
    assert analysis.verdict == "fail"
    [finding] = _errors(analysis)
    assert finding.code == "data_aborted"  # not control_closed
    assert "15,928 B on it that never arrived" in finding.message
    assert "path MTU black hole" in finding.message and "RFC 2923" in finding.message
    assert "closed the control connection too (FIN, frame 40)" in finding.message
    assert "crash" not in finding.fix and "event log" not in finding.fix
    assert "type 3 code 4" in finding.fix and "maxseg" in finding.fix
    assert "RFC 4821" in finding.fix
    assert 40 in finding.frames


def test_announcements_of_a_closed_session_are_judged() -> None:
    analysis = _analyze(LAB / "nat-announced-closed-media.pcap.gz",
                        "nat-announced-closed-media")
    assert analysis.verdict == "fail"
    codes = [f.code for f in analysis.findings]
    assert "capture_ended_early" not in codes
    errors = _errors(analysis)
    assert [f.code for f in errors] == ["announced_address_mismatch"] * 2
    assert "10.77.1.2:6001" in errors[0].message and "10.77.0.100" in errors[0].message
    assert "NDMP-aware translation" in errors[0].fix
    steps = analysis.sessions[0].steps
    assert [s.status for s in steps[3:5]] == ["missing", "missing"]


def test_announcements_before_an_open_control_connection_still_wait(tmp_path: Path) -> None:
    # The same capture cut before the FINs (frames 1-36): the session may go on after
    # the capture's end, so the announcements still cannot be judged.
    whole = tmp_path / "whole.pcap"
    with gzip.open(LAB / "nat-announced-closed-media.pcap.gz", "rb") as src, \
            whole.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    cut = tmp_path / "cut.pcap"
    subprocess.run(["editcap", "-r", str(whole), str(cut), "1-36"], check=True,
                   capture_output=True)
    analysis = _analyze(cut, "nat-announced-closed-media")
    assert analysis.verdict == "inconclusive"
    codes = [f.code for f in analysis.findings]
    assert codes.count("capture_ended_early") == 2
    assert "announced_address_mismatch" not in codes
