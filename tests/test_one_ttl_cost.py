"""The one-TTL rule's cost per pair does not grow with the pairs found before
(flowcheck.connections.one_ttl, points.CapturePoints.sample).

Since orderfix (review 54f), points.py judges each of a sample's one-TTL pairs at its own
packet, one OneTtlFiles.learn each. OneTtlPairs.shared then summed the packets compared
of every connection holding a pair, at each pair: a capture of many connections with one
bit-identical resend each (IPv4 ID constant, every packet sampled; or IPv6 or ID 0
without timestamps, 1 in 64) never shows a second point, and its pairs cost the
connections paired before them (20,000 such connections, 480,000 packets: `flowcheck
connections` 4.7 CPU-s before orderfix, 21.9 after; 13 million generator steps in
one_ttl.py for 5,000). Nothing is timed: the Python calls made in one_ttl.py are
counted, as tests/test_analyze_cost.py counts its stages'.
"""

from __future__ import annotations

import sys
from types import FrameType

import numpy as np

from flowcheck.connections import one_ttl
from flowcheck.connections.point_sample import Packets
from flowcheck.connections.points import CapturePoints

PACKETS = 20  # per connection, then one resent bit for bit
RESENT = 5  # the resent one
RTO = 0.3  # seconds from the original to its resend


def resend_sample(connections: int) -> Packets:
    """The sampled packets of `connections` connections, 10 ms apart, each of PACKETS
    packets 0.1 ms apart and its RESENT-th packet again RTO later (the same file, TTL
    and fingerprint: a one-TTL pair), in time order."""
    rows = []
    for c in range(connections):
        start = c * 0.01
        for k in range(PACKETS):
            rows.append((start + k * 1e-4, c * PACKETS + k, c + 1, k % 2 == 0))
        rows.append((start + RESENT * 1e-4 + RTO, c * PACKETS + RESENT, c + 1, False))
    rows.sort()
    ts, fp, conn, lower = (np.array(column) for column in zip(*rows, strict=True))
    n = ts.shape[0]
    return Packets(ts, np.arange(1, n + 1), np.zeros(n, np.int32), np.full(n, 64, np.int16),
                   np.full(n, 64), np.full(n, 0x18), np.zeros(n, bool), np.zeros(n, bool),
                   fp.astype(np.uint64), conn.astype(np.uint64), lower.astype(bool))


def calls_in_one_ttl(connections: int) -> tuple[int, CapturePoints]:
    """(Python calls made in one_ttl.py while CapturePoints.sample takes the sample of
    `connections` connections with one resend each in one batch, the points)."""
    points = CapturePoints()
    sample = resend_sample(connections)
    counted = 0

    def count(frame: FrameType, event: str, _: object) -> None:
        nonlocal counted
        if event == "call" and frame.f_code.co_filename == one_ttl.__file__:
            counted += 1

    sys.setprofile(count)
    try:
        points.sample(sample)
    finally:
        sys.setprofile(None)
    return counted, points


def test_a_pairs_cost_does_not_grow_with_the_pairs_before() -> None:
    few, points = calls_in_one_ttl(100)
    assert not points.one_ttl.files and not points.wanted  # 1 pair in 21: resends
    entry = points.one_ttl._pairs[0]
    assert sum(entry.pairs["sample"].values()) == 100
    many, points = calls_in_one_ttl(400)
    assert not points.one_ttl.files
    # Each pair the same few calls (learn, add, offset, shared; fewer before AGREEING
    # pairs): 4 times the pairs, 4 times the calls (579, 2,379); summing over the
    # connections paired before, about 16 times (5,508, 82,158).
    assert many < 5 * few, (few, many)


def test_the_kept_totals_are_the_sums_over_the_connections_paired() -> None:
    """shared's totals, kept as counted, equal the sums it took at each call before."""
    _, points = calls_in_one_ttl(300)
    entry = points.one_ttl._pairs[0]
    found, compared = entry.pairs["sample"], entry.packets["sample"]
    assert entry.totals["sample"] == (
        sum(found.values()), sum(compared[connection] for connection in found))
    assert entry.totals["sample"] == (300, 300 * (PACKETS + 1))
