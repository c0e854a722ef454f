"""The records of a parked block held as columns, each made on first access (issue 7).

The short-connection pass (flowcheck.connections.short) makes a batch's new connections'
records from per-flow columns: the argument lists of Connection.__init__
(short_records.new_records) and the few fields written after it (short_records._finish:
FINs unseen, gap times, first RSTs, copy bytes, the handshake's ACK). `BlockRecords` keeps
those columns and writes instead of the Connection objects: row i's record is made when
something reads it (the same __init__ call, then the same writes), and kept, so every
reader of a row gets the same object as before. Most short connections' records are read
only by whoever reads all of them (the JSON, the sessions, the checks): a run that reads
none (`python -m flowcheck.connections`, the benchmark's engine) never makes them (about
0.5 s and 100 MB on bench's 200,000 short connections). Reading all of them makes a
block's rows in bulk (`BlockRecords.all`: one C-level map over the columns, as the
records were made before), and a block whose rows are all made lets its columns go.

Columns are lists (one value per new row), `Same` (one value for every row: a column of
defaults), `Uids` (the rows' uid numbers; the "C<n>" texts made with the records), numpy
arrays (numbers: counts, frames, times, flags; integers in the narrowest type that holds
them) or `Nullable` (numbers some rows of which are None): a number kept to the capture's
end is 1-8 bytes in an array, where a list held a pointer and, past 256, an object of
its own (bench's (c) 200k: about 40 MB of the 85 MB of columns, kept until every row is
read). Values read from them are Python's (`item`, `tolist`), as the lists held.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from itertools import compress, repeat
from operator import is_, itemgetter
from typing import Any

import numpy as np

from flowcheck.connections.flows import port_table
from flowcheck.connections.record_columns import FrameLists, with_none
from flowcheck.model import Connection
from flowcheck.model.frames import NO_FRAMES
from flowcheck.model.rare_fields import NAMES as RARE_NAMES
from flowcheck.model.rare_fields import RareFields

# A call of Connection taken apart (short_records checks there is no __new__ of its own).
_new, _init = object.__new__, Connection.__init__


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

    def texts(self, rows: list[int] | None = None) -> list[str]:
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


def _bulk(col: Any, rows: list[int] | None, count: int, at: np.ndarray | None = None) -> Any:
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
        return col.texts(rows)
    if rows is None:
        return col
    if len(rows) == 1:
        return (col[rows[0]],)
    return itemgetter(*rows)(col)


class FreshRows:
    """The new rows of a block as short_records._finish writes them (`rows[i].name =
    value`, reading a field before: `r.orig_rst_frame or frame`): each write kept as a
    patch (name -> {row: value}) applied when the row's record is made, each read
    answered from the patches, else the columns, else the field's default."""

    __slots__ = ("args", "patches", "count")

    def __init__(self, args: list, patches: dict[str, dict[int, Any]], count: int) -> None:
        self.args, self.patches, self.count = args, patches, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> _FreshRow:
        return _FreshRow(self, i)

    def __iter__(self) -> Iterator[_FreshRow]:
        return map(_FreshRow, repeat(self, self.count), range(self.count))

    def put(self, name: str, rows: list[int], values: list) -> None:
        """rows[k].name = values[k] for each k, in that order (the patches `rows[i].name
        = value` would keep, without a row object and a call per write)."""
        self.patches.setdefault(name, {}).update(zip(rows, values, strict=True))

    def patched(self, name: str) -> dict[int, Any]:
        """The rows' writes of `name` so far (row -> value; read only)."""
        return self.patches.get(name, {})


# Connection's fields by position among __init__'s arguments (short_records._FIELDS),
# set by short_records at import.
ARG_INDEX: dict[str, int] = {}


