"""The closing connections of a job begun before the capture, whichever FIN comes first.

A job that ends as the capture begins leaves in it only the closes of its connections:
a Backup Exec agent closes its callback to the job engine just before the control
connection, the media server answers both FINs a moment later. Matched by direction and
ports (flowcheck.sessions.capture_start), a connection first seen while the session's
control connection was open is its own; one of which the capture holds only its closing
(close_only) may be first seen just after the control connection's last packet
(the media server's FIN on the callback after the control close's last ACK), or, the
media server's port in the agent range too (the default ranges overlap), be one whose
opener its ports cannot tell (capture_start._opener_unknown). Either way it is the
closing of the job whose control connection the capture shows closing beside it, not
other traffic an unseen control connection announced (leftover62:
lab/port-reused-within-hold cut from the first job's callback FIN gave the callback to
the job as a running data connection, cut a packet later left it an
unannounced_connection, "the capture may miss the control connection that announced
it", beside that very control connection).

A close-only connection goes to the one late session between its hosts (its ports in
their sides' ranges) whose control connection's first FIN or RST was captured within
CLOSING_SECONDS of the connection's first packet (closes_with: a job's engine
closes its connections together, the lab's Backup Exec within 0.2 ms); with none or
several such sessions it is left as it was.
"""

from __future__ import annotations

from collections.abc import Iterable

from flowcheck.config import Config
from flowcheck.model import Connection, Session
from flowcheck.sessions.capture_start import ports_in_ranges
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.pools import Endpoints, claim

# A connection whose first FIN comes within this long of its first captured packet, with
# nothing but bare ACKs before it, is seen only closing (close_only): a job's engine
# closes its connections together (the lab's Backup Exec: within 0.2 ms).
CLOSING_SECONDS = 1.0


def close_only(conn: Connection) -> bool:
    """Does the capture hold only the connection's closing: no SYN or SYN-ACK, no payload
    either way, no RST, and a FIN that is its first captured packet or comes within
    CLOSING_SECONDS of it (the bare ACKs before it answer a FIN or the last data before
    the capture), a FIN acknowledged (Connection.orig_fin_acked, resp_fin_acked: a close
    that went through; FINs resent unanswered are a stall, trial37b
    state-flushed-capture-started-late-media's data_stalled)? Such a connection was open
    before the capture and ends as it begins: it shows its job closing, not a resource
    running (leftover62: a Backup Exec agent closes its callback just before the control
    connection, so a capture starting at the callback's FIN, or at the media server's
    ACK of it, took it for a running data connection of a job that was ending)."""
    if conn.syn_seen or conn.synack_seen or conn.orig_bytes or conn.resp_bytes \
            or conn.rst_frames or not conn.fin_frames \
            or not (conn.orig_fin_acked or conn.resp_fin_acked):
        return False
    return conn.fin_frames[0] == conn.first_frame or (
        conn.fin_ts is not None and conn.fin_ts - conn.ts <= CLOSING_SECONDS)


def closes_with(conn: Connection, ts: float) -> bool:
    """Is the connection seen only closing (close_only), its first packet within
    CLOSING_SECONDS of `ts` (seconds: its job's control connection's close)? A job's
    engine closes its connections together; one closed long before the control
    connection was a resource the job ran while the capture did (ndmjob-filtered-packets/
    fin-rst-media: a capture of FINs only, the data connection's 3 s before the control
    connection's)."""
    return close_only(conn) and abs(conn.ts - ts) <= CLOSING_SECONDS


def attach_late_closes(sessions: Iterable[Session], control_of: dict[str, Connection],
                       ordered: Iterable[Connection], endpoints: Endpoints,
                       config: Config) -> None:
    """Give each unclaimed close-only connection (not to or from the NDMP port) to the
    one session whose control connection was open before the capture (its outcome
    midstream) between its two hosts, its ports in their sides' ranges, whose control
    connection's first FIN or RST (Connection.fin_ts, rst_ts; seconds) came within
    CLOSING_SECONDS of its first packet (closes_with): a data connection of
    that session matched by direction and ports (Session.port_matched, match_reason
    "capture_start"). One pass over the connections, the sessions found by host pair."""
    by_hosts: dict[frozenset[str], list[tuple[Session, float]]] = {}
    for session in sessions:
        control = control_of[session.id]
        if connection_outcome(control) != "midstream":
            continue  # its control connection opened in the capture
        closes = [ts for ts in (control.fin_ts, control.rst_ts) if ts is not None]
        if closes:
            by_hosts.setdefault(frozenset((session.media_server, session.remote_agent)),
                                []).append((session, min(closes)))
    if not by_hosts:
        return
    for conn in ordered:
        if conn.uid in endpoints.claimed or conn.role == "control" \
                or config.ndmp_port in (conn.orig_p, conn.resp_p):
            continue
        near = [session for session, closed in by_hosts.get(
            frozenset((conn.orig_h, conn.resp_h)), ())
            if closes_with(conn, closed) and ports_in_ranges(conn, session, config)]
        if len(near) != 1:
            continue
        [session] = near
        claim(endpoints, conn, session, "data")
        session.port_matched.append(conn.uid)
        if not session.match_reason:
            session.match_reason = "capture_start"

