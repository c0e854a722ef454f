"""Where a session's connections run: their ports inside the configured dynamic port
ranges (port_outside_media_range, port_outside_agent_range) and their hosts inside the
backup network (control_off_backup_network).
"""

from __future__ import annotations

import ipaddress

from flowcheck.model import Connection, Session
from flowcheck.verify.context import (
    Context,
    agent_side_port,
    endpoint,
    media_side_port,
    session_uids,
)


def check_ports(ctx: Context, session: Session, conn: Connection, what: str) -> None:
    """port_outside_media_range / port_outside_agent_range for `conn`'s media-side and
    agent-side ports (the profile's reading of the session), `what` naming it
    ("callback", "data connection")."""
    media_port = media_side_port(conn, session)
    agent_port = agent_side_port(conn, session)
    if media_port is not None and not ctx.config.in_media_range(media_port):
        role = "job engine port" if what == "callback" else "media server's end"
        ctx.add("port_outside_media_range",
                f"The {what} {endpoint(conn.orig_h, conn.orig_p)} -> "
                f"{endpoint(conn.resp_h, conn.resp_p)} uses port {media_port} as the "
                f"{role}, outside {ctx.ranges('media')}.",
                f"Make the media server bind its dynamic ports in {ctx.ranges('media')} "
                "(Backup Exec: \"Enable media server TCP dynamic port range\"), or if that "
                "range is wrong, set --media-range to what the firewall opens.",
                session=session, conn=conn)
    if agent_port is not None and not ctx.config.in_agent_range(agent_port):
        ctx.add("port_outside_agent_range",
                f"The {what} {endpoint(conn.orig_h, conn.orig_p)} -> "
                f"{endpoint(conn.resp_h, conn.resp_p)} uses port {agent_port} on the agent "
                f"{session.remote_agent}, outside {ctx.ranges('agent')}.",
                f"Make the agent bind its dynamic ports in {ctx.ranges('agent')} (Backup "
                "Exec: \"Enable remote agent TCP dynamic port range\"; on Linux "
                "net.ipv4.ip_local_port_range), or set --agent-range to what the firewall "
                "opens.", session=session, conn=conn)


def check_backup_network(ctx: Context, session: Session) -> None:
    """control_off_backup_network for each of the session's connections with a host
    outside the configured backup_network (nothing when none is configured)."""
    network = ctx.config.backup_network
    if network is None:
        return
    for uid in session_uids(session):
        conn = ctx.by_uid[uid]
        outside = [h for h in (conn.orig_h, conn.resp_h) if not _in_network(h, network)]
        if not outside:
            continue
        ctx.add("control_off_backup_network",
                f"The {conn.role} connection {endpoint(conn.orig_h, conn.orig_p)} -> "
                f"{endpoint(conn.resp_h, conn.resp_p)} runs outside the backup network "
                f"{network} ({', '.join(outside)} not in it).",
                f"Make the agent's name resolve to its address in {network} on the media "
                "server (Backup Exec: \"Backup To Network Card\" / \"Use any available network "
                "interface\" off), or route that traffic through the backup network.",
                session=session, conn=conn)


def _in_network(host: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(host) in network
    except ValueError:
        return False