class _FreshRow:
    __slots__ = ("_rows", "_i")

    def __init__(self, rows: FreshRows, i: int) -> None:
        object.__setattr__(self, "_rows", rows)
        object.__setattr__(self, "_i", i)

    def __getattr__(self, name: str) -> Any:
        rows, i = self._rows, self._i
        patched = rows.patches.get(name)
        if patched is not None and i in patched:
            return patched[i]
        if name in ARG_INDEX:
            col = rows.args[ARG_INDEX[name]]
            return col.item(i) if type(col) is np.ndarray else col[i]
        return _default(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._rows.patches.setdefault(name, {})[self._i] = value


_RARE = frozenset(RARE_NAMES)
_DEFAULTS: dict[str, Any] = {}
_UNKNOWN = object()  # not in _DEFAULTS yet (None is a default kept there)


def _default(name: str) -> Any:
    """A new record's value of a field __init__ does not take (a rare one, mostly): a
    list default is a new list each time (never another's), the others kept."""
    value = _DEFAULTS.get(name, _UNKNOWN)
    if value is _UNKNOWN:
        value = getattr(RareFields() if name in _RARE else Connection(
            uid="", orig_h="", orig_p=0, resp_h="", resp_p=0, ts=0.0), name)
        if not isinstance(value, list):
            _DEFAULTS[name] = value
    return value


class BlockRecords(Sequence[Connection]):
    """A parked block's records (Parked.records): its new rows, made on first access
    from the columns (module docstring), then its continuing flows' records as they are
    (made before, brought up to date by update_records). Each row's record is made once
    and kept: every reader gets the same object, and what it writes stays."""

    __slots__ = ("_made", "_args", "_patches", "_unmade", "_new")

    def __init__(self, args: list, patches: dict[str, dict[int, Any]], new: int,
                 going_on: list[Connection]) -> None:
        """args: __init__'s arguments' columns for the `new` rows; patches: the writes
        after it (FreshRows); going_on: the continuing flows' records, rows new onward."""
        self._made: list[Connection | None] = [None] * new
        self._made += going_on
        self._args: list | None = args if new else None
        self._patches = patches
        self._unmade = new
        self._new = new

    def __len__(self) -> int:
        return len(self._made)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._made)))]
        record = self._made[i]
        if record is None:
            if i < 0:
                i += len(self._made)
            self.make([i])
            record = self._made[i]
        return record  # type: ignore[return-value]

    def __iter__(self) -> Iterator[Connection]:
        return iter(self.all())

    @property
    def new(self) -> int:
        """How many rows are new (made here); the continuing flows' follow them."""
        return self._new

    def made(self, i: int) -> Connection | None:
        """Row i's record if made, else None (nothing is made)."""
        return self._made[i]

    def first_frames(self) -> list[int]:
        """The new rows' first_frame, from the column or the made record (never written
        after the record is made, but read from it where it is)."""
        assert self._args is not None or not self._unmade
        if not self._unmade:
            return [r.first_frame for r in self._made[:self._new]]  # type: ignore[union-attr]
        frames = _bulk(self._args[ARG_INDEX["first_frame"]], None, self._new)  # type: ignore[index]
        frames = frames if type(frames) is list else list(frames)
        made = self._made
        for i in compress(range(self._new), map(is_not_none, made[:self._new])):
            frames[i] = made[i].first_frame  # type: ignore[union-attr]
        return frames

    def make(self, rows: list[int]) -> None:
        """Make the records of new rows `rows` not made yet (in bulk: one map of
        __init__ over the columns' values, then the rows' patches)."""
        made = self._made
        # Each row once (dict.fromkeys: a row named twice would be made twice, two
        # objects for one connection, and counted twice among the made).
        rows = [i for i in dict.fromkeys(rows) if made[i] is None]
        if not rows:
            return
        self._make(rows, len(rows))

    def all(self) -> list[Connection]:
        """Every row's record (the new ones not made yet made in bulk)."""
        if self._unmade:
            if self._unmade == self._new:
                self._make(None, self._new)
            else:
                self._make([i for i in range(self._new) if self._made[i] is None],
                           self._unmade)
        return self._made  # type: ignore[return-value]

    def _make(self, rows: list[int] | None, count: int) -> None:
        args = self._args
        assert args is not None
        records = list(map(_new, repeat(Connection, count)))
        # An array two fields share (ts and syn_ts, most often) gives both the same
        # values, as the one list did before: one float object per record, not two.
        lists: dict[int, list] = {}
        at = None if rows is None else np.array(rows, np.int64)

        def values(col: Any) -> Any:
            if type(col) is not np.ndarray and type(col) is not Nullable:
                return _bulk(col, rows, self._new, at)
            made = lists.get(id(col))
            if made is None:
                made = lists[id(col)] = _bulk(col, rows, self._new, at)
            return made

        deque(map(_init, records, *map(values, args)), 0)
        made = self._made
        if rows is None:
            made[:count] = records
        else:
            for i, record in zip(rows, records, strict=True):
                made[i] = record
        for name, patched in self._patches.items():  # in the order _finish wrote them
            if rows is None or len(patched) < count:
                wanted = None if rows is None else set(rows)
                for i, value in patched.items():
                    if wanted is None or i in wanted:
                        setattr(made[i], name, value)
            else:  # a few rows made (one read alone): look each up
                for i in rows:
                    if i in patched:
                        setattr(made[i], name, patched[i])
        self._unmade -= count
        if not self._unmade:  # every row made: the columns are no longer read
            self._args, self._patches = None, {}

    def __deepcopy__(self, memo: dict[int, Any]) -> BlockRecords:
        from copy import deepcopy

        twin = object.__new__(BlockRecords)
        memo[id(self)] = twin
        twin._made = deepcopy(self._made, memo)
        twin._args = deepcopy(self._args, memo)
        twin._patches = deepcopy(self._patches, memo)
        twin._unmade, twin._new = self._unmade, self._new
        return twin


def is_not_none(value: Any) -> bool:
    return value is not None


def records_of(entries: list[tuple[Any, int]]) -> list[Connection]:
    """The records of parked entries ((Parked block, row) each), the rows not made yet
    made in bulk per block (update_records reads every continuing flow's)."""
    if not entries:
        return []
    blocks = list(map(itemgetter(0), entries))
    rows = np.fromiter(map(itemgetter(1), entries), np.int64, len(entries))
    distinct, inverse = np.unique(np.fromiter(map(id, blocks), np.int64, len(blocks)),
                                  return_inverse=True)
    out: list[Any] = [None] * len(entries)
    for at in (np.split(np.argsort(inverse, kind="stable"),
                                    np.cumsum(np.bincount(inverse, minlength=len(distinct)))[:-1])):
        records = blocks[at.item(0)].records
        wanted = rows[at]
        if type(records) is BlockRecords:
            fresh = wanted[wanted < records.new].tolist()
            if fresh:
                records.make(fresh)
            made = records._made
        else:
            made = records
        for i, record in zip(at.tolist(), map(made.__getitem__, wanted.tolist()), strict=True):
            out[i] = record
    return out
