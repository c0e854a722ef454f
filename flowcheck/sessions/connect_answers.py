"""Whose CONNECT error reply answers a failed connect, for matching by direction and ports.

A session matched by direction and ports (flowcheck.sessions.by_ports: one direction of
its control connection captured, say) takes the connections between its hosts that
opened while it lived. A connect that failed and that another session's DATA_CONNECT /
MOVER_CONNECT error reply answers right after (sessions.named.connect_failures; the
window of sessions.late_owners.Evidence) is that session's, though it opened while this
one lived: a killed job's agent retried its data connection into the next job's capture,
and in a capture of the agent's packets only (`tcpdump 'src host AGENT'`) the live job
took the retry while the leftover's CONNECT_ERR came 0.16 ms after its SYN (newuser61;
the full capture gave it to the leftover by its RST and that reply). The other session
(sessions.capture_start) takes it then. A reply answers the connector's last failed
connect to that peer before it, as in sessions.late_owners.Evidence: a job whose data
SYNs a firewall dropped keeps them when another job's connect, refused after its last
retry, draws that job's CONNECT error within the second (review61e: the agent's packets
only, the dropped job lost its data_unanswered to an unannounced_connection).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from flowcheck.model import Connection, NdmpStream, Session
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.late_owners import (
    CONNECT_FAILED,
    CONNECT_REPLY_SECONDS,
    answers_later,
    failed_by_pair,
)
from flowcheck.sessions.matching import ANNOUNCEMENT_JITTER_SECONDS
from flowcheck.sessions.named import connect_failures


class ConnectAnswers:
    """The sessions' CONNECT error replies per host told to connect: (time s, session
    id), in time order; and, when there is one, the end times (s, sorted) of the failed
    connects per (connector, peer), from `connections` (one pass)."""

    def __init__(self, sessions: list[Session], streams: dict[str, NdmpStream],
                 connections: Iterable[Connection] = ()) -> None:
        self.by_host: dict[str, list[tuple[float, str]]] = {}
        for session in sessions:
            for ts, host in connect_failures(streams.get(session.control_uid), session):
                self.by_host.setdefault(host, []).append((ts, session.id))
        for replies in self.by_host.values():
            replies.sort()
        self.failed_by = failed_by_pair(connections) if self.by_host else {}

    def answered_elsewhere(self, conn: Connection, session: Session) -> bool:
        """Is conn a failed connect (refused, or its SYNs unanswered in the capture) whose
        connector's first CONNECT error reply after it (from its last packet less the
        capture's reordering, within CONNECT_REPLY_SECONDS) is another session's than
        `session`, and answers no later failed connect of the connector's to the same
        peer (one ending after conn and by the reply, less the capture's reordering)?"""
        replies = self.by_host.get(conn.orig_h)
        if not replies or connection_outcome(conn) not in CONNECT_FAILED:
            return False
        at = bisect_left(replies, (conn.last_ts - ANNOUNCEMENT_JITTER_SECONDS, ""))
        if at == len(replies) or replies[at][0] > conn.last_ts + CONNECT_REPLY_SECONDS:
            return False
        reply_ts, owner = replies[at]
        if owner == session.id:
            return False
        return not answers_later(self.failed_by, conn, reply_ts)
