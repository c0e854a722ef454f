"""A connection's packets written out of time order, taken in time order by the tracker
(flowcheck.connections.by_time.in_time_order, ClockSteps.shuffled, written_behind).

Built transfers: data segments 1 ms apart with an ACK every 4, some pairs written the
other way round with their own timestamps (a multi-queue sniffer), or every packet from
one on stamped 50 ms earlier (a clock set back by less than NTP's step threshold).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_connections_states import handshake, pkt
from test_connections_util import ACK, FIN, PSH, read_batches
from test_connections_util import write_pcap as write
from test_tshark_counts import assert_matches_tshark

import flowcheck.connections.by_time as by_time
from flowcheck.connections import ConnectionTracker, track_connections
from flowcheck.connections.clock import written_behind
from flowcheck.connections.clock_words import written_finding
from flowcheck.model import Connection
from flowcheck.sources import iter_batches

SEGMENT = 100


def transfer(segments: int) -> list[bytes]:
    """A connection's handshake, `segments` data segments M -> A with an ACK every 4,
    and a FIN each way."""
    packets = handshake()
    for k in range(segments):
        packets.append(pkt(True, PSH | ACK, 101 + SEGMENT * k, 901, data=SEGMENT))
        if k % 4 == 3:
            packets.append(pkt(False, ACK, 901, 101 + SEGMENT * (k + 1)))
    end = 101 + SEGMENT * segments
    packets += [pkt(True, FIN | ACK, end, 901), pkt(False, FIN | ACK, 901, end + 1),
                pkt(True, ACK, end + 1, 902)]
    return packets


def swapped(packets: list[bytes], every: int) -> tuple[list[bytes], list[float], int]:
    """The packets (1 ms apart) with each `every`-th pair of neighbours written the other
    way round, each keeping its time; their times and the number of pairs swapped."""
    out, times = list(packets), [k * 0.001 for k in range(len(packets))]
    count = 0
    for at in range(4, len(packets) - 4, every):
        out[at], out[at + 1] = out[at + 1], out[at]
        times[at], times[at + 1] = times[at + 1], times[at]
        count += 1
    return out, times, count


def track(path: Path, *, chunk: int = 100_000, fast: bool = True
          ) -> tuple[list[Connection], ConnectionTracker]:
    tracker = ConnectionTracker(fast=fast)
    for batch in read_batches(path, chunk=chunk):
        tracker.feed(batch)
    return tracker.finish(), tracker


def test_written_behind_is_a_stretch_the_time_returns_after() -> None:
    swap = np.array([1.0, 3.0, 2.0, 4.0, 5.0])
    assert written_behind(swap, 0.0).tolist() == [False, False, True, False, False]
    # A clock set back 0.05 s: the records behind end smoothly once it catches up.
    set_back = np.array([1.0, 2.0, 1.95, 1.96, 1.97, 1.98, 1.99, 2.0, 2.01])
    assert not written_behind(set_back, 0.0).any()
    # Still behind at the batch's end: undecided.
    assert not written_behind(np.array([5.0, 1.0, 2.0]), 6.0).any()


@pytest.mark.parametrize("fast", [True, False])
def test_segments_written_in_swapped_pairs_are_no_retransmission(
        tmp_path: Path, fast: bool) -> None:
    packets = transfer(200)
    written, times, swaps = swapped(packets, 7)
    path = write(tmp_path / "written.pcap", 1, written, times=times)
    reference = write(tmp_path / "sorted.pcap", 1, packets)
    [ours], tracker = track(path, fast=fast)
    [sorted_one], _ = track(reference)
    assert (ours.retransmits, ours.history, ours.gaps, ours.missed_bytes) == (
        sorted_one.retransmits, sorted_one.history, 0, 0)
    assert ours.retransmits == 0 and "G" not in ours.history
    assert (ours.ts, ours.last_ts) == (sorted_one.ts, sorted_one.last_ts)
    assert_matches_tshark(path, [ours])
    # The file's order still holds between connections: this one alone is by time.
    assert tracker.clock.near == swaps and tracker.clock.one_stream
    assert tracker.clock.time_ordered == [ours]
    finding = written_finding(tracker.clock)
    assert finding is not None and f"{swaps} packets" in finding.message
    assert finding.frames == [6]  # frames 5 and 6 swapped: frame 6 is stamped earlier


def test_a_handshake_written_in_blocks_by_direction(tmp_path: Path) -> None:
    """A NIC's send and receive queues written in turn: the responder's SYN-ACK and its
    ACK of the first data segment written before the SYN, the handshake's ACK and that
    segment, each keeping its time (0.1 ms apart). The stretch behind ends smoothly, as
    a clock set back's would (written_behind: no), but in the file's order the SYN-ACK
    acknowledges a SYN written after it: taken in time order, as the sorted file's (the
    SYN's sender opens the connection)."""
    packets = transfer(8)  # SYN, SYN-ACK, ACK, 4 data, its ACK, 4 data, ACK, FINs
    times = [k * 0.0001 for k in range(len(packets))]
    order = [1, 7, 0, 2, 3, 4, 5, 6] + list(range(8, len(packets)))
    path = write(tmp_path / "blocks.pcap", 1, [packets[k] for k in order],
                 times=[times[k] for k in order])
    [ours], tracker = track(path)
    [sorted_one], _ = track(write(tmp_path / "sorted.pcap", 1, packets, times=times))
    assert (ours.orig_p, ours.history, ours.retransmits, ours.missed_bytes) == (
        sorted_one.orig_p, sorted_one.history, sorted_one.retransmits,
        sorted_one.missed_bytes)
    assert_matches_tshark(path, [ours])
    assert tracker.clock.near > 0


