"""flowcheck.connections.parked_columns: a parked column kept as a narrow difference from
another gives back every value as it was (NONE, nan and -0.0 included), and a column no
narrow difference fits stays the array it was."""

from __future__ import annotations

import numpy as np

from flowcheck.connections.parked_columns import Offsets, narrowed
from flowcheck.connections.record_columns import NONE


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    bits = f"u{a.itemsize}"
    return a.dtype == b.dtype and np.array_equal(a.view(bits), b.view(bits))


def test_sequence_numbers_near_their_base_are_kept_as_small_differences() -> None:
    base = np.array([[4_000_000_000, 17, NONE], [5, 2**31, 9]], np.int64)
    values = np.array([[4_000_000_001, NONE, NONE], [NONE, 2**31 + 300, 9]], np.int64)
    kept = narrowed(values, (base, base[::-1]))
    assert isinstance(kept, Offsets) and kept.delta.itemsize == 2
    assert _same_bits(kept.take(np.arange(3), axis=1), values)
    assert _same_bits(kept[...], values)
    assert [kept.item(r, i) for r in (0, 1) for i in range(3)] == values.reshape(-1).tolist()
    assert _same_bits(kept.take(np.array([2, 0]), axis=1), values[:, [2, 0]])


def test_a_value_without_its_reference_keeps_the_column_whole() -> None:
    base = np.array([[NONE, 1], [2, 3]], np.int64)
    values = np.array([[1 << 40, 5], [1 << 41, 9]], np.int64)  # no reference and too far
    assert narrowed(values, (base,)) is values


def test_times_come_back_bit_for_bit_or_stay_float64() -> None:
    syn = np.array([1_700_000_000.123456, 1_700_000_100.5, np.nan])
    ref = np.broadcast_to(syn, (2, 3))
    acked = np.array([[1_700_000_000.123789, np.nan, np.nan],
                      [1_700_000_001.000001, 1_700_000_100.5, np.nan]])
    kept = narrowed(acked, (ref,))
    assert isinstance(kept, Offsets) and kept.delta.dtype == np.float32
    back = kept.take(np.arange(3), axis=1)
    assert np.array_equal(np.isnan(back), np.isnan(acked))
    assert np.array_equal(back[~np.isnan(back)], acked[~np.isnan(acked)])
    assert [kept.item(1, i) for i in range(2)] == acked[1, :2].tolist()
    # Hours apart: a float32 difference loses microseconds, so the column stays.
    far = np.array([[1_700_036_000.000001, 1.0, 2.0], [3.0, 4.0, 5.0]])
    assert narrowed(far, (ref,)) is far
    signed = np.array([-0.0, 0.25])
    kept = narrowed(signed, ())
    assert _same_bits(kept[...], signed)
