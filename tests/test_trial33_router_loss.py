"""Field check trial 33 D2, on the real capture of tests/data/trial33 (README there): a
router's `tcpdump -i any` during a healthy 3-resource backup, 5% of forwarded packets
dropped, the hosts without TCP timestamps. The router dropped the media server's ACK of
one data connection's SYN-ACK, so the agent resent its SYN-ACK 1 s later bit for bit
(IPv4 ID 0, no TSval): equal to the first one's copies, far beyond their offset. Once
points.py compared such pairs, none of them a copy, decide() raised IndexError (exit 4).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import flowcheck.connections as connections
from flowcheck.config import build_config, load_file
from flowcheck.connections.points import CapturePoints
from flowcheck.pipeline import analyze, read_traffic

DATA = Path(__file__).resolve().parent / "data" / "trial33"


def test_router_capture_with_a_resent_syn_ack_passes() -> None:
    config = build_config(load_file(DATA / "clean-3-resources.nots-loss5.rany.toml"))
    traffic = read_traffic([str(DATA / "clean-3-resources.nots-loss5.rany.pcap.gz")], config)
    analysis = analyze(traffic, config)
    assert analysis.verdict == "pass"
    assert {f.code for f in analysis.findings if str(f.severity) in ("error", "warning")
            } <= {"capture_loss"}
    # The resent SYN-ACK stays a packet sent again, not a copy of the first one.
    # (frames 460 and 469; 461 and 470 are their egress copies).
    [resent] = [c for c in traffic.connections if (c.orig_p, c.resp_p) == (5003, 6002)]
    assert resent.synack_frames == [460, 469]
    assert "capture_duplicates" in {f.code for f in analysis.findings}


def test_one_resend_equal_to_its_original_is_no_second_capture_point(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The resent SYN-ACK's pair with the first one's copy, 1 s apart, switched on the
    capture-point comparison: the file was read a second time, every packet then
    compared with a second of earlier ones. The router's copies are microseconds apart:
    one capture point, read once."""
    plans = []
    plan = connections._plan

    def spy(points: CapturePoints, positions: list[int]
            ) -> tuple[dict[int, float], list[tuple[int, int, float]]]:
        plans.append(positions)
        return plan(points, positions)

    monkeypatch.setattr(connections, "_plan", spy)
    connections.track_connections([str(DATA / "clean-3-resources.nots-loss5.rany.pcap.gz")])
    assert plans == []
