"""Where a session's connections run: their ports inside the configured dynamic port
ranges (port_outside_media_range, port_outside_agent_range); their hosts inside the
backup network are flowcheck.verify.backup_network's (control_off_backup_network).

A port on a side a NAT translated is the NAT's, not the host's: source NAT (masquerade)
and port forwarding pick their own ports (RFC 3022 section 2.2, NAPT), so the range,
a setting of the host behind it, is not checked there (translated_host says when).

Nor are the ports of a connection that never leaves one host (host_local: loopback
addresses at both ends, or one address at both ends, as a local backup has when the
media server is its own agent): the ranges are what a firewall between two hosts opens,
and on one host the kernel's single ephemeral range cannot satisfy two ranges at once
(trial 43: `tcpdump -i any` of a local job read port_outside_agent_range for its
callback's kernel-chosen source port).
"""

from __future__ import annotations

from flowcheck.model import Connection, Session, connection_ends
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.local import ip_version, is_loopback, same_host
from flowcheck.verify.context import Context, session_uids
from flowcheck.verify.end_roles import role_ends
from flowcheck.verify.openings import TAKEN_FOR_WANT


def translated_host(ctx: Context, session: Session, conn: Connection, which: str
                    ) -> str | None:
    """The address of `conn`'s end of role `which` ("media" or "agent": role_ends) when
    the capture shows the host under an address that may be a NAT's, so the port there
    need not be the host's binding (a NAT picks its own); else None.

    That end's address is the session's host of that role (the control connection
    reached or came from it too), the configuration names that role's hosts and this
    address is not among them (host_not_configured: the host is seen under another
    address); or, with no media servers configured, the session itself shows its media
    server under another address (media_seen_elsewhere: trial 26 D2). Not the
    listener's side of a connection matched to its announcement under the control
    connection's address (session.address_matched): its port is the one announced
    inside the NDMP message, which the NAT did not translate, the host's own."""
    return next((side[0] for role, side in role_ends(ctx, conn, session)
                 if role == which and translated_end(ctx, session, conn, which, side)), None)


def translated_end(ctx: Context, session: Session, conn: Connection, which: str,
                   side: tuple[str, int]) -> bool:
    """Is `conn`'s end `side` (host, port), of role `which`, on a translated address
    (translated_host)?"""
    host, port = side
    configured, own = ((ctx.config.media_servers, session.media_server) if which == "media"
                       else (ctx.config.remote_agents, session.remote_agent))
    if host != own or host in configured:
        return False
    if not configured and (which != "media" or media_seen_elsewhere(ctx, session) is None):
        return False
    return not ((host, port) == (conn.resp_h, conn.resp_p) and
                any(uid == conn.uid for uid, _ in session.address_matched))


def media_seen_elsewhere(ctx: Context, session: Session) -> str | None:
    """The address the agent called the media server back at when it is not the one the
    control connection came from, over the same IP version (Session.callback_elsewhere:
    the job engine named its own address, a NAT in front of the media server translated
    the control and data connections; trial 26 D2); else None."""
    if not session.callback_elsewhere or session.callback_uid is None:
        return None
    target = ctx.by_uid[session.callback_uid].resp_h
    if target == session.media_server or \
            ip_version(target) != ip_version(session.media_server):
        return None  # the same address, or dual-stack hosts: no NAT shown
    return target


def nat_unread_applies(ctx: Context, session: Session) -> bool:
    """Can nat_unread be true of the session at all: no media servers configured, a
    profile whose agent calls back (callback "connection"), and no callback in the
    session? flowcheck.verify.nat_unread decides the rest for these sessions alone."""
    return not ctx.config.media_servers and ctx.profile.callback == "connection" \
        and session.callback_uid is None


def nat_unread(ctx: Context, session: Session) -> bool:
    """Does the capture lack what tells the media server's ports at its control
    connection's address from a NAT's (media_seen_elsewhere)? Decided once per session
    by flowcheck.verify.nat_unread (Context.nat_unread), before the checks that judge
    ports; False until then."""
    return nat_unread_applies(ctx, session) and ctx.nat_unread.get(session.id, False)


# Why nat_unread's ports are not judged, for the step that names them.
UNREAD_WHY = ("the capture lacks the callback, which shows whether the agent reached the "
              "media server under another address, the media server's ports then a NAT's "
              "(a NAT in front of it picks its own ports), and every media port of the "
              "session at its control connection's address is outside the media range")


def unread_end(ctx: Context, session: Session, which: str, host: str) -> bool:
    """Is an end of role `which` at `host` one whose port nat_unread leaves unjudged?"""
    return which == "media" and host == session.media_server and nat_unread(ctx, session)


def loopback_pair(conn: Connection) -> bool:
    """Are both of `conn`'s addresses loopback addresses (127.0.0.0/8, ::1)?"""
    return is_loopback(conn.orig_h) and is_loopback(conn.resp_h)


