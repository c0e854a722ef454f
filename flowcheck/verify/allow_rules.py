"""The firewall rules a fix names: the ports of a connection's return traffic, the
ports its session's hosts listened on, and the allow rule in words, for the media
server, the agent and the firewalls between them (the TechNote's rules); and the rule on
the responder itself when the capture was taken there (own_rules), naming the same ranges.
Split from flowcheck.verify.context (its size).
"""

from __future__ import annotations

from flowcheck.config import format_ranges
from flowcheck.model import Allows, Connection, Session
from flowcheck.verify.context import DEFAULT_RANGE_WORDS, Context, session_uids
from flowcheck.verify.end_roles import role_ends

# Where the rule for the answer goes, from where the connection's rule goes.
_BACK = {"outbound on the media server and inbound on the agent":
         "outbound on the agent and inbound on the media server",
         "inbound on the media server": "outbound on the media server"}


def return_ports(ctx: Context, conn: Connection) -> tuple[str, str]:
    """The ports of `conn`'s return traffic, by range, never its one-off source port: the
    originator draws that anew for every connection (its dynamic range, RFC 6335 6), so
    a rule naming it lets through this connection only (trial 17, D8). (the responder's
    side: "port 10000" / "ports 5001-5100"; the originator's: "ports 6001-6100 (the agent
    range: ...)" or "ports in its dynamic (ephemeral) range (...)"). Where the ranges
    overlap, the
    range of the host's role (_by_role)."""
    config = ctx.config
    source = conn.orig_p
    # A default range (1025-65535) is no rule to give (trial 20 D6).
    name = _set_range(ctx, _by_role(ctx, conn.orig_h, ("agent", "media")), source)
    if name is not None:
        back_to = (f"ports {format_ranges(getattr(config, f'{name}_range'))} (the {name} "
                   f"range: {drawn_words(source, source=True)})")
    else:
        back_to = f"ports in its dynamic (ephemeral) range ({drawn_words(source, source=True)})"
    name = None if conn.resp_p == config.ndmp_port else \
        _set_range(ctx, _by_role(ctx, conn.resp_h, ("media", "agent")), conn.resp_p)
    answer = f"port {conn.resp_p}" if name is None else \
        f"ports {format_ranges(getattr(config, f'{name}_range'))}"
    return answer, back_to


def drawn_words(port: int | None, *, source: bool = False) -> str:
    """The words that say a connection's port (its `source` port, else its responder's)
    is drawn from its range anew each time, naming `port` ("this connection's source port
    5004 is drawn from it anew each time"; None: the same words without a port, the key
    report.answer tells a rule under, Finding.drawn_ports)."""
    which = "source port" if source else "port"
    named = "" if port is None else f" {port}"
    return f"this connection's {which}{named} is drawn from it anew each time"


def _set_range(ctx: Context, names: tuple[str, str], port: int) -> str | None:
    """The first of `names` ("agent", "media") whose range the user set (not flowcheck's
    default) and holds `port`; None if none."""
    return next((name for name in names if name not in ctx.config.default_ranges()
                 and _in_range(ctx, name, port)), None)


def _by_role(ctx: Context, host: str, default: tuple[str, str]) -> tuple[str, str]:
    """The ranges ("agent", "media") in the order a port of host's is judged by: its
    role's first (Context.host_role), where overlapping ranges hold the port in both
    (trial 35's bridge: media 5001-5100, agent 6001-6100,5051-5150: a media server's
    source port 5060 was named by the agent range, asked first); `default` when no role
    tells (as before: the agent's first for a source port, the media's for a listener)."""
    role = ctx.host_role(host)
    if role is None:
        return default
    return ("media", "agent") if role == "media" else ("agent", "media")


def listened_ports(ctx: Context, session: Session, which: str, port: int | None
                   ) -> list[int]:
    """The ports the session's `which` side ("media", "agent") was reached on (its
    connections' responder ends of that role, the NDMP port aside), with `port`, in
    order: the ports a rule names when the range is flowcheck's default (trial 20 D6)."""
    ports = set() if port is None else {port}
    for uid in session_uids(session):
        conn = ctx.by_uid.get(uid)
        if conn is None:
            continue
        for role, side in role_ends(ctx, conn, session):
            if role == which and side == (conn.resp_h, conn.resp_p) and \
                    side[1] != ctx.config.ndmp_port:
                ports.add(side[1])
    return sorted(ports)


def port_list(ports: list[int]) -> str:
    """Ports as "5001, 6001-6002": runs of consecutive ports joined."""
    runs: list[list[int]] = []
    for port in ports:
        if runs and port == runs[-1][1] + 1:
            runs[-1][1] = port
        else:
            runs.append([port, port])
    return ", ".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in runs)


