"""The configured media servers and agents against the hosts the sessions show."""

from __future__ import annotations

from flowcheck.model import Connection, Session, connection_ends
from flowcheck.sessions.local import ip_version, other_version
from flowcheck.verify.context import Context, opening_frames, session_uids
from flowcheck.verify.end_roles import role_ends
from flowcheck.verify.fallback import fallback_of
from flowcheck.verify.ranges import translated_ports

# Translated connections named one by one in a host_not_configured finding; more are
# counted.
_NAMED = 3


def _outside(ctx: Context, session: Session) -> list[tuple[str, str, str, tuple[str, ...],
                                                             str, str]]:
    """The session's roles whose host the configuration does not name: (role words,
    "media"/"agent", host, the configured hosts, configuration key, option)."""
    return [(role, which, host, configured, key, flag) for role, which, host, configured, key,
            flag in (("media server", "media", session.media_server,
                      tuple(ctx.config.media_servers), "media_servers", "--media-server"),
                     ("remote agent", "agent", session.remote_agent,
                      tuple(ctx.config.remote_agents), "remote_agents", "--remote-agent"))
            if configured and host not in configured]


def mark_side_traffic(ctx: Context) -> None:
    """Side traffic: when at least one session runs between configured hosts in their
    configured roles and spoke NDMP both ways (_spoke_ndmp: the job the configuration
    names), a session whose media server or agent the configuration does not name
    (host_not_configured: roles reversed, a host outside the lists) is not that job: a
    port check or scan of the NDMP port, another service on it, a job of other hosts.
    Its errors are withheld (Context.withheld) and told in its host_not_configured
    warning, its steps left out of the verdict (Session.side). But a session that spoke
    NDMP both ways with a configured host at one end is a job of theirs (an agent not yet
    listed): judged, with its host_not_configured warning (trial 12: a failed backup to a
    new agent passed as side traffic). With no configured session that spoke NDMP,
    every session is judged: a capture seen only through a NAT, or a configuration with
    the two lists swapped (where a probe in the reverse direction is the only session in
    the configured roles: it spoke no NDMP), keeps its errors."""
    if not any(not _outside(ctx, s) and _spoke_ndmp(ctx, s) for s in ctx.sessions):
        return
    for session in ctx.sessions:
        # A job (NDMP both ways) with one of the configured hosts is theirs, the other
        # host listed or not (a new agent not yet in remote_agents): judged.
        if _outside(ctx, session) and not (_spoke_ndmp(ctx, session)
                                           and _touches_configured(ctx, session)):
            session.side = True
            ctx.side.add(session.id)


def _touches_configured(ctx: Context, session: Session) -> bool:
    """Is either of the session's hosts a configured media server or agent, or does a
    data connection it claimed run from or to one? (A job whose control connection
    runs over another network card, its data over the configured hosts' backup
    network: lab-trial19-network/dns1-control-other-nic, read as side traffic beside
    another job of the configured hosts in the same capture set, mergedsets.)"""
    configured = {*ctx.config.media_servers, *ctx.config.remote_agents}
    hosts = {session.media_server, session.remote_agent}
    for uid in session.data_connections:
        if (conn := ctx.by_uid.get(uid)) is not None:
            hosts |= {conn.orig_h, conn.resp_h}
    return bool(hosts & configured)


