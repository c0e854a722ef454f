"""Which session was running between two hosts when a connection started: an index of
the sessions' control connections by host pair, searched by bisection
(Context.session_around reads it, built on first use); and the session whose control
connection the capture joined after it opened, for a connection open before that
control connection's first captured packet (joined_late).

With control connections in time order, the first one still open at t is the first whose
running maximum of ends reaches t, so a check over many connections does not scan every
session for each (tests/test_sessions_scale.py).
"""

from __future__ import annotations

from bisect import bisect_left

from flowcheck.model import Connection, Session
from flowcheck.sessions.classify import connection_outcome

# Per host pair: control starts, running maximum of control ends (None when the
# sessions are not in time order), sessions; seconds, capture clock.
_Pair = tuple[list[float], list[float] | None, list[Session]]


class SessionsAround:
    """The sessions by host pair, for session_around."""

    def __init__(self, sessions: list[Session], by_uid: dict[str, Connection]) -> None:
        self.by_uid = by_uid
        self.pairs = _sessions_by_pair(sessions, by_uid)

    def session_around(self, conn: Connection) -> Session | None:
        """The first session (in session order) between the connection's two hosts whose
        control connection was open, [ts, last_ts], when this connection started."""
        starts, reach, members = self.pairs.get(frozenset((conn.orig_h, conn.resp_h)),
                                                ([], [], []))
        if reach is None:  # not in time order (build_sessions never makes that): scan
            return next((session for start, session in zip(starts, members, strict=True)
                         if start <= conn.ts <= self.by_uid[session.control_uid].last_ts),
                        None)
        first = bisect_left(reach, conn.ts)
        return members[first] if first < len(members) and starts[first] <= conn.ts else None


def _sessions_by_pair(sessions: list[Session], by_uid: dict[str, Connection]
                      ) -> dict[frozenset[str], _Pair]:
    """Per host pair: control starts, running maximum of control ends (None when the
    sessions are not in time order), sessions."""
    pairs: dict[frozenset[str], _Pair] = {}
    for session in sessions:
        control = by_uid[session.control_uid]
        key = frozenset((session.media_server, session.remote_agent))
        starts, reach, members = pairs.get(key, ([], [], []))
        if reach is not None and starts and control.ts < starts[-1]:
            reach = None
        if reach is not None:
            reach.append(max(control.last_ts, reach[-1]) if reach else control.last_ts)
        starts.append(control.ts)
        members.append(session)
        pairs[key] = (starts, reach, members)
    return pairs


def joined_late(sessions: list[Session], by_uid: dict[str, Connection],
                conns: list[Connection]) -> Session | None:
    """The first judged session between the connections' two hosts whose control
    connection the capture holds but joined after it opened (no SYN: midstream) and that
    was still open when the last of them started: its announcements may precede the
    capture. session_around names none when the connection's first packet comes before
    the control connection's (latecut: v4-backup.pcap from frame 30). None when none."""
    hosts = {conns[0].orig_h, conns[0].resp_h}
    started = max(c.ts for c in conns)
    for session in sessions:
        control = by_uid.get(session.control_uid)
        if (not session.side and control is not None
                and {session.media_server, session.remote_agent} == hosts
                and connection_outcome(control) == "midstream" and control.last_ts >= started):
            return session
    return None
