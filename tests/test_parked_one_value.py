"""A parked column holding one value (flowcheck.arrays.compact) skips work without changing
a value: compact still scans a column whose ends and middle agree, parked.commit's
_one_value broadcasts only a column one value fills, and short_resume's _taken loads
a compacted column into the pass's arrays as the take of every row did (speedF)."""

from __future__ import annotations

import numpy as np

from flowcheck.arrays import compact
from flowcheck.connections.parked import _broadcast, _one_value
from flowcheck.connections.record_columns import NONE
from flowcheck.connections.short_resume import _taken


def test_compact_keeps_a_column_whose_ends_and_middle_agree_but_not_the_rest() -> None:
    values = np.full(101, 7, np.int64)
    values[13] = 8  # first, last and middle (50) are all 7
    assert compact(values) is values
    signed = np.zeros(9)
    signed[2] = -0.0  # the same number, not the same bits
    assert compact(signed) is signed
    nan = np.full((2, 5), np.nan)
    one = compact(nan)
    assert one is not nan and not any(one.strides) and np.isnan(one).all()


def test_one_value_broadcasts_to_the_kept_flows_only_a_column_one_value_fills() -> None:
    values = np.full((2, 50), NONE, np.int64)
    kept = _one_value(values, 40)
    assert kept is not None and kept.shape == (2, 40) and kept.dtype == np.int64
    assert not kept.flags.writeable and _broadcast(kept)
    assert (kept == NONE).all()
    flows = np.full(50, -1, np.int16)
    assert _one_value(flows, 33).shape == (33,)  # type: ignore[union-attr]
    values[1, 49] = 5  # one flow (even one not kept) differs: taken as before
    assert _one_value(values, 40) is None
    assert not _broadcast(values.take(np.arange(40), axis=1))


def test_taken_loads_a_compacted_column_as_the_take_of_every_row() -> None:
    of = np.array([3, 0, 7, 7, 2])
    both = np.arange(10)
    for column in (np.full((2, 8), -1, np.int16), np.full((2, 8), np.nan),
                   np.ones((2, 8), bool), np.arange(16, dtype=np.int64).reshape(2, 8)):
        squeezed = compact(column)
        # The pass's arrays are int64 where the parked column was narrowed (int16 TTLs).
        taken = np.zeros(10, np.int64 if column.dtype.kind == "i" else column.dtype)
        expected = taken.copy()
        taken[both] = _taken(squeezed, of)
        expected[both] = column.take(of, axis=1).reshape(-1)
        assert np.array_equal(taken, expected, equal_nan=column.dtype.kind == "f")
    flow = np.full(8, 2.5)
    out = np.zeros(5)
    out[np.arange(5)] = _taken(compact(flow), of, sides=False)
    assert (out == 2.5).all()
    plain = np.arange(8.0)
    assert np.array_equal(_taken(plain, of, sides=False), plain[of])
