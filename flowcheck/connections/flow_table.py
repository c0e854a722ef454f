"""Numbers for flow keys without a Python object per flow: an open-addressing hash table
of the keys' 64-bit hashes in numpy arrays (connections.replays' per-connection state).

A dict of the flow keys would cost about 100 bytes a connection (its entry and an int
object per value): the whole budget tests/test_connections_per_connection_memory.py
leaves. Here a flow costs its table room, 12 bytes a place at most half full (24 to 48
bytes a flow): at three quarters full, a look-up of a key not in the table probed 8
places on average and the longest runs over 100, each a round of vector operations
(bench short200k: 0.058 -> 0.042 s for its 245,427 look-ups).
The hashes are made from the key's columns in bulk (`column_hashes`: no Python hash per
key); two flow keys whose hashes are equal (about one in 2**64 for a pair) share a
number. One key's hash and number, for the tracker's look-ups of a single key
(connections.parked_table), are made the same way in Python ints (`key_hash`,
`FlowTable.find_one`).
"""

from __future__ import annotations

import numpy as np

from flowcheck.connections.flows import BatchFlows, FlowKey, endpoint_words
from flowcheck.decode import DecodedBatch

_SPREAD = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the high bits index the table
# splitmix64's finalizer (Steele, Lea, Flood 2014): each output bit depends on every input
# bit; one round per column after adding it.
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def column_hashes(columns: list[np.ndarray], start: np.ndarray | None = None) -> np.ndarray:
    """One 64-bit hash per row of the columns (each uint64, one value per key, in a fixed
    order): every column added to the running hash (from start's, the hashes of the
    columns before them) and mixed (uint64, never 0: 0 marks an empty place). A few
    vector operations per column, none per key."""
    hashes = (np.full(columns[0].shape[0], _SPREAD, np.uint64) if start is None
              else start.copy())
    with np.errstate(over="ignore"):
        for column in columns:
            hashes += column
            hashes ^= hashes >> _S30
            hashes *= _MIX1
            hashes ^= hashes >> _S27
            hashes *= _MIX2
            hashes ^= hashes >> _S31
    hashes[hashes == 0] = 1
    return hashes


_WORD = (1 << 64) - 1  # key_hash's arithmetic modulo 2**64, as numpy's uint64 wraps
_PORT_SHIFT = 16


def _mixed(hashed: int, column: int) -> int:
    """column_hashes' round for one key in Python ints: the column added, then mixed."""
    hashed = (hashed + column) & _WORD
    hashed ^= hashed >> 30
    hashed = (hashed * 0xBF58476D1CE4E5B9) & _WORD
    hashed ^= hashed >> 27
    hashed = (hashed * 0x94D049BB133111EB) & _WORD
    return hashed ^ (hashed >> 31)


