"""The configured media servers and agents against the hosts the sessions show."""

from __future__ import annotations

from flowcheck.verify.context import Context


def check_hosts(ctx: Context) -> None:
    """A session between hosts the configuration does not name is worth a warning: the
    capture may be of other hosts, the addresses translated (NAT), or the list short."""
    for session in ctx.sessions:
        for role, host, configured, key, flag in (
                ("media server", session.media_server, ctx.config.media_servers,
                 "media_servers", "--media-server"),
                ("remote agent", session.remote_agent, ctx.config.remote_agents,
                 "remote_agents", "--remote-agent")):
            if configured and host not in configured:
                ctx.add("host_not_configured",
                        f"Session {session.id}'s {role} {host} is not among the configured "
                        f"{key.replace('_', ' ')} ({', '.join(configured)}): the capture may "
                        "show other hosts than the ones meant, or the addresses were "
                        "translated (NAT) on the way.",
                        f"Capture on the {role} meant, or add {host} with {flag} "
                        f"({key} in the configuration file).",
                        session=session, conn=ctx.by_uid.get(session.control_uid))
