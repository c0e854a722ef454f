"""The capture set's timestamps: where the clock steps back (timestamps that go
backwards in frame order), and when each file's packets begin and end.

A sniffer stamps each packet with the host's wall clock, so an NTP step (or a manual
change) while capturing makes the packets after it look older than those before. Small
backward steps are reordering (two interfaces merged, SPAN queues); a step larger than
NTP's step threshold is the clock itself, or records written out of time order (a
multi-queue sniffer, files merged unsorted), told apart by how the records behind end
(ClockSteps) and by TCP: bytes acknowledged by a record stamped well before them prove
the clock set back (flowcheck.connections.acked_early). In a pcapng file of several
interfaces each is compared with its own packets only: dumpcap writes each interface's
packets in batches, so the file goes back in time (0.2 s and more) wherever it turns to
another interface.
The step order is judged by frame number, the order the sniffer wrote them, and by time
together (flowcheck.verify.steps). What the steps counted here mean, as findings and as
data (ClockStep), is flowcheck.connections.clock_words'.
"""

from __future__ import annotations

from dataclasses import field

import numpy as np

from flowcheck.arrays import distinct
from flowcheck.connections.acked_early import AckedEarly
from flowcheck.decode import DecodedBatch
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection
from flowcheck.sources.batch import PacketBatch

