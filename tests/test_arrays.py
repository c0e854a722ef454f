"""flowcheck.arrays.distinct: np.unique's values, dtype and order for integer arrays;
changes: the first place of each run of equal values, none for an empty array; one_of:
np.isin's answer for a few integer choices; median: np.median's value, bit for bit."""

from __future__ import annotations

import numpy as np

from flowcheck.arrays import (
    changes,
    distinct,
    group_ends,
    group_sizes,
    group_starts,
    median,
    one_of,
    stable_order,
)


def test_distinct_equals_np_unique() -> None:
    rng = np.random.default_rng(7)
    cases = [np.empty(0, np.int64), np.array(5, np.int32), np.array([3], np.uint16),
             rng.integers(0, 4, 1000).astype(np.int8), rng.integers(-9, 9, (30, 4)),
             rng.integers(0, 1 << 40, 500, dtype=np.uint64), np.full(7, 2, np.int64)]
    for values in cases:
        got, expected = distinct(values), np.unique(values)
        assert got.dtype == expected.dtype
        assert got.tolist() == expected.tolist()


def test_one_of_equals_np_isin() -> None:
    """Every dtype decode compares (link types, ethertypes and kinds with negative
    sentinels, IP protocols, ports), choices out of the dtype's range included."""
    rng = np.random.default_rng(11)
    arrays = [np.empty(0, np.int64), rng.integers(-3, 70_000, 500), np.array([0x86DD]),
              rng.integers(0, 1 << 16, 400).astype(np.uint16),
              rng.integers(0, 256, 300).astype(np.uint8), rng.integers(-2, 3, (20, 3))]
    choices = [(), (0,), (-1,), (0x0800, 0x86DD, 0x0806, 0, -1, -2), (4, 17, 41, 47),
               (4789,), (1 << 20, 65_535), tuple(range(0, 1 << 16, 97))]
    for values in arrays:
        for picked in choices:
            got = one_of(values, picked)
            expected = np.isin(values, np.array(picked, np.int64))
            assert got.shape == expected.shape and got.dtype == np.bool_
            assert got.tolist() == expected.tolist(), (values.dtype, picked)


def test_median_equals_np_median() -> None:
    rng = np.random.default_rng(5)
    for size in (1, 2, 3, 4, 63, 64, 65):
        for values in (rng.normal(0.0, 3.0, size), rng.integers(-5, 5, size) * 0.1,
                       np.full(size, 65.000123)):
            got, expected = median(values), float(np.median(values))
            assert got == expected, (size, got, expected)
            assert type(got) is float


def test_changes_marks_the_first_of_each_run() -> None:
    for values in ([], [4], [4, 4], [1, 2, 2, 3, 3, 3]):
        ordered = np.array(values, np.int64)
        starts = changes(ordered)
        assert starts.shape == ordered.shape and starts.dtype == np.bool_
        assert ordered[starts].tolist() == sorted(set(values))


def test_group_helpers_equal_the_numpy_expressions_they_replace() -> None:
    """group_starts, changes, group_ends and group_sizes: the np.diff / np.append /
    np.flatnonzero forms the tracker's bulk path used, values and dtypes."""
    rng = np.random.default_rng(11)
    for case in range(400):
        n = int(rng.integers(0, 40))
        values = rng.integers(0, 5, n)
        if case % 2:
            values = np.sort(values)  # grouped, as the bulk path's segments are
        starts = group_starts(values)
        expected = np.flatnonzero(np.diff(values, prepend=-1))
        assert starts.dtype == expected.dtype and starts.tolist() == expected.tolist()
        segment = changes(values).cumsum() - 1
        assert segment.tolist() == (np.cumsum(np.diff(values, prepend=-1) != 0) - 1).tolist()
        ends, sizes = group_ends(starts, n), group_sizes(starts, n)
        assert ends.dtype == sizes.dtype == np.int64
        assert ends.tolist() == ((np.append(expected[1:], n) - 1).tolist() if n else [])
        assert sizes.tolist() == np.diff(np.append(expected, n)).tolist()


def test_stable_order_equals_a_stable_argsort() -> None:
    rng = np.random.default_rng(13)
    for count in (1, 2, 7, 1 << 15, (1 << 15) + 1, 1 << 20):
        for n in (0, 1, 50, 6000):
            labels = rng.integers(0, count, n)
            if count > 2:
                labels[: n // 2] = count - 1  # the highest label, often
            assert stable_order(labels, count).tolist() == np.argsort(
                labels, kind="stable").tolist()
