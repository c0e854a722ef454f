"""The capture set's timestamps: where the clock steps back (timestamps that go
backwards in frame order), and when each file's packets begin and end.

A sniffer stamps each packet with the host's wall clock, so an NTP step (or a manual
change) while capturing makes the packets after it look older than those before. Small
backward steps are reordering (two interfaces merged, SPAN queues); a step larger than
NTP's step threshold is the clock itself. In a pcapng file of several interfaces each is
compared with its own packets only: dumpcap writes each interface's packets in batches,
so the file goes back in time (0.2 s and more) wherever it turns to another interface.
The step order is judged by frame number, the order the sniffer wrote them, and by time
together (flowcheck.verify.steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from flowcheck.findings import make_finding
from flowcheck.model import Finding
from flowcheck.sources.batch import PacketBatch

# RFC 5905 (NTPv4) STEPT: an offset beyond 128 ms is stepped, a smaller one slewed, so a
# backward jump this large between two consecutive packets is a clock step, not jitter.
CLOCK_STEP_SECONDS = 0.128
_KEPT = 20  # steps remembered (the finding names the first and counts the rest)


@dataclass(slots=True)
class ClockSteps:
    """Backward clock steps seen so far: (frame, seconds back), the first _KEPT ones,
    their count, and each file's span."""

    steps: list[tuple[int, float]] = field(default_factory=list)
    count: int = 0
    # Per file of the set (its index in `captures`): (first, last) packet time, seconds.
    spans: dict[int, tuple[float, float]] = field(default_factory=dict)
    # The last packet time seen per interface (-1: a pcap file, or files merged by time).
    _last: dict[int, float] = field(default_factory=dict)

    def see(self, batch: PacketBatch) -> None:
        """Look at one batch's timestamps, after the batches before it."""
        if not len(batch):
            return
        interface = batch.interface
        if interface is None or interface.min() == interface.max():
            key = -1 if interface is None else int(interface[0])
            self._steps_in(batch.ts, None, key, batch)
        else:
            for key in np.unique(interface).tolist():
                rows = np.flatnonzero(interface == key)
                self._steps_in(batch.ts[rows], rows, key, batch)
            self.steps.sort()
        self._spans(batch)

    @property
    def one_stream(self) -> bool:
        """Every packet came from one file and one interface of it: the frame numbers are
        the order one sniffer wrote the packets in, whatever their timestamps say
        (flowcheck.sessions.file_order). Not for a set of files (merged by time), nor
        for a pcapng file of several interfaces (written in blocks, one interface's
        packets after another's)."""
        return len(self.spans) <= 1 and len(self._last) <= 1

    def _steps_in(self, ts: np.ndarray, rows: np.ndarray | None, key: int,
                  batch: PacketBatch) -> None:
        """Backward steps between consecutive packets of one interface (rows: their
        places in the batch; None: the whole batch, in order)."""
        last = self._last.get(key)
        before = np.concatenate(([ts[0] if last is None else last], ts[:-1]))
        back = before - ts
        at = np.flatnonzero(back > CLOCK_STEP_SECONDS)
        self.count += len(at)
        for index in at[:max(0, _KEPT - len(self.steps))]:
            row = int(index) if rows is None else int(rows[index])
            self.steps.append((batch.frame_number(row), float(back[index])))
        self._last[key] = float(ts[-1])

    def _spans(self, batch: PacketBatch) -> None:
        ts = batch.ts
        files = [(batch.capture, ts)] if isinstance(batch.capture, int) else \
            [(int(c), ts[batch.capture == c]) for c in np.unique(batch.capture)]
        for capture, times in files:
            low, high = float(times.min()), float(times.max())
            old = self.spans.get(capture)
            self.spans[capture] = (low, high) if old is None else \
                (min(old[0], low), max(old[1], high))


def clock_finding(clock: ClockSteps, appended: bool = False) -> Finding | None:
    """capture_clock_stepped (info) naming the first step and its size; None without.
    appended: the capture holds a second capture point's copies of its packets at about
    the same times but apart in the file (CapturePoints.appended): the step is where that
    capture begins, not a clock set back."""
    if not clock.count:
        return None
    frame, seconds = clock.steps[0]
    more = f" ({clock.count} backward steps in all)" if clock.count > 1 else ""
    why = ("two captures appended one after the other, mergecap -a: the capture holds "
           "copies of the same packets at about the same times apart in the file, "
           "capture_duplicates" if appended else
           "the capturing host's clock was set back while capturing, NTP or by hand; or "
           "capture files were joined out of time order, mergecap -a or cat in the wrong "
           "order: a shell glob puts ring.pcap10 before ring.pcap2")
    return make_finding(
        "capture_clock_stepped",
        f"The capture's clock steps back {seconds:.3f} s at frame {frame}{more}: packets "
        f"after it are stamped earlier than packets before ({why}). flowcheck judges the "
        "order of the job's steps by frame number (the order the sniffer wrote the "
        "packets) and by time together, never by time alone; durations and time limits "
        "that span the step are not reliable.",
        "If the file was joined from several captures, give flowcheck the files or their "
        "directory instead (it orders them by time) or merge them by time (mergecap -w "
        "without -a); otherwise keep the capturing host's clock steady while capturing: "
        "synchronize it before the capture starts, and let NTP slew rather than step "
        "(chrony: makestep only at boot).",
        frames=[f for f, _ in clock.steps])
