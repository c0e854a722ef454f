"""When each session's hosts are that session's: its lifetime, for claiming connections.

A capture set may hold jobs far apart in time (a night's capture, two files merged): a
connection opened by a host is another session's only while that session lives, from
its control connection's opening to its end and the port hold after it (still open at
the capture's end: to the end of time). Read by flowcheck.sessions.pools.Endpoints
.by_connector through flowcheck.sessions.matching.attach_data (mergedsets: ndmjob's
v4 backup merged with lab-trial19-network/dns1-control-other-nic, whose data
connections from 10.77.0.1 a job of 10.77.0.1 eleven days before had kept it from).

Compared in the order the rest of the matching uses (flowcheck.sessions.file_order):
where the capture host's clock stepped back on all its streams, by (clock epoch, time),
a later epoch after every time of an earlier one; where the frames are one sniffer's
write order, a connection written after the control connection's opening follows it
and one written before its last packet precedes its end, whatever their stamps
(FileOrder.follows, FileOrder.before), else by time. Plain timestamps across a step
put a job's own data connection, stamped after the clock was set back, before its
session began (clockfix: two three-way jobs on one mover endpoint, the clock set back
2 s at the first job's data SYN, read capture_filtered and announced_not_used).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from itertools import accumulate
from typing import Literal, NamedTuple

from flowcheck.model import Connection, Session
from flowcheck.model.spans import merged_spans
from flowcheck.sessions.classify import connection_outcome, end_of, seen_closing
from flowcheck.sessions.file_order import BEGINNING, END, TIME_ORDER, FileOrder, Moment

# A connector's SYN may be stamped this far before its session's control connection:
# two hosts' captures merged with their clocks apart (sessions.clock_apart bounds such
# lags well under a second in every stored case).
START_SLACK_SECONDS = 1.0
INF = float("inf")


class Life(NamedTuple):
    """When a session lives. start, end: (clock epoch, s) keys (BEGINNING, END when the
    capture lacks its opening or its close); first, last: its control connection's
    first and last frame where the file's write order holds them (FileOrder.by_frame;
    0 for a control connection open before the capture), else None."""

    start: Moment
    end: Moment
    first: int | None = None
    last: int | None = None


def session_span(control: Connection, hold: float, order: FileOrder = TIME_ORDER) -> Life:
    """When a session lives: from its control connection's first packet (less
    START_SLACK_SECONDS; from the beginning of time when the capture lacks its opening:
    the session began before it, its data connections may show first) to its last plus
    `hold` (port_hold_seconds, s), or to the end of time when the capture does not show
    it closing; keyed by (clock epoch, s) and by frame as `order` orders events."""
    midstream = connection_outcome(control) == "midstream"
    start = BEGINNING if midstream else order.moment(control.first_frame,
                                                     control.ts - START_SLACK_SECONDS)
    closed = seen_closing(control)
    end = order.moment(control.last_frame, end_of(control) + hold) if closed else END
    first = 0 if midstream else (
        control.first_frame if order.by_frame(control.first_frame) else None)
    last = control.last_frame if closed and order.by_frame(control.last_frame) else None
    return Life(start, end, first, last)


class _HostLives:
    """One host's sessions' lives, for lookups by bisection (issue 7: two thousand
    sessions of one media server cost log n a lookup, not n). A moment (frame, key) is
    within a life when it is at or after its start by time or written after its first
    frame, and at or before its end by time or written before its last frame: the
    union of the four ways, each a sorted list."""

    def __init__(self, lives: list[Life]) -> None:
        times = merged_spans([(life.start, life.end) for life in lives])
        self.starts = [lo for lo, _ in times]
        self.ends = [hi for _, hi in times]
        # Written between the first and last frame (both in the file's order).
        frames = merged_spans([(life.first + 1, life.last - 1) for life in lives
                               if life.first is not None and life.last is not None
                               and life.first + 1 <= life.last - 1])
        self.frame_starts = [lo for lo, _ in frames]
        self.frame_ends = [hi for _, hi in frames]
        # Written after the first frame, stamped by the end: the latest end among the
        # lives whose first frame is at most each one's.
        after = sorted((life.first, life.end) for life in lives if life.first is not None)
        self.firsts = [first for first, _ in after]
        self.latest_end = list(accumulate((end for _, end in after), max))
        # Written before the last frame, stamped from the start: the earliest start among
        # the lives whose last frame is at least each one's.
        before = sorted((life.last, life.start) for life in lives if life.last is not None)
        self.lasts = [last for last, _ in before]
        self.earliest_start = list(accumulate((start for _, start in reversed(before)),
                                              min))[::-1]

    def alive(self, key: Moment, frame: int | None) -> bool:
        """Is one of the lives alive at `key` ((epoch, s)), the event written at `frame`
        (None: time alone orders it)?"""
        if _within(self.starts, self.ends, key, key):
            return True
        if frame is None:
            return False
        if _within(self.frame_starts, self.frame_ends, frame, frame):
            return True
        at = bisect_left(self.firsts, frame)  # the lives first written before frame
        if at and self.latest_end[at - 1] >= key:
            return True
        at = bisect_right(self.lasts, frame)  # the lives last written after frame
        return at < len(self.lasts) and self.earliest_start[at] <= key

    def overlaps(self, life: Life) -> bool:
        """Does one of the lives overlap `life`, by time or by frames written?"""
        if _within(self.starts, self.ends, life.start, life.end):
            return True
        if life.first is None:
            return False
        last = INF if life.last is None else life.last - 1
        return _within(self.frame_starts, self.frame_ends, life.first + 1, last)


def _within(starts: list, ends: list, lo: object, hi: object) -> bool:
    """Does one of the disjoint sorted intervals (starts[i], ends[i]) meet [lo, hi]?"""
    at = bisect_left(ends, lo)  # the first interval that ends at or after lo
    return at < len(ends) and starts[at] <= hi


class Lifetimes:
    """Hosts -> when a session of theirs lives (Life each), looked up in `order`: the
    capture's order of events (flowcheck.sessions.file_order; by time alone without
    one). A Life may be given as (start, end) seconds, in epoch 0 (tests)."""

    def __init__(self, spans: Iterable[tuple[str, Life | tuple[float, float]]] = (),
                 order: FileOrder = TIME_ORDER) -> None:
        by_host: dict[str, list[Life]] = defaultdict(list)
        for host, span in spans:
            by_host[host].append(span if isinstance(span, Life) else
                                 Life((0, span[0]), (0, span[1])))
        self._order = order
        self._hosts = {host: _HostLives(lives) for host, lives in by_host.items()}

    def alive_at(self, host: str, ts: float, frame: int | None = None) -> bool:
        """Is a session of `host` alive at the event stamped `ts` (s), written at
        `frame` (its clock epoch's, and its place in the file's order; None: ts alone,
        in epoch 0)?"""
        lives = self._hosts.get(host)
        if lives is None:
            return False
        written = frame if frame is not None and self._order.by_frame(frame) else None
        return lives.alive(self._order.moment(frame, ts), written)

    def overlaps(self, host: str, life: Life | tuple[float, float]) -> bool:
        """Is a session of `host` alive at some moment of `life` (a Life, or (lo, hi)
        seconds in epoch 0)?"""
        lives = self._hosts.get(host)
        if lives is None:
            return False
        return lives.overlaps(life if isinstance(life, Life) else
                              Life((0, life[0]), (0, life[1])))


def lifetimes(sessions: list[Session], control_of: dict[str, Connection], hold: float,
              side: Literal["media_server", "remote_agent"],
              order: FileOrder = TIME_ORDER) -> Lifetimes:
    """Each session's host on `side` and when that session lives (session_span), in
    the capture's `order`."""
    return Lifetimes(((getattr(s, side), session_span(control_of[s.id], hold, order))
                      for s in sessions), order)
