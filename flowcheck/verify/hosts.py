"""The configured media servers and agents against the hosts the sessions show."""

from __future__ import annotations

from flowcheck.model import Connection, Session, endpoint
from flowcheck.verify.context import Context, opening_frames
from flowcheck.verify.ranges import translated_ports

# Translated connections named one by one in a host_not_configured finding; more are
# counted.
_NAMED = 3


def check_hosts(ctx: Context) -> None:
    """A session between hosts the configuration does not name is worth a warning: the
    capture may be of other hosts, the addresses translated (NAT), or the list short.
    Ports outside the range on that host's side are the NAT's if it translated: named
    here (with their connections' opening frames), not as port_outside_* errors."""
    for session in ctx.sessions:
        for role, which, host, configured, key, flag in (
                ("media server", "media", session.media_server, ctx.config.media_servers,
                 "media_servers", "--media-server"),
                ("remote agent", "agent", session.remote_agent, ctx.config.remote_agents,
                 "remote_agents", "--remote-agent")):
            if configured and host not in configured:
                ports = translated_ports(ctx, session, which)
                words, fix = _translated_words(ctx, session, which, host, ports)
                control = ctx.by_uid.get(session.control_uid)
                ctx.add("host_not_configured",
                        f"Session {session.id}'s {role} {host} is not among the configured "
                        f"{key.replace('_', ' ')} ({', '.join(configured)}): the capture may "
                        "show other hosts than the ones meant, or the addresses were "
                        f"translated (NAT) on the way.{words}",
                        f"Capture on the {role} meant, or add {host} with {flag} "
                        f"({key} in the configuration file).{fix}",
                        session=session, conn=control,
                        frames=(opening_frames(control) if control else [])
                        + [f for conn, _ in ports for f in opening_frames(conn)])


def _translated_words(ctx: Context, session: Session, which: str, host: str,
                      ports: list[tuple[Connection, int]]) -> tuple[str, str]:
    """(words, fix) for the ports outside the `which` range at the unconfigured `host`
    (flowcheck.verify.ranges.translated_ports); ("", "") when there are none."""
    if not ports:
        return "", ""
    role, article = ("media server", "a") if which == "media" else ("agent", "an")
    code = f"port_outside_{which}_range"
    named = "; ".join(f"{_what(session, conn)} {conn.uid} "
                      f"({endpoint(conn.orig_h, conn.orig_p)} -> "
                      f"{endpoint(conn.resp_h, conn.resp_p)}) port {port}"
                      for conn, port in ports[:_NAMED])
    more = f" and {len(ports) - _NAMED} more" if len(ports) > _NAMED else ""
    listed = ", ".join(str(port) for _, port in ports[:_NAMED]) + (", ..." if more else "")
    peer = session.remote_agent if which == "media" else session.media_server
    words = (f" At {host}: {named}{more}, outside {ctx.ranges(which)}. A NAT that "
             "translates the address (source NAT, masquerade, port forwarding) picks its "
             f"own ports too, so that need not be the port the {role} bound: not reported "
             f"as {code}. The {role}'s own port is not in this capture.")
    fix = (f" If {host} is a NAT's address: {ctx.ranges(which)} applies to the ports the "
           f"{role} binds behind it (a capture on the {role} shows them); a firewall "
           f"between the NAT and {peer} sees the NAT's ports ({listed}): allow those, or "
           f"make the NAT map to ports in {ctx.ranges(which)}. If {host} is {article} {role} "
           f"of its own, add it: its ports are then checked against the range ({code}).")
    return words, fix


def _what(session: Session, conn: Connection) -> str:
    if conn.uid == session.control_uid:
        return "control connection"
    return "callback" if conn.uid == session.callback_uid else "data connection"