def test_a_refusal_written_before_its_syn(tmp_path: Path) -> None:
    """The RST refusing a SYN written first, 20 us after it: the SYN's sender opened
    the connection ('Sr'; in the file's order '^rS', the roles flipped)."""
    syn, rst = pkt(True, 0x02, 100), pkt(False, 0x14, 0, 101)
    path = write(tmp_path / "refusal.pcap", 1, [rst, syn], times=[0.00002, 0.0])
    [ours], _ = track(path)
    [sorted_one], _ = track(write(tmp_path / "sorted.pcap", 1, [syn, rst]))
    assert ours.history == sorted_one.history == "Sr"
    assert (ours.orig_p, ours.resp_p) == (sorted_one.orig_p, sorted_one.resp_p)


def test_clock_set_back_below_the_step_threshold_keeps_the_file_order(
        tmp_path: Path) -> None:
    """Every packet from the 60th on stamped 50 ms earlier (packets 1 ms apart): the
    transfer's later packets stay after the earlier ones, nothing is told."""
    packets = transfer(200)
    times = [k * 0.001 - (0.05 if k >= 60 else 0.0) for k in range(len(packets))]
    path = write(tmp_path / "set-back.pcap", 1, packets, times=times)
    [ours], tracker = track(path)
    assert ours.retransmits == 0 and "G" not in ours.history
    assert tracker.clock.near == 0 and tracker.clock.one_stream
    assert written_finding(tracker.clock) is None


def test_a_batch_in_time_order_sorts_nothing(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost: a capture in time order never reaches in_time_order."""
    def refuse(*args: object) -> None:
        raise AssertionError("in_time_order called for a batch in time order")

    monkeypatch.setattr(by_time, "in_time_order", refuse)
    path = write(tmp_path / "ordered.pcap", 1, transfer(200))
    [ours], tracker = track(path)
    assert ours.retransmits == 0 and tracker.clock.shuffled is None


def test_a_swapped_pair_across_a_read_chunks_end(tmp_path: Path) -> None:
    """Two data segments written swapped, the read chunk (8 MiB; here shrunk to the
    first 51 records' bytes) ending between them: the later-stamped one ends a batch,
    the earlier one begins the next. Taken in time order as within a batch: no gap, no
    retransmission (it counted one, history ShADaGTFf)."""
    packets = transfer(200)
    at = 50
    written, times = list(packets), [k * 0.001 for k in range(len(packets))]
    written[at], written[at + 1] = written[at + 1], written[at]
    times[at], times[at + 1] = times[at + 1], times[at]
    path = write(tmp_path / "seam.pcap", 1, written, times=times)
    chunk = 24 + sum(16 + len(p) for p in written[:at + 1])  # header, records 0..at
    assert len(next(iter(iter_batches([str(path)], chunk_size=chunk)))) == at + 1
    [ours] = track_connections([str(path)], chunk_size=chunk).connections
    [sorted_one], _ = track(write(tmp_path / "sorted.pcap", 1, packets))
    assert (ours.retransmits, ours.history, ours.gaps) == (
        sorted_one.retransmits, sorted_one.history, 0)
    assert ours.retransmits == 0 and "G" not in ours.history
    assert_matches_tshark(path, [ours])


def test_swapped_pairs_read_as_the_sorted_file_at_any_chunk_size(tmp_path: Path) -> None:
    """Every 7th pair swapped, read in chunks of 200 bytes to 4 KiB (2 to 30 records):
    wherever the chunks end (between a pair, or a pair's second record ending one), the
    connection is the sorted file's. Before the seams (connections.seams), chunks of
    200, 297, 394 ... read 1 to 12 retransmissions."""
    packets = transfer(200)
    written, times, _ = swapped(packets, 7)
    path = write(tmp_path / "pairs.pcap", 1, written, times=times)
    [sorted_one], _ = track(write(tmp_path / "sorted.pcap", 1, packets))
    # Every other size of a 97-byte sweep (200, 394, 588 ...): the sizes between walked
    # no branch of flowcheck these do not (branch coverage over the sweep, session 48).
    for chunk in range(200, 4200, 194):
        [ours] = track_connections([str(path)], chunk_size=chunk).connections
        assert (ours.retransmits, ours.history, ours.gaps, ours.ts, ours.last_ts) == (
            0, sorted_one.history, 0, sorted_one.ts, sorted_one.last_ts), chunk