# RFC 5905 (NTPv4) STEPT: an offset beyond 128 ms is stepped, a smaller one slewed, so a
# backward jump this large between two consecutive packets is a clock step, not jitter.
CLOCK_STEP_SECONDS = 0.128
_KEPT = 20  # steps remembered (the finding names the first and counts the rest)
CANDIDATES = 16  # SYNs kept that may continue a connection written before them
# A batch of at most this many records of one interface is checked for time order in
# Python floats first (ClockSteps._in_order: the numpy pass cost ~8 calls a batch).
_FEW_RECORDS = 64
@fields_dataclass(slots=True)
class ClockSteps:
    """Backward clock steps seen so far: (frame, seconds back, its time), the first
    _KEPT ones, their count, and each file's span; how the places where the records fall
    behind the time already reached end (`written`, `set_back`); whether the last batch
    went back in time at all (`out_of_order`).

    A stretch of records behind the time reached before them (by more than
    CLOCK_STEP_SECONDS) that ends with the time jumping forward again (by more than
    that) is records written out of time order: a sniffer capturing on several queues
    or CPUs, files merged without sorting, one record stamped 0. One that ends smoothly,
    or lasts to the end of the capture, is a clock set back: every later record shifted.
    So is every stretch once a record is found acknowledging bytes stamped more than
    CLOCK_STEP_SECONDS after it (`acks`: the time jumping forward again was the clock
    catching up over a pause in the traffic, not records written late).
    """

    steps: list[tuple[int, float, float]] = field(default_factory=list)
    count: int = 0
    written: int = 0  # stretches behind that ended with a jump forward: out-of-order writes
    set_back: int = 0  # stretches behind that ended smoothly: a clock set back
    # The last batch holds a record stamped earlier than one before it (any amount, in
    # the batch or before it), or goes on behind the time reached (by CLOCK_STEP_SECONDS).
    out_of_order: bool = False
    # Then, per row of that batch: whether its time may move a connection's start and
    # end (ConnectionTracker._by_time): not when it is behind in a stretch of a clock set
    # back (or one not ended in the batch), nor stamped before the capture began.
    timed: np.ndarray | None = None
    # The time reached before the last batch (max over the batches before it).
    reached: float | None = None
    # Then, per row of that batch: whether it lies in a stretch behind the time reached
    # that ends with the time jumping forward again by at least its depth (`shuffled`,
    # written_behind: written out of time order, not behind a clock set back).
    shuffled: np.ndarray | None = None
    # Records stamped earlier than the one before them in their connection by less than
    # CLOCK_STEP_SECONDS, which the tracker took in time order (by_time.in_time_order):
    # how many, and the first one's (frame, seconds back, its time).
    near: int = 0
    near_first: tuple[int, float, float] | None = None
    # The connections those records are in (the tracker's, once each batch is tracked):
    # their frames are no event order (flowcheck.sessions.file_order.FileOrder.moved).
    time_ordered: list[Connection | None] = field(default_factory=list)
    first_ts: float | None = None  # the capture set's first record's time
    # Proof of a clock set back in one file of one interface (acked_early).
    acks: AckedEarly = field(default_factory=AckedEarly)
    # Per file of the set (its index in `captures`): (first, last) packet time, seconds.
    spans: dict[int, tuple[float, float]] = field(default_factory=dict)
    # SYNs found that may continue a connection written before them but stamped after
    # them (connections.joined_order.continues): (the SYN's frame, the connection's
    # first frame, the bytes between the SYN's ISN and the connection's first sequence
    # number), the first CANDIDATES: pieces of a capture joined out of time order.
    continued: list[tuple[int, int, int]] = field(default_factory=list)
    # Per file: its first packet's time (s, the first it wrote: the merge's key for the
    # file, flowcheck.sources.merge), and the interfaces its packets came on (pcapng
    # interface ids; none for a pcap file or rows merged from several files).
    _firsts: dict[int, float] = field(default_factory=dict)
    # The set is one ring's files, each read whole after the one written before it
    # (sources.ring_order): one write order, whatever their times say.
    ring_ordered: bool = False
    _interfaces: dict[int, set[int]] = field(default_factory=dict)
    # The last packet time seen per interface (-1: a pcap file, or files merged by time).
    _last: dict[int, float] = field(default_factory=dict)
    # Per interface: the latest time reached, and whether its last record was behind it.
    _high: dict[int, float] = field(default_factory=dict)
    _behind: dict[int, bool] = field(default_factory=dict)
    # Per clock epoch (PacketBatch.epoch): the latest time of its records.
    _epoch_high: dict[int, float] = field(default_factory=dict)

    def see(self, batch: PacketBatch, decoded: DecodedBatch | None = None) -> None:
        """Look at one batch's timestamps, after the batches before it; its TCP
        segments and acknowledgements (decoded) when it comes from one file and one
        interface (AckedEarly)."""
        self.out_of_order, self.timed, self.shuffled = False, None, None
        if not len(batch):
            return
        self.reached = max(self._high.values(), default=None)
        if self.first_ts is None:
            self.first_ts = float(batch.ts[0])
        interface = batch.interface
        if interface is None or interface.min() == interface.max():
            key = -1 if interface is None else int(interface[0])
            if decoded is not None and isinstance(batch.capture, int):
                self.acks.see(decoded, CLOCK_STEP_SECONDS, self._high.get(key),
                              (batch.capture, key))
            self._steps_in(batch.ts, None, key, batch)
        else:
            for key in distinct(interface).tolist():
                rows = np.flatnonzero(interface == key)
                self._steps_in(batch.ts[rows], rows, key, batch)
            self.steps.sort()
        self._epochs(batch)
        self._spans(batch)

    def _epochs(self, batch: PacketBatch) -> None:
        """Records behind an earlier clock epoch's latest time (the capture host's clock
        stepped back on all its streams at once: flowcheck.sources.clock_epochs) are
        behind because of the step, not written out of time order: not `shuffled`."""
        if batch.epoch is None:  # all in epoch 0 (a reduction per batch)
            high = float(batch.ts.max())
            self._epoch_high[0] = max(self._epoch_high.get(0, high), high)
            return
        epochs = batch.epoch
        for epoch in distinct(epochs).tolist():
            rows = epochs == epoch
            floor = max((high for e, high in self._epoch_high.items() if e < epoch),
                        default=None)
            if floor is not None and self.shuffled is not None:
                self.shuffled[rows & (batch.ts <= floor)] = False
            high = float(batch.ts[rows].max())
            self._epoch_high[epoch] = max(self._epoch_high.get(epoch, high), high)

    @property
    def one_stream(self) -> bool:
        """Every packet came from one file and one interface of it, or from files of one
        interface each (pcap or pcapng, whatever its interface's id), each file's latest
        time before the next one's first packet (a ring's files, captures of different
        times: the merge by time puts each one whole after the one before it, _apart;
        also when a clock set back inside a file stamps its packets before the previous
        file's last), or one ring's files read in their write order (`ring_ordered`,
        sources.ring_order): the frame numbers are the order one sniffer wrote the packets in,
        whatever their timestamps say (flowcheck.sessions.file_order). Not for a set of
        files merged among each other's packets, nor for a pcapng file of several
        interfaces (written in blocks, one interface's
        packets after another's), nor for records written out of time order (`written`:
        a multi-queue sniffer, files merged unsorted), whose write order is no event
        order, and where summing the clock's rises would count each jump back twice.
        Where a connection's own packets were written out of time order by less
        (`near`: an ACK before the data it acknowledges, a RST before the message it
        answers), that connection's frames alone are no event order (time_ordered);
        the other connections' still are."""
        return ((self.ring_ordered or _apart(self._firsts, self.spans)) and not self.written
                and all(len(keys) <= 1 for keys in self._interfaces.values())
                and (len(self.spans) > 1 or len(self._last) <= 1))

    def note_continued(self, syn_frame: int, first_frame: int, gap: int) -> None:
        """A SYN (its frame) that may start the connection whose first packet is
        first_frame, written before it, gap bytes after its ISN
        (connections.joined_order.continues)."""
        if len(self.continued) < CANDIDATES:
            self.continued.append((syn_frame, first_frame, gap))

    def written_near(self, count: int, first: tuple[int, float, float]) -> None:
        """count more records out of time order in their connection by less than
        CLOCK_STEP_SECONDS; first: the batch's first one (frame, seconds back, time)."""
        self.near += count
        if self.near_first is None or first[0] < self.near_first[0]:
            self.near_first = first

    @property
    def still_behind(self) -> int:
        """Interfaces whose records stayed behind to the end: clocks set back."""
        return sum(self._behind.values())

    def _steps_in(self, ts: np.ndarray, rows: np.ndarray | None, key: int,
                  batch: PacketBatch) -> None:
        """Backward steps between consecutive packets of one interface (rows: their
        places in the batch; None: the whole batch, in order)."""
        last = self._last.get(key)
        if ts.shape[0] <= _FEW_RECORDS and self._in_order(ts.tolist(), key, last):
            return
        before = np.concatenate(([ts[0] if last is None else last], ts[:-1]))
        back = before - ts
        high = self._high.get(key)
        # Any record earlier than one before it (in the batch, or the time reached before
        # it), or a stretch behind going on (it may end here).
        if (back > 0).any() or self._behind.get(key) or (high is not None and ts[0] < high):
            self.out_of_order = True
            shuffled = written_behind(ts, ts[0] if high is None else high)
            timed = self._stretches(ts, before, key)
            if self.timed is None:
                self.timed = np.ones(len(batch), bool)
                self.shuffled = np.zeros(len(batch), bool)
            assert self.shuffled is not None
            self.timed[slice(None) if rows is None else rows] = timed
            self.shuffled[slice(None) if rows is None else rows] = shuffled
        else:  # in time order: the time reached is the last record's
            self._high[key] = float(ts[-1])  # (in order, from the time reached or later)
        at = np.flatnonzero(back > CLOCK_STEP_SECONDS)
        self.count += len(at)
        for index in at[:max(0, _KEPT - len(self.steps))]:
            row = int(index) if rows is None else int(rows[index])
            self.steps.append((batch.frame_number(row), float(back[index]), float(ts[index])))
        self._last[key] = float(ts[-1])

    def _in_order(self, times: list[float], key: int, last: float | None) -> bool:
        """_steps_in's in-order case for a few records (times: seconds, in file order;
        last: the interface's last record's time, None before any) in Python floats: no
        record earlier than the one before it, no stretch behind going on, the first
        not behind the time reached. Then the time reached and the last time are the
        last record's (True); else nothing is changed (False: _steps_in's numpy pass)."""
        before = times[0] if last is None else last
        for now in times:
            if before - now > 0:  # (as _steps_in's `back`, NaN never behind)
                return False
            before = now
        high = self._high.get(key)
        if self._behind.get(key) or (high is not None and times[0] < high):
            return False
        self._high[key] = self._last[key] = times[-1]
        return True

    def _stretches(self, ts: np.ndarray, before: np.ndarray, key: int) -> np.ndarray:
        """Count the stretches behind the time reached that end in this batch, by how
        they end (see the class docstring); remember whether one is still open. Returns
        per record whether its time counts (`timed`)."""
        high = np.maximum.accumulate(np.concatenate(([self._high.get(key, ts[0])], ts)))
        behind = ts < high[:-1] - CLOCK_STEP_SECONDS
        was = np.concatenate(([self._behind.get(key, False)], behind[:-1]))
        ends = np.flatnonzero(was & ~behind)
        jumps = (ts[ends] - before[ends] > CLOCK_STEP_SECONDS) & (self.acks.found is None)
        self.written += int(np.count_nonzero(jumps))
        self.set_back += len(ends) - int(np.count_nonzero(jumps))
        self._high[key] = float(high[-1])
        self._behind[key] = bool(behind[-1])
        # Each record behind: its stretch (0: one going on from the batch before), and
        # whether that stretch ended here with the time jumping forward again.
        stretch = np.cumsum(behind & ~was)
        written = np.zeros(len(ts) + 1, bool)
        jumped = ends[jumps]
        written[np.where(jumped > 0, stretch[np.maximum(jumped - 1, 0)], 0)] = True
        assert self.first_ts is not None
        return (~behind | written[stretch]) & (ts >= self.first_ts - CLOCK_STEP_SECONDS)

    def _spans(self, batch: PacketBatch) -> None:
        """Each file's span, first packet time and interfaces, with this batch's."""
        ts = batch.ts
        every = slice(None)
        files = [(batch.capture, every)] if isinstance(batch.capture, int) else \
            [(int(c), batch.capture == c) for c in distinct(batch.capture)]
        for capture, rows in files:
            times = ts[rows]
            self._firsts.setdefault(capture, float(times[0]))
            if batch.interface is not None:
                self._interfaces.setdefault(capture, set()).update(
                    distinct(batch.interface[rows]).tolist())
            low, high = float(times.min()), float(times.max())
            old = self.spans.get(capture)
            self.spans[capture] = (low, high) if old is None else \
                (min(old[0], low), max(old[1], high))


