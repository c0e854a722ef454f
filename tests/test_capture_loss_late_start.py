"""Trial 32 D3: a capture started late joins a data connection mid-stream, its first
captured segments stale reordered ones, with gaps between them that the receiver's
first captured ACK already covers: those bytes arrived before the capture began, so they
are no sniffer loss (tcpdump dropped nothing). tests/data/trial32-late (README there)."""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config
from flowcheck.pipeline import read_traffic
from flowcheck.verify.loss import check_capture_loss

DATA = Path(__file__).resolve().parent / "data" / "trial32-late"


def test_gaps_below_the_receivers_first_ack_are_no_sniffer_loss() -> None:
    traffic = read_traffic([str(DATA / "reord-late-head.pcap")], build_config())
    [data] = [c for c in traffic.connections if {c.orig_p, c.resp_p} == {5002, 6002}]
    assert data.sniffer_missed == 0
    assert data.missed_bytes == 0 and data.gaps == 0
    assert check_capture_loss(traffic.connections, traffic.captures) == []
