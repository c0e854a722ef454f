"""Which end of a session's connection is the media server's and which the agent's.

Roles, not addresses: a multi-homed pair may run control and data on different networks
(the "Backup To Network Card" case). The control connection runs from the media server
(the DMA) to the agent (NDMP server, TCP 10000), the callback back; a data connection's
ends follow the announcement it reached (the endpoint an NDMP_MOVER_LISTEN reply or a
DATA_CONNECT request carries, and its listener: flowcheck.ndmp.collector.ANNOUNCERS,
sessions.matching; the mover listens on the media server), else, matched by ports
(sessions.by_ports), the session's hosts, else its listener, else the hosts. Never the
originator alone where the hosts tell: a connection whose opening the capture lacks has
for originator its first captured packet's sender, a guess (newuser57). Sources: Session
(announced, port_listener, port_matched, media_server, remote_agent,
callback_hosts), Connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flowcheck.model import Connection, Session

End = tuple[str, int]


def listener_first(conn: Connection, session: Session) -> bool:
    """Is `conn` a data connection of the session whose handshake the sniffer lost and
    whose listener sent the first packet the capture holds, so its originator is the
    listener: the announcement it was matched to names its originator's port (at the
    announced address, trial 25 D1, or the listener's control address, newuser58)?"""
    return any(a.used_by == conn.uid and conn.orig_p == a.port != conn.resp_p
               for a in session.announced)


def opened_ends(conn: Connection, session: Session) -> tuple[End, End]:
    """(connector's end, listener's end) of one of the session's connections: its
    originator and responder, turned when listener_first."""
    orig, resp = (conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p)
    return (resp, orig) if listener_first(conn, session) else (orig, resp)


def conn_sides(conn: Connection, session: Session) -> tuple[End | None, End | None]:
    """(media server end, agent end) of one of the session's connections, by its role:
    (ip, port) each, None for an end no rule tells.

    A data connection's ends follow the announcement it reached (its endpoint the
    listener's whichever end sent the first captured packet); a port match's follow the
    session's hosts (by_ports took it from one side's host to the other's, either way
    round when its opening is not in the capture: its turned pools), else the cut
    message's or the profile's listener at the responder; else the session's hosts. The
    mover (tape side) listens on the media server.
    """
    orig, resp = (conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p)
    if conn.uid == session.control_uid:
        return orig, resp
    if conn.uid == session.callback_uid:
        return resp, orig
    announced = next((a for a in session.announced
                      if (a.ip, a.port) == resp or a.used_by == conn.uid), None)
    if announced is not None and ((announced.ip, announced.port) == orig != resp
                                  or listener_first(conn, session)):
        # The sniffer lost the handshake and the listener's packet came first: the
        # announced endpoint is the originator (sessions.matching; trial 25 D1), or
        # its port at the listener's control address (an IPv4 announcement beside an
        # IPv6 control connection, 0.0.0.0: newuser58).
        orig, resp = resp, orig
    listener = announced.listener if announced is not None else \
        session.port_listener.get(conn.uid)
    if announced is None and listener is not None:
        # newuser57: a backup's data connection whose handshake the sniffer lost, its
        # first captured packet the agent's, read its 198552 B agent -> media server as
        # "the other way" (the listener "data" taken at its responder, the media server).
        by_host = _by_host(conn, session)
        if by_host is not None:
            return by_host
    if listener == "mover":
        return resp, orig
    if listener == "data":
        return orig, resp
    if conn.resp_h == session.media_server or conn.orig_h == session.remote_agent:
        return resp, orig
    if conn.orig_h == session.media_server or conn.resp_h == session.remote_agent:
        return orig, resp
    return None, None


def note_callback_hosts(sessions: Iterable[Session], by_uid: Mapping[str, Connection]
                        ) -> None:
    """Set each session's callback_hosts, (agent, media server) address, from its
    callback when the capture holds the callback's SYN (its originator the agent's end;
    without it the first captured packet's sender is a guess). Mutates the sessions."""
    for session in sessions:
        callback = by_uid.get(session.callback_uid or "")
        session.callback_hosts = (callback.orig_h, callback.resp_h) \
            if callback is not None and callback.syn_seen else None


def _by_host(conn: Connection, session: Session) -> tuple[End, End] | None:
    """(media server end, agent end) by the session's hosts: the end at
    session.media_server (or the media server's end of its callback: callback_hosts,
    a dual-stack pair's IPv4 beside an IPv6 control connection, review56n) the media
    server's, the end at session.remote_agent (or the callback's agent end) the agent's
    (one of them is enough); None when neither end is either, or the job runs on one
    host (a local backup: both ends at it, the listener tells)."""
    orig, resp = (conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p)
    media, agent = {session.media_server}, {session.remote_agent}
    if session.callback_hosts is not None:
        agent.add(session.callback_hosts[0])
        media.add(session.callback_hosts[1])
    if media & agent:
        return None
    if conn.resp_h in media or conn.orig_h in agent:
        return resp, orig
    if conn.orig_h in media or conn.resp_h in agent:
        return orig, resp
    return None
