"""Two capture points' clock offset, as their copies show it (flowcheck.connections.points).

The offset of two points (a pair of files, or a file with itself) is the median time
between a packet and its copy over their latest OFFSET_SAMPLES pairs; it is known once
AGREEING of them lie within OFFSET_TOLERANCE of it, or, between two files, once
FEW_AGREEING or more do when every one does and each pair's packets have an IPv4 ID (a
sender's resend gets a new one: one point's resends never pair so). It follows the
clocks' drift. Two files' copies seen both ways bound it instead, and it is the middle
of the bounds (Offset.bounds, NTP's: a queue one way moves neither), over the whole
reading: a drift wider than the path's least round trip and OFFSET_TOLERANCE has the
bounds disagree, and the median is read again. points.py's module
docstring gives the rule these numbers serve.
"""

from __future__ import annotations

from dataclasses import field

import numpy as np

from flowcheck.arrays import median
from flowcheck.fields_dataclass import fields_dataclass

OFFSET_TOLERANCE = 0.010  # seconds a copy may lie from its points' offset
# Two files' offset beyond this: the set is read again with it taken out (clock_shifts).
ALIGN_SECONDS = 0.005
OFFSET_SAMPLES = 64  # latest time differences the offset is the median of
AGREEING = 8  # of them within the tolerance of the median: the offset is known
# Two files' pairs, fewer but every one of them within the tolerance and of packets with
# an IPv4 ID (a resend gets a new one: no pair of one point's resends): known too (a job
# whose only packets are a control connection's few SYNs, both hosts' captures given:
# session 34's trial A, D2). Learnt from the files' heads, where a small set is whole.
FEW_AGREEING = 3
NEAR = 0.0005  # copies.py's COPY_WINDOW (seconds): a capture point's own copies
# Copies this close (seconds) to the first copy's time difference lie at one fixed offset:
# editcap -t moves every time by the same amount, exactly; two capture points' copies of
# a microsecond pcap differ by whole microseconds. Half of one: an epoch time before 2038
# is a float64 to 2**-22 s (0.24 us), so an exact shift reads within two of those (0.48
# us) and a 1 us jitter beyond 0.52 us (review56b: 1e-6 took two bridge ports' copies,
# 2 and 3 us apart in one netns, for one capture's; tests/data/review56b).
STEADY = 5e-7
# Copies at one nonzero offset, fewer than this, are no proof of one capture shifted:
# two bridge ports' captures in one netns held 11 ACKs each 3 us apart to the
# microsecond (review56b); of 40, at most 32 were alike (4 runs), so 64 alike by chance
# is far-fetched even on that, the steadiest path there is.
SHIFTED_COPIES = 64


