"""connections.replays on a capture whose clock never steps back: per batch it pays for
what a later step back can use, not for what none can.

Nothing is timed. What a step back can use of the moments before it is, per flow key,
its numbers (sequence numbers, IP IDs), its latest time and its longest gap over
REPLAY_STEP (a ring's part joined out of order falls in it). Gaps that long are rare: a
flow can hold one only where its packets spread over REPLAY_STEP in a batch or it comes
back after a pause that long; the packets of the other flows need no look (before,
Spans._gaps was given every packet of every batch in flow order: a gather, a difference
and a comparison per packet, 10% of Spans.mark on bench's short200k). The table keeps
one key per flow key seen (never per batch, connection or packet).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_connections_states import pkt
from test_connections_util import ACK, FIN, SYN, read_batches
from test_connections_util import write_pcap as write

from flowcheck.connections import ConnectionTracker
from flowcheck.connections.replays import Spans

SHORT = 700  # short connections, one every 10 ms, each 7 packets 1 ms apart
LONG_PORT = 5001
PAUSE = (2.0, 5.0)  # s: the long connection sends nothing between these


def short_connection(port: int) -> list[bytes]:
    """A handshake, one data segment and its ACK, FIN both ways: 7 packets."""
    return [pkt(True, SYN, 100, mport=port), pkt(False, SYN | ACK, 900, 101, mport=port),
            pkt(True, ACK, 101, 901, mport=port),
            pkt(True, ACK, 101, 901, data=50, mport=port),
            pkt(False, ACK, 901, 151, mport=port),
            pkt(True, FIN | ACK, 151, 901, mport=port),
            pkt(False, FIN | ACK, 901, 152, mport=port)]


def capture(tmp_path: Path) -> tuple[Path, int]:
    """SHORT short connections over 7 s and one long connection sending a segment every
    50 ms, silent during PAUSE, in time order (no step back); and the long one's
    packets."""
    timed: list[tuple[float, bytes]] = []
    for n in range(SHORT):
        timed += [(0.01 * n + 0.001 * k, p)
                  for k, p in enumerate(short_connection(20000 + n))]
    moments = [t / 20 for t in range(0, 141) if not PAUSE[0] < t / 20 < PAUSE[1]]
    timed += [(t, pkt(True, ACK, 1000 + 10 * k, 900, data=10, mport=LONG_PORT))
              for k, t in enumerate(moments)]
    timed.sort(key=lambda item: item[0])
    path = write(tmp_path / "no-step.pcap", 1, [p for _, p in timed],
                 times=[t for t, _ in timed])
    return path, len(moments)


def test_a_capture_without_a_step_back_looks_for_gaps_in_the_flows_that_can_hold_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """700 short connections and a long one pausing 3 s, read 500 packets a batch: the
    gaps are looked for among the long connection's packets only (those of the batch
    it comes back in), the 3 s kept as its longest gap; the table holds the 701 flow
    keys, its arrays room for them (by the eighth they grow by), nothing per batch."""
    path, long_packets = capture(tmp_path)
    looked: list[int] = []
    gaps = Spans._gaps

    def counted(self: Spans, ts: np.ndarray, *rest: object) -> None:
        looked.append(ts.shape[0])
        gaps(self, ts, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(Spans, "_gaps", counted)
    tracker = ConnectionTracker()
    batches = 0
    for batch in read_batches(path, chunk=500):
        tracker.feed(batch)
        batches += 1
    assert len(tracker.finish()) == SHORT + 1
    assert batches >= 10
    assert 0 < sum(looked) <= long_packets
    assert len(looked) == 1  # the batch the long connection comes back in
    spans = tracker.copies.replays
    assert spans.steps.went_from == -np.inf  # no step back
    table = spans._table
    assert table.size == SHORT + 1
    assert spans._last_ms.shape[0] <= max(256, int(1.125 * table.size) + 1)
    kept = spans._gap_to.astype(np.int64) - spans._gap_from
    assert abs(int(kept.max()) - 1000 * (PAUSE[1] - PAUSE[0])) <= 1
    assert np.count_nonzero(kept) == 1
