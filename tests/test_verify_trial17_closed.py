"""A session that ended inside the capture is judged on what it did (new-user trial 17).

Real captures from trial 17's lab (captures/lab-trial17, their .toml say how each was
made), the flowcheck.lab agent and media server through a router:
- mtu-blackhole-media (D6): the router's link has MTU 1000 and it drops its own ICMP
  "fragmentation needed". The agent's data never arrives; 30 s later the media server
  closes the data and control connections. It read control_closed ("the job engine
  stopped, restarted or crashed"; see the event log) although the agent's ACK shows
  15,928 B sent that never arrived.
"""

from __future__ import annotations

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
    assert "15928 B on it that never arrived" in finding.message
    assert "path MTU black hole" in finding.message and "RFC 2923" in finding.message
    assert "closed the control connection too (FIN, frame 40)" in finding.message
    assert "crash" not in finding.fix and "event log" not in finding.fix
    assert "type 3 code 4" in finding.fix and "maxseg" in finding.fix
    assert "RFC 4821" in finding.fix
    assert 40 in finding.frames

