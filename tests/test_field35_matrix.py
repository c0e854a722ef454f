"""Field check 35's run of the seeded lab matrix (captures/field35-matrix): the control
connection's SYNs rejected with ICMP admin-prohibited, captured with `tcpdump -Q out` on
the media server (its SYNs only, never the rejects). control_unanswered said a SYN-ACK
lost on the way back looks the same as none; a reject the capture lacks does too.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

CASE = Path(__file__).resolve().parents[1] / "captures" / "field35-matrix" / \
    "control-rejected-icmp-dir-out"


def test_rejects_a_one_direction_capture_lacks_are_named() -> None:
    config = build_config(load_file(CASE.with_suffix(".toml")))
    result = analyze(read_traffic([str(CASE.with_suffix(".pcap"))], config), config)
    assert result.verdict == "fail"
    [found] = [f for f in result.findings if f.code == "control_unanswered"]
    assert "may hold one direction only" in found.message
    assert "or a reject (RST, ICMP unreachable) the capture lacks, looks the same as no " \
        "answer at all. The retried SYNs show that no answer reached 10.77.0.1" in found.message
