"""Numbers for flow keys without a Python object per flow: an open-addressing hash table
of the keys' 64-bit hashes in numpy arrays (connections.replays' per-connection state).

A dict of the flow keys would cost about 100 bytes a connection (its entry and an int
object per value): the whole budget tests/test_connections_per_connection_memory.py
leaves. Here a flow costs its table room, 12 bytes a place at most three quarters full.
Two flow keys whose Python hashes are equal (one in 2**64 for a pair) share a number.
"""

from __future__ import annotations

import numpy as np

from flowcheck.connections.flows import FlowKey

_SPREAD = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the high bits index the table


def key_hashes(keys: list[FlowKey]) -> np.ndarray:
    """The flow keys' hashes (uint64, never 0: 0 marks an empty place)."""
    hashes = np.fromiter((hash(key) for key in keys), np.int64, len(keys)).view(np.uint64)
    hashes[hashes == 0] = 1
    return hashes


class FlowTable:
    """Numbers 0, 1, 2... given to flow keys (by their hashes) in the order they come."""

    def __init__(self, bits: int = 10) -> None:
        self._bits = bits
        self._hashes = np.zeros(1 << bits, np.uint64)  # 0: empty
        self._numbers = np.zeros(1 << bits, np.int32)
        self.size = 0  # numbers given

    def find(self, hashes: np.ndarray) -> np.ndarray:
        """Each hash's number (int64), -1 for one not in the table."""
        found = np.full(hashes.shape[0], -1, np.int64)
        pending = np.arange(hashes.shape[0])
        place = self._place(hashes)
        mask = np.uint64((1 << self._bits) - 1)
        while pending.size:
            there = self._hashes[place]
            hit = there == hashes[pending]
            found[pending[hit]] = self._numbers[place[hit]]
            going = ~hit & (there != 0)
            pending, place = pending[going], (place[going] + np.uint64(1)) & mask
        return found

    def add(self, hashes: np.ndarray) -> np.ndarray:
        """Give the next numbers to these hashes (distinct, none in the table); returns
        them (int64)."""
        numbers = np.arange(self.size, self.size + hashes.shape[0], dtype=np.int64)
        if 4 * (self.size + hashes.shape[0]) > 3 << self._bits:
            self._grow(self.size + hashes.shape[0])
        self._put(hashes, numbers)
        self.size += hashes.shape[0]
        return numbers

    def _place(self, hashes: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (hashes * _SPREAD) >> np.uint64(64 - self._bits)

    def _put(self, hashes: np.ndarray, numbers: np.ndarray) -> None:
        """Write each hash and its number at the first empty place from its own (linear
        probing); hashes meeting at one empty place take it in turn."""
        pending = np.arange(hashes.shape[0])
        place = self._place(hashes)
        mask = np.uint64((1 << self._bits) - 1)
        while pending.size:
            empty = self._hashes[place] == 0
            taken, first = np.unique(place[empty], return_index=True)
            winners = pending[empty][first]
            self._hashes[taken] = hashes[winners]
            self._numbers[taken] = numbers[winners]
            placed = np.zeros(hashes.shape[0], bool)
            placed[winners] = True
            going = ~placed[pending]
            # Those that found their place taken move on; those that lost a race look
            # again at the same place (taken now) next round.
            place = np.where(empty, place, (place + np.uint64(1)) & mask)[going]
            pending = pending[going]

    def _grow(self, need: int) -> None:
        """A table at least twice as large, the hashes put again."""
        old = self._hashes != 0
        hashes, numbers = self._hashes[old], self._numbers[old].astype(np.int64)
        self._bits += 1
        while 4 * need > 3 << self._bits:
            self._bits += 1
        self._hashes = np.zeros(1 << self._bits, np.uint64)
        self._numbers = np.zeros(1 << self._bits, np.int32)
        self._put(hashes, numbers)