def _spoke_ndmp(ctx: Context, session: Session) -> bool:
    """Does the session's control stream hold NDMP messages from both sides (a job or a
    browse; a port check or a probe of a closed port holds none, a connect-check at most
    the agent's NOTIFY_CONNECTION_STATUS)? Under a snap length that cut the messages'
    headers too (`-s 68`: 2 bytes of payload a packet), payload on the wire both ways
    stands for them (ndmjob-probes/probes-10000-media cut so read its probes of hosts
    outside the configuration as the job's control_refused errors). In a capture of one
    direction (a SPAN port that sees one way), messages from the side it holds and
    payload from the other that the held side's ACKs show (Connection.orig_acked_unseen /
    resp_acked_unseen above 1: more than a FIN) stand for them too: the uncaptured side
    spoke, and what it said was answered in NDMP (the probes case cut to the agents'
    packets read its probes as the job's control_refused errors again)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    directions = {m.direction for m in stream.messages} if stream else set()
    if {"orig", "resp"} <= directions:
        return True
    control = ctx.by_uid[session.control_uid]
    if directions == {"resp"} and control.orig_acked_unseen > 1 \
            or directions == {"orig"} and control.resp_acked_unseen > 1:
        return True
    return bool(stream and stream.snap_cut and control.orig_bytes and control.resp_bytes)


def check_hosts(ctx: Context) -> None:
    """A session between hosts the configuration does not name is worth a warning: the
    capture may be of other hosts, the addresses translated (NAT), or the list short.
    Ports outside the range on that host's side are the NAT's if it translated: named
    here (with their connections' opening frames), not as port_outside_* errors. A
    side-traffic session's (mark_side_traffic) first warning says it was not judged and
    what failed on it."""
    for session in ctx.sessions:
        for number, (role, which, host, configured, key, flag) in enumerate(
                _outside(ctx, session)):
            # A side session's ports are not checked: no NAT reading of them either.
            ports = [] if session.side else translated_ports(ctx, session, which)
            words, fix = _translated_words(ctx, session, which, host, ports)
            if session.side and number == 0:
                words += _side_words(ctx, session)
            control = ctx.by_uid.get(session.control_uid)
            other = _configured_too(ctx, session, which, host)
            if other is not None:
                session.likely_configured[which] = other[0]
            stack = _dual_stack(host, configured) if other is None else None
            reading = ("the capture may show other hosts than the ones meant, or the "
                       "addresses were translated (NAT) on the way" if other is None
                       and stack is None else
                       f"the same session shows its {role} at {other[0]} too ({other[1]}), "
                       f"so {host} is most likely {_other_address(host, other[0], role)}"
                       if other is not None else
                       _dual_stack_words(role, host, configured, stack or ""))
            subject, advice = (f"Session {session.id}'s {role} {host}",
                               (f"If {host} is {stack} of the {role} "
                                f"{configured[0] if len(configured) == 1 else 'meant'}, add "
                                f"{host}" if stack else
                                f"Capture on the {role} meant, or add {host}" if other is None
                                else f"If {host} is an address of the {role} {other[0]}, "
                                f"add {host}") + f" with {flag} ({key} in the configuration "
                               f"file).{fix}")
            if session.side:  # not a job: its hosts are no media server or agent for it
                subject, advice = _side_host_words(ctx, session, which, host, flag, key)
            ctx.add("host_not_configured",
                    f"{subject} is not among the configured "
                    f"{key.replace('_', ' ')} ({', '.join(configured)}): {reading}.{words}",
                    advice,
                    session=session, conn=control,
                    frames=(opening_frames(control) if control else [])
                    + [f for conn, _ in ports for f in opening_frames(conn)])


def _other_address(host: str, seen: str, role: str) -> str:
    """What `host` is to the configured `role` host `seen` also in the session: its IPv6
    (IPv4) address when their versions differ (a dual-stack host: no NAT turns one IP
    version into the other), else another address (a second interface) or a NAT's."""
    if other_version(host, seen):
        return (f"the IPv{ip_version(host)} address of the dual-stack {role} {seen} (a NAT "
                "does not turn one IP version into the other)")
    return (f"another address of the configured {role} {seen} (a second interface), or a "
            "NAT translated some of its connections only")


def _dual_stack(host: str, configured: tuple[str, ...]) -> str | None:
    """"the IPv6 address" when every configured host of the role is of the other IP
    version than `host` (hosts configured by their IPv4 addresses, the job run over IPv6:
    dual-stack hosts whose names resolve to IPv6 first; trial 28 D14); None otherwise."""
    ours = ip_version(host, default=0)
    if all(ip_version(address, default=0) not in (ours, 0) for address in configured):
        return f"the IPv{ours} address"
    return None


def _dual_stack_words(role: str, host: str, configured: tuple[str, ...], stack: str) -> str:
    """The reading of a session over the other IP version than every configured host."""
    version = stack.removeprefix("the ").removesuffix(" address")
    named = (f"the dual-stack {role} {configured[0]}" if len(configured) == 1 else
             f"one of the configured {role}s, a dual-stack host")
    return (f"the session runs over {version} and every configured {role} is given by its "
            f"IPv{4 if version == 'IPv6' else 6} address, so {host} is most likely {stack} "
            f"of {named} (its name resolves to {version} first; a NAT does not turn one IP "
            "version into the other)")


def _side_host_words(ctx: Context, session: Session, which: str, host: str, flag: str,
                     key: str) -> tuple[str, str]:
    """(subject, fix) of a side-traffic session's host_not_configured: the host by what
    it did on the NDMP port, not as a media server or agent it need not be (trial 23
    D9: a web server probed on port 10000 read "remote agent 10.77.0.9"; the configured
    media server, reached on its own port 10000, "remote agent 10.77.0.1" with the fix
    to add it with --remote-agent)."""
    role = "media server" if which == "media" else "remote agent"
    did = "connecting to" if which == "media" else "listening on"
    other_key = "remote_agents" if which == "media" else "media_servers"
    other_role = "remote agent" if which == "media" else "media server"
    if host in getattr(ctx.config, other_key):
        return (f"Session {session.id}'s host {host} ({did} the NDMP port: the configured "
                f"{other_role})",
                f"Nothing to add: {host} is the configured {other_role}, and this session is "
                "not a job of the configured roles.")
    return (f"Session {session.id}'s host {host} ({did} the NDMP port)",
            f"If {host} is a {role}, add it with {flag} ({key} in the configuration file); "
            "if not (a port check, another service), nothing to change.")


def _configured_too(ctx: Context, session: Session, which: str, host: str
                    ) -> tuple[str, str] | None:
    """(address, which connections show it) of a configured host of role `which`
    ("media", "agent") at an end of that role of another of the session's connections
    than those at `host` (trial 19 D9: a multi-homed host reached at its other NIC); None
    when the session shows none."""
    configured = ctx.config.media_servers if which == "media" else ctx.config.remote_agents
    for uid in session_uids(session):
        conn = ctx.by_uid[uid]
        for role, (address, _) in role_ends(ctx, conn, session):
            if role == which and address != host and address in configured:
                what = ("its control connection" if uid == session.control_uid else
                        "the callback" if uid == session.callback_uid else
                        "its data connections")
                return address, what
    return None


def _side_words(ctx: Context, session: Session) -> str:
    """Why a side-traffic session was not judged, and what failed on it (its first step
    not ok, the error codes withheld)."""
    judged = [s.id for s in ctx.sessions if not s.side]
    config = ctx.config
    reversed_roles = (session.media_server in config.remote_agents
                      and session.remote_agent in config.media_servers)
    words = (" Its hosts are the configured ones with the roles reversed: the agent "
             f"{session.media_server} connected to the NDMP port of the media server "
             f"{session.remote_agent}." if reversed_roles else "")
    fallback = fallback_of(ctx, ctx.by_uid[session.control_uid])
    if fallback is not None and fallback.session is not session:  # trial 28 D1
        words += (f" Not judged as a job: an attempt the media server gave up for "
                  f"IPv{ip_version(fallback.conn.resp_h)}, where session {fallback.session.id} "
                  "ran the job (ip_version_fallback)")
    else:
        words += (f" Not judged as a job: {_sessions(judged)} between the configured hosts "
                  "in their roles, so this one is side traffic (a port check or scan of the "
                  "NDMP port, another service on it, or a job of other hosts)")
    failed = next((s for s in session.steps if s.status in ("failed", "missing", "violated")),
                  None)
    withheld = sorted({f.code for f in ctx.withheld.get(session.id, [])})
    if failed is not None:
        words += f"; its step {failed.step} ({failed.name}) {failed.status}: {failed.detail}"
    if withheld:
        words += f" (not reported as {', '.join(withheld)}: not the job's error)"
    return words + "."


def _sessions(ids: list[str]) -> str:
    return f"session {ids[0]} runs" if len(ids) == 1 else \
        f"sessions {', '.join(ids[:-1])} and {ids[-1]} run"


def _translated_words(ctx: Context, session: Session, which: str, host: str,
                      ports: list[tuple[Connection, int]]) -> tuple[str, str]:
    """(words, fix) for the ports outside the `which` range at the unconfigured `host`
    (flowcheck.verify.ranges.translated_ports); ("", "") when there are none."""
    if not ports:
        return "", ""
    role, article = ("media server", "a") if which == "media" else ("agent", "an")
    code = f"port_outside_{which}_range"
    named = "; ".join(f"{_what(session, conn)} {conn.uid} "
                      f"({connection_ends(conn)}) port {port}"
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
