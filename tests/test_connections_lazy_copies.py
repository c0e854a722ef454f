"""Records made when read (flowcheck.connections.block_records) under what reads or
writes them after their block was parked: ICMP rejects that come after the connection's
block (tied to the parked row's record), 4-tuples reused after a parked connection (the
old record kept for the quotes), connections open across read chunks (update_records),
and live's copies of the running tracker (copy.deepcopy, the copy finished and read):
each record made alone in a random order equals, field by field (compare=False and rare
fields too), the one made in bulk, and a tracker copied and its copy read at every third
batch ends with the records of one never copied.

Ethernet frames: a Linux cooked capture's marks (syn_ways, reject_ways) read every
record at the end, and the records would all be made in bulk there.
"""

from __future__ import annotations

import copy
import gc
import random
import struct
from dataclasses import fields
from pathlib import Path

from test_connections_util import ACK, FIN, PSH, RST, SYN, ethernet, ipv4, tcp, write_pcap

from flowcheck.connections import ConnectionTracker, finish_tracking, track_connections
from flowcheck.model import Connection
from flowcheck.model.rare_fields import RareFields
from flowcheck.sources import iter_batches

M, A, ROUTER = "10.1.0.1", "10.1.0.2", "10.1.9.9"
COUNT = 600
REUSED_AFTER = 300  # connection k + 300 takes connection k's client port
CHUNK = 1 << 14  # 16 KiB: about 200 packets a batch (smaller, every record is made by
# update_records before anyone reads it: nothing left to make when read)

_NAMES = [f.name for f in fields(Connection) if f.name != "rare"]
_RARE = [f.name for f in fields(RareFields)]


def _alive() -> int:
    """Connection objects alive (the records made so far)."""
    return sum(1 for o in gc.get_objects() if type(o) is Connection)


def _fields(c: Connection) -> tuple:
    """Every field's value, the rare ones read from the record's RareFields (a list
    field's read through the record would attach one)."""
    rare = None if c.rare is None else tuple(getattr(c.rare, name) for name in _RARE)
    return (*(getattr(c, name) for name in _NAMES), rare)


def _reject(port: int, seq: int, sender: str, code: int) -> bytes:
    """An ICMP unreachable (type 3) from sender quoting M's SYN to A."""
    quoted = ipv4(M, A, 6, tcp(port, 6001, seq, 0, SYN))
    return ipv4(sender, M, 1, struct.pack("!BBHI", 3, code, 0, 0) + quoted)


def _capture(path: Path) -> Path:
    """COUNT connections 0.5 ms apart: most handshake, data and both FINs (some with an
    ICMP reject quoting their SYN up to 0.4 s later), some refused by an ICMP reject
    (the agent's or a router's, port or administratively prohibited) that comes 1 to
    400 ms after their SYN, some by a RST."""
    rnd = random.Random(5)
    packets: list[tuple[float, bytes]] = []
    for k in range(COUNT):
        port, seq, t = 20000 + k % REUSED_AFTER, 1000 + k * 7919, k * 0.0005
        kind = rnd.random()
        if kind < 0.6:
            packets += [(t, ipv4(M, A, 6, tcp(port, 6001, seq, 0, SYN))),
                        (t + 1e-4, ipv4(A, M, 6, tcp(6001, port, 9000, seq + 1, SYN | ACK))),
                        (t + 2e-4, ipv4(M, A, 6, tcp(port, 6001, seq + 1, 9001,
                                                     PSH | ACK, b"x" * 30))),
                        (t + 3e-4, ipv4(A, M, 6, tcp(6001, port, 9001, seq + 31, FIN | ACK))),
                        (t + 4e-4, ipv4(M, A, 6, tcp(port, 6001, seq + 31, 9002, FIN | ACK))),
                        (t + 5e-4, ipv4(A, M, 6, tcp(6001, port, 9002, seq + 32, ACK)))]
            if kind < 0.1:
                packets.append((t + rnd.uniform(0.05, 0.4), _reject(port, seq, A, 3)))
        elif kind < 0.85:
            packets += [(t, ipv4(M, A, 6, tcp(port, 6001, seq, 0, SYN))),
                        (t + rnd.uniform(0.001, 0.4),
                         _reject(port, seq, rnd.choice((A, ROUTER)), rnd.choice((3, 13))))]
        else:
            packets += [(t, ipv4(M, A, 6, tcp(port, 6001, seq, 0, SYN))),
                        (t + 1e-4, ipv4(A, M, 6, tcp(6001, port, 0, seq + 1, RST | ACK)))]
    packets.sort(key=lambda p: p[0])
    return write_pcap(path, 1, [ethernet(l3) for _, l3 in packets],
                      times=[t for t, _ in packets])


def test_records_made_alone_after_icmp_and_reuse_equal_those_made_in_bulk(
        tmp_path: Path) -> None:
    path = _capture(tmp_path / "rejects.pcap")
    gc.collect()
    before = _alive()
    reading = track_connections([str(path)], chunk_size=CHUNK).connections
    assert _alive() - before < COUNT * 0.9  # some are left to be made when read
    in_bulk = list(reading)
    assert len(in_bulk) == COUNT
    # What the capture is meant to hold: rejects tied to connections of earlier batches,
    # and each reused port's two connections apart.
    assert sum(1 for c in in_bulk if c.icmp_frames) > COUNT // 5
    assert len({(c.orig_p, c.syn_ts) for c in in_bulk}) == COUNT
    alone = track_connections([str(path)], chunk_size=CHUNK).connections
    at = list(range(COUNT))
    random.Random(2).shuffle(at)
    got = {k: alone[k] for k in at}
    assert [_fields(got[k]) for k in range(COUNT)] == [_fields(c) for c in in_bulk]
    assert all(got[k] is c for k, c in enumerate(alone))  # each made once


def test_a_tracker_copied_and_its_copy_read_ends_as_one_never_copied(tmp_path: Path) -> None:
    path = _capture(tmp_path / "rejects.pcap")
    never_copied = [_fields(c) for c in
                    track_connections([str(path)], chunk_size=CHUNK).connections]
    tracker = ConnectionTracker()
    reader = iter_batches([str(path)], chunk_size=CHUNK)
    for n, batch in enumerate(reader):
        tracker.feed(batch)
        if n % 3 == 1:  # as flowcheck.live at a check: the copy finished, every record read
            twin = copy.deepcopy(tracker)
            read = finish_tracking(twin, reader.captures).connections
            assert [c.uid for c in read] == [f"C{k}" for k in range(1, len(read) + 1)]
            for c in read:
                c.conn_state += "!"  # a copy's record written: never the tracker's
    final = finish_tracking(tracker, reader.captures).connections
    assert [_fields(c) for c in final] == never_copied
