"""A cheap exact proof that a batch holds no capture copies (copies.py's quiet path).

A capture copy (flowcheck.connections.copies) is equal to its original in its direction
of its connection and in every field packet_identity.FIELDS names; so is a relay copy
(flowcheck.connections.relay_copies), whose TTL alone may differ. Two packets that differ
in their direction, IPv4 ID, sequence or acknowledgement number or header identity are
no copies of each other, whatever their times. Most captures hold no copies at all, and
copies.py's search for equal packets (a hash of eight columns of every packet, sorted,
the batch joined with the tail's packets: 127 M instructions on the 200,000 packets of
bench capture (d), mixed-sizes, that holds none) then finds nothing.

`no_equal_packets` proves it for less: each packet's direction and those four fields
hashed into key_bits(n) bits (a key; 16 slots a packet, at most 2 ** TABLE_BITS), and
each packet's position written into a table at its key. A packet that reads its own
position back shares its key with no other packet, so it equals none; the few that do
not (about n^2 / 2^(bits+1) of n: 280 of a batch's 8,800 in bench capture (d), and an
equal packet always) and the packets whose positions they read are compared by every
field: a 64-bit hash of all of them, sorted, whose values all differ only when the
packets do (equal values, rare but for equal packets, fail the proof).
Which of the packets sharing a key the table keeps (numpy's order of writes) does not
matter: every packet of a shared key but the one kept reads another's position, and
that one is taken with it. At most SMALL_PROOF packets (a small batch and its tail) are
compared as Python tuples instead, exactly. A larger batch is first tried by
`distinct_ids` (unless it failed the batches before: KeyTable's back-off): a key of the
direction and the IPv4 ID alone, which proves it whenever its senders number their
packets (Linux's per-socket IDs), in a fifth of the hashed proof's time; for a batch of
a few directions (a bulk transfer's) the key is its own slot (no hash, nothing compared
after), for more it is hashed and the keys sharing a slot compared exactly. A copy is
equal to its original in its direction and IPv4 ID (the inner packet's, in a tunnel),
so a batch whose (direction, ID) pairs all differ holds none; IPv6's packets (no ID:
0) fail it whenever a direction holds two.
A proof that fails (two packets equal: a copy, a relay copy, or a resend bit for bit
its original) sends the batch to copies.py's full search, so the marks stay those of
the full search in every case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from flowcheck.arrays import HASH_MULTIPLIERS, distinct
from flowcheck.connections.copies_tail import (
    NOT_READ,
    TAIL_CAP,
    RelayPairs,
    Rows,
    Tail,
    kept_tail,
    last_rows,
    tail_of_flows,
    wide_syns,
)
from flowcheck.connections.flows import BatchFlows
from flowcheck.connections.packet_identity import FIELDS, FIXED, OPTIONS_CUT, identity_fields
from flowcheck.connections.point_sample import sampled
from flowcheck.connections.points import CapturePoints
from flowcheck.connections.stamped_identity import tail_syns
from flowcheck.decode import DecodedBatch

if TYPE_CHECKING:
    from flowcheck.connections.relay_copies import RelayCopies
    from flowcheck.connections.replays import Spans

# At most this many packets (the batch's and the tail's of its flows) are proven apart
# by comparing them as tuples (FieldRows.all_apart): the key table's and the hash's ~30
# numpy calls cost 50 to 150 us at any such size, the tuples ~0.6 us a packet (58
# against 191 us at 100 packets; a batch of one packet and a bulk flow's last 0.5 ms in
# the tail is 60 to 100 of them, issue 7).
SMALL_PROOF = 128
TABLE_BITS = 17  # the key's bits at most: a table of 512 kB (int32), in a core's L2 cache
# The key's bits per batch: 16 slots a packet (about n / 32 of n share a slot), from
# 2 ** 10 up to 2 ** TABLE_BITS: a small batch (small read chunks, a live capture's)
# takes a small table (tests/test_connections_memory.py: 512 kB was half a 1 MB chunk).
_SLOTS_PER_PACKET_BITS = 4
_MIN_BITS = 10
# The key's multipliers, as int64 (numpy's int64 products wrap, as uint64's do).
_MUL = HASH_MULTIPLIERS[:6].view(np.int64)
# identity_fields' columns: IPv4 ID, sequence and acknowledgement numbers, header identity
_IP_ID, _SEQ, _ACK_NO, _IDENTITY = 0, 1, 2, 6
# distinct_ids' table: 2 ** 16 slots a direction, for directions numbered below 2 ** 4
# (4 MB of int32 at most; 1 MB for a batch of two connections)
ID_TABLE_BITS = 20
_ID_SLOTS_PER_PACKET_BITS = 6  # and 64 slots a packet at most (a small batch: hashed)
_ID_MASK = (1 << 16) - 1  # an IPv4 ID's bits
IDS_SKIPPED_MOST = 15  # batches not tried by distinct_ids after failures (KeyTable)


class QuietBatches:
    """copies.CaptureCopies' quiet path (`_quiet`): the state it reads and keeps, the
    full search's (copies.py)."""

    systematic: bool
    points: CapturePoints
    relays: RelayCopies
    replays: Spans  # its numbers: the batch flows' (tail_of_flows finds the tail's by them)
    proven: int
    _relaying: RelayPairs
    _tail: Tail | None
    _keys: KeyTable

    def _sample(self, flows: BatchFlows, own: Rows, copy: np.ndarray,
                named: np.ndarray | None = None, relayed: np.ndarray | None = None,
                at: np.ndarray | None = None, d: DecodedBatch | None = None) -> None:
        """CaptureCopies._sample: the sampled packets to points.py."""
        raise NotImplementedError

    def _quiet(self, d: DecodedBatch, flows: BatchFlows, since: int | None,
               sources: np.ndarray | None, identity: np.ndarray | None,
               headers: np.ndarray | None,
               stamped: Callable[[np.ndarray], np.ndarray] | None = None,
               legs_at: Callable[[np.ndarray], np.ndarray] | None = None) -> bool:
        """Whether the batch holds no equal packets (`no_equal_packets`; copies.mark's
        arguments), and so no copy: its sample taken and its tail kept as the full search
        would. Tried only while the capture showed no copy of any kind, no second capture
        point and no tool's identities (their state the full search alone keeps)."""
        if (self.systematic or since is not None or identity is not None
                or self.points.active or self.relays.count or self._relaying):
            return False
        ids = (np.where(d.tcp_ip_id != 0, 0, d.tcp_checksum) if headers is None
               else headers[:, 0])  # the header identity, as identity_fields' column
        side = 2 * flows.flow + flows.from_lower
        at, tail_side = tail_of_flows(self._tail, flows, self.replays.numbers)
        tail = self._tail.rows.fields[at] if self._tail is not None else np.zeros(
            (0, FIXED + 1), np.int64)
        batch = [ids if name == "tcp_checksum" else getattr(d, name) for name in FIELDS]
        keyed = (_IP_ID, _SEQ, _ACK_NO, _IDENTITY)  # the columns no_copies keys by
        if not no_equal_packets(
                [(tail_side, tuple(tail[:, column] for column in keyed)),
                 (side, (d.tcp_ip_id, d.tcp_seq, d.tcp_ack, ids))],
                FieldRows(tail_side, tail, side, batch), self._keys):
            return False
        both = ids if headers is None else headers  # identity_fields' identity

        def rows_at(rows: np.ndarray) -> Rows:
            k = rows.shape[0]
            return Rows(side[rows], identity_fields(d, both, rows), d.tcp_ts[rows],
                        d.tcp_frame[rows],
                        np.zeros(k, np.int32) if sources is None else sources[rows],
                        d.tcp_ttl[rows].astype(np.int16), np.zeros(k, bool),
                        np.zeros(k, np.int64), np.full(k, NOT_READ, np.int64))

        rows = sampled(d.tcp_ip_id, (ids if headers is None else headers[:, 1]) & ~OPTIONS_CUT)
        if rows.size:  # (_sample of no row samples nothing)
            self._sample(flows, rows_at(rows), np.zeros(rows.shape[0], bool), at=rows,
                         d=d)
        window = self.points.window
        gap = np.abs(d.tcp_ts - d.tcp_ts[-1])  # seconds from the batch's last packet
        kept = last_rows(gap, window, TAIL_CAP)
        syns = wide = None
        if stamped is not None:  # the SYNs kept beyond the window (copies_tail.wide_syns)
            wide = wide_syns(d.tcp_ip_id, d.tcp_flags, gap)
            if wide.any():  # (distinct: np.union1d's np.unique would load numpy.ma.)
                kept = distinct(np.concatenate((kept, np.flatnonzero(wide))))
        own = rows_at(kept)
        if legs_at is not None and kept.size:  # the next batch's copies read them
            own.leg = legs_at(kept)
        if stamped is not None:
            syns = tail_syns(d, own.stamp, kept, stamped, wide)
        self._tail = kept_tail(self._tail, d.tcp_ts, flows, own,
                               np.zeros(side.shape[0], bool),
                               window, TAIL_CAP, self._relaying, at=kept, syns=syns,
                               gap=gap, numbers=self.replays.numbers)
        self.proven += 1
        return True