@fields_dataclass(slots=True)
class Offset:
    """Two capture points (files of the set, lower first; equal: a file with itself) and
    what their copies show: `offset` seconds (a packet's time in the second file minus
    its time in the first; within one file, a copy's minus its original's), `known` once
    AGREEING recent pairs agree (two files: FEW_AGREEING, when all do and as many are
    `identified`, of packets with an IPv4 ID); `beyond`: pairs more than NEAR apart.
    The copies found: `copies`, the first ones' `frames`, `same_time` at the very same
    time and TTL (the same capture twice), `routed` with another TTL than their
    original's (a router between the points), `first_copy` / `last_original` (frames: a
 capture appended to another has every copy after every original); `step`: the first
    same-TTL copy's time difference, and `steady` the same-TTL copies within STEADY of
    it (every copy so: one capture given twice, one copy's times shifted by `step`)."""

    sources: tuple[int, int]
    recent: list[float] = field(default_factory=list)
    offset: float | None = None
    known: bool = False
    beyond: int = 0
    identified: int = 0
    copies: int = 0
    same_time: int = 0
    step: float | None = None
    steady: int = 0
    routed: int = 0
    frames: list[int] = field(default_factory=list)
    first_copy: int | None = None
    last_original: int | None = None
    # Per way (0: sent by the higher address, 1: by the lower; BatchFlows.from_lower),
    # the least and most time differences of its copies, and how many (two files only).
    way_least: list[float] = field(default_factory=lambda: [np.inf, np.inf])
    way_most: list[float] = field(default_factory=lambda: [-np.inf, -np.inf])
    way_count: list[int] = field(default_factory=lambda: [0, 0])
    # (lo, hi): the bounds both ways' copies set on the offset (`bounds`); None while
    # one way's are seen, or when they disagree.
    bound: tuple[float, float] | None = None
    later_way: int = 0  # the way whose copies come later in the second file
    queue: float = 0.0  # the most seconds a copy came after the least one-way time

    def add_ways(self, diffs: np.ndarray, lower: np.ndarray, copies: bool = False) -> None:
        """Take pairs' time differences (seconds) per way (lower: sent by the lower
        address, per pair) into the bounds and the offset (`bounds`); copies: the pairs
        are copies taken (CapturePoints.decide), whose delays beyond the bounds tell how
        long a queue held them (`queue`). Sampled pairs, not judged, move the bounds
        only: a resend paired with its original's copy lies on the late side of its
        way, never inside the bounds."""
        if self.sources[0] == self.sources[1] or not diffs.shape[0]:
            return
        for way in (0, 1):
            at = diffs[lower == bool(way)]
            if at.shape[0]:
                self.way_least[way] = min(self.way_least[way], float(at.min()))
                self.way_most[way] = max(self.way_most[way], float(at.max()))
                self.way_count[way] += int(at.shape[0])
        self.bounds()
        if copies and self.bound is not None:
            self.queue = max(self.queue, float(self.delays(diffs, lower).max()))

    def bounds(self) -> None:
        """The offset from both ways' copies, NTP's way (RFC 5905): a copy never comes
        before its original, so a packet's time difference one way is the offset plus
        its one-way time, the other way the offset less it; the offset lies between the
        most of the early way's and the least of the late way's, and is their midpoint
        (the points' least one-way times taken as equal). A queue only adds to one
        way's times (newuser68: the median of all copies, 0.388 s late one way and 0.000
        s the other, read -0.303 s for clocks that agree). Both ways seen and their
        bounds apart by no more than OFFSET_TOLERANCE: `bound` and `offset` set; else
        the median stays."""
        if not all(self.way_count):
            return
        late = 0 if self.way_least[0] >= self.way_least[1] else 1
        lo, hi = self.way_most[1 - late], self.way_least[late]
        if lo > hi + OFFSET_TOLERANCE:
            self.bound = None
            self.offset = median(np.array(self.recent)) if self.recent else self.offset
            return
        self.later_way = late
        self.bound = (min(lo, hi), max(lo, hi))
        self.offset = (lo + hi) / 2

    def delays(self, diffs: np.ndarray, lower: np.ndarray) -> np.ndarray:
        """Per pair (time differences, seconds; sent by the lower address): seconds
        after the bounds (`bound`) in its way's direction (below 0: before them)."""
        assert self.bound is not None
        lo, hi = self.bound
        late = lower == bool(self.later_way)
        return np.where(late, diffs - hi, lo - diffs)

    def fits(self, diffs: np.ndarray, lower: np.ndarray) -> np.ndarray:
        """Per pair (time differences, seconds; sent by the lower address), the bounds
        known (`bound`): whether it lies where a copy can. Not before its way's bound
        by more than OFFSET_TOLERANCE, and after it by no more than twice the longest
        queue shown yet and the tolerance, counting the pairs taken here, the nearest
        first: a queue grows by a packet's time at a time; a resend bit for bit its
        original, an RTO later, stays a resend where no queue is shown."""
        delay = self.delays(diffs, lower)
        taken = np.zeros(delay.shape, bool)
        queue = self.queue
        while True:
            fit = ~taken & (delay >= -OFFSET_TOLERANCE) & (delay <= 2 * queue + OFFSET_TOLERANCE)
            if not fit.any():
                return taken
            taken |= fit
            queue = max(queue, float(delay[taken].max()))

    def count_steady(self, diffs: np.ndarray) -> None:
        """Take same-TTL copies' time differences (seconds) into `step` and `steady`."""
        if self.step is None and diffs.shape[0]:
            self.step = float(diffs[0])
        if self.step is not None:
            self.steady += int(np.count_nonzero(np.abs(diffs - self.step) <= STEADY))

    def add(self, diffs: np.ndarray, identified: int = 0) -> None:
        """Take the latest pairs' time differences (seconds) into the estimate;
        identified: how many of them are of packets with an IPv4 ID."""
        self.beyond += int(np.count_nonzero(np.abs(diffs) > NEAR))
        self.identified += identified
        self.recent = (self.recent + diffs.tolist())[-OFFSET_SAMPLES:]
        recent = np.array(self.recent)
        middle = median(recent)
        if self.bound is None:  # else both ways' bounds set it (`bounds`)
            self.offset = middle
        agreeing = int(np.count_nonzero(np.abs(recent - middle) <= OFFSET_TOLERANCE))
        self.known = self.known or agreeing >= AGREEING or (
            self.sources[0] != self.sources[1] and agreeing == len(recent) >= FEW_AGREEING
            and self.identified >= FEW_AGREEING)


def same_capture(entry: Offset, moved: float = 0.0) -> bool:
    """Two files' copies every one of which lies at one fixed offset from its original
    with the same TTL: one capture given twice, at the very same times as the files' own
    clocks read (`step` less `moved`, flowcheck's shift of the second file's times
    against the first's: PointNames.moved; or two sniffers on one interface, stamped by
    one kernel) or with one copy's times shifted (editcap -t): at least SHIFTED_COPIES
    copies for a shift (two points one bridge apart may hold a few copies each the same
    microseconds after its original; review56b: after flowcheck's own shift their copies
    lay at `step` 0)."""
    return (entry.sources[0] != entry.sources[1] and entry.copies > 0
            and entry.step is not None and entry.steady == entry.copies
            and (abs(entry.step - moved) <= STEADY or entry.copies >= SHIFTED_COPIES))


def appended(entry: Offset) -> bool:
    """Copies within one file at about the same times as their originals, all after
    them (see CapturePoints.appended); at least AGREEING of them (one copy after its
    original is no appended capture)."""
    return (entry.sources[0] == entry.sources[1] and entry.copies >= AGREEING
            and entry.offset is not None and abs(entry.offset) <= OFFSET_TOLERANCE
            and entry.first_copy is not None and entry.last_original is not None
            and entry.first_copy > entry.last_original)
