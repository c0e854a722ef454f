"""Parked columns kept narrow: a column as a narrow difference from another
(flowcheck.connections.parked).

A parked block keeps every side's tracking state to the capture's end. After
compaction (one value: flowcheck.arrays.compact; small integers: a narrower type;
equal columns shared) about 20 columns of bench's short connections were still a full
int64 or float64 per side: sequence numbers (isn, last_raw, max_end, acked, ...) and
times (acked_ts, ...), about 300 bytes per connection. Most lie close to another
column: a side's sequence numbers to its base (or its peer's: the ACK numbers it sent),
its times to the connection's last SYN. `Offsets` keeps such a column as that
reference plus an int8/16/32 or float32 difference, made only where every value comes
back exactly (integer differences by their range, float32 ones checked bit for bit,
column by column: `narrowed`), else the column stays as it is.

An Offsets column answers what the block's readers ask of its arrays (`take`,
indexing, `item`: flowcheck.connections.short_resume, Parked.conn_state) with the
int64 / float64 values, NONE and nan included.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowcheck.arrays import compact
from flowcheck.connections.record_columns import NONE

# Integer differences from the narrowest type up; each type's lowest value marks NONE.
_INTEGERS = tuple(np.iinfo(dtype) for dtype in (np.int8, np.int16, np.int32))


class Offsets:
    """A read-only int64 or float64 column kept as `ref + delta` (module docstring).

    ref: the reference column (same shape; a view: base, its rows swapped, a per-flow
    column broadcast to both sides) or None (delta alone); delta: narrow integers (its
    type's lowest value: NONE) or float32 (nan: nan), possibly compacted.
    """

    __slots__ = ("ref", "delta", "missing", "dtype")

    def __init__(self, ref: np.ndarray | None, delta: np.ndarray, dtype: np.dtype) -> None:
        self.ref, self.delta, self.dtype = ref, delta, dtype
        self.missing = (np.iinfo(delta.dtype).min if delta.dtype.kind == "i" else None)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.delta.shape

    @property
    def nbytes(self) -> int:
        """The bytes the difference holds (the reference is another column's)."""
        return self.delta.nbytes if self.delta.flags.c_contiguous else self.delta.itemsize

    def _values(self, ref: np.ndarray | None, delta: np.ndarray) -> np.ndarray:
        out = delta.astype(self.dtype)
        if ref is not None:
            out += ref
        if self.missing is not None:
            out[delta == self.missing] = NONE
        return out

    def take(self, indices: Any, axis: int | None = None) -> np.ndarray:
        ref = None if self.ref is None else self.ref.take(indices, axis=axis)
        return self._values(ref, self.delta.take(indices, axis=axis))

    def __getitem__(self, key: Any) -> np.ndarray:
        return self._values(None if self.ref is None else self.ref[key], self.delta[key])

    def item(self, *index: int) -> int | float:
        d = self.delta.item(*index)
        if self.missing is not None and d == self.missing:
            return NONE
        return d if self.ref is None else self.ref.item(*index) + d

    def __deepcopy__(self, memo: dict[int, Any]) -> Offsets:
        return self  # read only, as the compacted columns (Parked.__deepcopy__)


def narrowed(values: np.ndarray, refs: tuple[np.ndarray, ...],
             absolute: bool = True) -> np.ndarray | Offsets:
    """values (an int64 or float64 column, C-contiguous) as the narrowest Offsets over one
    of refs (each values' shape) or, if absolute, none, whose every item is values' own
    (NONE, nan and -0.0 included, bit for bit); values itself when none is. Integers:
    the narrowest difference by its range (exact: below); floats: float32 differences,
    checked bit for bit, the first that comes back."""
    if not values.flags.c_contiguous or not values.size:
        return values
    candidates = (None, *refs) if absolute else refs
    if values.dtype == np.float64:
        for ref in candidates:
            with np.errstate(invalid="ignore", over="ignore"):
                delta = (values if ref is None else values - ref).astype(np.float32)
            column = Offsets(ref, compact(delta), values.dtype)
            if _same(column, values):
                return column
        return values
    if values.dtype != np.int64:
        return values
    have = values != NONE
    ranked = []
    for ref in candidates:
        with np.errstate(over="ignore"):
            delta = values if ref is None else values - ref
        low = int(delta.min(where=have, initial=0))
        high = int(delta.max(where=have, initial=0))
        for info in _INTEGERS:
            if info.min < low and high <= info.max:
                ranked.append((info.bits, len(ranked), info, ref, delta))
                break
    if not ranked:
        return values
    # Exact by construction, no check needed: the values and references are sequence
    # numbers, frames and windows (far from int64's ends), so a difference wraps only
    # against a reference of NONE, and then it is far out of every narrow range.
    _, _, info, ref, delta = min(ranked, key=lambda found: found[:2])
    return Offsets(ref, compact(np.where(have, delta, info.min).astype(info.dtype)),
                   values.dtype)


def _same(column: Offsets, values: np.ndarray) -> bool:
    """Every item of column is values', bit for bit (the readers take all of them)."""
    back = column[...]
    bits = f"u{values.itemsize}"
    if values.dtype.kind == "f":  # nan's bits are numpy's one nan either way
        return bool(np.array_equal(np.isnan(back), np.isnan(values))
                    and np.array_equal(np.where(np.isnan(back), 0.0, back).view(bits),
                                       np.where(np.isnan(values), 0.0, values).view(bits)))
    return bool(np.array_equal(back.view(bits), values.view(bits)))