class KeyTable:
    """The table positions are written into (`no_equal_packets`), allocated at the
    largest size asked for so far: its contents between calls are never read (every slot
    read was written in the call). And whether the next batch tries `distinct_ids`
    first: after n failures in a row it skips the next 2 ** (n - 1) - 1 batches (at most
    IDS_SKIPPED_MOST): a capture whose directions repeat an ID in every batch (IPv6's
    0; Linux's SYN-ACKs and RSTs carry 0 too, and fail it where one direction holds two
    such answers: bench's many short connections) pays for a few tries, one whose
    batches fail now and then (a resend bit for bit) for none. Skipped or failed, the
    batch goes on to the hashed proof, and a copy in it still reaches the full search."""

    def __init__(self) -> None:
        self._slots = np.empty(0, np.int32)
        self._failures = 0  # distinct_ids' failures in a row
        self._skip = 0  # batches left before it is tried again

    def ids_wanted(self) -> bool:
        """Whether this batch tries distinct_ids (counts a skipped batch)."""
        if self._skip:
            self._skip -= 1
            return False
        return True

    def ids_tried(self, proven: bool) -> None:
        """distinct_ids' answer for the batch: the batches to skip before the next try."""
        if proven:
            self._failures = self._skip = 0
        else:
            self._failures += 1
            self._skip = min(IDS_SKIPPED_MOST, (1 << (self._failures - 1)) - 1)

    def slots(self, bits: int) -> np.ndarray:
        """The table of 2 ** bits slots, int32 (a view of the allocation's start)."""
        if self._slots.shape[0] < 1 << bits:
            self._slots = np.empty(1 << bits, np.int32)
        return self._slots[:1 << bits]


