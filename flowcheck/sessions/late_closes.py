"""The closing connections of a job begun before the capture, whichever FIN comes first.

A job that ends as the capture begins leaves in it only the closes of its connections:
a Backup Exec agent closes its callback to the job engine just before the control
connection, the media server answers both FINs a moment later. Matched by direction and
ports (flowcheck.sessions.capture_start), a connection first seen while the session's
control connection was open is its own; one of which the capture holds only its closing
(sessions.only_closing.close_only) may be first seen just after the control
connection's last packet (the media server's FIN on the callback after the control
close's last ACK), or, the media server's port in the agent range too (the default
ranges overlap), be one whose opener its ports cannot tell
(capture_start.opener_unknown: left to no session, the callback as likely). The first
is the closing of the job whose control connection the capture shows closing beside it,
not other traffic an unseen control connection announced (leftover62:
lab/port-reused-within-hold cut from the first job's callback FIN gave the callback to
the job as a running data connection, cut a packet later left it an
unannounced_connection, "the capture may miss the control connection that announced
it", beside that very control connection).

A close-only connection goes to the one late session between its hosts (its ports in
their sides' ranges) whose control connection's first FIN or RST was captured within
CLOSING_SECONDS of the connection's first packet (only_closing.closes_with: a job's
engine closes its connections together, the lab's Backup Exec within 0.2 ms); with none
or several such sessions it is left as it was (two jobs closing within the second: a
connection that fits both stays tied, sessions.late_owners).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from flowcheck.config import Config
from flowcheck.model import Connection, NdmpStream, Session
from flowcheck.profiles import Profile
from flowcheck.sessions.capture_start import opener_unknown, ports_in_ranges
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.only_closing import (
    CLOSING_SECONDS,
    claim_closing_only,
    close_ts,
    closes_with,
)
from flowcheck.sessions.pools import Endpoints, claim


def attach_late_closes(sessions: Iterable[Session], control_of: dict[str, Connection],
                       streams: Mapping[str, NdmpStream], ordered: Iterable[Connection],
                       endpoints: Endpoints, config: Config, profile: Profile,
                       unsure: Collection[str] = ()) -> None:
    """Give each unclaimed close-only connection (not to or from the NDMP port) to the
    one session whose control connection was open before the capture (its outcome
    midstream) between its two hosts, its ports in their sides' ranges, whose control
    connection's first FIN or RST (Connection.fin_ts, rst_ts; seconds) came within
    CLOSING_SECONDS of its first packet (closes_with): a data connection of
    that session matched by direction and ports (Session.port_matched, match_reason
    "capture_start"). Not one whose opener neither its first sender nor its ports tell
    (capture_start.opener_unknown: the callback as likely, which a data connection's
    role would misname; review56p). One held only closing that does not fit the
    callback, nothing said between it and the close, is the job's closing instead
    (only_closing.claim_closing_only; streams: control uid -> its NDMP stream, whose
    messages tell). So too one of `unsure` (uids: only_closing.name_closing_callbacks
    found it may be a callback closing, and named none's) within CLOSING_SECONDS of that
    close though its own FIN is not captured (cutcb64b: lab-trial28-ndp/
    routed-ptb-blackhole-agent from frame 68, the data connection first seen at the
    agent's ACK 6 ms after the control connection's RST, was left an
    unannounced_connection once the sweep no longer named it the callback). One pass
    over the connections, the sessions found by host pair."""
    by_hosts: dict[frozenset[str], list[tuple[Session, float]]] = {}
    for session in sessions:
        control = control_of[session.id]
        if connection_outcome(control) != "midstream":
            continue  # its control connection opened in the capture
        if (closed := close_ts(control)) is not None:
            by_hosts.setdefault(frozenset((session.media_server, session.remote_agent)),
                                []).append((session, closed))
    if not by_hosts:
        return
    for conn in ordered:
        if conn.uid in endpoints.claimed or conn.role == "control" \
                or config.ndmp_port in (conn.orig_p, conn.resp_p):
            continue
        near = [session for session, closed in by_hosts.get(
            frozenset((conn.orig_h, conn.resp_h)), ())
            if (closes_with(conn, closed) or (conn.uid in unsure
                                              and abs(conn.ts - closed) <= CLOSING_SECONDS))
            and ports_in_ranges(conn, session, config)
            and not opener_unknown(conn, session, config, profile)]
        if len(near) != 1:
            continue
        [session] = near
        if claim_closing_only(endpoints, conn, session, control_of[session.id],
                              streams.get(session.control_uid), config, profile):
            continue
        claim(endpoints, conn, session, "data")
        session.port_matched.append(conn.uid)
        if not session.match_reason:
            session.match_reason = "capture_start"

