"""The short-connection pass's records are made when read (flowcheck.connections.
block_records, opened_records; issue 7): a reading whose records nobody reads makes
almost none of them, a record read alone is made once and kept, and records made one at
a time, in bulk or in any order equal those of the per-packet path (the reference).

Nothing is timed: the Connection objects alive are counted (gc.get_objects: the records
are the only Connection objects the reading makes). Short connections (handshake, data,
both FINs, the last ACK) one after the other, each its own client port, read in read
chunks large enough that few are open across a chunk's end (those are made when the
next chunk's packets bring their records up to date, update_records).
"""

from __future__ import annotations

import gc
import random
import weakref
from pathlib import Path

import numpy as np
from test_connections_per_connection_memory import short_connections
from test_connections_util import read_batches

from flowcheck.connections import ConnectionTracker, track_connections
from flowcheck.connections.block_columns import Coded, Nullable, Same, Sparse
from flowcheck.connections.block_records import BlockRecords
from flowcheck.connections.flows import port_items
from flowcheck.connections.opened_records import Records
from flowcheck.connections.short_records import _FIELDS
from flowcheck.model import Connection

COUNT = 3000
CHUNK = 1 << 20  # 1 MiB: 3,000 connections of 7 packets in two or three chunks


def _alive() -> int:
    """Connection objects alive (the records made so far)."""
    return sum(1 for o in gc.get_objects() if type(o) is Connection)


def _fields(c: Connection) -> tuple:
    return tuple(getattr(c, name) for name in c.__slots__ if name != "rare") + (c.rare,)


def _types(c: Connection) -> tuple:
    """The types of the record's fields (a list, shared NO_FRAMES or not, as list): the
    short pass keeps every one as the per-packet path does, each side's last packet's
    time and the first FIN's too (connections.short_times)."""
    return tuple(list if isinstance(value, list) else type(value) for value in
                 (getattr(c, name) for name in c.__slots__ if name != "rare"))


def _times(c: Connection) -> tuple:
    """The packet times a record keeps, not compared (Connection.orig_last_ts, fin_ts)."""
    return c.orig_last_ts, c.resp_last_ts, c.fin_ts, c.fin_peer_last_ts


def test_new_rows_keep_numbers_in_arrays(tmp_path: Path) -> None:
    """A block's new rows keep their numbers as arrays (1-8 bytes a row) or one value
    for all, not as lists of Python numbers (a pointer, and past 256 an object, a row):
    frames, times, counts, TTLs and rtt; addresses and ports as indexes into a table."""
    path = short_connections(tmp_path / "short.pcap", COUNT)
    connections = track_connections([str(path)], chunk_size=CHUNK).connections
    block = next(part for part in connections._parts if isinstance(part, BlockRecords)
                 and part.new > 100)
    kept = dict(zip(_FIELDS, block._args, strict=True))
    for name in ("ts", "last_ts", "syn_ts", "first_frame", "last_frame", "orig_pkts",
                 "resp_pkts", "orig_bytes", "resp_bytes", "rtt", "synack_ts", "orig_ttl",
                 "resp_ttl", "established", "retransmits"):
        assert type(kept[name]) in (np.ndarray, Nullable, Same), (name, type(kept[name]))
    assert kept["syn_ts"] is kept["ts"]  # one array, one float object per record made
    assert block[0].syn_ts is block[0].ts
    # Addresses and ports as indexes into a table of their objects (a record's are the
    # table's: one text per distinct address, one port object per number).
    for name in ("orig_h", "orig_p", "resp_h", "resp_p"):
        assert type(kept[name]) is Coded, (name, type(kept[name]))
    assert block[0].resp_p is port_items(np.array([block[0].resp_p]))[0]
    assert block[1].orig_h is block[0].orig_h


