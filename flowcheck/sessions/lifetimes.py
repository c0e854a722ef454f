"""When each session's hosts are that session's: its lifetime, for claiming connections.

A capture set may hold jobs far apart in time (a night's capture, two files merged): a
connection opened by a host is another session's only while that session lives, from
its control connection's opening to its end and the port hold after it (still open at
the capture's end: to the end of time). Read by flowcheck.sessions.pools.Endpoints
.by_connector through flowcheck.sessions.matching.attach_data (mergedsets: ndmjob's
v4 backup merged with lab-trial19-network/dns1-control-other-nic, whose data
connections from 10.77.0.1 a job of 10.77.0.1 eleven days before had kept it from).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from typing import Literal

from flowcheck.model import Connection, Session
from flowcheck.model.spans import merged_spans
from flowcheck.sessions.classify import connection_outcome, end_of, seen_closing

# A connector's SYN may be stamped this far before its session's control connection:
# two hosts' captures merged with their clocks apart (sessions.clock_apart bounds such
# lags well under a second in every stored case).
START_SLACK_SECONDS = 1.0
INF = float("inf")


def session_span(control: Connection, hold: float) -> tuple[float, float]:
    """When a session lives, (start, end) in capture seconds: its control connection's
    first packet (less START_SLACK_SECONDS; from the beginning of time when the capture
    lacks its opening: the session began before it, its data connections may show
    first) to its last plus `hold` (port_hold_seconds), or infinity when the capture
    does not show it closing."""
    start = -INF if connection_outcome(control) == "midstream" else \
        control.ts - START_SLACK_SECONDS
    return start, end_of(control) + hold if seen_closing(control) else INF


class Lifetimes:
    """Hosts -> when a session of theirs lives: the union of their sessions' spans,
    merged into disjoint intervals in time order, looked up by bisection (issue 7: two
    thousand sessions of one media server cost log n a lookup, not n)."""

    def __init__(self, spans: Iterable[tuple[str, tuple[float, float]]] = ()) -> None:
        by_host: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for host, span in spans:
            by_host[host].append(span)
        self._starts: dict[str, list[float]] = {}
        self._ends: dict[str, list[float]] = {}
        for host, found in by_host.items():
            merged = merged_spans(found)
            self._starts[host] = [lo for lo, _ in merged]
            self._ends[host] = [hi for _, hi in merged]

    def alive_at(self, host: str, ts: float) -> bool:
        """Is a session of `host` alive at `ts` (seconds)?"""
        return self.overlaps(host, ts, ts)

    def overlaps(self, host: str, lo: float, hi: float) -> bool:
        """Is a session of `host` alive at some time from `lo` to `hi` (seconds)?"""
        ends = self._ends.get(host)
        if not ends:
            return False
        at = bisect_left(ends, lo)  # the first interval that ends at or after lo
        return at < len(ends) and self._starts[host][at] <= hi


def lifetimes(sessions: list[Session], control_of: dict[str, Connection], hold: float,
              side: Literal["media_server", "remote_agent"]) -> Lifetimes:
    """Each session's host on `side` and when that session lives (session_span)."""
    return Lifetimes((getattr(s, side), session_span(control_of[s.id], hold))
                     for s in sessions)
