"""Which flow keys are parked, and where: the short-connection pass's table of parked
connections (flowcheck.connections.parked) by FlowTable number, not by a dict of keys.

A dict of the parked flow keys hashed each key in Python at every look-up and insertion
(a FlowKey is a nested tuple, which keeps no hash): on bench's (c) 200k, 239,099 keys
parked and 239,103 looked up in 21 batches, in a table too big for the cache, about
0.15-0.2 s of the run's ~3.1 s (bench/README.md, 2026-12-06 20:10). replays.Spans
numbers every flow key of a batch in bulk (flow_table.FlowTable over the keys' 64-bit
hashes, one probing pass a batch), so here the batch's look-up is a gather and the commit's
insertion a scatter over two int32 columns indexed by that number: the block (an index
into `blocks`; -1: not parked) and the row in it.

A FlowTable gives two keys with equal 64-bit hashes one number, so each found row's
stored key (the block's list of keys) is compared with the key asked for (`==`, no
hash), and a key whose number another parked key holds is kept in a small dict
(`_extra`) instead: results stay exact whatever the hashes. A single key's look-up (the
per-packet path, ICMP quotes, by_time: a few per batch) hashes it in Python
(flow_table.key_hash) and probes the FlowTable once (FlowTable.find_one), a few us.

Memory: 24 bytes per FlowTable number (every flow key with packets), the parked keys
and each block's count of rows still parked: a block whose rows are all taken again
(continued by a later pass, or by the per-packet path) is let go, as the dict let go of
it, so memory follows the connections parked. A block whose keys are all plain IPv4
ones (key_words nonzero) keeps their words (16 bytes a key), not the key tuples (about
125 bytes a key: bench's (c) 200k held 25 MB of them to the capture's end): such a key
is exactly its words, and is made again from them when asked for (`_stored`: the
per-packet path's look-ups, a few per batch); find and park compare words.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from flowcheck.connections.flow_table import FlowTable, key_hash
from flowcheck.connections.flows import FlowKey, port_table
from flowcheck.connections.parked import Parked

_GROWTH = 1.125  # the columns grow by an eighth (as replays.Spans' arrays)


_PLAIN = np.uint64(1 << 63)  # key_words' mark of a plain IPv4 key (never 0)


def key_words(version: np.ndarray, plain: np.ndarray, lower: np.ndarray,
              upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per key, its lower and upper endpoints as one number each (uint64), for find's
    vector comparison: an IPv4 key not tunnelled (version 4, plain: its tunnel name
    "") is exactly its two endpoints' address and port (flows.endpoint_words' 48-bit
    numbers, `lower` and `upper`), marked by bit 63; any other key 0 (compared as a
    tuple). Equal nonzero words: equal keys."""
    mark = (version == 4) & plain
    return (np.where(mark, lower | _PLAIN, np.uint64(0)),
            np.where(mark, upper | _PLAIN, np.uint64(0)))


_WORD = (1 << 48) - 1  # a key word's endpoint: address << 16 | port


def _endpoint(word: int) -> tuple[int, bytes, int]:
    """An IPv4 endpoint of FlowKey from its 48-bit number (flows' endpoint tuples; its
    port the process's shared object)."""
    return (4, (word >> 16).to_bytes(4, "big"), port_table()[word & 0xFFFF])