def seen_or_range(ctx: Context, session: Session | None, which: str, port: int) -> str:
    """What a rule names for a `which` side port: its range (Context.ranges) when
    configured; else, the range being flowcheck's default 1025-65535 (no rule to give),
    the ports this job was reached on there, saying so."""
    return _seen_or_range(ctx, session, which, port)[0]


def _seen_or_range(ctx: Context, session: Session | None, which: str, port: int
                   ) -> tuple[str, bool]:
    """(seen_or_range's words, whether they name one port: the range flowcheck's default
    and the job reached that side on one port, not a range or several). The ports in
    the default range: the session's (listened_ports), or `port` alone without one."""
    if which not in ctx.config.default_ranges():
        return ctx.ranges(which), False
    ports = _used_ports(ctx, session, which, port)
    one = len(ports) == 1
    return (f"{port_list(ports)} (the {which} port{'' if one else 's'} {DEFAULT_RANGE_WORDS})",
            one)


def _used_ports(ctx: Context, session: Session | None, which: str, port: int) -> list[int]:
    """The ports this job was reached on on its `which` side (listened_ports), or `port`
    alone without a session: what a rule names there when the range is flowcheck's
    default."""
    return listened_ports(ctx, session, which, port) if session else [port]


def capitalised(text: str) -> str:
    """The first letter upper case, the rest as it is (str.capitalize lowers "TCP")."""
    return text[:1].upper() + text[1:]


def lowered(text: str) -> str:
    """The first letter lower case, the rest as it is: a sentence (a fix) continuing
    another after a colon."""
    return text[:1].lower() + text[1:]


def _host_ends(ctx: Context, conn: Connection) -> list[tuple[str, tuple[str, int]]]:
    """`conn`'s ends by their hosts' roles (Context.host_role: the configuration's
    media_servers and remote_agents, else the sessions'), as role_ends gives them, media
    first; [] unless both are known and not both media."""
    sides = [(ctx.host_role(host), (host, port))
             for host, port in ((conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p))]
    if any(role is None for role, _ in sides) or all(role == "media" for role, _ in sides):
        return []
    return sorted(((role, side) for role, side in sides if role is not None),
                  key=lambda item: item[0] != "media")


def _responder_side(ctx: Context, conn: Connection, session: Session | None
                    ) -> tuple[str | None, str, str]:
    """(the range of `conn`'s responder port, "media" or "agent", None for the NDMP port or
    a responder of no known role; where the rule for the connection goes; where the rule
    for its return traffic goes), by role_ends (allow_rule's reading); without a session,
    or when the session's hosts are at other addresses than the connection's (a callback
    over IPv4 of a session whose control ran over IPv6, fitting two sessions alike), by
    the hosts' roles (_host_ends: review61b, field48's dual-stack callback read "port 5001
    on both hosts", the media server's port of its configured media range)."""
    ends = (role_ends(ctx, conn, session) if session else []) or _host_ends(ctx, conn)
    media = next((side for which, side in ends if which == "media"), None)
    agent = next((side for which, side in ends if which == "agent"
                  and side == (conn.resp_h, conn.resp_p)),
                 next((side for which, side in ends if which == "agent"), None))
    responder = (conn.resp_h, conn.resp_p)
    if conn.resp_p != ctx.config.ndmp_port and len(ends) == 2 and \
            all(which == "agent" for which, _ in ends):
        return ("agent", f"outbound on {conn.orig_h} and inbound on {conn.resp_h}",
                f"outbound on {conn.resp_h} and inbound on {conn.orig_h}")
    if conn.resp_p != ctx.config.ndmp_port and responder == media:
        return "media", "inbound on the media server", ""
    if conn.resp_p != ctx.config.ndmp_port and responder == agent:
        return "agent", "outbound on the media server and inbound on the agent", ""
    if conn.resp_p == ctx.config.ndmp_port:
        return None, "outbound on the media server and inbound on the agent", ""
    return None, "on both hosts and any firewall between them", ""


def _in_range(ctx: Context, which: str, port: int) -> bool:
    """Is `port` in the `which` ("media", "agent") range in force (default or set)?"""
    return bool(getattr(ctx.config, f"in_{which}_range")(port))


