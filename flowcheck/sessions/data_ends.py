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
(announced, port_listener, port_matched, media_server, remote_agent), Connection.
"""

from __future__ import annotations

from flowcheck.model import Connection, Session

End = tuple[str, int]


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
    if announced is not None and (announced.ip, announced.port) == orig != resp:
        # The sniffer lost the handshake and the listener's packet came first: the
        # announced endpoint is the originator (sessions.matching; trial 25 D1).
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


def _by_host(conn: Connection, session: Session) -> tuple[End, End] | None:
    """(media server end, agent end) by the session's hosts: the end at
    session.media_server the media server's, the end at session.remote_agent the
    agent's (one of them is enough); None when neither end is either, or the job runs on
    one host (a local backup: both ends at it, the listener tells)."""
    orig, resp = (conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p)
    if session.media_server == session.remote_agent:
        return None
    if conn.resp_h == session.media_server or conn.orig_h == session.remote_agent:
        return resp, orig
    if conn.orig_h == session.media_server or conn.resp_h == session.remote_agent:
        return orig, resp
    return None
