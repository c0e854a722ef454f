"""The tracker's per-batch shortcuts decide exactly as the full judgements they skip.

A batch in time order (the usual one) skips work whose result is then known: the seam
look-ahead's clean cut (connections.seams: its end is clean), the search for a clock set
back (connections.acked_early: nothing is behind), and, in a capture set whose files'
heads are one file's, the pairing of sampled packets with another file's head
(connections.points: there is none). Each is compared here with the full judgement on
random inputs, orderly and not; nothing is timed.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from flowcheck.connections import seams
from flowcheck.connections.acked_early import AckedEarly
from flowcheck.connections.point_sample import Packets
from flowcheck.connections.points import CapturePoints

STEP = 1.0  # seconds behind: connections.clock.CLOCK_STEP_SECONDS's role


def _times(rng: np.random.Generator, n: int, orderly: bool) -> np.ndarray:
    base = float(rng.random() * 10)
    if orderly:
        return np.sort(base + rng.random(n))
    return base + rng.random(n) * float(rng.choice([0.001, 1.0, 10.0]))


def test_clean_cut_of_an_orderly_seam_equals_the_full_judgement(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    cases = []
    for case in range(3000):
        n, h = int(rng.integers(1, 12)), int(rng.integers(0, 8))
        tail = _times(rng, n, orderly=case % 3 == 0)
        head = (tail[-1] + rng.random(h) * (1 if case % 2 else -0.01) if case % 3 == 0
                else _times(rng, h, orderly=False))
        flows = (rng.integers(-1, 3, n), rng.integers(-1, 3, h)) if case % 2 else (None, None)
        cases.append((tail, head, *flows))
    fast = [seams.clean_cut(*case) for case in cases]
    assert sum(seams._in_order(case[0], case[1]) for case in cases) > 500
    monkeypatch.setattr(seams, "_in_order", lambda tail, head: False)
    assert fast == [seams.clean_cut(*case) for case in cases]


def test_acked_early_skips_only_batches_with_nothing_behind() -> None:
    """Where see() takes its shortcut (in time order from the time reached on), the full
    test would find no stretch behind and leave the same state."""
    rng = np.random.default_rng(5)
    taken = 0
    for case in range(3000):
        ts = _times(rng, int(rng.integers(1, 10)), orderly=case % 2 == 0)
        reached = None if case % 5 == 0 else float(ts[0] + rng.normal() * 2)
        state = AckedEarly(_behind=bool(case % 3 == 0), _next=bool(case % 4 == 0))
        if (reached is None or ts[0] >= reached - STEP) and (ts[1:] >= ts[:-1]).all():
            taken += 1
            full = copy.copy(state)
            search = full._stretch_begins(ts, STEP, reached)
            assert (search, full._next, full._behind) == (state._next, False, False)
    assert taken > 500


def _packets(rng: np.random.Generator, n: int, sources: list[int], fp: np.ndarray) -> Packets:
    return Packets(np.sort(rng.random(n)), np.arange(n), np.array(sources, np.int32),
                   rng.integers(60, 65, n).astype(np.int16), rng.integers(0, 9, n),
                   np.full(n, 0x10), np.zeros(n, bool), np.zeros(n, bool), fp)


@pytest.mark.parametrize("other_file", [False, True])
def test_heads_of_one_file_pair_as_the_full_match(monkeypatch: pytest.MonkeyPatch,
                                                  other_file: bool) -> None:
    """Sampled packets against the heads: skipped when heads and packets are all one
    file's (no pair of files), the same offsets learned as by the full match; a packet of
    another file still pairs with the head."""
    rng = np.random.default_rng(9)
    fp = rng.integers(0, 1 << 40, 50, dtype=np.uint64)
    learned = []
    for full in (False, True):
        points = CapturePoints()
        points.add_heads(_packets(np.random.default_rng(1), 50, [0] * 50, fp))
        if full:
            monkeypatch.setattr(points, "_head_source", None)
        later = np.random.default_rng(2)
        for _ in range(4):
            sources = [1 if other_file and k % 3 == 0 else 0 for k in range(20)]
            points.sample(_packets(later, 20, sources, fp[later.integers(0, 50, 20)]))
        learned.append({pair: (entry.recent, entry.copies) for pair, entry in
                        points.offsets.items()})
    assert learned[0] == learned[1]
    assert bool(learned[0].get((0, 1))) == other_file
