"""Memory per connection: what each of many short connections keeps (issue 7).

Nothing is timed. Captures of N short connections (handshake, one data segment, both
FINs, the last ACK; each its own client port) are tracked in small read chunks, so the
records and the short pass's parked state of earlier batches add up: python's allocation
tracer (tracemalloc, numpy's arrays included) gives the bytes held when the tracker
begins to finish, and the difference between two captures' over the difference of
their connection counts is what one connection
costs: 2,590 bytes at 38c104d, after two days of per-side fields (every Connection
37 slots and two empty lists more, 39 full int64 columns of parked state), 1,980 once the
rarely set fields are made only when set (flowcheck.model.rare_fields) and parked
columns of one value kept as that value (flowcheck.arrays.compact); 2,120 at 78402fd,
1,860 once a batch's flow keys share their endpoint tuples and the parked columns equal
to another or fitting a narrower integer type are kept as that array or type (branch
sshort); 1,442 once empty evidence lists are one shared list, conn_state strings and
port numbers shared objects, ts / first_frame shared with syn_ts / syn_frames[0], and
the parked sequence numbers and times kept as narrow differences from the side's base
and the last SYN's time (branch scshort); 1,476 with connections.replays' numbers (38
bytes a connection and 12 a place in its hash table: the copies of captures joined end
to end, branch bigjoin; 1,426 without; 1,548 and 1,498 measured after other tests in
the same worker). Those figures were cold: the smaller capture's measurement counted
about 740 KB the process makes once, when no earlier test in the worker had made it, so
they read low and varied with the tests before (1,660 in one worker: a failure). The
tracker now reads the larger capture once untraced before both measurements: 1,685
each time (2026-12-06); 997 at 8118324c (the short pass's records held as columns, made
when read: branch speedrec), 795 once the columns' numbers (counts, frames, times,
TTLs, rtt) are arrays, not lists of Python numbers, and 676 once the parked table keeps
plain IPv4 keys as their words, not the key tuples, 653 with a block's addresses and
ports as indexes into a table of their objects (branch speedC, 2026-12-07). The
bound leaves room for a few more fields, not for that growth again. Tables made once
per process (flows.port_items) are made before measuring: they are no connection's.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from test_connections_states import handshake, pkt
from test_connections_util import ACK, FIN, PSH
from test_connections_util import write_pcap as write

from flowcheck.connections import ConnectionTracker, track_connections
from flowcheck.connections.flows import port_items
from flowcheck.model import Connection

CHUNK = 1 << 17  # 128 KiB: many batches, each one's work small beside what is kept
BOUND = 800  # bytes per connection (653 measured warm; 997 at 8118324c, 1,685 on 2026-12-06)


def short_connections(path: Path, count: int) -> Path:
    """count short connections one after the other, client ports 1024 upward."""
    packets = []
    for k in range(count):
        port = 1024 + k
        packets += [*handshake(mport=port), pkt(True, PSH | ACK, 101, 901, data=20, mport=port),
                    pkt(False, ACK, 901, 121, mport=port),
                    pkt(True, FIN | ACK, 121, 901, mport=port),
                    pkt(False, FIN | ACK, 901, 122, mport=port),
                    pkt(True, ACK, 122, 902, mport=port)]
    return write(path, 1, packets)


def held_at_finish(path: Path, count: int, monkeypatch: pytest.MonkeyPatch,
                   history: str = "ShADaFf", **options: object) -> int:
    """The bytes allocated and still held when the tracker, having read the capture in
    CHUNK chunks, begins to finish: every record and the parked state of every batch.
    Every one of the `count` connections has `history`; `options` go to
    track_connections (a sink and tap)."""
    held = []
    finish = ConnectionTracker.finish

    def measured(tracker: ConnectionTracker) -> list[Connection]:
        held.append(tracemalloc.get_traced_memory()[0])
        return finish(tracker)

    monkeypatch.setattr(ConnectionTracker, "finish", measured)
    port_items(np.zeros(1, np.int64))  # the process's port table, made once: not per connection
    tracemalloc.start()
    try:
        connections = track_connections([str(path)], chunk_size=CHUNK,
                                        **options).connections  # type: ignore[arg-type]
    finally:
        tracemalloc.stop()
    assert len(connections) == count
    assert {c.history for c in connections} == {history}
    return held[0]


def test_each_short_connection_costs_little_memory(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """What the tracker holds at its finish grows, from 2,000 to 6,000 connections,
    by less than BOUND bytes per connection: records and parked state of every
    connection, not the fields that almost no connection sets."""
    few, many = 2_000, 6_000
    few_path = short_connections(tmp_path / "few.pcap", few)
    many_path = short_connections(tmp_path / "many.pcap", many)
    # Untraced first: what a process makes once and keeps (about 740 KB) is made
    # before either measurement. Else the smaller capture's figure counted it when no
    # earlier test in the worker had made it, and the result read 1,476-1,660 bytes by
    # the tests run before; 1,685 each time after it.
    track_connections([str(many_path)], chunk_size=CHUNK)
    low = held_at_finish(few_path, few, monkeypatch)
    high = held_at_finish(many_path, many, monkeypatch)
    per_connection = (high - low) / (many - few)
    assert per_connection < BOUND, per_connection
