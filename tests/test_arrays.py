"""flowcheck.arrays.distinct: np.unique's values, dtype and order for integer arrays;
run_starts: the first place of each run of equal values, none for an empty array."""

from __future__ import annotations

import numpy as np

from flowcheck.arrays import distinct, run_starts


def test_distinct_equals_np_unique() -> None:
    rng = np.random.default_rng(7)
    cases = [np.empty(0, np.int64), np.array(5, np.int32), np.array([3], np.uint16),
             rng.integers(0, 4, 1000).astype(np.int8), rng.integers(-9, 9, (30, 4)),
             rng.integers(0, 1 << 40, 500, dtype=np.uint64), np.full(7, 2, np.int64)]
    for values in cases:
        got, expected = distinct(values), np.unique(values)
        assert got.dtype == expected.dtype
        assert got.tolist() == expected.tolist()


def test_run_starts_marks_the_first_of_each_run() -> None:
    for values in ([], [4], [4, 4], [1, 2, 2, 3, 3, 3]):
        ordered = np.array(values, np.int64)
        starts = run_starts(ordered)
        assert starts.shape == ordered.shape and starts.dtype == np.bool_
        assert ordered[starts].tolist() == sorted(set(values))