def key_hash(key: FlowKey) -> int:
    """flow_hashes' hash of one flow key (a Python int, 1..2**64-1), made from the key
    itself: its endpoints' first address words and ports, its tunnel's name, then an IPv6
    key's other address words and version, each step as column_hashes takes it (0 made
    1 after each of its two calls). For the look-ups of one key (a few us), not per
    packet."""
    (version, low_address, low_port), (_, high_address, high_port), tunnel = key
    hashed = int(_SPREAD)
    for column in (int.from_bytes(low_address[:4], "big") << _PORT_SHIFT | low_port,
                   int.from_bytes(high_address[:4], "big") << _PORT_SHIFT | high_port,
                   hash(tunnel) & _WORD):  # the tunnels' column: their int64 hashes as uint64
        hashed = _mixed(hashed, column)
    hashed = hashed or 1
    if version == 6:
        for address in (low_address, high_address):
            for at in (4, 8, 12):
                hashed = _mixed(hashed, int.from_bytes(address[at:at + 4], "big"))
        hashed = _mixed(hashed, 6) or 1
    return hashed


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

    def find_one(self, hashed: int) -> int:
        """One hash's number (key_hash's; -1: not in the table), probed in Python ints
        as find probes (a few us: for look-ups of one key, not per packet)."""
        hashes = self._hashes
        mask = (1 << self._bits) - 1
        place = ((hashed * int(_SPREAD)) & _WORD) >> (64 - self._bits)
        while True:
            there = int(hashes[place])
            if there == hashed:
                return int(self._numbers[place])
            if not there:
                return -1
            place = (place + 1) & mask

    def numbers(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each hash's number (int64), the next numbers given to those not in the table,
        and which were given (bool): one probing pass for both when the table has room
        for them all (the common case), else find then add. A hash given twice (two
        keys whose hashes are equal) gets one number, as find then gives it (a number
        given to its second place is left unused)."""
        if 2 * (self.size + hashes.shape[0]) > 1 << self._bits:
            found = self.find(hashes)
            fresh = found < 0
            if fresh.any():
                new = hashes[fresh]
                distinct, first, inverse = np.unique(new, return_index=True,
                                                     return_inverse=True)
                by_first = np.argsort(first, kind="stable")  # numbered as they come
                given = np.empty(distinct.shape[0], np.int64)
                given[by_first] = self.add(distinct[by_first])
                found[fresh] = given[inverse.reshape(-1)]
            return found, fresh
        found = np.full(hashes.shape[0], -1, np.int64)
        fresh = np.zeros(hashes.shape[0], bool)
        pending = np.arange(hashes.shape[0])
        place = self._place(hashes)
        mask = np.uint64((1 << self._bits) - 1)
        while pending.size:
            there = self._hashes[place]
            hit = there == hashes[pending]
            found[pending[hit]] = self._numbers[place[hit]]
            empty = there == 0
            if empty.any():  # of those meeting at one empty place one stays (read back)
                at, trying = place[empty], pending[empty]
                self._hashes[at] = hashes[trying]
                won = self._hashes[at] == hashes[trying]
                number = self.size + np.arange(np.count_nonzero(won))
                self._numbers[at[won]] = number
                # Equal hashes at one place all won it: one number, the one that stays.
                found[trying[won]] = self._numbers[at[won]]
                fresh[trying[won]] = True
                self.size += number.shape[0]
                hit[np.flatnonzero(empty)[won]] = True
            going = ~hit
            pending, place = pending[going], (place[going] + np.uint64(1)) & mask
        return found, fresh

    def add(self, hashes: np.ndarray) -> np.ndarray:
        """Give the next numbers to these hashes (distinct, none in the table); returns
        them (int64)."""
        numbers = np.arange(self.size, self.size + hashes.shape[0], dtype=np.int64)
        if 2 * (self.size + hashes.shape[0]) > 1 << self._bits:
            self._grow(self.size + hashes.shape[0])
        self._put(hashes, numbers)
        self.size += hashes.shape[0]
        return numbers

    def _place(self, hashes: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return (hashes * _SPREAD) >> np.uint64(64 - self._bits)

    def _put(self, hashes: np.ndarray, numbers: np.ndarray) -> None:
        """Write each hash and its number at the first empty place from its own (linear
        probing). Hashes meeting at one empty place are all written there and one of them
        stays (read back: no sort); the others, and those that found it taken, move on."""
        pending = np.arange(hashes.shape[0])
        place = self._place(hashes)
        mask = np.uint64((1 << self._bits) - 1)
        while pending.size:
            empty = self._hashes[place] == 0
            at, trying = place[empty], pending[empty]
            self._hashes[at] = hashes[trying]
            won = self._hashes[at] == hashes[trying]
            self._numbers[at[won]] = numbers[trying[won]]
            placed = np.zeros(pending.shape[0], bool)
            placed[np.flatnonzero(empty)[won]] = True
            going = ~placed
            pending, place = pending[going], (place[going] + np.uint64(1)) & mask

    def _grow(self, need: int) -> None:
        """A table at least twice as large, the hashes put again in one pass: taken in
        the order of their places (a sort of an almost sorted array: the high bits of
        the same products), each lands at its place or right after the one before
        (a running maximum), those past the end at its start (linear probing's own
        layout; no probing rounds)."""
        old = self._hashes != 0
        hashes, numbers = self._hashes[old], self._numbers[old]
        self._bits += 1
        while 2 * need > 1 << self._bits:
            self._bits += 1
        size = 1 << self._bits
        place = self._place(hashes).astype(np.int64)
        by_place = np.argsort(place, kind="stable")
        place, hashes, numbers = place[by_place], hashes[by_place], numbers[by_place]
        rank = np.arange(place.shape[0])
        wrapped = 0  # places at the start taken by those past the end
        while True:
            at = np.maximum.accumulate(np.maximum(place - rank, wrapped)) + rank
            past = int(np.count_nonzero(at >= size))
            if past == wrapped:
                break
            wrapped = past
        self._hashes = np.zeros(size, np.uint64)
        self._numbers = np.zeros(size, np.int32)
        self._hashes[at & (size - 1)] = hashes
        self._numbers[at & (size - 1)] = numbers


def flow_hashes(d: DecodedBatch, flows: BatchFlows, at: np.ndarray) -> np.ndarray:
    """The key of each batch flow `at` (flows with packets) hashed from its first
    packet's columns (flow_table.column_hashes; uint64): per endpoint, lower first as
    FlowKey orders them (flows.endpoint_words, from_lower), its IPv4 address word and
    port (an IPv6 address's first word), then the tunnel's name (Python's hash of it,
    one per tunnel of the batch); an IPv6 key's hash takes its addresses' other words
    and its version after those. Equal keys, equal hashes, in any batch."""
    first = flows.order[flows.bounds[at]]
    lower = flows.from_lower[first].astype(bool)
    src, dst = endpoint_words(d, first)
    tunnels = np.array([hash(name) for name in d.tunnels], np.int64).view(np.uint64)
    hashes = column_hashes([np.where(lower, src, dst), np.where(lower, dst, src),
                            tunnels[d.tcp_tunnel[first]]])
    six = np.flatnonzero(d.tcp_version[first] == 6)
    if six.size:  # IPv4 uses word 0 only (DecodedBatch)
        at, low = first[six], lower[six, None]
        words = np.concatenate((np.where(low, d.tcp_src[at, 1:], d.tcp_dst[at, 1:]),
                                np.where(low, d.tcp_dst[at, 1:], d.tcp_src[at, 1:])), axis=1)
        hashes[six] = column_hashes([*words.T.astype(np.uint64), np.full(six.size, 6, np.uint64)],
                                    hashes[six])
    return hashes