def _apart(firsts: dict[int, float], spans: dict[int, tuple[float, float]]) -> bool:
    """Is each file merged whole after the one before it (flowcheck.sources.merge: files
    taken in order of their first packet's time, each file's packets keyed by the latest
    time it reached)? So when every file's latest time (spans: file -> (earliest,
    latest) s) is before the first packet time (firsts: file -> s) of the file after it.
    A clock set back inside a file may stamp its packets before the previous file's
    last (its earliest time no bound): the merge still keeps it whole, after that file
    (a tcpdump -G ring stepped back 2 s one second into a file)."""
    ordered = sorted(firsts, key=lambda capture: firsts[capture])
    return all(spans[a][1] < firsts[b] for a, b in zip(ordered, ordered[1:], strict=False))


def written_behind(ts: np.ndarray, reached: float) -> np.ndarray:
    """Per record of one interface's batch (ts: seconds, in file order; reached: the time
    reached before it): whether it lies in a stretch of records stamped behind the time
    reached before them that ends, in the batch, with the time jumping forward again by
    at least the stretch's depth: records written out of time order (a segment written
    after the one sent ahead of it: the next record returns to where the time was). A
    clock set back ends its stretch smoothly, once the clock has caught up (a jump of a
    packet's spacing, not of the step), and a stretch going on at the batch's end is
    undecided: neither is."""
    high = np.maximum.accumulate(np.concatenate(([reached], ts)))[:-1]
    behind = ts < high
    if not behind.any():
        return behind
    was = np.concatenate(([False], behind[:-1]))
    starts = np.flatnonzero(behind & ~was)
    ends = np.flatnonzero(was & ~behind)  # the first record after each stretch
    starts = starts[:len(ends)]  # a stretch still open at the end is undecided
    if not len(ends):
        return np.zeros(len(ts), bool)
    stretch = np.cumsum(behind & ~was)  # 1-based stretch of each record behind
    rows = np.flatnonzero(behind)
    firsts = np.flatnonzero(np.diff(stretch[rows], prepend=0))  # each stretch's first
    lowest = np.minimum.reduceat(ts[rows], firsts)[:len(ends)]
    jumped = ts[ends] - ts[ends - 1] >= high[starts] - lowest
    ok = np.concatenate(([False], jumped, np.zeros(len(ts) + 1, bool)))
    return behind & ok[stretch]