def key_bits(n: int) -> int:
    """The key's bits for n packets (_SLOTS_PER_PACKET_BITS more than n's, within
    _MIN_BITS .. TABLE_BITS)."""
    return max(_MIN_BITS, min(TABLE_BITS, n.bit_length() + _SLOTS_PER_PACKET_BITS))


def no_equal_packets(parts: list[tuple[np.ndarray, tuple[np.ndarray, ...]]],
                     fields: FieldRows, table: KeyTable) -> bool:
    """Whether no two of n packets are equal in direction and every field (True: none
    is a copy of another). parts: the packets in parts (the tail's, the batch's), each
    (direction, keyed): their directions (int64: flow number * 2 + from_lower, as
    copies.py's Rows) and four of their fields (int64 each): IPv4 ID, sequence and
    acknowledgement numbers, header identity; fields: every field of the n packets, the
    parts' in order (compared where keys are shared)."""
    n = sum(side.shape[0] for side, _ in parts)
    if n < 2:
        return True
    if n <= SMALL_PROOF:
        return fields.all_apart()
    if n > np.iinfo(np.int32).max:
        return False
    if table.ids_wanted():
        proven = distinct_ids(parts, table)
        table.ids_tried(proven)
        if proven:
            return True
    bits = key_bits(n)
    key = np.concatenate([_key(side, keyed, bits) for side, keyed in parts])
    slots = table.slots(bits)
    position = _positions(n)
    slots[key] = position
    kept = slots[key]
    shared = np.flatnonzero(kept != position)
    if not shared.size:
        return True
    rows = np.concatenate((shared, kept[shared].astype(np.int64)))
    rows.sort()
    rows = rows[np.concatenate(([True], rows[1:] != rows[:-1]))]
    # Those packets by every field: a 64-bit hash of them all, sorted; all hashes apart
    # prove the packets apart (two equal hashes: the full search decides).
    hashed = fields.sides(rows).astype(np.uint64) * HASH_MULTIPLIERS[0]
    for column, multiplier in zip(fields.columns(rows), HASH_MULTIPLIERS[1:], strict=False):
        hashed += column.astype(np.uint64) * multiplier
    hashed ^= hashed >> np.uint64(29)
    hashed.sort()
    return not (hashed[1:] == hashed[:-1]).any()


