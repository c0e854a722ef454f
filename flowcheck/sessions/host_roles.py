"""The role a session gives each of its hosts, as every drawing names it (trial 28 D15).

The ladders (text, Mermaid, HTML) and the graphs (DOT, GraphML, node-link JSON) read it
here, so a dual-stack host's IPv4 address beside an IPv6 control connection is the media
server or the agent in all of them, not "other" in some.
"""

from __future__ import annotations

from collections.abc import Collection

from flowcheck.model import Connection, Session


def lane_role(host: str, session: Session, callback: Connection | None,
              media_servers: Collection[str], remote_agents: Collection[str]) -> str:
    """"media server", "remote agent" or "host": the role of one of the session's hosts,
    as its ladder lane and every graph name it. The session's media server (or a
    configured one) first, then its agent (or a configured one), then an end of its
    callback, which may run under other addresses (a NAT's, another interface's, the
    other IP version's of dual-stack hosts)."""
    if host == session.media_server or host in media_servers:
        return "media server"
    if host == session.remote_agent or host in remote_agents:
        return "remote agent"
    if callback is not None and host in (callback.orig_h, callback.resp_h):
        return "remote agent" if host == callback.orig_h else "media server"
    return "host"
