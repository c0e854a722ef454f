"""clock.ClockSteps' few-record path (a6c8ac14: a batch of at most 64 records in time
order is told so in Python floats, ClockSteps._in_order) against the numpy pass: the
same steps and stretches whatever the batches' sizes."""

from __future__ import annotations

from pathlib import Path

from capture_factory import tcp_packet, write_pcap
from test_connections_util import read_batches

from flowcheck.connections.clock import ClockSteps


def _clock_counts(path: Path, chunk: int) -> tuple:
    clock = ClockSteps()
    for batch in read_batches(path, chunk=chunk):
        clock.see(batch)
    return (clock.count, clock.written, clock.set_back, clock.still_behind,
            [step[:2] for step in clock.steps])


def test_a_few_records_a_batch_count_as_one_batch_does(tmp_path: Path) -> None:
    """Batches of at most 64 records in time order among themselves are told so in Python
    floats (ClockSteps._in_order); one that lies behind the time reached (a stretch
    written late, a clock set back going on) goes to the numpy pass, so every chunk size
    counts the stretches as one batch of all the records does (numpy)."""
    t0 = 1_700_000_000.0
    times = [t0 + n * 0.01 for n in range(120)]
    times[50:55] = [t - 1.0 for t in times[50:55]]  # written late: the time jumps back up
    times[60:] = [t - 0.3 for t in times[60:]]  # set back, caught up by record 91
    times[100:] = [t - 2.0 for t in times[100:]]  # set back again, behind to the end
    path = write_pcap(tmp_path / "behind.pcap", [
        (ts, tcp_packet("10.0.0.1", "10.0.0.2", 40000, 5000, "A", seq=n))
        for n, ts in enumerate(times)])
    whole = _clock_counts(path, 1000)
    assert whole[:4] == (3, 1, 1, 1)
    for chunk in (1, 2, 3, 7):
        assert _clock_counts(path, chunk) == whole, chunk
