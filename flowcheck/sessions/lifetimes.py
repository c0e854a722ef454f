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

from collections import defaultdict
from typing import Literal

from flowcheck.model import Connection, Session
from flowcheck.sessions.classify import end_of, seen_closing

# A connector's SYN may be stamped this far before its session's control connection:
# two hosts' captures merged with their clocks apart (sessions.clock_apart bounds such
# lags well under a second in every stored case).
START_SLACK_SECONDS = 1.0


Spans = dict[str, list[tuple[float, float]]]


def session_span(control: Connection, hold: float) -> tuple[float, float]:
    """When a session lives, (start, end) in capture seconds: its control connection's
    first packet (less START_SLACK_SECONDS) to its last plus `hold`
    (port_hold_seconds), or infinity when the capture does not show it closing."""
    end = end_of(control) + hold if seen_closing(control) else float("inf")
    return control.ts - START_SLACK_SECONDS, end


def lifetimes(sessions: list[Session], control_of: dict[str, Connection], hold: float,
              side: Literal["media_server", "remote_agent"]) -> Spans:
    """Each session's host on `side` -> the spans (session_span) of the sessions it
    is in."""
    spans: Spans = defaultdict(list)
    for session in sessions:
        spans[getattr(session, side)].append(session_span(control_of[session.id], hold))
    return spans


def alive_at(spans: Spans, host: str, ts: float) -> bool:
    """Is `host` in a session (spans: lifetimes) alive at `ts`?"""
    return any(lo <= ts <= hi for lo, hi in spans.get(host, ()))
