"""flowcheck.arrays.distinct: np.unique's values, dtype and order for integer arrays."""

from __future__ import annotations

import numpy as np

from flowcheck.arrays import distinct


def test_distinct_equals_np_unique() -> None:
    rng = np.random.default_rng(7)
    cases = [np.empty(0, np.int64), np.array(5, np.int32), np.array([3], np.uint16),
             rng.integers(0, 4, 1000).astype(np.int8), rng.integers(-9, 9, (30, 4)),
             rng.integers(0, 1 << 40, 500, dtype=np.uint64), np.full(7, 2, np.int64)]
    for values in cases:
        got, expected = distinct(values), np.unique(values)
        assert got.dtype == expected.dtype
        assert got.tolist() == expected.tolist()
