"""What the tracker's look-ahead across read chunks (connections.seams) moves.

Nothing is timed: the records and bytes moved from one batch to the next are counted.
Two connections each written in time order, the second's records stamped 1 ms behind
the first's (two NIC queues' rings merged): no record is behind its own connection's,
so at most the last few records of a batch move, and the batches stay the size of the
read chunk. One connection whose every record is behind the one before it: the moved
bytes stop at SEAM_BYTES.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from test_connections_states import handshake, pkt
from test_connections_util import ACK, FIN, PSH
from test_connections_util import write_pcap as write

from flowcheck.connections import track_connections
from flowcheck.connections.seams import SeamHolder
from flowcheck.sources import iter_batches
from flowcheck.sources.batch import PacketBatch

CHUNK = 64 << 10
SIZE = 1400
MOVED_AT_MOST = 1 << 20  # connections.seams.SEAM_BYTES


def _handed_on(batches: Iterable[PacketBatch]) -> Iterator[PacketBatch]:
    """The batches as ConnectionTracker.feed tracks them: each pushed through its
    look-ahead (SeamHolder), the held one last."""
    holder = SeamHolder()
    for batch in batches:
        ready = holder.push(batch)
        if ready is not None and len(ready):
            yield ready
    rest = holder.flush()
    if rest is not None:
        yield rest


def transfer(mport: int, segments: int) -> list[bytes]:
    """A connection's handshake, `segments` data segments M -> A and a FIN each way."""
    packets = handshake(mport)
    seq = 101
    for _ in range(segments):
        packets.append(pkt(True, PSH | ACK, seq, 901, data=SIZE, mport=mport))
        seq += SIZE
    return packets + [pkt(True, FIN | ACK, seq, 901, mport=mport),
                      pkt(False, FIN | ACK, 901, seq + 1, mport=mport),
                      pkt(True, ACK, seq + 1, 902, mport=mport)]


def lagged(path: Path, segments: int) -> Path:
    """Two transfers (ports 5001, 5002) interleaved record by record, 100 us apart, the
    second's records stamped 1 ms behind the first's: each connection in time order."""
    written: list[bytes] = []
    times: list[float] = []
    for k, (ahead, behind) in enumerate(zip(transfer(5001, segments), transfer(5002, segments),
                                            strict=True)):
        written += [ahead, behind]
        times += [0.01 + k * 0.0001, 0.009 + k * 0.0001]
    return write(path, 1, written, times=times)


def test_two_connections_each_in_order_move_a_record_or_two(tmp_path: Path) -> None:
    """The second connection 1 ms behind the first: judged over all records every seam
    had no clean place and moved its last SEAM_RECORDS records (here the whole batch,
    carried on and on: batches grew to the capture's size); judged per connection at
    most the last record moves. Tracked as each connection alone."""
    path = lagged(tmp_path / "lag.pcap", 600)
    read = [len(b) for b in iter_batches([str(path)], chunk_size=CHUNK)]
    fed = [len(b) for b in _handed_on(iter_batches([str(path)], chunk_size=CHUNK))]
    assert len(read) >= 10 and sum(fed) == sum(read)
    assert max(abs(n - r) for n, r in zip(fed, read, strict=False)) <= 2, (read, fed)
    ours = track_connections([str(path)], chunk_size=CHUNK).connections
    whole = track_connections([str(path)], chunk_size=1 << 26).connections
    assert [(c.history, c.retransmits, c.ts, c.last_ts) for c in ours] == [
        (c.history, c.retransmits, c.ts, c.last_ts) for c in whole]
    assert [c.history for c in ours] == ["ShADFf", "ShADFf"]


def test_moved_bytes_stop_at_seam_bytes(tmp_path: Path) -> None:
    """One connection's data segments each stamped 10 us behind the one before (no
    clean place anywhere): a seam moves at most SEAM_BYTES of records (and the record
    at the cut), not SEAM_RECORDS of them, so a batch stays within the chunk and
    SEAM_BYTES. It moved 4,096 records, carried from seam to seam."""
    packets = handshake()
    seq = 101
    for _ in range(2000):
        packets.append(pkt(True, PSH | ACK, seq, 901, data=SIZE))
        seq += SIZE
    times = [0.0, 0.001, 0.002] + [1.0 - k * 0.00001 for k in range(2000)]
    path = write(tmp_path / "back.pcap", 1, packets, times=times)
    read = [int(b.caplen.sum()) for b in iter_batches([str(path)], chunk_size=CHUNK)]
    fed = [int(b.caplen.sum()) for b in
           _handed_on(iter_batches([str(path)], chunk_size=CHUNK))]
    assert len(read) >= 10 and sum(fed) == sum(read)
    assert max(fed) <= max(read) + MOVED_AT_MOST, (max(fed), max(read))


def record_bytes(batches: list) -> dict[int, bytes]:
    """Each record's captured bytes, by frame number."""
    return {b.frame_number(row): bytes(memoryview(b.buf)[int(b.data_off[row]):
                                                         int(b.data_off[row] + b.caplen[row])])
            for b in batches for row in range(len(b))}


def test_a_seam_copies_only_the_records_it_moves(tmp_path: Path) -> None:
    """The records moved to the next batch are copied into its buffer's room past the
    bytes read (the reader allocates in steps: readahead.BUFFER_STEP); the next batch's
    own records stay where the reader put them. A seam copied the whole next buffer
    (the read chunk) behind the moved records. Every record's bytes are the file's."""
    path = lagged(tmp_path / "lag.pcap", 600)
    read: list = []

    def kept() -> Iterator:
        for batch in iter_batches([str(path)], chunk_size=CHUNK):
            read.append(batch)
            yield batch

    fed = list(_handed_on(kept()))
    moved = [(f, r) for f, r in zip(fed[1:], read[1:], strict=False) if f.frame0 < r.frame0]
    assert len(moved) >= 5, [len(b) for b in fed]
    for joined, own in moved:
        assert np.shares_memory(np.frombuffer(joined.buf, np.uint8),
                                np.frombuffer(own.buf, np.uint8)), joined.frame0
    assert record_bytes(fed) == record_bytes(read)
