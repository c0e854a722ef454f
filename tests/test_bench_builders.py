"""The benchmark's builders make what they say.

- short connections (bench/short_connections.py): every copy is its own connection,
  tshark agrees on every count, and the TCP checksums corrected for the new ports are
  right (tshark checks them);
- the busy host's sniffer (bench/lab_builds.py StallingSniffer, `ndmjob-1g-sniffloss`):
  a real ndmjob backup in the lab, the frames missing from the file are the ones the
  kernel counted as dropped, and they leave holes in the data connection (root only).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import tshark_fork
from test_tshark_counts import assert_matches_tshark, track

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import lab_builds  # noqa: E402
import short_connections  # noqa: E402

from flowcheck.lab.netns import Lab  # noqa: E402


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


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, tcpdump)")
def test_stalling_sniffer_drops_in_the_kernel(tmp_path: Path) -> None:
    """32 MiB backed up while the writer stalls 30 ms every 20 ms behind a 1 MiB ring:
    the kernel drops (tcpdump's own count: at most what its filter received less what
    it captured; a few received as it stops are neither), and every frame tcpdump
    captured is in the file."""

    def sniffer(lab: Lab, path: Path) -> lab_builds.Sniffer:
        return lab_builds.StallingSniffer(lab, path, period=0.02, stall=0.03, buffer_kib=1024)

    path = tmp_path / "busy.pcap"
    stats = lab_builds.ndmjob_backup(path, 32 << 20, sniffer)
    captured, received = (int(stats.split(f" packets {word}")[0].split()[-1])
                          for word in ("captured", "received"))
    dropped = lab_builds.dropped(stats)
    assert 0 < dropped <= received - captured, stats
    connections = track(path)
    assert sum(c.orig_pkts + c.resp_pkts for c in connections) == captured
    data = max(connections, key=lambda c: c.orig_bytes + c.resp_bytes)
    assert data.missed_bytes > 0 and "G" in data.history.upper()
    assert_matches_tshark(path, connections)
