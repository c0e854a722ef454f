"""Every connection's record in order of opening, and ordered by first frame at the end,
without making the records the short-connection pass keeps as columns
(flowcheck.connections.block_records).

ConnectionTracker keeps its records in `OpenedRecords`: the per-packet path's records (and
the ICMP quotes' own) as objects, each parked block's new rows as the block itself.
`finish` orders them all by first_frame as before (a stable sort of the records in order
of opening: numpy's stable argsort of the same keys gives the same order) and returns a
`Records` sequence that makes a row's record when it is read, or all of them, in bulk,
when the sequence is iterated, compared or added to.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np

from flowcheck.connections.block_records import BlockRecords
from flowcheck.model import Connection

_first_frame = attrgetter("first_frame")
# The order of a Records whose records are all made (as_list): empty, read only.
_NO_PARTS = np.zeros(0, np.int32)
_NO_ROWS = np.zeros(0, np.int64)
_NO_PARTS.flags.writeable = _NO_ROWS.flags.writeable = False


class OpenedRecords:
    """The tracker's records in order of opening: runs of plain records and parked
    blocks (their new rows), as they came."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[list[Connection] | BlockRecords] = []

    def append(self, record: Connection) -> None:
        parts = self._parts
        if not parts or type(parts[-1]) is not list:
            parts.append([])
        parts[-1].append(record)  # type: ignore[union-attr]

    def add_block(self, records: BlockRecords) -> None:
        """A parked block's new rows (its continuing flows' records are earlier ones')."""
        if records.new:
            self._parts.append(records)

    def ordered(self, more: list[Connection]) -> Records:
        """These records and `more` after them, ordered by first_frame (stable)."""
        parts: list[list[Connection] | BlockRecords] = [*self._parts, more]
        frames, part_of, row_of = [], [], []
        for n, part in enumerate(parts):
            values = (list(map(_first_frame, part)) if type(part) is list
                      else part.first_frames())  # type: ignore[union-attr]
            count = len(values)
            frames.append(np.asarray(values, np.int64))  # a block's array as it is
            part_of.append(np.full(count, n, np.int32))
            row_of.append(np.arange(count, dtype=np.int64))
        order = np.argsort(np.concatenate(frames), kind="stable") if frames else \
            np.zeros(0, np.int64)
        return Records(parts, np.concatenate(part_of)[order], np.concatenate(row_of)[order])


# Rows made between two returns of the heap's free pages (flowcheck.heap.give_back), and
# the fewest unmade rows for which as_list gives any back: the columns of this many short
# connections (about 20 MB) are freed as their records are made.
GIVE_BACK_ROWS = 1 << 15


def _made(parts: list) -> Iterator[list[Connection]]:
    """Each part's records (a block's new rows made in bulk, its columns then freed). When
    GIVE_BACK_ROWS rows or more are unmade, the heap's free pages are given back first
    (the reading's arrays: pymalloc's arenas, where the records go, never reuse them),
    after every GIVE_BACK_ROWS rows made and at the end (the columns freed): the records'
    memory is not added on top of the free pages (flowcheck.heap)."""
    unmade = sum(part.unmade for part in parts if type(part) is not list)
    if unmade < GIVE_BACK_ROWS:
        for part in parts:
            yield part if type(part) is list else part.all()[:part.new]
        return
    from flowcheck.heap import give_back

    give_back()
    since = 0
    for part in parts:
        if type(part) is list:
            yield part
            continue
        since += part.unmade
        yield part.all()[:part.new]
        if since >= GIVE_BACK_ROWS:
            give_back()
            since = 0
    give_back()


class Records(Sequence[Connection]):
    """The connections ordered by first frame (ConnectionTracker.finish): record k is
    row `row_of[k]` of part `part_of[k]` (a list of records, or a parked block's rows,
    made when read; a slice's, in bulk per block). Iterating, comparing or adding makes
    every record (each block's in bulk) and keeps them as one list."""

    __slots__ = ("_parts", "_part_of", "_row_of", "_list")

    def __init__(self, parts: list, part_of: np.ndarray, row_of: np.ndarray) -> None:
        self._parts, self._part_of, self._row_of = parts, part_of, row_of
        self._list: list[Connection] | None = None

    def __len__(self) -> int:
        return len(self._list) if self._list is not None else self._part_of.shape[0]

    def __getitem__(self, k: Any) -> Any:
        if self._list is not None:
            return self._list[k]
        if isinstance(k, slice):  # a list, as a list's slice; only its records made
            return self._sliced(k)
        return self._parts[self._part_of.item(k)][self._row_of.item(k)]

    def _sliced(self, k: slice) -> list[Connection]:
        """The records of slice k, those not made yet made in bulk per block."""
        at = np.arange(self._part_of.shape[0])[k]
        part_of, row_of = self._part_of[at], self._row_of[at]
        for n in np.unique(part_of).tolist():
            part = self._parts[n]
            if type(part) is not list:
                part.make(row_of[part_of == n].tolist())
        parts = self._parts
        return [parts[n][row] for n, row in zip(part_of.tolist(), row_of.tolist(), strict=True)]

    def as_list(self) -> list[Connection]:
        """Every record, in order (made in bulk where not made yet); kept."""
        if self._list is None:
            flat: list[Connection] = list(chain.from_iterable(_made(self._parts)))
            sizes = np.array([len(p) if type(p) is list else p.new for p in self._parts],
                             np.int64)
            starts = np.concatenate(([0], np.cumsum(sizes)[:-1])) if sizes.size else sizes
            self._list = list(map(flat.__getitem__,
                                  (starts[self._part_of] + self._row_of).tolist()))
            # New empty arrays, not [:0]: a view would keep the whole order (12 bytes a
            # record) alive through its base.
            self._parts, self._part_of, self._row_of = [], _NO_PARTS, _NO_ROWS
        return self._list

    def __iter__(self) -> Iterator[Connection]:
        return iter(self.as_list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Records):
            other = other.as_list()
        return self.as_list() == other

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other: list[Connection]) -> list[Connection]:
        return self.as_list() + list(other)

    def __radd__(self, other: list[Connection]) -> list[Connection]:
        return list(other) + self.as_list()

    def __repr__(self) -> str:
        return repr(self.as_list())

    def __deepcopy__(self, memo: dict[int, Any]) -> Records:
        from copy import deepcopy

        twin = Records([], _NO_PARTS, _NO_ROWS)
        memo[id(self)] = twin
        twin._list = deepcopy(self.as_list(), memo)
        return twin
