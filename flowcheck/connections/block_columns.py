"""The column types of a parked block's records (flowcheck.connections.block_records):
how a column of Connection.__init__'s arguments is kept until its rows' records are
made, and its values then (`bulk`, `cell`).

Columns are lists (one value per new row), `Same` (one value for every row: a column of
defaults), `Uids` (the rows' uid numbers; the "C<n>" texts made with the records), numpy
arrays (numbers: counts, frames, times, flags; integers in the narrowest type that holds
them), `Nullable` (numbers some rows of which are None), `Coded` (indexes into a table
of objects: addresses, ports), `Sparse` (None but at a few rows, made when read: side
evidence) or record_columns.FrameLists. A number kept to the capture's end is 1-8 bytes
in an array, where a list held a pointer and, past 256, an object of its own (bench's
(c) 200k: about 40 MB of the 85 MB of columns, kept until every row is read). Values
read from them are Python's (`item`, `tolist`), as the lists held.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from operator import is_, itemgetter
from typing import Any

import numpy as np

from flowcheck.connections.flows import port_table
from flowcheck.connections.record_columns import FrameLists, with_none
from flowcheck.model.frames import NO_FRAMES


class Same:
    """A column holding one value for every row."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __getitem__(self, i: int) -> Any:
        return self.value

    # No length: iterating a Same by __getitem__ would never end (readers go by row).
    __iter__ = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Same:
        from copy import deepcopy

        return Same(deepcopy(self.value, memo))


class Uids:
    """The rows' uids ("C<n>", Connection.uid) kept as their numbers (int64): the
    texts, about 55 bytes each, are made with the records."""

    __slots__ = ("numbers",)

    def __init__(self, numbers: np.ndarray) -> None:
        self.numbers = numbers

    def __getitem__(self, i: int) -> str:
        return f"C{self.numbers.item(i)}"

    def texts(self, rows: list[int] | np.ndarray | None = None) -> list[str]:
        numbers = self.numbers if rows is None else self.numbers[rows]
        return list(map("C{}".format, numbers.tolist()))

    def __deepcopy__(self, memo: dict[int, Any]) -> Uids:
        return self  # read only


class Nullable:
    """A column of numbers some rows of which hold None: a float array (nan: None) or a
    signed integer one (a negative value: None, as the short pass's TTLs' -1). Read only
    (shared by copies)."""

    __slots__ = ("values",)

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __getitem__(self, i: int) -> Any:
        value = self.values.item(i)
        if self.values.dtype.kind == "f":
            return None if value != value else value
        return None if value < 0 else value

    # No length: read by row or in bulk (tolist), as Same.
    __iter__ = None

    def tolist(self, rows: list[int] | np.ndarray | None = None) -> list:
        """The rows' values (None: every row's), None where missing."""
        values = self.values if rows is None else self.values[rows]
        return with_none(values, np.isnan(values) if values.dtype.kind == "f" else values < 0)

    def __deepcopy__(self, memo: dict[int, Any]) -> Nullable:
        return self  # read only


class Coded:
    """A column of values from a table (an object array: a block's distinct addresses,
    the process's port numbers, flows.port_items): each row's index into it (`table`
    shared, `codes` the narrowest integers), the table's own objects read back. A row
    was a pointer in a list (8 bytes); it is 1-4 here. Read only (shared by copies)."""

    __slots__ = ("table", "codes")

    def __init__(self, table: np.ndarray, codes: np.ndarray) -> None:
        self.table, self.codes = table, numbers(codes)

    def __getitem__(self, i: int) -> Any:
        return self.table[self.codes.item(i)]

    __iter__ = None  # read by row or in bulk (tolist), as Same

    def tolist(self, rows: list[int] | np.ndarray | None = None) -> list:
        """The rows' values (None: every row's)."""
        return self.table[self.codes if rows is None else self.codes[rows]].tolist()

    def __deepcopy__(self, memo: dict[int, Any]) -> Coded:
        return self  # read only


