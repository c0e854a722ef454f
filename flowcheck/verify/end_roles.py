"""The role of each end of a session's connection: which is the media server's, which
the agent's, so the port range it is judged by and the words that name it.

Roles, not addresses: a multi-homed pair may run control and data on different networks
(the "Backup To Network Card" case). The control connection runs from the media server
(the DMA) to the agent (NDMP server, TCP 10000), the callback back; a data connection's
ends follow the announcement it reached, else the session's hosts or its port match
(flowcheck.sessions.data_ends.conn_sides, imported here for the verify modules that
name it). Sources: Session (server_roles) and Context.host_role
(flowcheck.verify.context).
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.sessions.data_ends import conn_sides
from flowcheck.verify.context import Context


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
