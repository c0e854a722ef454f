"""Data connections of announcements the capture cannot show, by direction and ports.

When the snap length cut the address out of an announcing message, the sniffer lost
it, the capture holds one direction of the control connection, or the capture started
mid-job, a session's data connections are matched by who connects and to which port
range instead of by the announced endpoint. Full captures never take this path.
"""

from __future__ import annotations

from collections.abc import Hashable

from flowcheck.config import Config
from flowcheck.model import Connection, NdmpStream, Session
from flowcheck.profiles import Profile
from flowcheck.sessions.classify import (
    connection_outcome,
    cut_announcements,
    end_of,
    is_failed,
    one_sided,
)
from flowcheck.sessions.pools import Endpoints, Pool, claim


def attach_by_ports(sessions: list[Session], control_of: dict[str, Connection],
                    streams: dict[str, NdmpStream], ordered: list[Connection],
                    endpoints: Endpoints, config: Config, profile: Profile) -> None:
    """Data connections of announcements the snap length cut, by direction and ports.

    Candidates run between the session's media server and agent, start after the cut
    message and before the control connection ended, avoid the NDMP port and anything
    already explained; backup-exec-9 (the media server connects) also needs the media
    server as originator and a destination in the agent range. One connection (and its
    retries) per cut message; every candidate when no message could be read at all.
    """
    fits: dict[Hashable, Pool] | None = None
    retries: dict[Hashable, Pool] = {}
    for session in sessions:
        control = control_of[session.id]
        lossy = bool(control.missed_bytes) and session.kind != "browse"
        if session.announced and not lossy:
            continue
        cut = cut_announcements(streams.get(session.control_uid))
        reason = "snap_length"
        if session.announced:
            # Some announcements were read, others may be among the bytes the sniffer
            # lost (a ring file missing from the set): what they did not explain is
            # matched by direction and ports.
            cut, reason = None, "capture_loss"
        elif cut == [] and one_sided(control) is not None:
            # The capture lacks a direction of the control connection: the announcing
            # message may be in it, so the data connections are matched as if it were cut.
            cut, reason = None, "one_direction"
        elif cut == [] and control.missed_bytes and session.kind != "browse":
            # The sniffer lost part of the control stream of a backup or restore: the
            # announcing message may be among the lost bytes.
            cut, reason = None, "capture_loss"
        if cut == []:
            continue
        if fits is None:  # built once, for the first session that needs it
            fits = endpoints.pools(ordered, lambda c: _profile_key(c, config, profile))
            retries = endpoints.pools(
                ordered, lambda c: None if _profile_key(c, config, profile) is None
                else (c.orig_h, c.resp_h, c.resp_p))
        pool = fits.get(_session_key(session, profile))
        # While the control connection lasts, no slack: the next job's session may open
        # its data connection right after this one closed.
        end = end_of(control)
        session.match_reason = reason
        if cut is None:
            for conn in pool.each(control.ts, end) if pool else ():
                claim(endpoints, conn, session, "data")
                session.port_matched.append(conn.uid)
            continue
        for message in cut:
            conn = pool.first(message.ts, end) if pool else None
            session.cut_announcements.append((message.frame, message.name,
                                              conn.uid if conn else ""))
            while conn is not None:
                claim(endpoints, conn, session, "data")
                session.port_matched.append(conn.uid)
                if not is_failed(conn):
                    break
                # A connector whose SYNs fail retries from a new source port.
                conn = retries[(conn.orig_h, conn.resp_h, conn.resp_p)].first(conn.ts, end)


def attach_started_before_capture(sessions: list[Session], control_of: dict[str, Connection],
                                  streams: dict[str, NdmpStream], ordered: list[Connection],
                                  endpoints: Endpoints, config: Config, profile: Profile) -> None:
    """A capture that starts in the middle of a job misses the announcements made before
    it: a session whose control connection was already open takes the unexplained
    connections between its two hosts, by the profile's direction and ports, that were
    open too (no SYN seen) or opened before the capture shows its control stream (the
    first decoded NDMP message; without one, the control connection's first captured
    packet), with their retries from new source ports. A connection that opens later is
    announced in the capture, so it is not taken here."""
    midstream = [s for s in sessions
                 if connection_outcome(control_of[s.id]) == "midstream"]
    if not midstream:
        return
    # Pools by (opened in the capture, host pair): each session walks only what it takes.
    pools = endpoints.pools(ordered, lambda c: None if (key := _profile_key(
        c, config, profile)) is None else (connection_outcome(c) != "midstream", key))
    retries: dict[Hashable, Pool] | None = None
    for session in midstream:
        control = control_of[session.id]
        stream = streams.get(session.control_uid)
        seen_from = stream.messages[0].ts if stream and stream.messages else control.ts
        pair = _session_key(session, profile)
        running, opened = pools.get((False, pair)), pools.get((True, pair))
        for conn in [*(running.each(float("-inf"), end_of(control)) if running else ()),
                     *(opened.each(float("-inf"), seen_from) if opened else ())]:
            if conn.uid in endpoints.claimed:
                continue  # a retry taken with an earlier attempt
            while conn is not None:
                claim(endpoints, conn, session, "data")
                session.port_matched.append(conn.uid)
                if not is_failed(conn):
                    break
                # A connector whose SYNs fail retries from a new source port.
                if retries is None:
                    retries = endpoints.pools(
                        ordered, lambda c: None if _profile_key(c, config, profile) is None
                        else (c.orig_h, c.resp_h, c.resp_p))
                same = retries.get((conn.orig_h, conn.resp_h, conn.resp_p))
                conn = same.first(conn.ts, end_of(control)) if same else None
        if session.port_matched and not session.match_reason:
            session.match_reason = "capture_start"


def _profile_key(conn: Connection, config: Config, profile: Profile) -> Hashable:
    """The host pair under which a connection could be a session's data connection, by
    the profile's direction and ports (None: no session's); see _session_key."""
    if conn.role == "control" or config.ndmp_port in (conn.resp_p, conn.orig_p):
        return None
    if profile.connector == "media_server":
        # The media server connects, to a port in the agent range.
        return (conn.orig_h, conn.resp_h) if config.in_agent_range(conn.resp_p) else None
    return tuple(sorted((conn.orig_h, conn.resp_h)))  # either host may connect


def _session_key(session: Session, profile: Profile) -> Hashable:
    if profile.connector == "media_server":
        return (session.media_server, session.remote_agent)
    return tuple(sorted((session.media_server, session.remote_agent)))