class ParkedTable:
    """Parked flow keys -> (block, row) (module docstring). `table`: the FlowTable that
    numbers the keys (replays.Spans'); every key parked was numbered by it first (its
    batch's flows are numbered before the pass commits them)."""

    def __init__(self, table: FlowTable) -> None:
        self._table = table
        self.blocks: list[Parked | None] = []  # None: none of its rows parked any more
        # Each block's keys, by row: a list, or the keys' words when all are plain IPv4
        # keys (the lower and the upper endpoint's, key_words; module docstring).
        self._keys: list[list[FlowKey] | tuple[np.ndarray, np.ndarray] | None] = []
        self._live: list[int] = []  # each block's rows still parked
        self._block = np.full(0, -1, np.int32)  # per FlowTable number; -1: not parked
        self._row = np.zeros(0, np.int32)
        # Per FlowTable number, the parked key's endpoints as key_words gives them (0: a
        # key not IPv4, or tunnelled, or parked without words): find's vector comparison.
        self._low = np.zeros(0, np.uint64)
        self._high = np.zeros(0, np.uint64)
        # A key whose number another parked key holds (equal 64-bit hashes): (block, row).
        self._extra: dict[FlowKey, tuple[int, int]] = {}
        self._size = 0  # keys parked

    def __len__(self) -> int:
        return self._size

    def find(self, numbers: np.ndarray, keys: list[FlowKey],
             words: tuple[np.ndarray, np.ndarray] | None = None
             ) -> tuple[np.ndarray, list[tuple[Parked, int] | None]]:
        """Per key (numbers: each one's FlowTable number, int64, -1: none), whether it is
        parked (bool) and its block and row (None: not parked): a gather, each row found
        compared with its stored key, and the colliding keys' dict asked only when it
        holds any. With `words` (the keys' key_words, one pair per key), a row whose
        stored words are the key's (both plain IPv4 keys) is its key without comparing
        the tuples (on bench's (c) 200k, 39,101 found keys, cold in the cache); the
        others are compared. A key found in a row is replaced in `keys` by the table's
        own (equal) key object: parked again (park), it is then one object, told by
        identity."""
        count = len(keys)
        found: list[tuple[Parked, int] | None] = [None] * count
        parked = np.zeros(count, bool)
        if not self._size:
            return parked, found
        numbers = np.where(numbers < self._block.shape[0], numbers, -1)
        which = np.where(numbers >= 0, self._block[numbers], -1)
        hits = np.flatnonzero(which >= 0)
        blocks, stored = self.blocks, self._keys
        if words is not None and hits.shape[0]:
            at = numbers[hits]
            low, high = words[0][hits], words[1][hits]
            same = (low != 0) & (self._low[at] == low) & (self._high[at] == high)
            sure = hits[same]
            for i, b, r in zip(sure.tolist(), which[sure].tolist(),
                               self._row[at[same]].tolist(), strict=True):
                if type(kept := stored[b]) is list:  # else the block keeps no key objects
                    keys[i] = kept[r]
                found[i] = (blocks[b], r)  # type: ignore[assignment]
            parked[sure] = True
            hits = hits[~same]
        for i, b, r in zip(hits.tolist(), which[hits].tolist(),
                           self._row[numbers[hits]].tolist(), strict=True):
            if (kept := self._stored(b, r)) == keys[i]:
                keys[i] = kept
                found[i] = (blocks[b], r)  # type: ignore[assignment]
                parked[i] = True
        if self._extra:
            for i in np.flatnonzero(~parked).tolist():
                at = self._extra.get(keys[i])
                if at is not None:
                    found[i] = (blocks[at[0]], at[1])  # type: ignore[assignment]
                    parked[i] = True
        return parked, found

    def number_of(self, key: FlowKey) -> int:
        """key's FlowTable number (-1: none), by its one-key hash (a few us)."""
        return self._table.find_one(key_hash(key))

    def get(self, key: FlowKey) -> tuple[Parked, int] | None:
        """key's block and row, None when it is not parked."""
        at = self._where(key)
        return None if at is None else (self.blocks[at[1]], at[2])  # type: ignore[return-value]

    def __contains__(self, key: FlowKey) -> bool:
        return self._where(key) is not None

    def pop(self, key: FlowKey) -> tuple[Parked, int] | None:
        """key's block and row, no longer parked (None: it was not)."""
        at = self._where(key)
        if at is None:
            return None
        number, b, r = at
        entry = (self.blocks[b], r)
        if number < 0:
            del self._extra[key]
        else:
            self._block[number] = -1
        self._let_go(b)
        return entry  # type: ignore[return-value]

    def park(self, block: Parked, numbers: np.ndarray, keys: list[FlowKey],
             words: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Park block's rows, row i the connection of keys[i] (numbers: their FlowTable
        numbers, int64; keys: kept as the table's list, or only their words when all
        are plain IPv4 keys (module docstring); words: their key_words, None: none
        kept, every later find of them compares the tuples): a key parked before
        now points here (its earlier row let go: a continued or replaced connection), and
        a key whose number another key holds goes to the colliding keys' dict."""
        count = len(keys)
        if not count:
            return
        # Every walked flow has a number; a -1 would index the last slot.
        assert int(numbers.min()) >= 0, "park: a key without a FlowTable number"
        b = len(self.blocks)
        self.blocks.append(block)
        plain = words is not None and bool(words[0].all())
        self._keys.append((np.array(words[0], np.uint64), np.array(words[1], np.uint64))
                          if plain else keys)  # type: ignore[index]
        self._live.append(count)
        self._size += count
        self._room(int(numbers.max()) + 1)
        if self._extra:  # a colliding key parked again: placed afresh below
            for key in keys:
                at = self._extra.pop(key, None)
                if at is not None:
                    self._let_go(at[0])
        rows = np.arange(count)
        old = self._block[numbers]
        put = np.ones(count, bool)
        taken = np.flatnonzero(old >= 0)
        replaced: list[int] = []
        if words is not None and taken.shape[0]:
            # A parked row whose words are the key's (both plain IPv4 keys) is its key,
            # not compared as tuples (bench's (c) 200k: 39,101 continued keys).
            at = numbers[taken]
            low = words[0][taken]
            same = (low != 0) & (self._low[at] == low) & (self._high[at] == words[1][taken])
            replaced = old[taken[same]].tolist()
            taken = taken[~same]
        for j, ob, orow in zip(taken.tolist(), old[taken].tolist(),
                               self._row[numbers[taken]].tolist(), strict=True):
            kept = self._stored(ob, orow)
            if kept is keys[j] or kept == keys[j]:  # the same key (find's object, mostly)
                keys[j] = kept  # one key object for both blocks' lists (not two)
                replaced.append(ob)  # its new row replaces the old
            else:
                put[j] = False  # another key's number (equal hashes)
        if replaced:  # after the comparisons: a block let go drops its keys
            for ob, rows_left in enumerate(np.bincount(replaced).tolist()):
                if rows_left:
                    self._let_go(ob, rows_left)
        at = numbers[put]
        self._block[at] = b
        self._row[at] = rows[put]
        self._low[at] = 0 if words is None else words[0][put]
        self._high[at] = 0 if words is None else words[1][put]
        # Two keys of this block with one number: one row stays (read back), the other
        # goes to the dict, as one that met another block's key.
        put[put] = self._row[at] == rows[put]
        for j in np.flatnonzero(~put).tolist():
            self._extra[keys[j]] = (b, j)

    def entries(self) -> Iterator[tuple[FlowKey, Parked, int]]:
        """Every parked key, its block and row (tests, snapshots; not per packet)."""
        for number in np.flatnonzero(self._block >= 0).tolist():
            b, r = int(self._block[number]), int(self._row[number])
            yield self._stored(b, r), self.blocks[b], r  # type: ignore[misc]
        for key, (b, r) in self._extra.items():
            yield key, self.blocks[b], r  # type: ignore[misc]

    def _where(self, key: FlowKey) -> tuple[int, int, int] | None:
        """(key's FlowTable number, or -1 when it is in the colliding keys' dict; its
        block; its row), None when it is not parked."""
        if not self._size:
            return None
        number = self.number_of(key)
        if 0 <= number < self._block.shape[0]:
            b = int(self._block[number])
            if b >= 0:
                r = int(self._row[number])
                if self._stored(b, r) == key:
                    return number, b, r
        at = self._extra.get(key) if self._extra else None
        return None if at is None else (-1, at[0], at[1])

    def _stored(self, b: int, r: int) -> FlowKey:
        """The key of block b's row r: its list's, or made from its words (an IPv4
        key's endpoints (4, address, port), lower first, no tunnel: flows' keys)."""
        kept = self._keys[b]
        if type(kept) is list:
            return kept[r]
        low, high = (int(words[r]) & _WORD for words in kept)  # type: ignore[union-attr]
        return (_endpoint(low), _endpoint(high), "")

    def _let_go(self, b: int, rows: int = 1) -> None:
        """rows of block b no longer parked; the block let go with its last."""
        self._size -= rows
        self._live[b] -= rows
        if not self._live[b]:
            self.blocks[b] = None
            self._keys[b] = None

    def _room(self, numbers: int) -> None:
        """Columns for FlowTable numbers below `numbers` (grown by _GROWTH, in place)."""
        have = self._block.shape[0]
        if numbers <= have:
            return
        room = max(numbers, int(have * _GROWTH), 256)
        self._block.resize(room, refcheck=False)
        self._block[have:] = -1
        self._row.resize(room, refcheck=False)
        self._low.resize(room, refcheck=False)  # new places zero (numpy's resize)
        self._high.resize(room, refcheck=False)
