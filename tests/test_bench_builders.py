"""The benchmark's short-connections builder (bench/short_connections.py) makes a valid
capture: every copy is its own connection, tshark agrees on every count, and the TCP
checksums corrected for the new ports are right (tshark checks them)."""

from __future__ import annotations

import sys
from pathlib import Path

import tshark_fork
from test_tshark_counts import assert_matches_tshark, track

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import short_connections  # noqa: E402


def test_short_connections_capture(tmp_path: Path) -> None:
    path = tmp_path / "short.pcap"
    packets = short_connections.build(path, count=300)
    connections = track(path)
    assert len(connections) == 300
    assert sum(c.orig_pkts + c.resp_pkts for c in connections) == packets
    assert len({c.orig_p for c in connections}) == 300
    assert_matches_tshark(path, connections)
    bad = tshark_fork.run(
        ["tshark", "-n", "-r", str(path), "-o", "tcp.check_checksum:TRUE",
         "-Y", "tcp.checksum.status == 0"], check=True).stdout
    assert bad == ""