def distinct_ids(parts: list[tuple[np.ndarray, tuple[np.ndarray, ...]]],
                 table: KeyTable) -> bool:
    """Whether no two packets of a direction have the same IPv4 ID (True: none is a copy
    of another, whatever their other fields), told by a key of the direction and the ID
    (direction * 2 ** 16 + ID), each packet's position written into a table at its key
    and read back: all read their own when the keys are all different. A batch of a few
    directions (numbered below 2 ** (ID_TABLE_BITS - 16), at most 2 ** _ID_SLOTS_PER_
    PACKET_BITS slots a packet: a bulk transfer's) takes the key itself as its slot: no
    hash, nothing compared after. Any other takes the key's multiply-shift hash
    (key_bits(n) bits, as the hashed proof): the packets that share a slot, and those
    whose positions they read, have their keys compared exactly (sorted, adjacent ones
    apart); two packets with the same key always share a slot, so are always compared.
    A sender that numbers a connection's packets (Linux's per-socket IDs) passes in any
    capture order; an ID repeated in a direction (a copy, a resend bit for bit, IPv6's
    and Linux's answers without an ID: 0, IDs wrapped within the batch and its tail)
    fails it, and the hashed key table of every keyed field decides (no_equal_packets).
    Five to ten passes over the batch: a fifth to a half of that proof's cost (issue 7).
    parts: no_equal_packets' (the IPv4 ID the first keyed field)."""
    key = np.concatenate([direction for direction, _ in parts])
    n = key.shape[0]
    top = int(key.max())
    key <<= 16
    ids = np.concatenate([keyed[0] for _, keyed in parts])
    ids &= _ID_MASK  # 16-bit already (decode); kept within the table whatever it is given
    key |= ids
    position = _positions(n)
    bits = 16 + top.bit_length()
    if bits <= min(ID_TABLE_BITS, n.bit_length() + _ID_SLOTS_PER_PACKET_BITS):
        slots = table.slots(bits)
        slots[key] = position
        return bool((slots[key] == position).all())
    bits = key_bits(n)
    slot = key * _MUL[0]
    slot ^= slot >> np.int64(29)
    slot *= _MUL[5]
    slot >>= np.int64(64 - bits)
    slot &= np.int64((1 << bits) - 1)
    slots = table.slots(bits)
    slots[slot] = position
    kept = slots[slot]
    shared = np.flatnonzero(kept != position)
    if not shared.size:
        return True
    # Each packet once (the one a slot kept is read by all the others of its slot).
    compared = key[distinct(np.concatenate((shared, kept[shared].astype(np.int64))))]
    compared.sort()
    return not (compared[1:] == compared[:-1]).any()


_POSITIONS: list[np.ndarray] = [np.arange(0, dtype=np.int32)]


def _positions(n: int) -> np.ndarray:
    """0 .. n - 1 (int32), a view of one array kept for the process (read only)."""
    if _POSITIONS[0].shape[0] < n:
        _POSITIONS[0] = np.arange(max(n, 2 * _POSITIONS[0].shape[0]), dtype=np.int32)
        _POSITIONS[0].flags.writeable = False
    return _POSITIONS[0][:n]


def _key(side: np.ndarray, keyed: tuple[np.ndarray, ...], bits: int) -> np.ndarray:
    """Per packet (int64, 0 .. 2 ** bits - 1): its direction's and keyed fields' hash (a
    multiply-shift hash: the product's top bits)."""
    key = side * _MUL[0]
    for column, multiplier in zip(keyed, _MUL[1:5], strict=True):
        key += column * multiplier
    key ^= key >> np.int64(29)
    key *= _MUL[5]
    key >>= np.int64(64 - bits)
    key &= np.int64((1 << bits) - 1)
    return key


class FieldRows:
    """The directions and every field (packet_identity.FIELDS) of n packets: the tail's
    kept packets first (`tail_side`, `tail`: (k, >= len(FIELDS)) int64, identity_fields'
    columns), then the batch's (`side`, `batch`: FIELDS' columns), gathered only at the
    rows asked for."""

    def __init__(self, tail_side: np.ndarray, tail: np.ndarray, side: np.ndarray,
                 batch: list[np.ndarray]) -> None:
        self.tail_side = tail_side
        self.tail = tail
        self.side = side
        self.batch = batch

    def sides(self, rows: np.ndarray) -> np.ndarray:
        """The directions of the packets at `rows` (ascending)."""
        before, after = self._split(rows)
        return np.concatenate((self.tail_side[before], self.side[after]))

    def columns(self, rows: np.ndarray) -> list[np.ndarray]:
        """The fields of the packets at `rows` (ascending), one array per field."""
        before, after = self._split(rows)
        return [np.concatenate((self.tail[before, c], column[after]))
                for c, column in enumerate(self.batch)]

    def all_apart(self) -> bool:
        """Whether no two of the packets are equal in direction and every field,
        compared exactly as Python tuples (for a few packets: no key table, no hash)."""
        width = len(self.batch)
        packets = set(zip(self.side.tolist(), *(column.tolist() for column in self.batch),
                          strict=True))
        if len(packets) < self.side.shape[0]:
            return False
        for side, row in zip(self.tail_side.tolist(), self.tail[:, :width].tolist(),
                             strict=True):
            packets.add((side, *row))
        return len(packets) == self.side.shape[0] + self.tail_side.shape[0]

    def _split(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = self.tail_side.shape[0]
        cut = int(np.searchsorted(rows, k))
        return rows[:cut], rows[cut:] - k
