"""Packets the sniffer lost are not packets the network dropped."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

NDMJOB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"


def test_lost_synack_is_not_a_dropped_data_connection(tmp_path: Path) -> None:
    # Frame 13 of v4-backup.pcap is the data connection's SYN-ACK; 9 and 17 are control
    # messages. Without them the data still flows both ways (history SADaFf).
    lossy = tmp_path / "lossy.pcap"
    subprocess.run(["editcap", str(NDMJOB / "v4-backup.pcap"), str(lossy), "9", "13", "17"],
                   check=True, capture_output=True)
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    analysis = analyze(read_traffic([str(lossy)], config), config)
    [data] = [c for c in analysis.traffic.connections if c.role == "data"]
    assert not data.synack_frames and "h" not in data.history
    assert analysis.verdict == "pass"
    codes = {f.code for f in analysis.findings}
    assert "data_unanswered" not in codes and "handshake_incomplete" not in codes
    assert "ndmp_partial" in codes  # the lost control bytes are said, as a warning
    assert [s.kind for s in analysis.sessions] == ["backup"]
    assert analysis.sessions[0].data_connections == [data.uid]
