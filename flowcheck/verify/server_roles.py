"""The roles of a three-way job's two NDMP agents, for the words that name them.

A data connection's ends are named by the announcement it reached (the mover listens
on "the media server": flowcheck.verify.end_roles.conn_sides). In a three-way job (NDMP
v4 section 1.4) the mover runs on a tape agent, a host other than the DMA: a capture on
the data agent or the tape agent shows one of the job's two control connections, and
the other agent is then no media server (trial 27 D8: "the media server 10.77.0.3
closed it" of a tape agent, while the media server the user knows is the DMA).
Session.server_roles names them "tape agent" and "data agent" when the capture shows
it is such a job:

- the other half of the announcement is in the capture (three_way_hosts);
- a CONNECT request names another configured agent (other_agent);
- the session's agent answered a LISTEN and a connection from a third host reached it:
  for MOVER_LISTEN a host that is not known as a media server, for DATA_LISTEN a host
  known as an agent (a media server's own mover connects to a data service often).
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.verify.context import Context
from flowcheck.verify.end_roles import conn_sides
from flowcheck.verify.shared import agent_kind, other_agent, three_way_hosts

_OTHER = {"tape agent": "data agent", "data agent": "tape agent"}


def mark_server_roles(ctx: Context) -> None:
    """Fill each session's server_roles (see the module docstring)."""
    for session in ctx.sessions:
        session.server_roles = _roles(ctx, session)


def _roles(ctx: Context, session: Session) -> dict[str, str]:
    control = ctx.by_uid[session.control_uid]
    roles: dict[str, str] = {}
    for ann in session.announced:
        kind = agent_kind(ann)
        found = three_way_hosts(ctx, session, ann)
        if found is not None:
            connector, listener = found[0], found[1]
            if connector != listener and control.orig_h not in (connector, listener):
                roles.update({listener: kind, connector: _OTHER[kind]})
            continue
        other = other_agent(ctx, session, ann)
        if other is not None:
            roles.update({other: kind, control.resp_h: _OTHER[kind]})
            continue
        conn = ctx.by_uid.get(ann.used_by or "")
        if conn is None or ann.ip != control.resp_h or \
                conn.orig_h in (control.orig_h, control.resp_h):
            continue
        role = ctx.host_role(conn.orig_h)
        if role == "agent" or (ann.listener == "mover" and role is None):
            roles.update({control.resp_h: kind, conn.orig_h: _OTHER[kind]})
    return roles


def ways(conn: Connection, session: Session) -> tuple[str, str]:
    """(toward the mover, toward the data service) of a data connection by role: "data
    agent -> tape agent" for a three-way job's two agents, else "agent -> media server"."""
    media, agent = conn_sides(conn, session)
    roles = session.server_roles
    if media and agent and media[0] in roles and agent[0] in roles:
        return (f"{roles[agent[0]]} -> {roles[media[0]]}",
                f"{roles[media[0]]} -> {roles[agent[0]]}")
    return "agent -> media server", "media server -> agent"
