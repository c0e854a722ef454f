"""Records written out of time order read the same in any read chunk, on any path.

review54f's scapy-built captures (captures/review54f: six bulk flows interleaved, IPv4,
IPv6, VXLAN and GRE, 32-bit wrap, reordering, sniffer loss, duplicate ACKs then fast
retransmissions; every 41st record from the 31st written swapped with the next one, 0.2
ms apart) counted `retransmits` differently on the bulk path and the per-packet
reference, and kept `written_last` (Connection.rare) depending on where batches were
cut:
- the bulk path judged a gap's fill (reordering.fill_is_retransmission) against the
  peer's ACK state before it in the file's order, not the time order the tracker takes
  the run in (by_time.in_time_order): an ACK written before the fill but stamped after it
  made the fill spurious (bulktimed2's C6: 26; the reference and tshark on the file
  `reordercap` sorts: 25);
- a batch whose flow went back in time set written_last (by_time.spans_by_time); later
  batches moved last_frame on and left it (bulktimed2's C2 at 2 and 4 KiB chunks);
- in 1 KiB chunks bulktimed1 read as two capture points merged at one TTL (one_ttl.py:
  the sample's one pair, judged at a small batch's end, was one in 4 of the packets of
  its connection compared so far), so its fast retransmissions, bit for bit their
  originals (IPv4 ID 1 on every packet), read as copies: 6, 11, 14, 5, 14, 15.
Every record's every field (tests/test_chunk_size_results.record_fields) read by
track_connections at 16 MiB, 64 KiB, 4, 2 and 1 KiB equals the per-packet path's read
in one batch; and `retransmits` is tshark's count on the sorted file (docs/json.md: a
written-swapped pair is taken in time order), but for a capture copy of a data segment,
which tshark flags and flowcheck does not count (bulktimed1's C3 holds one).
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import pytest
from test_chunk_size_results import record_fields
from test_connections_fills import tshark_retransmissions
from test_connections_states import handshake, pkt
from test_connections_util import ACK, PSH, read_batches
from test_connections_util import write_pcap as write

from flowcheck.connections import ConnectionTracker, TrackResult, track_connections

ROOT = Path(__file__).resolve().parent.parent
SIZES = (16 << 20, 64 << 10, 4 << 10, 2 << 10, 1 << 10)
SEGMENT = 100  # bytes: every data segment of these captures
RETRANSMITS = {"bulktimed1": [13, 20, 21, 12, 24, 17], "bulktimed2": [22, 29, 25, 26, 22, 25]}


@pytest.fixture(scope="module", params=sorted(RETRANSMITS))
def capture(request: pytest.FixtureRequest) -> Path:
    return ROOT / "captures" / "review54f" / f"{request.param}.pcap.gz"


@functools.cache
def _read(path: Path, size: int) -> TrackResult:
    """track_connections of path in `size`-byte chunks (each read once in the module)."""
    return track_connections([str(path)], chunk_size=size)


def _reference(path: Path) -> list:
    """The per-packet path's records, the capture read in one batch."""
    tracker = ConnectionTracker(fast=False)
    for batch in read_batches(path, chunk=1 << 30):
        tracker.feed(batch)
    return list(tracker.finish())


def test_every_chunk_reads_the_per_packet_paths_records(capture: Path) -> None:
    want = [record_fields(c) for c in _reference(capture)]
    assert len(want) == 6
    for size in SIZES:
        got = [record_fields(c) for c in _read(capture, size).connections]
        differ = {w["uid"]: [k for k in w if g[k] != w[k]]
                  for g, w in zip(got, want, strict=True) if g != w}
        assert not differ, (size >> 10, differ)


def test_retransmits_are_tsharks_on_the_sorted_file(capture: Path, tmp_path: Path) -> None:
    ours = _read(capture, SIZES[0]).connections
    name = capture.name.removesuffix(".pcap.gz")
    assert [c.retransmits for c in ours] == RETRANSMITS[name]
    ordered = tmp_path / "sorted.pcap"
    subprocess.run(["reordercap", str(capture), str(ordered)], check=True,
                   capture_output=True)
    copies = [(c.orig_copy_bytes + c.resp_copy_bytes) // SEGMENT for c in ours]
    assert [c.retransmits + n for c, n in zip(ours, copies, strict=True)] == \
        tshark_retransmissions(ordered)


def test_bulktimed1s_findings_read_the_same_in_any_chunk() -> None:
    """The capture findings' words too (track_connections'): the count of records
    written out of time order (capture_written_out_of_order: 87 in 4 KiB chunks, 88 in
    one, before orderfix: the side's lowest sequence number in a small batch was a fast
    retransmission's, so an ACK of earlier bytes counted ahead of the data written
    before it and the pair kept the file's order) and the copies. bulktimed2 is left
    out: an ACK of bytes a batch before still counts ahead (83 in 4 KiB chunks, 84 in
    one; time_order._acks_ahead)."""
    path = ROOT / "captures" / "review54f" / "bulktimed1.pcap.gz"
    readings = {size: [(f.code, f.message) for f in _read(path, size).findings]
                for size in SIZES}
    assert "88 packets are stamped earlier" in dict(readings[SIZES[0]])[
        "capture_written_out_of_order"]
    for size, reading in readings.items():
        assert reading == readings[SIZES[0]], size >> 10


def test_the_last_record_written_before_a_later_stamp_is_kept(tmp_path: Path) -> None:
    """A connection's last two records written swapped (frame 25 stamped 0.2 ms before
    frame 24): last_frame is 24 (by time) and written_last is frame 25 and its stamp,
    the last packet in file order (rare_fields: the clock's sample there; the frames
    pipeline.file_order spans), in one chunk and in every small one. orderfix's
    tracker.finish dropped any written_last not at last_frame, this one too, on
    every read."""
    packets = handshake()
    seq = 101
    for _ in range(10):
        packets += [pkt(True, PSH | ACK, seq, 901, data=SEGMENT),
                    pkt(False, ACK, 901, seq + SEGMENT)]
        seq += SEGMENT
    packets += [pkt(False, ACK, 901, seq + SEGMENT), pkt(True, PSH | ACK, seq, 901,
                                                          data=SEGMENT)]
    times = [k * 0.001 for k in range(len(packets) - 2)] + [0.0302, 0.0300]
    path = write(tmp_path / "swapped.pcap", 1, packets, times=times)
    for chunk in (1 << 20, 4 << 10, 1 << 10, 300):
        tracker = ConnectionTracker()
        for batch in read_batches(path, chunk=chunk):
            tracker.feed(batch)
        (record,) = tracker.finish()
        assert record.last_frame == 24, chunk
        assert record.rare is not None and record.rare.written_last == (
            25, pytest.approx(1_700_000_000.0300, abs=1e-6)), chunk
