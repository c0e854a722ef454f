"""Memory while tracking follows the read chunk, not the capture's length.

Nothing is timed. A capture of one long transfer is tracked in chunks of CHUNK bytes:
python's own allocation tracer (tracemalloc: numpy's arrays included) gives the peak
of the bytes allocated at once, which must stay within a few chunks (the chunk tracked,
the next one held for the records written across their seam, connections.seams, and
the one the read-ahead thread is filling, sources.readahead) whatever the number of
chunks; and the chunk buffers alive at once are counted as they are allocated.
"""

from __future__ import annotations

import struct
import tracemalloc
import weakref
from pathlib import Path

import pytest
from test_connections_states import handshake, pkt
from test_connections_util import ACK, FIN, PSH
from test_connections_util import write_pcap as write

import flowcheck.connections as connections
from flowcheck.connections import track_connections
from flowcheck.sources import readahead
from flowcheck.sources import reader as reader_module
from flowcheck.sources.batch import PacketBatch

CHUNK = 1 << 20
CHECKSUM_AT = 14 + 20 + 16  # Ethernet, IPv4 (no options), TCP checksum field


@pytest.fixture(autouse=True)
def reading_as_on_the_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read ahead as on the 2-core machines flowcheck is built for; the files' heads
    (read once before tracking, connections.HEAD_BYTES) kept below a chunk; glibc's
    thresholds raised before tracing (the primer block is allocated once per process
    and never touched: no memory, but tracemalloc would count it)."""
    monkeypatch.setattr(reader_module, "usable_cores", lambda: 2)
    monkeypatch.setattr(connections, "HEAD_BYTES", 1 << 14)
    reader_module._prime_allocator()


def transfer(path: Path, chunks: int) -> Path:
    """One connection carrying about `chunks` read chunks of data in segments of
    1,100-1,400 bytes (an ACK every 4), each with its own TCP checksum, none of them
    one the capture-points sample takes (point_sample.sampled: low six bits 0)."""
    packets = handshake()
    seq = 101
    for k in range(chunks * CHUNK // 1300):
        size = 1400 - k * 37 % 300
        packets.append(pkt(True, PSH | ACK, seq, 901, data=size))
        seq += size
        if k % 4 == 3:
            packets.append(pkt(False, ACK, 901, seq))
    packets += [pkt(True, FIN | ACK, seq, 901), pkt(False, FIN | ACK, 901, seq + 1),
                pkt(True, ACK, seq + 1, 902)]
    summed = [p[:CHECKSUM_AT] + struct.pack("!H", (k * 40503) & 0xFFC0 | 1)
              + p[CHECKSUM_AT + 2:] for k, p in enumerate(packets)]
    return write(path, 1, summed)


def tracked_peak(path: Path) -> int:
    """The most bytes allocated at once while tracking the capture in CHUNK chunks."""
    tracemalloc.start()
    try:
        [connection] = track_connections([str(path)], chunk_size=CHUNK).connections
        assert connection.history == "ShADaFf" and connection.retransmits == 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_is_a_few_chunks_whatever_the_capture_length(tmp_path: Path) -> None:
    """Three chunk buffers (a chunk buffer has room for CHUNK plus one BUFFER_STEP)
    and the decode of one chunk, at 8 and at 24 chunks. It was 4.3 chunks: the batch
    handed on was still referenced (enumerate's result tuple) while the seam's
    look-ahead had the reader take a fourth buffer."""
    short = tracked_peak(transfer(tmp_path / "short.pcap", 8))
    long = tracked_peak(transfer(tmp_path / "long.pcap", 24))
    assert long < 4 * CHUNK, long / CHUNK
    assert long <= short + CHUNK // 4, (short / CHUNK, long / CHUNK)


def test_at_most_three_chunk_buffers_at_once(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Each chunk buffer the reader allocates, counted with the earlier ones still
    alive: the chunk tracked, the next one (the seam's look-ahead) and the one read
    ahead. No fed batch stays referenced while the next chunk is read."""
    allocate = readahead.Reads._allocate
    buffers: list[weakref.ref] = []
    most = []

    def counted(self: readahead.Reads, *args: object) -> tuple[memoryview, int]:
        buf, start = allocate(self, *args)  # type: ignore[arg-type]
        buffers.append(weakref.ref(buf.obj))  # type: ignore[arg-type]
        most.append(sum(1 for alive in buffers if alive() is not None))
        return buf, start

    monkeypatch.setattr(readahead.Reads, "_allocate", counted)
    [connection] = track_connections([str(transfer(tmp_path / "t.pcap", 12))],
                                     chunk_size=CHUNK).connections
    assert connection.history == "ShADaFf"
    assert len(most) >= 12
    assert max(most) <= 3, most


def short_connections(path: Path, count: int) -> Path:
    """count short connections (handshake, 100 bytes, FIN both ways), each on its own
    client port, opened 3 records apart so about 20 are open at once (as bench's
    short-connections, 7 records each), each record with its own TCP checksum."""
    timed = []
    for n in range(count):
        port = 1024 + n
        for k, packet in enumerate([
                *handshake(port), pkt(True, PSH | ACK, 101, 901, data=100, mport=port),
                pkt(True, FIN | ACK, 201, 901, mport=port),
                pkt(False, FIN | ACK, 901, 202, mport=port),
                pkt(True, ACK, 202, 902, mport=port)]):
            timed.append((3 * n + 3 * k, len(timed), packet))
    timed.sort()
    summed = [p[:CHECKSUM_AT] + struct.pack("!H", (k * 40503) & 0xFFC0 | 1)
              + p[CHECKSUM_AT + 2:] for k, (_, _, p) in enumerate(timed)]
    return write(path, 1, summed, times=[t * 1e-4 for t, _, _ in timed])


def batch_peak(path: Path, count: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """The most bytes allocated at once while the tracker takes one batch (above what
    was allocated before it), the capture read in one chunk. ConnectionTracker._track
    tracks one batch (feed holds each for the next one's look-ahead)."""
    track = connections.ConnectionTracker._track
    peaks = []

    def measured(self: connections.ConnectionTracker, batch: PacketBatch) -> object:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        try:
            return track(self, batch)
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1] - before)

    monkeypatch.setattr(connections.ConnectionTracker, "_track", measured)
    tracemalloc.start()
    try:
        result = track_connections([str(path)], chunk_size=32 << 20)
    finally:
        tracemalloc.stop()
    assert len(result.connections) == count
    assert {c.history for c in result.connections} == {"ShADFf"}
    return max(peaks)


def test_memory_of_a_chunk_of_short_connections_follows_its_parts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read chunk of many short connections (small records: 94k of them in bench's
    8 MiB short-connections chunk) is tracked in parts of at most BATCH_RECORDS records:
    the bytes a batch allocates at once stay those of one part whether the chunk holds
    one part's records or two. It was 600 bytes a record of the chunk: 160 MB peak
    on short-connections. Two parts show the slope as four did (with the chunk not cut,
    BATCH_RECORDS at 2^30: 1.99 times one part's peak at two parts, 3.97 at four; cut:
    1.00 at both), at 3 parts' records tracked where it was 5."""
    per_part = connections.BATCH_RECORDS // 7
    one = batch_peak(short_connections(tmp_path / "one.pcap", per_part), per_part,
                     monkeypatch)
    two = batch_peak(short_connections(tmp_path / "two.pcap", 2 * per_part),
                     2 * per_part, monkeypatch)
    assert two < one * 1.5, (one / 2**20, two / 2**20)