class Sparse:
    """A column that holds None but at a few rows, whose values are made when read:
    `make(*values)` with each field's value at that row (the short pass's SideEvidence,
    a side with evidence: most short connections' RST sides). A made object was ~320
    bytes a row kept to the capture's end; here a row number and its fields' values
    (`Same` where all rows share one). Each read makes a new object: read once per row,
    by the record made from it (BlockRecords)."""

    __slots__ = ("count", "rows", "make", "fields")

    def __init__(self, count: int, rows: np.ndarray, make: Callable[..., Any],
                 fields: list[list | Same]) -> None:
        """count: the column's rows; rows: those with a value (ascending); fields: per
        argument of `make`, its values at those rows (in order) or one for all."""
        self.count, self.rows, self.make, self.fields = count, rows, make, fields

    def __getitem__(self, i: int) -> Any:
        k = int(np.searchsorted(self.rows, i))
        if k == self.rows.shape[0] or self.rows.item(k) != i:
            return None
        return self.make(*(values[k] for values in self.fields))

    __iter__ = None  # read by row or in bulk (tolist), as Same

    def tolist(self, rows: list[int] | np.ndarray | None = None) -> list:
        """The rows' values (None: every row's), None where there is none."""
        if rows is None:
            at, count = np.arange(self.rows.shape[0]), self.count
            where = self.rows
        else:
            wanted = np.asarray(rows, np.int64)
            k = np.searchsorted(self.rows, wanted)
            inside = k < self.rows.shape[0]
            hit = inside & (self.rows[np.where(inside, k, 0)] == wanted)
            at, count, where = k[hit], wanted.shape[0], np.flatnonzero(hit)
        n = at.shape[0]
        picked = at.tolist()
        made = np.empty(n, object)
        made[:] = list(map(self.make, *(
            repeat(values.value, n) if type(values) is Same
            else (itemgetter(*picked)(values) if n > 1 else [values[k] for k in picked])
            for values in self.fields)))
        out = np.full(count, None, object)
        out[where] = made
        return out.tolist()

    def __deepcopy__(self, memo: dict[int, Any]) -> Sparse:
        from copy import deepcopy

        return Sparse(self.count, self.rows, self.make, deepcopy(self.fields, memo))


def ports(values: np.ndarray) -> Coded:
    """Port numbers (0..65535, one per row) as a column of the process's port objects
    (flows.port_items: a record's ports its flow key's objects, as before)."""
    return Coded(port_table(), values)


def numbers(values: np.ndarray) -> np.ndarray:
    """A column of numbers (one per row, none None) as an array of its own: integers in
    the narrowest signed type that holds them (their items and lists the same ints),
    bools and floats as they are."""
    if values.dtype.kind in "iu" and values.size:
        low, high = int(values.min()), int(values.max())
        for dtype in (np.int8, np.int16, np.int32, np.int64):
            info = np.iinfo(dtype)
            if info.min <= low and high <= info.max:
                return values.astype(dtype)
    return np.array(values)


def optionals(values: np.ndarray) -> Nullable | Same:
    """Floats (nan: None) or signed integers (negative: None), one per row, as a
    column: `Same` when every row holds one value (None, or one number), else
    `Nullable`."""
    missing = np.isnan(values) if values.dtype.kind == "f" else values < 0
    if missing.all():
        return Same(None)
    if not missing.any() and (values == values.flat[0]).all():
        return Same(values.item(0))
    return Nullable(numbers(values))


def column(values: list) -> list | Same:
    """A column of values (a list, one per row) as `Same` when every row holds the same
    value (a default: None, 0, NO_FRAMES, ...), else the list. For the columns that are
    most often one default (short_records.new_records): the first and last rows are
    tried first, then list.count (identity first, then ==: enough for None, ints and
    text, whose equal values are the same value); any other value must be the very same
    object in every row (a record's list or evidence is its own unless shared)."""
    if not values or values[-1] is not values[0]:
        return values
    first = values[0]
    if values.count(first) != len(values):
        return values
    if first is None or type(first) in _VALUES or all(map(is_, values, repeat(first))):
        return Same(first)
    return values


_VALUES = (int, bool, str)


def frames_column(lists: FrameLists) -> FrameLists | Same:
    """New records' frame lists as a column: NO_FRAMES for every row when none has one."""
    return Same(NO_FRAMES) if lists.empty() else lists


def listed(values: np.ndarray) -> np.ndarray | Same:
    """An integer or bool array (one value per row) as a column: `Same` when every row
    holds one value (compared in numpy), else as `numbers`."""
    if values.size and (values == values.flat[0]).all():
        return Same(values.item(0))
    return numbers(values)


def bulk(col: Any, rows: list[int] | None, count: int, at: np.ndarray | None = None) -> Any:
    """A column's values of `rows` (None: all `count`), as an iterable for map; at: rows
    as an index array, for the array columns (made once for all of them, not per
    column: a list converted by each indexing was ~20 us a column and block)."""
    if type(col) is Same:
        return repeat(col.value, count if rows is None else len(rows))
    if type(col) is np.ndarray:
        return col.tolist() if rows is None else col[rows if at is None else at].tolist()
    if (type(col) is Nullable or type(col) is FrameLists or type(col) is Coded
            or type(col) is Sparse):
        return col.tolist(rows if rows is None or at is None else at)  # type: ignore[arg-type]
    if type(col) is Uids:
        return col.texts(rows if rows is None or at is None else at)
    if rows is None:
        return col
    if len(rows) == 1:
        return (col[rows[0]],)
    return itemgetter(*rows)(col)


def cell(col: Any, i: int) -> Any:
    """A column's value at row i (a Python value, as `bulk` gives)."""
    return col.item(i) if type(col) is np.ndarray else col[i]