def test_records_nobody_reads_are_not_made(tmp_path: Path) -> None:
    path = short_connections(tmp_path / "short.pcap", COUNT)
    gc.collect()
    before = _alive()
    connections = track_connections([str(path)], chunk_size=CHUNK).connections
    assert isinstance(connections, Records)
    assert len(connections) == COUNT
    made = _alive() - before
    # Only the records of connections open across a chunk's end (brought up to date by
    # the next chunk) and those the per-packet path made: a small share, not all 3,000.
    assert made < COUNT // 10, made
    # One record read alone is made once; read again, the same object.
    middle = connections[COUNT // 2]
    assert _alive() - before == made + 1
    assert connections[COUNT // 2] is middle
    assert connections[-1] is connections[COUNT - 1]
    assert _alive() - before == made + 2
    # Reading all makes the rest, in bulk, each row once: the ones read before kept.
    everything = list(connections)
    assert _alive() - before == COUNT
    assert everything[COUNT // 2] is middle
    assert [c.uid for c in everything] == [f"C{n}" for n in range(1, COUNT + 1)]
    assert [c.first_frame for c in everything] == sorted(c.first_frame for c in everything)


def test_records_made_in_any_order_equal_the_per_packet_path(tmp_path: Path) -> None:
    """Each record made alone in a random order equals the one made in bulk field by
    field (compare=False and rare fields too), and both equal the records of the
    one-packet-at-a-time path (the reference: the compared fields, and the packet times
    both keep uncompared: Connection.orig_last_ts, fin_ts, connections.short_times)."""
    path = short_connections(tmp_path / "short.pcap", COUNT)
    reference = ConnectionTracker(fast=False)
    for batch in read_batches(path, chunk=CHUNK // 200):
        reference.feed(batch)
    expected = list(reference.finish())
    one_by_one = track_connections([str(path)], chunk_size=CHUNK).connections
    at = list(range(len(one_by_one)))
    random.Random(1).shuffle(at)
    got = {i: one_by_one[i] for i in at}
    alone = [got[i] for i in range(len(at))]
    in_bulk = list(track_connections([str(path)], chunk_size=CHUNK).connections)
    assert [_fields(c) for c in alone] == [_fields(c) for c in in_bulk]
    # Numbers kept in arrays (block_records) read as Python's, alone or in bulk: the
    # same types as the per-packet path's, never a numpy scalar.
    assert [tuple(map(type, _fields(c))) for c in alone] == \
        [tuple(map(type, _fields(c))) for c in in_bulk]
    assert not [v for c in alone for v in _fields(c) if isinstance(v, np.generic)]
    assert [_types(c) for c in alone] == [_types(c) for c in expected]
    assert [_times(c) for c in alone] == [_times(c) for c in expected]
    assert alone == expected
    assert in_bulk == expected
    assert one_by_one == expected  # the sequence compares as the list of its records


def test_reading_every_record_lets_the_order_go(tmp_path: Path) -> None:
    """Once every record is made and kept as one list, the sequence's order arrays (12
    bytes a record) are let go, not kept alive by an empty view of them."""
    path = short_connections(tmp_path / "short.pcap", 300)
    connections = track_connections([str(path)], chunk_size=CHUNK).connections
    assert isinstance(connections, Records)
    order = [weakref.ref(connections._part_of), weakref.ref(connections._row_of)]
    everything = list(connections)
    gc.collect()
    assert [ref() for ref in order] == [None, None]
    assert list(connections) == everything and len(connections) == 300
    assert connections[-1] is everything[-1]


def test_a_row_named_twice_is_made_once(tmp_path: Path) -> None:
    """BlockRecords.make given a row twice (records_of's entries, a slice) makes it once:
    one object for the connection, and the block's other rows still made when read."""
    path = short_connections(tmp_path / "short.pcap", 300)
    connections = track_connections([str(path)], chunk_size=CHUNK).connections
    block = next(part for part in connections._parts if isinstance(part, BlockRecords)
                 and part.new > 2 and part.made(0) is None and part.made(1) is None)
    block.make([0, 0, 1])
    first, second = block[0], block[1]
    assert block[0] is first and first is not second
    everything = list(block)
    assert everything[0] is first and everything[1] is second
    assert None not in everything and len({id(c) for c in everything}) == len(everything)


def test_a_slice_makes_only_its_records(tmp_path: Path) -> None:
    """A slice is a list of the sliced records, as a list's slice (negative bounds and
    steps too), and makes those only: not every record of the reading."""
    path = short_connections(tmp_path / "short.pcap", COUNT)
    gc.collect()
    before = _alive()
    connections = track_connections([str(path)], chunk_size=CHUNK).connections
    made = _alive() - before
    head = connections[:5]
    assert _alive() - before <= made + 5
    picked = [(k, connections[k]) for k in (slice(-7, None), slice(None, None, -500),
                                            slice(10, 3), slice(-2, -9, -3), slice(COUNT, None))]
    assert _alive() - before < made + 40
    everything = list(connections)
    assert [id(c) for c in head] == [id(c) for c in everything[:5]]
    for k, got in picked:
        assert type(got) is list
        assert [id(c) for c in got] == [id(c) for c in everything[k]]


def test_a_sparse_column_reads_as_its_list() -> None:
    """block_records.Sparse (the short pass's SideEvidence: made with its record) reads
    as the list of the values it stands for: None but at its rows, each made of its
    fields' values there; by row, in bulk, and for any rows asked (repeated, absent)."""
    rows = np.array([2, 5, 7], np.int64)
    column = Sparse(10, rows, lambda *values: values, [["a", "b", "c"], Same(0), [1.5, None, 3]])
    expected = [None, None, ("a", 0, 1.5), None, None, ("b", 0, None), None, ("c", 0, 3),
                None, None]
    assert column.tolist() == expected
    assert [column[i] for i in range(10)] == expected
    for asked in ([7], [0], [9, 2, 2, 5], [], list(range(9, -1, -1))):
        assert column.tolist(asked) == [expected[i] for i in asked]
    one = Sparse(3, np.array([1], np.int64), lambda *values: values, [["x"], Same(None)])
    assert one.tolist() == [None, ("x", None), None] and one.tolist([1]) == [("x", None)]
