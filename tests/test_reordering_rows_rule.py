"""reordering_rows.fill_is_retransmission_rows is reordering.fill_is_retransmission, row
by row: the bulk path judges a run's rows below next_seq with it (bulk_judge.RunJudge),
the per-packet path each packet with the other, and the two paths must agree exactly.

Random rows around every edge of the rule: unknown next_seq, ACK number or times (None
in the scalar rule; NONE and nan in the columns), sequence numbers about the 32-bit
wrap, times on the microsecond rounding's half (Python's round and numpy's rint both
round half to even), exactly at the fast-retransmission window (20 ms) and at the
round-trip threshold, no round trip (None, 0).
"""

from __future__ import annotations

import random

import numpy as np

from flowcheck.connections.reordering import NONE, fill_is_retransmission
from flowcheck.connections.reordering_rows import fill_is_retransmission_rows

M32 = 0xFFFFFFFF


def _rows(count: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        seq = rng.choice([rng.randrange(1 << 32), M32 - rng.randrange(3000),
                          rng.randrange(3000)])
        plen = rng.choice([1, 100, 1448, rng.randrange(1, 65536)])
        ts = 1_700_000_000 + rng.random() * 100
        next_seq = rng.choice([None, (seq + plen) & M32, (seq + plen + rng.randrange(
            -5000, 5000)) & M32])
        rtt = rng.choice([None, 0.0, 0.0004, 0.0025, rng.random() / 100])
        gap = rng.choice([0.0, 0.0000005, 0.0000015, 0.0029995, 0.003, 0.02, 0.0199995,
                          0.0200005, rng.random() / 50, -rng.random() / 1000,
                          rtt or 0.0])
        next_seq_ts = rng.choice([None, ts - gap, ts - rng.random() / 100])
        ack_sent = rng.choice([None, seq, (seq + plen) & M32, (seq + plen + 1) & M32,
                               (seq - rng.randrange(1, 4000)) & M32, rng.randrange(1 << 32)])
        ack_sent_ts = rng.choice([None, ts - gap, ts - 0.02, ts - 0.0199995, ts + 0.001])
        dup_acks = rng.choice([0, 1, 2, 3, 7])
        rows.append((seq, plen, ts, next_seq, next_seq_ts, rtt, dup_acks, ack_sent,
                     ack_sent_ts))
    return rows


def test_rows_rule_is_the_rule_row_by_row() -> None:
    rows = _rows(20_000, 7)
    columns = list(zip(*rows, strict=True))

    def ints(values: tuple) -> np.ndarray:
        return np.array([NONE if v is None else v for v in values], np.int64)

    def times(values: tuple) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], np.float64)

    seq, plen, ts, next_seq, next_seq_ts, rtt, dup_acks, ack_sent, ack_sent_ts = columns
    judged = fill_is_retransmission_rows(
        ints(seq), ints(plen), times(ts), ints(next_seq), times(next_seq_ts),
        np.array([v or 0.0 for v in rtt], np.float64), ints(dup_acks), ints(ack_sent),
        times(ack_sent_ts))
    expected = [fill_is_retransmission(*row) for row in rows]
    assert judged.tolist() == expected
    # Both answers are common: the rows reach every branch of the rule.
    assert expected.count(False) > 500 and expected.count(True) > 500