def host_local(conn: Connection) -> bool:
    """Does `conn` never leave one host: loopback addresses at both ends (loopback_pair),
    or the same address at both ends (a host reaching its own address, which its stack
    delivers over the loopback interface)? No firewall between hosts sees it."""
    return loopback_pair(conn) or same_host(conn.orig_h, conn.resp_h)


def local_ports_words(conn: Connection, ports: list[int]) -> str:
    """Why a host-local connection's (host_local) dynamic `ports` are not judged."""
    why = "loopback addresses" if loopback_pair(conn) else "one address at both ends"
    named = " and ".join(str(port) for port in ports)
    return (f"port{'s' if len(ports) > 1 else ''} {named} not judged against the ranges: "
            f"the connection never leaves {conn.orig_h} ({why}), and the ranges are for "
            "firewalls between hosts (one host has one ephemeral port range for both roles)")


def checked_ends(ctx: Context, session: Session, conn: Connection
                 ) -> list[tuple[str, str, int]]:
    """(role, host, port) of `conn`'s dynamic ports (role_ends; not the control
    connection's NDMP port), media first, with the range each is judged by; an end on a
    translated address (translated_host) included. None of a connection that never
    leaves one host (host_local)."""
    if host_local(conn):
        return []
    return [(which, host, port) for which, (host, port) in role_ends(ctx, conn, session)
            if not (conn.uid == session.control_uid and which == "agent")]


def outside_ends(ctx: Context, session: Session, conn: Connection
                 ) -> list[tuple[str, str, int]]:
    """checked_ends outside their ranges, those on a translated address (the NAT's
    ports: host_not_configured names them) and those the capture cannot tell from a
    NAT's (unread_end) left out."""
    return [(which, host, port) for which, host, port in checked_ends(ctx, session, conn)
            if not _in_range(ctx, which, port)
            and not translated_end(ctx, session, conn, which, (host, port))
            and not unread_end(ctx, session, which, host)]


def unread_ports(ctx: Context, session: Session, conn: Connection) -> list[int]:
    """`conn`'s ports outside their range that the capture cannot tell from a NAT's
    (unread_end): the step that names them is `unknown`, not `violated`."""
    return [port for which, host, port in checked_ends(ctx, session, conn)
            if not _in_range(ctx, which, port) and unread_end(ctx, session, which, host)]


def translated_ports(ctx: Context, session: Session, which: str
                     ) -> list[tuple[Connection, int]]:
    """The session's connections (control, callback, data) whose `which` side ("media",
    "agent") has a port outside that range on a translated address (translated_host),
    with that port: the ports check_ports and the control check leave to
    host_not_configured."""
    found = []
    for uid in session_uids(session):
        conn = ctx.by_uid[uid]
        for role, host, port in checked_ends(ctx, session, conn):
            if role == which and not _in_range(ctx, which, port) and \
                    translated_end(ctx, session, conn, which, (host, port)):
                found.append((conn, port))
    return found


def _in_range(ctx: Context, which: str, port: int) -> bool:
    return ctx.config.in_media_range(port) if which == "media" \
        else ctx.config.in_agent_range(port)


def check_ports(ctx: Context, session: Session, conn: Connection, what: str) -> None:
    """port_outside_media_range / port_outside_agent_range for each of `conn`'s dynamic
    ports outside the range of its host's role (outside_ends: a three-way job's data
    connection has two agent ends), `what` naming it ("callback", "data connection").
    A port on a translated address (translated_host) is not checked: host_not_configured
    names it."""
    # A callback whose opening the capture lacks was taken for want of another
    # (flowcheck.sessions.matching): the finding rests on that match (review56e).
    hedge = (f" Its opening is not in the capture: {TAKEN_FOR_WANT}, so this rests on "
             "that match."
             if what == "callback" and connection_outcome(conn) == "midstream" else "")
    for which, host, port in outside_ends(ctx, session, conn):
        if which == "media":
            role = "job engine port" if what == "callback" else "media server's end"
            ctx.add("port_outside_media_range",
                    f"The {what} {connection_ends(conn)} uses port {port} as the "
                    f"{role}, outside {ctx.ranges('media')}.{hedge}",
                    f"Make the media server bind its dynamic ports in {ctx.ranges('media')} "
                    "(Backup Exec: \"Enable media server TCP dynamic port range\"). If "
                    "the firewall in fact opens another range and the media server binds "
                    "in it, the job is not at fault: give flowcheck that range "
                    "(--media-range; it changes only this check).",
                    session=session, conn=conn, subject=len(f"The {what} "))
        else:
            ctx.add("port_outside_agent_range",
                    f"The {what} {connection_ends(conn)} uses port {port} on the agent "
                    f"{host}, outside {ctx.ranges('agent')}.{hedge}",
                    f"Make the agent bind its dynamic ports in {ctx.ranges('agent')} "
                    "(Backup Exec: \"Enable remote agent TCP dynamic port range\"; on "
                    "Linux net.ipv4.ip_local_port_range). If the firewall in fact opens "
                    "another range and the agent binds in it, the job is not at fault: give "
                    "flowcheck that range (--agent-range; it changes only this check).",
                    session=session, conn=conn, subject=len(f"The {what} "))


