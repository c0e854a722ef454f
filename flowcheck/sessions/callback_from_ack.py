"""A callback the capture holds only from its handshake's last ACK on (cutcb64b).

A capture that starts between a Backup Exec callback's SYN-ACK and the job's data
announcement holds the callback from the agent's ACK on, before the control stream's
first captured message: its opening is cut off, and its first packet precedes the
control connection's, so the callbacks' sweep (sessions.callback_sweep: opened in the
control connection's window, or seen with its SYN) does not take it, and
sessions.capture_start matched it by ports as a data connection ("over 2 data
connections": lab-trial17/mtu-blackhole-media from frame 25, lab-trial28-ndp/
routed-ptb-blackhole-agent from frame 19).

`attach_callbacks_seen_from_ack(sessions, control_of, streams, ordered, endpoints,
config, profile)` names such a connection the session's callback (Session.callback_from_ack:
step 2 says how it was taken) when only one connection and one session fit.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from flowcheck.config import Config
from flowcheck.model import Announcement, Connection, NdmpStream, Session
from flowcheck.profiles import Profile
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.pools import Endpoints, claim

# Addresses an announcement names when the listener answered with no address of its own
# (the control connection's address stands for it).
_UNSPECIFIED = ("0.0.0.0", "::")


def attach_callbacks_seen_from_ack(sessions: list[Session], control_of: Mapping[str, Connection],
                                   streams: Mapping[str, NdmpStream], ordered: list[Connection],
                                   endpoints: Endpoints, config: Config, profile: Profile,
                                   unsure: Collection[str] = ()) -> None:
    """Name a session's callback that the capture holds from the agent's bare ACK on,
    before the control stream's first captured message (its opening cut off).

    Under a profile whose callback is a connection, a session with no callback yet whose
    control connection opened before the capture (outcome midstream) and whose captured
    control stream announces a data endpoint (session.announced) takes the one unclaimed
    connection (_from_ack) whose first packet is the agent's, not a FIN or RST, before
    the control stream's first message, and that is still open at the session's first
    announcement, carrying nothing either way in the capture (no payload, no bytes
    missed), from a port in the agent range to the media server on a port in the media
    range, neither end an announced endpoint nor the NDMP port. A data connection of a
    backup carries the agent's data, and one of a resource before the capture closed
    before the next announcement; the callback carries nothing and lives until the job
    ends (flow-model.md). Nothing is taken when two connections fit, or when another
    session between the same two hosts waits for its callback too, its control
    connection opened before the capture and not seen to end before the connection's
    first packet, whether or not it announces in the capture (whose it is the capture
    cannot tell: a job that began before the capture and announces nothing in it may
    own it; oneway64), nor is one of `unsure` (uids that
    only_closing.name_closing_callbacks found may be a callback closing and named
    none's). A named one is claimed as the callback and sets Session.callback_from_ack
    (step 2 says it was taken by its direction, ports and silence, its opening not in
    the capture)."""
    if profile.callback != "connection":
        return
    # Sessions that may own such a connection, by (agent, media server): each with no
    # callback yet whose control connection opened before the capture, announcing in it
    # or not (a job that began before the capture and announces nothing in it may own
    # the connection as well: oneway64).
    waiting: dict[tuple[str, str], list[Session]] = {}
    for session in sessions:
        if session.callback_uid is None \
                and connection_outcome(control_of[session.id]) == "midstream":
            waiting.setdefault((session.remote_agent, session.media_server), []).append(session)
    if not any(s.announced for group in waiting.values() for s in group):
        return
    found: dict[tuple[str, str], list[Connection]] = {}
    for conn in ordered:
        pair = (conn.orig_h, conn.resp_h)
        if pair in waiting and conn.uid not in endpoints.claimed and conn.uid not in unsure \
                and silent_unopened(conn, config):
            found.setdefault(pair, []).append(conn)
    for pair, conns in found.items():
        announcing = [session for session in waiting[pair] if session.announced]
        if len(announcing) != 1:
            continue  # which job's it is the capture cannot tell
        session = announcing[0]
        stream = streams.get(session.control_uid)
        fitting = [conn for conn in conns if _from_ack(conn, session, stream)]
        if len(fitting) == 1 and not any(
                other is not session and control_of[other.id].last_frame >= fitting[0].first_frame
                for other in waiting[pair]):  # another job, still on then, may own it
            session.callback_uid = fitting[0].uid
            session.callback_from_ack = True
            claim(endpoints, fitting[0], session, "callback")


def silent_unopened(conn: Connection, config: Config) -> bool:
    """No opening of `conn` captured (outcome midstream), nothing it carried either way
    (no payload, none missed, at most a FIN of a side the capture lacks acknowledged:
    Connection.orig/resp_acked_unseen, the bytes one direction's ACKs show of the other,
    oneway64), its first captured packet neither a FIN nor a RST, from a
    port in the agent range (its first sender's) to one in the media range, the NDMP
    port at neither end, no control connection."""
    return (conn.role != "control" and connection_outcome(conn) == "midstream"
            and not (conn.orig_bytes or conn.resp_bytes or conn.missed_bytes)
            and conn.orig_acked_unseen <= 1 and conn.resp_acked_unseen <= 1
            and config.ndmp_port not in (conn.orig_p, conn.resp_p)
            and config.in_agent_range(conn.orig_p) and config.in_media_range(conn.resp_p)
            and not (conn.fin_frames and conn.fin_frames[0] == conn.first_frame)
            and not (conn.rst_frames and conn.rst_frames[0] == conn.first_frame))


def _from_ack(conn: Connection, session: Session, stream: NdmpStream | None) -> bool:
    """Is `conn` (silent_unopened, from the session's agent to its media server) first
    seen before the session's control stream's first message (else its control
    connection's first packet), and still open at its first announcement (its last
    packet after it), neither end an endpoint the session announced?"""
    first = stream.messages[0].frame if stream is not None and stream.messages else 0
    if not first or conn.first_frame >= first:
        return False
    return conn.last_frame > min(a.frame for a in session.announced) and not any(
        _names(a, host, port) for a in session.announced
        for host, port in ((conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p)))


def _names(ann: Announcement, host: str, port: int) -> bool:
    """Does the announcement name the endpoint (host, port): its address, or an
    unspecified one, and its port?"""
    return ann.port == port and (ann.ip == host or ann.ip in _UNSPECIFIED)
