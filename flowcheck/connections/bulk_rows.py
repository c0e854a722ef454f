"""The rows of a batch's runs grouped by connection side, for bulk.apply_runs.

A run is one connection's plain packets in a batch (connections.bulk); apply_runs works
on segments, one per run and direction: key 2r holds run r's originator packets, 2r + 1
its responder's. `group_runs` gives the rows so grouped, and how: what was given, the
grouped rows, the runs' sizes, the order that groups them (None: already grouped) and the
rows per key. Pure numpy; per batch, never per connection's history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from flowcheck.arrays import stable_order

if TYPE_CHECKING:
    from flowcheck.connections.conn import ConnState

__all__ = ["group_runs", "one_run", "runs_grouped"]

# (run_rows, rows, sizes, order, per_key): group_runs's.
Grouped = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]


def group_runs(from_lower: np.ndarray, runs: Sequence[tuple[ConnState, np.ndarray]]
               ) -> Grouped:
    """(run_rows: the runs' rows in capture order, one run after the other; rows: grouped
    by side; sizes: each run's rows; order: what groups run_rows so, None when already
    grouped; per_key: the rows of each key 2r + (responder)) of `runs` (connection, its
    rows in the batch) of distinct connections, from_lower: each row's direction (from
    the lower endpoint)."""
    return one_run(from_lower, runs[0]) if len(runs) == 1 else runs_grouped(from_lower, runs)


def one_run(from_lower: np.ndarray, run: tuple[ConnState, np.ndarray]) -> Grouped:
    """group_runs for one run's rows (row numbers in capture order): (the rows as given;
    grouped by side, originator's first; the run's size as a 1-array; the order that
    groups them, None when one side sent them all; the rows per key 0, 1).
    A bulk transfer's batch is one run of its rows, most often a range of the batch: its
    sides then read by a slice, its order by two nonzero() (not a radix sort) and its
    grouped rows by an addition (not a gather: issue 7)."""
    c, rows = run
    n = rows.shape[0]
    lo = int(rows[0]) if n else 0
    # rows lo, lo + 1, ...: a flow taken in time order (by_time.in_time_order) may hold
    # a range's rows in another order.
    contiguous = n > 1 and int(rows[-1]) - lo + 1 == n and bool((rows[1:] > rows[:-1]).all())
    lower = from_lower[lo:lo + n] if contiguous else from_lower[rows]
    is_orig = lower if c.orig_is_lower else ~lower
    orig = int(np.count_nonzero(is_orig))
    per_key = np.array([orig, n - orig], np.int64)
    sizes = np.array([n], np.int64)
    if orig in (0, n):
        return rows, rows, sizes, None, per_key
    order = np.concatenate((np.flatnonzero(is_orig), np.flatnonzero(~is_orig)))
    return rows, (order + lo if contiguous else rows[order]), sizes, order, per_key


def runs_grouped(from_lower: np.ndarray, runs: Sequence[tuple[ConnState, np.ndarray]]
                 ) -> Grouped:
    """one_run's grouping for several runs (of distinct connections): rows grouped by
    run and side, segment 2r holding run r's originator packets, 2r+1 its responder's."""
    sizes = np.fromiter((rows.shape[0] for _, rows in runs), np.int64, len(runs))
    rows = run_rows = np.concatenate([rows for _, rows in runs])
    run_of = np.repeat(np.arange(len(runs)), sizes)
    orig_is_lower = np.fromiter((c.orig_is_lower for c, _ in runs), bool, len(runs))
    is_orig = from_lower[rows] == np.repeat(orig_is_lower, sizes)
    key = 2 * run_of + ~is_orig
    order = None
    if not (is_orig.all() or not is_orig.any()):  # else one direction per run: grouped
        order = stable_order(key, 2 * len(runs))
        rows = rows[order]
    # The segments from the rows per key (keys ascend in the grouped rows): no pass over
    # the grouped keys, which are not gathered.
    return run_rows, rows, sizes, order, np.bincount(key, minlength=2 * len(runs))
