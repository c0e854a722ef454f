"""Live verification reads one batch ahead across the reads of its pipe, as files do
across read chunks (connections.seams): two records written swapped with a read ending
between them are taken in time order, and what is held over is in every check.

The pipe is written in two parts, the second only once the verifier has read the first
(LiveVerifier.last_read shows its last record): the batch boundary falls between the
swapped records whatever the machine's speed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from test_connections_time_order import transfer
from test_connections_util import write_pcap as write

from flowcheck.config import build_config, load_file
from flowcheck.live import LiveEvent, LiveVerifier

NDMJOB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
START = 1_700_000_000.0  # write_pcap's first record's time


def swapped_across_a_read(tmp_path: Path, at: int) -> tuple[bytes, int, float, list]:
    """A transfer with records at and at + 1 written swapped, each keeping its time:
    (the pcap's bytes, the offset that ends the record written at `at`, that record's
    time, the sorted file's connection as the verifier reads it)."""
    packets = transfer(60)
    written, times = list(packets), [k * 0.001 for k in range(len(packets))]
    written[at], written[at + 1] = written[at + 1], written[at]
    times[at], times[at + 1] = times[at + 1], times[at]
    data = write(tmp_path / "swapped.pcap", 1, written, times=times).read_bytes()
    cut = 24 + sum(16 + len(p) for p in written[:at + 1])
    return data, cut, START + times[at], packets


def run_in_two_reads(data: bytes, cut: int, last_of_first: float,
                     verifier: LiveVerifier) -> list[LiveEvent]:
    """data[:cut] written to the pipe the verifier reads, data[cut:] once the verifier
    has read the record at last_of_first (60 s at most)."""
    read_end, write_end = os.pipe()

    def feed() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data[:cut])
            pipe.flush()
            read = threading.Event()
            for _ in range(6000):
                last = verifier.last_read()
                if last is not None and abs(last[0] - last_of_first) < 1e-6:
                    break
                read.wait(0.01)
            pipe.write(data[cut:])

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    with os.fdopen(read_end, "rb", buffering=0) as stream:
        events = list(verifier.run(stream))
    feeder.join(timeout=60)
    return events


def test_a_swapped_pair_across_two_reads_is_no_retransmission(tmp_path: Path) -> None:
    """The later-stamped data segment ends the first read, the earlier one begins the
    second: taken in time order (it counted a retransmission and a gap: the tracker was
    fed each read as it came)."""
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    data, cut, last, _ = swapped_across_a_read(tmp_path, 30)
    verifier = LiveVerifier(config, interval=0.0)
    events = run_in_two_reads(data, cut, last, verifier)
    [connection] = events[-1].analysis.traffic.connections
    assert verifier.last_read() is not None
    assert (connection.retransmits, "G" in connection.history) == (0, False), \
        connection.history
    sorted_path = write(tmp_path / "sorted.pcap", 1, transfer(60))
    with sorted_path.open("rb") as stream:
        [alone] = list(LiveVerifier(config).run(stream))[-1].analysis.traffic.connections
    assert (connection.history, connection.orig_pkts, connection.resp_pkts) == (
        alone.history, alone.orig_pkts, alone.resp_pkts)


def test_a_check_between_the_reads_counts_the_records_held_over(tmp_path: Path) -> None:
    """With a check after every read (interval 0), the check after the first read sees
    all its records, the ones held for the next read's look-ahead included: the
    snapshot's connection has every packet read so far."""
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    data, cut, last, _ = swapped_across_a_read(tmp_path, 30)
    seen: list[int] = []

    class Watching(LiveVerifier):
        def _analyse(self, tracker, collector, captures, *, ended_at=None):  # noqa: ANN001, ANN202
            analysis = super()._analyse(tracker, collector, captures, ended_at=ended_at)
            seen.append(sum(c.orig_pkts + c.resp_pkts for c in analysis.traffic.connections))
            return analysis

    run_in_two_reads(data, cut, last, Watching(config, interval=0.0))
    assert seen and seen[0] == 31, seen