_OUTSIDE = ("port_outside_media_range", "port_outside_agent_range")


def note_too_small(ctx: Context) -> None:
    """A fix that has a host bind its dynamic ports in a range range_too_small found too
    small for the job (verify.capacity: Context.too_small) says to widen it first, and
    to open the widened range: binding in it as it is cannot work (trial A of session 34:
    the agent range 6001-6002 for 3 resources; "make the agent bind its dynamic ports in
    6001-6002", applied, failed the job earlier). After check_capacity."""
    for side, need in ctx.too_small.items():
        bind = f"bind its dynamic ports in {ctx.ranges(side)}"
        widened = (f"{bind} widened to at least {need} ports and opened so in the firewall "
                   "(range_too_small: it has too few for the job)")
        for finding in ctx.findings:
            if bind in finding.fix and widened not in finding.fix:
                finding.fix = finding.fix.replace(bind, widened)


def note_swapped_ranges(ctx: Context) -> None:
    """When the configured ranges look swapped, say so in every port_outside_* finding:
    the ranges differ, and every media-side port of the sessions' callbacks and data
    connections is in the agent range and every agent-side port in the media range (a
    configuration that gives each host the other's range; the control connection's
    source port is left out: it is often any ephemeral port). Not when either range
    holds every port (Config.wide_ranges: the media range left unset): every port is in
    it, so the half of the reading that leans on it says nothing, and swapping would set
    the other side's range to every port."""
    config = ctx.config
    if config.media_range == config.agent_range or config.wide_ranges():
        return
    findings = [f for f in ctx.findings if f.code in _OUTSIDE]
    if not findings:
        return
    media_ports: list[int] = []
    agent_ports: list[int] = []
    for session in ctx.sessions:
        for uid in [*([session.callback_uid] if session.callback_uid else []),
                    *session.data_connections]:
            conn = ctx.by_uid[uid]
            for which, host, port in checked_ends(ctx, session, conn):
                # A NAT's port (translated_host) says nothing of the configured ranges.
                if not translated_end(ctx, session, conn, which, (host, port)):
                    (media_ports if which == "media" else agent_ports).append(port)
    if not (media_ports and agent_ports
            and all(config.in_agent_range(p) for p in media_ports)
            and all(config.in_media_range(p) for p in agent_ports)):
        return
    for finding in findings:
        finding.message += (f" Every media server port of the callbacks and data connections "
                            f"is in {ctx.ranges('agent')} and every agent port in "
                            f"{ctx.ranges('media')}: the two ranges look swapped in the "
                            "configuration.")
        finding.fix += (" If they are swapped, swap media_range and agent_range "
                        "(--media-range / --agent-range) instead.")


# Who binds each side's dynamic ports, and where that is set.
_BINDER = {"media": ("the media server", "Backup Exec: \"Enable media server TCP dynamic port "
                     "range\"; NDMP servers on Linux: net.ipv4.ip_local_port_range"),
           "agent": ("the agent", "Backup Exec: \"Enable remote agent TCP dynamic port "
                     "range\"; on Linux net.ipv4.ip_local_port_range")}


def responder_outside(ctx: Context, session: Session, conn: Connection) -> str | None:
    """"media" or "agent" when `conn` (a callback or data connection) listens on that
    side and its port there is outside that side's range, as check_ports reports it
    (port_outside_media_range / port_outside_agent_range; not on a translated address:
    translated_host); else None."""
    if conn.resp_p == ctx.config.ndmp_port:
        return None
    return next((which for which, host, port in outside_ends(ctx, session, conn)
                 if (host, port) == (conn.resp_h, conn.resp_p)), None)


def outside_range_words(ctx: Context, session: Session, conn: Connection, verb: str
                        ) -> tuple[str, str] | None:
    """(words for the message, start of the fix) when the failed opening of `conn` went
    to a port outside its listener's range: a firewall that opens only the configured
    range (what --media-range / --agent-range say it opens) {verb}s it, so the rule for
    the range does not help; the fix is to bind inside the range, or open that port.
    verb: "drops" (unanswered) or "rejects" (refused). None when the port is inside."""
    side = responder_outside(ctx, session, conn)
    if side is None:
        return None
    host, setting = _BINDER[side]
    words = (f" Port {conn.resp_p} is outside {ctx.ranges(side)} (port_outside_{side}_range), "
             f"the range the firewall is meant to open: a firewall that opens only that "
             f"range {verb} connections to it, so this failure most likely follows from "
             f"{host} binding outside its range.")
    fix = (f"Make {host} {conn.resp_h} bind its dynamic ports in {ctx.ranges(side)} "
           f"({setting}), so its port falls in the range the firewall opens "
           f"(port_outside_{side}_range); or ")
    return words, fix
