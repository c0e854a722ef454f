"""Connections of which the capture holds only their closing (leftover62).

A job that ends as the capture begins leaves in it only the closes of its connections,
in whichever order its hosts sent them (a Backup Exec agent closes its callback just
before the control connection). Such a connection shows the job closing, not a resource
running (verify.after_close.job_ended), and is the job's whose control connection
closes beside it (sessions.late_closes).
"""

from __future__ import annotations

from flowcheck.config import Config
from flowcheck.model import Connection, Session
from flowcheck.profiles import Profile
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


def close_ts(control: Connection) -> float | None:
    """The time (s) of the connection's first FIN or RST, either side; None: neither
    captured."""
    closes = [ts for ts in (control.fin_ts, control.rst_ts) if ts is not None]
    return min(closes) if closes else None


def claim_closing(endpoints: Endpoints, conn: Connection, session: Session,
                  control: Connection, config: Config, profile: Profile) -> bool:
    """Claim `conn` as `session`'s callback if the capture holds only its closing beside
    the session's control connection's close (closes_with), the profile's callback is a
    connection, the session has none yet, and its direction and ports fit one: its first
    sender the session's agent, its other end the media server on a port in the media
    range (the reports and port checks read its ends so; one first seen at the media
    server's packet keeps its old reading). Named by these alone:
    Session.callback_closing, step 2 says "seen only closing". It is not taken for a
    data connection then (docs/json.md `status`: such a connection counts as none of
    them). Not when another connection fits as well: neither is told (review62h). True
    when claimed; False (nothing done) otherwise, and the caller claims it as before (a
    data connection that carried nothing). newuser65: a capture started
    late of a Backup Exec job whose agent was then killed (late-killed.pcap) held the
    callback 10.77.0.2:6045 -> 10.77.0.1:5001 only at its FIN, 5 us before the control
    connection's, and counted it a second data connection ("C1, C2 carried 2,555,904 B",
    "over 2 data connections", step 2 "no callback in the capture")."""
    closed = close_ts(control)
    if closed is None or profile.callback != "connection" or session.callback_uid is not None \
            or not _fits(conn, session, closed, config):
        return False
    # Another connection of this session's (or no session's yet) that may be it as well:
    # the direction and ports cannot tell which is the callback (review62h: late-killed
    # from its data connection's FIN, 10.77.0.2:6001 -> 10.77.0.1:5002 held only closing
    # before the callback 6045 -> 5001, took the callback's name, the callback read as
    # data; so too when the capture lacks the callback's FIN's answer, not close_only).
    # Neither is named then; both read as before (a data connection that carried nothing).
    if any(other.uid != conn.uid and other.session in (None, session.id)
           and _rival(other, session, closed, config)
           for (host, port), conns in endpoints.by_endpoint.items()
           if host == session.media_server and config.in_media_range(port)
           for other in conns):
        return False
    session.callback_uid = conn.uid
    session.callback_closing = True
    claim(endpoints, conn, session, "callback")
    return True


def claim_closing_only(endpoints: Endpoints, conn: Connection, session: Session,
                       control: Connection, config: Config, profile: Profile) -> bool:
    """Claim `conn` for `session` as neither data nor callback when the capture holds
    only its closing beside the session's control connection's close (closes_with) and
    it does not fit the session's callback (the profile has no callback connection, or
    its direction and ports are not the callback's: _fits): docs/json.md `status`, such
    a connection is the job's closing and counts as none of its data connections. It
    was claimed as a data connection that carried nothing (nu65a's left: newuser65
    late-killed-tail.pcap without the callback's FIN, the callback first seen at the
    media server's FIN, read "C1, C3 carried 16,304 B", "over 2 data connections").
    Its `session` is the session's (no unannounced_connection), its role stays other,
    Session.closing_only lists it. True when claimed; False (nothing done) otherwise."""
    closed = close_ts(control)
    if closed is None or not closes_with(conn, closed) or (
            profile.callback == "connection" and _fits(conn, session, closed, config)):
        return False
    endpoints.claimed.add(conn.uid)
    conn.session = session.id
    session.closing_only.append(conn.uid)
    return True


def _fits(conn: Connection, session: Session, closed: float, config: Config) -> bool:
    """Could `conn` be `session`'s callback seen only closing: held only closing beside
    the control connection's close at `closed` (seconds; closes_with), its first sender
    the session's agent, its other end the media server on a port in the media range?"""
    return _rival(conn, session, closed, config) and closes_with(conn, closed)


def _rival(conn: Connection, session: Session, closed: float, config: Config) -> bool:
    """Could `conn` be that callback as well as a connection held only closing: its
    direction and ports the callback's (as _fits), no opening or payload captured, its
    first packet within CLOSING_SECONDS of `closed` (seconds), whatever its close shows
    (its FIN unanswered or not captured: review62h)?"""
    return ((conn.orig_h, conn.resp_h) == (session.remote_agent, session.media_server)
            and conn.role != "control" and config.ndmp_port not in (conn.orig_p, conn.resp_p)
            and config.in_media_range(conn.resp_p)
            and not (conn.syn_seen or conn.synack_seen or conn.orig_bytes or conn.resp_bytes)
            and abs(conn.ts - closed) <= CLOSING_SECONDS)
