"""The bulk runs' per-row passes that branch runs cut (issue 7), against what they replace.

- History letters: a segment's first row of a letter is looked for only when some
  segment of the call lacks the letter (a steady connection shows D and A already) and
  some row has it; the connections stay the reference path's.
- reordering_rows.last_where: each segment's last row of a kind from the rows found,
  as np.maximum.reduceat over np.where did; _last_found (the short pass's: from each
  row's segment) the same.
- reordering_rows.rising: in-order rows are their own running maximum.
- reordering_rows.AtRows: a column read at rows on demand is the gathered column's read.

Nothing is timed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_connections_finish_cost import CLEAN, clean
from test_connections_states import run

import flowcheck.connections.bulk_sides as bulk_sides
import flowcheck.connections.runs as runs
from flowcheck.connections.reordering_rows import AtRows, _last_found, last_where, rising


def _segments(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random segment starts (ascending, first 0) of n rows."""
    cuts = np.flatnonzero(rng.random(n - 1) < 0.2) + 1
    return np.concatenate([[0], cuts]).astype(np.int64)


@pytest.mark.parametrize("seed", range(20))
def test_last_where_equals_the_reduction(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    starts = _segments(rng, n)
    mask = rng.random(n) < rng.choice([0.0, 0.1, 0.5, 1.0])
    expected = np.maximum.reduceat(np.where(mask, np.arange(n), -1), starts)
    got = last_where(mask.nonzero()[0], starts, n)
    assert got.tolist() == expected.tolist()
    # The short pass's form, from each row's segment (by a scatter when the segments
    # are many for the rows found, else by bisection): the same.
    for many in (starts, np.arange(n)):  # the segments as drawn; one row each
        side = np.repeat(np.arange(many.shape[0]), np.diff(np.append(many, n)))
        reduced = np.maximum.reduceat(np.where(mask, np.arange(n), -1), many)
        assert _last_found(mask.nonzero()[0], many, side, n).tolist() == reduced.tolist()


@pytest.mark.parametrize("seed", range(20))
def test_rising_says_whether_values_are_their_running_maximum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    starts = _segments(rng, n)
    segment = np.repeat(np.arange(starts.shape[0]), np.diff(np.append(starts, n)))
    steps = rng.integers(-1 if seed % 2 else 0, 5, n)
    values = np.cumsum(steps) - 1000 * segment  # each segment starting lower
    running = np.concatenate([np.maximum.accumulate(values[segment == s])
                              for s in range(starts.shape[0])])
    assert rising(values, segment) == bool((running == values).all())


def test_at_rows_reads_as_the_gathered_column() -> None:
    column = np.arange(100, 120, dtype=np.int64) * 3
    rows = np.array([7, 2, 19, 0, 5], np.int64)
    lazy, gathered = AtRows(column, rows), column[rows]
    assert lazy[3] == gathered[3]
    assert lazy[np.array([4, 0, 2])].tolist() == gathered[np.array([4, 0, 2])].tolist()
    assert lazy[1:4].tolist() == gathered[1:4].tolist()


def test_steady_connections_make_no_letter_pass(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 200 packets of 12 connections sending data both ways, interleaved:
    once every connection's history shows data both ways (D, d), a bulk call over their
    rows (all data: no A, W, T or G either) looks for no letter's first row, and the
    connections are the reference path's."""
    passes: list[int] = []
    calls: list[int] = []
    real_first, real_apply = bulk_sides.first_where, runs.apply_runs

    def counting_first(*args: object) -> np.ndarray:
        passes[-1] += 1
        return real_first(*args)  # type: ignore[arg-type]

    def counting_apply(*args: object, **kwargs: object) -> int:
        passes.append(0)
        runs_given = args[2]
        calls.append(all(set("Dd") <= set(c.record.history)
                         for c, _ in runs_given))  # type: ignore[attr-defined]
        return real_apply(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bulk_sides, "first_where", counting_first)
    monkeypatch.setattr(runs, "apply_runs", counting_apply)
    flows = [clean(5001 + k) for k in range(CLEAN)]
    packets = [p for together in zip(*flows, strict=True) for p in together]
    connections = run(tmp_path, packets, chunk=200)
    steady = [n for n, shown in zip(passes, calls, strict=True) if shown]
    assert steady, "no bulk call over connections showing D and d"
    assert steady == [0] * len(steady)
    assert any(passes), "the first calls look for the letters"
    assert connections == run(tmp_path, packets, chunk=200, fast=False)