def own_target(ctx: Context, conn: Connection, session: Session | None) -> str:
    """The ports a rule on `conn`'s responder itself opens (own_rules): the NDMP port
    alone ("port 10000"); a media or agent port in its configured range, that range, for
    the port is drawn from it anew for each connection and a rule for it alone lets the
    next job fail ("ports 6001-6100 (the agent range: this connection's port 6001 is drawn
    from it anew each time)"; newuser61: "to port 6001" while the other job used
    6001-6005); in flowcheck's default range, the ports this job used and the range they
    are drawn from, unnamed ("port 6001 (the agent port this job used) and the rest of
    the agent range it is drawn from": the default range is no rule to give, trial 20 D6;
    the fix's lead, fix_notes.default_ranges_first, asks first to set --agent-range, so
    the rule does not ask again: review61b); a port outside its range, that port alone
    (allow_rule's: the range would not let it through; the fix first asks to bind inside
    it); a callback's or data connection's port of no known role, the port and the range
    it is drawn from."""
    port = conn.resp_p
    if port == ctx.config.ndmp_port:
        return f"port {port}"
    which, _, _ = _responder_side(ctx, conn, session)
    if which is not None and not _in_range(ctx, which, port):
        return f"port {port}"
    if which is not None and which not in ctx.config.default_ranges():
        ranges = getattr(ctx.config, f"{which}_range")
        return f"ports {format_ranges(ranges)} (the {which} range: {drawn_words(port)})"
    if which is not None:
        seen, one = _seen_or_range(ctx, session, which, port)
        return (f"port{'' if one else 's'} {seen} and the rest of the {which} range "
                f"{'it is' if one else 'they are'} drawn from")
    drawn = session is not None and (conn.uid == session.callback_uid
                                     or conn.uid in session.data_connections)
    return f"port {port}" + (" and the rest of the range it is drawn from (a job's "
                             "callback and data ports are drawn anew each time)"
                             if drawn else "")


def own_rules(ctx: Context, conn: Connection, session: Session | None) -> str:
    """The responder's own rules for conn, its last parenthesis left open for the
    caller's words: "accept the connection from A to ports 6001-6100 (...) in its input
    chain and its return traffic in its output chain (ct state established,related
    accept" (the ports: own_target; `flowcheck firewall` prints the same ranges)."""
    return (f"accept the connection from {conn.orig_h} to {own_target(ctx, conn, session)} "
            "in its input chain and its return traffic in its output chain (ct state "
            "established,related accept")


def allow_rule(ctx: Context, conn: Connection, session: Session | None, *,
               answer: bool = False, between: bool = False, device: str | None = None) -> str:
    """The firewall rule that lets this connection through, named from the media server,
    "and its return traffic"; answer: that second rule spelt out, ports and all (when the
    capture cannot tell which way was lost); between: both rules also on any firewall
    between the hosts (a drop the capture cannot place). A responder port outside its
    side's range is named alone: the rule for the range would not let it through. The
    ends by role_ends: a three-way job's data connection between two agents is named by
    their addresses ("outbound on 10.77.1.2 and inbound on 10.77.1.3"). device: the
    router or firewall between the hosts that rejected or dropped it, named
    (rejecting_device's address and what it is): the rule goes in that device's forward
    chain instead."""
    which, where, back_where = _responder_side(ctx, conn, session)
    ports: str | None
    # One port: the NDMP port, a port of no known role, the one this job used (review61b:
    # "ports 10000 (NDMP port)").
    single = True
    if which is not None:
        ports, single = _seen_or_range(ctx, session, which, conn.resp_p) \
            if _in_range(ctx, which, conn.resp_p) else (None, True)
    elif conn.resp_p == ctx.config.ndmp_port:
        ports = f"{conn.resp_p} (NDMP port)"
    else:
        ports = str(conn.resp_p)
    back_where = back_where or _BACK.get(where, where)
    if device is not None:
        where = f"in the forward chain of {device}"
        back_where = "in the same chain"
    if between and not where.endswith("between them"):
        where += " and on any firewall between the hosts"
        back_where += " and on any firewall between the hosts"
    answer_ports, back_to = return_ports(ctx, conn)
    if answer and which is not None and ports is not None \
            and which in ctx.config.default_ranges():
        # The ports this job used there, as the rule to them names (newuser66: "from
        # 10.66.3.2 port 6001 back" where the job used 6001-6002).
        answer_ports = (f"port{'' if single else 's'} "
                        f"{port_list(_used_ports(ctx, session, which, conn.resp_p))}")
    back = (f"TCP from {conn.resp_h} {answer_ports} back to {conn.orig_h} {back_to} "
            f"{back_where} (the SYN-ACK's way: established connections)" if answer
            else "its return traffic")
    target = f"port {conn.resp_p}" if ports is None else \
        f"port{'' if single else 's'} {ports}"
    return f"allow TCP from {conn.orig_h} to {conn.resp_h} {target} {where}, and {back}"



def rule_allows(conn: Connection, *more: str, noted: str = "",
                pointed: bool = False) -> Allows:
    """What a fix of allow rules for conn (allow_rule's words and the others written for
    one connection) is for, as Finding.allows: conn's two ends, then `more`, other
    addresses the fix's rules name (a NAT's, an agent's other address); noted: the rule
    whose other-table note the fix holds (Allows.noted); pointed: the fix quotes
    `flowcheck firewall` itself (Allows.pointed)."""
    return Allows(tuple(dict.fromkeys((conn.orig_h, conn.resp_h, *more))), noted=noted,
                  pointed=pointed)
