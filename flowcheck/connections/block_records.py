"""The records of a parked block held as columns, each made on first access (issue 7).

The short-connection pass (flowcheck.connections.short) makes a batch's new connections'
records from per-flow columns: the argument lists of Connection.__init__
(short_records.new_records) and the few fields written after it (short_records._finish:
FINs unseen, gap times, first RSTs, copy bytes, bytes repeated, the handshake's ACK; and
a RST answering a FIN, short_times.fin_answers). `BlockRecords` keeps
those columns and writes instead of the Connection objects: row i's record is made when
something reads it (the same __init__ call, then the same writes), and kept, so every
reader of a row gets the same object as before. Most short connections' records are read
only by whoever reads all of them (the JSON, the sessions, the checks): a run that reads
none (`python -m flowcheck.connections`, the benchmark's engine) never makes them (about
0.5 s and 100 MB on bench's 200,000 short connections). Reading all of them makes a
block's rows in bulk (`BlockRecords.all`: one C-level map over the columns, as the
records were made before), and a block whose rows are all made lets its columns go.

The columns' types (lists, one value for all, arrays, tables' indexes, sparse ones) and
their values are flowcheck.connections.block_columns'.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from itertools import compress, repeat
from operator import attrgetter, is_not, itemgetter
from typing import Any

import numpy as np

from flowcheck.connections.block_columns import Nullable, bulk, cell
from flowcheck.model import Connection
from flowcheck.model.rare_fields import NAMES as RARE_NAMES
from flowcheck.model.rare_fields import RareFields

# A call of Connection taken apart (short_records checks there is no __new__ of its own).
_new, _init = object.__new__, Connection.__init__
_first_frame = attrgetter("first_frame")


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
            return cell(rows.args[ARG_INDEX[name]], i)
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

    @property
    def unmade(self) -> int:
        """How many new rows' records are not made yet."""
        return self._unmade

    def made(self, i: int) -> Connection | None:
        """Row i's record if made, else None (nothing is made)."""
        return self._made[i]

    def first_frames(self) -> np.ndarray:
        """The new rows' first_frame (int64), from the column or the made record (never
        written after the record is made, but read from it where it is). The column's
        array copied and the made rows (a block's continuing flows', about one in six
        on bench's (c) 200k) found by a C-level map: no Python call, no int object per
        row (200,000 of each on (c) 200k's finish)."""
        assert self._args is not None or not self._unmade
        new, made = self._new, self._made
        if not self._unmade:
            return np.fromiter(map(_first_frame, made[:new]), np.int64, new)
        col = self._args[ARG_INDEX["first_frame"]]  # type: ignore[index]
        frames = (col.astype(np.int64) if type(col) is np.ndarray
                  else np.fromiter(bulk(col, None, new), np.int64, new))
        rows = list(compress(range(new), map(is_not, made[:new], repeat(None))))
        if rows:
            frames[rows] = list(map(_first_frame, map(made.__getitem__, rows)))
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
                return bulk(col, rows, self._new, at)
            made = lists.get(id(col))
            if made is None:
                made = lists[id(col)] = bulk(col, rows, self._new, at)
            return made

        deque(map(_init, records, *map(values, args)), 0)
        made = self._made
        if rows is None:
            made[:count] = records
        else:
            for i, record in zip(rows, records, strict=True):
                made[i] = record
        wanted: set[int] | None = None  # rows as a set, made once (not per field)
        for name, patched in self._patches.items():  # in the order _finish wrote them
            if rows is None:
                for i, value in patched.items():
                    setattr(made[i], name, value)
            elif len(patched) < count:
                if wanted is None:
                    wanted = set(rows)
                for i, value in patched.items():
                    if i in wanted:
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
        if len(at) == len(out):  # one block (most often): its rows in entries' order
            return list(map(made.__getitem__, wanted.tolist()))
        for i, record in zip(at.tolist(), map(made.__getitem__, wanted.tolist()), strict=True):
            out[i] = record
    return out
