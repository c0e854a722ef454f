"""The role of each end of a session's connection: which is the media server's, which
the agent's, so the port range it is judged by and the words that name it.

Roles, not addresses: a multi-homed pair may run control and data on different networks
(the "Backup To Network Card" case). The control connection runs from the media server
(the DMA) to the agent (NDMP server, TCP 10000), the callback back; a data connection's
ends follow the announcement it reached (the endpoint an NDMP_MOVER_LISTEN reply or a
DATA_CONNECT request carries, and its listener: flowcheck.ndmp.collector.ANNOUNCERS,
sessions.matching; the mover listens on the media server), else its port match or the
hosts. Sources: Session (announced, port_listener, server_roles) and Context.host_role
(flowcheck.verify.context).
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.verify.context import Context


def conn_sides(conn: Connection, session: Session
               ) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
    """(media server end, agent end) of one of the session's connections, by its role.

    Roles, not addresses: a multi-homed pair may run control and data on different
    networks (the "Backup To Network Card" case), so the data connection's addresses
    need not be the control connection's. A data connection's ends follow the
    announcement it reached (or, matched by direction and ports, its cut message or the
    profile): the mover (tape side) listens on the media server.
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
    by_host = _by_host(conn, session, whole=listener is not None and (
        conn.syn_seen or conn.synack_seen))
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


def _by_host(conn: Connection, session: Session, *, whole: bool
             ) -> tuple[tuple[str, int], tuple[str, int]] | None:
    """(media server end, agent end) of a data connection by the session's hosts: its
    end at session.media_server the media server's, at session.remote_agent the agent's
    (whole: both ends must be so; else one is enough); None when no end tells (another
    interface, a three-way job's other agent) or the job runs on one host.

    The hosts, not who opened it: a connection whose opening the capture lacks is
    oriented by its first captured packet (Connection.orig_h), a guess, and a port match
    may take it the other way round (sessions.by_ports' turned pools); newuser57: a
    backup's data connection whose handshake the sniffer lost read its 198552 B agent ->
    media server as "the other way". whole is for a port match whose handshake the
    capture holds: its listener then says which end is which as well as one host."""
    if session.media_server == session.remote_agent:
        return None
    orig, resp = (conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p)
    media_resp = (conn.resp_h == session.media_server, conn.orig_h == session.remote_agent)
    media_orig = (conn.orig_h == session.media_server, conn.resp_h == session.remote_agent)
    if all(media_resp) or (not whole and any(media_resp) and not any(media_orig)):
        return resp, orig
    if all(media_orig) or (not whole and any(media_orig) and not any(media_resp)):
        return orig, resp
    return None


def role_words(conn: Connection, session: Session, host: str | None = None) -> str:
    """A side of the connection (its originator by default) by its role: "the media
    server 10.77.0.1"."""
    media, agent = conn_sides(conn, session)
    side = (conn.orig_h, conn.orig_p) if host in (None, conn.orig_h) \
        else (conn.resp_h, conn.resp_p)
    role = "the media server" if media == side else "the agent" if agent == side \
        else "the host"
    if conn.uid not in (session.control_uid, session.callback_uid) and \
            side[0] in session.server_roles:  # a three-way job's agents (trial 27 D8)
        role = f"the {session.server_roles[side[0]]}"
    return f"{role} {side[0]}"


def role_ends(ctx: Context, conn: Connection, session: Session
              ) -> list[tuple[str, tuple[str, int]]]:
    """Each end of one of the session's connections with the role ("media", "agent")
    whose port range it is judged by, media first (two of one role: the originator's
    first). conn_sides' reading, except that an end of a data connection at a host whose
    role is known takes that role: the session's own media server or agent, else
    Context.host_role. A three-way job's data connection runs between the data server
    and the tape server, two NDMP servers: two agent ends when both are agents (the
    mover listens on the tape server, which is the media server only when it is the
    DMA's own)."""
    media, agent = conn_sides(conn, session)
    ends = [(which, side) for which, side in (("media", media), ("agent", agent))
            if side is not None]
    if conn.uid in (session.control_uid, session.callback_uid):
        return ends
    own = ({} if session.media_server == session.remote_agent else
           {session.media_server: "media", session.remote_agent: "agent"})
    ends = [(own.get(side[0]) or ctx.host_role(side[0]) or which, side)
            for which, side in ends]
    orig = (conn.orig_h, conn.orig_p)
    return sorted(ends, key=lambda item: (item[0] != "media", item[1] != orig))
