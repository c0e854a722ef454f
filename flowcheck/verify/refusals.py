"""How a refused SYN was refused and what fixes it: a RST or an ICMP unreachable, a
filter's code (RFC 792, RFC 1812, RFC 4443) or a router's between the hosts, a RST whose
IP TTL (or an ICMP reject's from the responder's address) shows a device between the
hosts sent it in the responder's name (refused_in_name; the TTL readings:
flowcheck.verify.foreign_reset, .own_reject), and the words of callback_refused /
data_refused and their fixes."""

from __future__ import annotations

from typing import NamedTuple

from flowcheck.model import Allows, Connection, Session, endpoint
from flowcheck.sessions.local import icmp_word, ip_version
from flowcheck.verify.allow_rules import allow_rule, capitalised, rule_allows
from flowcheck.verify.bound_port import announced_bound, bound_fix, bound_words
from flowcheck.verify.capture_points import BETWEEN, refused_between, refused_between_words
from flowcheck.verify.context import Context
from flowcheck.verify.cut_icmp import cut_tie_words
from flowcheck.verify.foreign_reset import (
    foreign_reset,
    foreign_reset_words,
    reset_device,
    undecremented_fix,
    undecremented_reset,
    undecremented_words,
)
from flowcheck.verify.icmp_names import other_unreachable
from flowcheck.verify.own_reject import (
    forged_reject,
    forged_reject_words,
    reject_device,
    rejects_it,
    rule_place,
)
from flowcheck.verify.own_unreachable import own_stack_fix, own_stack_refused, own_stack_words
from flowcheck.verify.prohibited_rules import prohibited_rule, routing_rule
from flowcheck.verify.stale_tuple import stale_words

_PORT_UNREACHABLE = {4: 3, 6: 4}  # RFC 792, RFC 4443
# ICMP unreachable codes of routing (RFC 792, RFC 1122 3.2.2.1, RFC 4443): a router that
# cannot reach the host, or a filter's reject that borrows them (nft's and iptables'
# `reject with icmp host-unreachable` / `net-unreachable`). Never a closed port's
# answer: a TCP answers a SYN to a closed port with a RST (RFC 9293 3.10.7.1).
_ROUTING = {4: {0: "network unreachable", 1: "host unreachable",
                6: "destination network unknown", 7: "destination host unknown"},
            6: {0: "no route to destination", 3: "address unreachable"}}
# The filter codes' names, one per code (what tshark's icmp.code / icmpv6.code name them
# in brackets: tests/test_icmp_code_names.py). IPv4 (RFC 1122 3.2.2.1, RFC 1812 5.2.7.1):
# 9 and 10 a destination network's or host's prohibition (tshark "Network" / "Host
# administratively prohibited"), 13 a router's filter (tshark "Communication
# administratively filtered"; note61: all three read "administratively prohibited" but
# for the code). ICMPv6 (RFC 4443 3.1; trial 28 D10: 5 and 6 were called
# "administratively prohibited", which is code 1's): 5, the router refuses the packet's
# source address (ingress/egress filtering, BCP 38); 6, a route that rejects the
# destination.
_PROHIBITED_NAMES = {4: {9: "communication with destination network administratively "
                            "prohibited",
                         10: "communication with destination host administratively "
                             "prohibited",
                         13: "communication administratively prohibited by filtering"},
                     6: {1: "communication with destination administratively prohibited",
                         5: "source address failed ingress/egress policy",
                         6: "reject route to destination"}}
# ICMP unreachable codes a filter sends: IPv4 (RFC 792, RFC 1812) network and host
# administratively prohibited, communication administratively prohibited; ICMPv6
# (RFC 4443) communication administratively prohibited, source address failed policy,
# reject route: those _PROHIBITED_NAMES names, by IP version.
_PROHIBITED = {version: set(names) for version, names in _PROHIBITED_NAMES.items()}
SOURCE_POLICY, REJECT_ROUTE = 5, 6  # ICMPv6 (RFC 4443 3.1)


def refusal_how(conn: Connection) -> str:
    """What refused the SYN: "an ICMP unreachable" (naming a filter's or a routing code,
    and its sender when a device between the hosts sent it: rejecting_device, or a
    router's host or network unreachable) or "a RST"."""
    if not conn.icmp_frames or conn.resp_rst:
        return "a RST"
    return _icmp_how(conn) + cut_tie_words(conn)


def _icmp_how(conn: Connection) -> str:
    """refusal_how's ICMP unreachable, without the words of a cut quote's tie."""
    device = rejecting_device(conn)
    if device is None and routing_unreachable(conn) is not None \
            and conn.icmp_sender not in (None, conn.resp_h):
        device = conn.icmp_sender  # a router that could not reach the host
    sender = f" from {device}" if device is not None else ""
    if own_stack_refused(conn):
        sender = f" from {conn.orig_h} to itself"
    icmp = icmp_word(conn)
    if prohibited(conn):
        name = _PROHIBITED_NAMES[ip_version(conn.resp_h)][conn.icmp_code]  # type: ignore[index]
        return f"an {icmp} unreachable \"{name}\" (code {conn.icmp_code}){sender}"
    if port_unreachable(conn):
        return f"an {icmp} port unreachable (code {conn.icmp_code}){sender}"
    if (name := routing_unreachable(conn)) is not None:
        return f"an {icmp} {name} (code {conn.icmp_code}){sender}"
    return f"an {other_unreachable(icmp, ip_version(conn.resp_h), conn.icmp_code)}{sender}"


def rejecting_device(conn: Connection) -> str | None:
    """The address of a router or firewall between the hosts that rejected the SYN: the
    ICMP unreachable's source (Connection.icmp_sender) when it is not the responder and
    its code is a filter's (administratively prohibited) or port unreachable (a reject
    rule's: iptables' REJECT default, RFC 792 / RFC 4443 code 3 / 4; a closed TCP port
    answers with a RST). None otherwise (a RST, the responder's own ICMP, or a router's
    net or host unreachable: routing)."""
    version = ip_version(conn.resp_h)
    if conn.resp_rst or not conn.icmp_frames or \
            conn.icmp_sender in (None, conn.resp_h, conn.orig_h):
        return None
    if conn.icmp_code in _PROHIBITED[version] or conn.icmp_code == _PORT_UNREACHABLE[version]:
        return conn.icmp_sender
    return None


class InName(NamedTuple):
    """A refusal a device between the hosts sent in the responder's name (refused_in_name).

    words: why it is not the responder's, for the message; device: that device, named
    for allow_rule (the fix's "on DEVICE")."""

    words: str
    device: str


def refused_in_name(ctx: Context, conn: Connection) -> InName | None:
    """The refusal's words and device when its TTL shows a device between the hosts
    refused the SYN in the responder's name: a RST (foreign_reset) or an ICMP reject
    from the responder's own address (own_reject.forged_reject) with another TTL than
    the responder's own packets; None otherwise. The messages (control_refused,
    refusal_causes) and the fix (refused_fix) read it alike."""
    if (ttls := foreign_reset(ctx, conn)) is not None:
        return InName(foreign_reset_words(conn, ttls), reset_device(conn))
    if (ttls := forged_reject(ctx, conn)) is not None:
        return InName(forged_reject_words(conn, ttls, refusal_how(conn)), reject_device(conn))
    return None


def own_refusal_words(conn: Connection) -> str:
    """own_stack_words for a SYN its originator's own ICMP refused (own_stack_refused)."""
    return own_stack_words(conn, refusal_how(conn), routing_unreachable(conn) is not None)


def device_name(device: str) -> str:
    """A rejecting device named for allow_rule: its address and what it is."""
    return f"{device} (the router or firewall between the hosts that sent the reject)"


def device_words(conn: Connection, device: str) -> str:
    """Why a reject from a device between the hosts is not the responder's answer; for
    ICMPv6's source-policy and reject-route codes, what they say (RFC 4443 3.1)."""
    head = (f"the SYN to {endpoint(conn.resp_h, conn.resp_p)} was rejected with "
            f"{refusal_how(conn)}, not by {conn.resp_h}: the {icmp_word(conn)} message's "
            "source is a router or firewall between the hosts")
    code = conn.icmp_code if ip_version(conn.resp_h) == 6 else None
    if code == SOURCE_POLICY:
        return (f"{head} that refuses packets from {conn.orig_h}'s source address (ingress "
                "or egress filtering, BCP 38: an address of a prefix it does not route, "
                "such as a unique local, temporary or deprecated address the sender chose), "
                "or whose forward rules reject the connection with that code")
    if code == REJECT_ROUTE:
        return (f"{head} that holds a reject route to {conn.resp_h} (a route configured to "
                "refuse that destination), or whose forward rules reject the connection "
                "with that code")
    return f"{head} whose forward rules reject the connection"


def device_fix(ctx: Context, conn: Connection, session: Session, device: str) -> str:
    """The fix of a reject from a device between the hosts (rejecting_device): the allow
    rule in its forward chain; for ICMPv6's source-policy code the sender's source
    address first, for its reject-route code the device's routes."""
    rule = allow_rule(ctx, conn, session, device=device_name(device))
    code = conn.icmp_code if ip_version(conn.resp_h) == 6 else None
    if code == SOURCE_POLICY:
        return (f"Check the source address {conn.orig_h} uses toward {conn.resp_h} (Linux: "
                f"`ip -6 route get {conn.resp_h}`; Windows: `Find-NetRoute -RemoteIPAddress "
                f"{conn.resp_h}`): {device} passes only addresses of the prefixes it "
                f"routes on that side, so give {conn.orig_h} such an address or make it "
                "preferred (the source address selection policy), or let "
                f"{device}'s filter pass {conn.orig_h}; if {device} rejects the connection "
                f"on purpose, {rule}.")
    if code == REJECT_ROUTE:
        return (f"Check {device}'s routes to {conn.resp_h} (a reject, prohibit or "
                f"unreachable route covering it: remove it or route {conn.resp_h} past it); "
                f"if {device} rejects the connection on purpose, {rule}.")
    return f"{capitalised(rule)}."


def prohibited(conn: Connection) -> bool:
    """Was the SYN refused by an ICMP code only a filter sends (administratively
    prohibited, not a closed port's port unreachable)?"""
    version = ip_version(conn.resp_h)
    return (bool(conn.icmp_frames) and not conn.resp_rst
            and conn.icmp_code in _PROHIBITED[version])


def port_unreachable(conn: Connection) -> bool:
    """Was the SYN refused by an ICMP port unreachable (RFC 792 code 3, RFC 4443 code 4)?
    To a TCP SYN that is a filter's reject (iptables' REJECT default, nft's reject): a
    closed TCP port answers with a RST (RFC 9293 3.10.7.1), Linux and Windows alike."""
    version = ip_version(conn.resp_h)
    return (bool(conn.icmp_frames) and not conn.resp_rst
            and conn.icmp_code == _PORT_UNREACHABLE[version])


def routing_unreachable(conn: Connection) -> str | None:
    """The name of the ICMP code ("host unreachable") when the SYN was refused by a
    routing code (_ROUTING: a network or host unreachable), else None."""
    version = ip_version(conn.resp_h)
    if not conn.icmp_frames or conn.resp_rst or conn.icmp_code is None:
        return None
    return _ROUTING[version].get(conn.icmp_code)


def icmp_cause(ctx: Context, conn: Connection) -> str | None:
    """Who rejects a SYN refused by an ICMP unreachable the responder or an unknown
    sender sent (a device between the hosts: rejecting_device, device_words): a filter
    for the codes only a filter sends (prohibited, port_unreachable, a routing code
    from the responder itself, which cannot be unreachable to itself; the responder's
    own firewall when its own address sent the reject, as a router's filter mostly
    answers from the router's (not an nftables netdev ingress reject nor a DNAT router's
    forward-chain reject, which answer from the SYN's destination: review 53d): lab matrix
    seed 118 run 24 read "a firewall or router filter" of a reject the capture on that
    host saw leave it; or a bridge firewall in front of it,
    which answers from the same address, unless the capture shows the reject leaving
    the host: verify.own_reject), a filter or a router that cannot reach the host for a
    routing code from elsewhere; None for a RST or another code."""
    if prohibited(conn) and conn.icmp_sender == conn.resp_h:
        host = conn.resp_h
        return rejects_it(ctx, conn, host,
                          f"the reject comes from {host}'s own address, as its own reject "
                          "rule sends it; a router's filter answers from its own address "
                          f"unless it rejects in {host}'s name (an nftables netdev ingress "
                          "reject, a DNAT router's forward chain)",
                          "a closed port answers with a RST, not with this ICMP: a "
                          "reject rule sends the ICMP, "
                          + prohibited_rule(ip_version(host), conn.icmp_code))
    if prohibited(conn):
        return "a firewall or router filter rejects it (a closed port answers with a RST)"
    if port_unreachable(conn):
        return filter_reject_words(ctx, conn)
    if routing_unreachable(conn) is None:
        return None
    if conn.icmp_sender == conn.resp_h:
        host = conn.resp_h
        names = ("an ICMPv6 no route to destination or address unreachable"
                 if ip_version(host) == 6 else "a host or network unreachable")
        return rejects_it(ctx, conn, host,
                          "a host does not report itself unreachable, and a closed TCP port "
                          f"answers a SYN with a RST: {names} from the host's address comes "
                          "from a reject rule, "
                          + routing_rule(ip_version(host), conn.icmp_code))
    if conn.icmp_sender is None:
        return (f"a firewall rejects it, or a router could not reach {conn.resp_h} (a "
                "closed port answers with a RST)")
    return (f"that router could not reach {conn.resp_h} ({conn.resp_h} down, or no route "
            "or no ARP or neighbour answer to it from there), or a firewall there rejects "
            "the connection with that code")


def unreachable_router(conn: Connection) -> str | None:
    """The router that reported conn's responder unreachable: the sender of its ICMP
    routing unreachable (routing_unreachable) when that is neither end; None otherwise."""
    if routing_unreachable(conn) is None or \
            conn.icmp_sender in (None, conn.orig_h, conn.resp_h):
        return None
    return conn.icmp_sender


def filter_reject_words(ctx: Context, conn: Connection) -> str:
    """Who rejects a SYN refused by an ICMP port unreachable from the responder itself:
    its own firewall, or a bridge firewall in front of it (verify.own_reject), with why
    it is not a closed port."""
    host = conn.icmp_sender or conn.resp_h
    tables = "ip6tables" if ip_version(conn.resp_h) == 6 else "iptables"
    return rejects_it(ctx, conn, host,
                      f"a closed TCP port answers a SYN with a RST; an {icmp_word(conn)} port "
                      "unreachable to a TCP SYN comes from a reject rule, such as "
                      f"{tables}' REJECT or nft's reject")


def refusal_causes(ctx: Context, conn: Connection) -> str:
    """Why the endpoint refused the SYN: a filter's reject, or nothing listening (the
    port in use: Backup Exec's consequence named only in its profile) or a reject; a
    device between the hosts when the reject came from it (rejecting_device). Then, when
    the responder first answered the SYN with an earlier connection's ACK, that
    (flowcheck.verify.stale_tuple: the refusal is its SYN again's)."""
    return _causes(ctx, conn) + stale_words(ctx, conn)


def _causes(ctx: Context, conn: Connection) -> str:
    """refusal_causes' words for a refused opening: who answered its SYN (the originator's
    own stack, a device between, the responder) and what the answer says."""
    if own_stack_refused(conn):
        return (f"{conn.orig_h} could not send the SYN to "
                f"{endpoint(conn.resp_h, conn.resp_p)}: {own_refusal_words(conn)}")
    device = rejecting_device(conn)
    if device is not None:
        return device_words(conn, device)
    if (in_name := refused_in_name(ctx, conn)) is not None:
        return in_name.words
    if refused_between(ctx, conn):  # two capture points (trial 26 D5)
        return refused_between_words(conn)
    cause = icmp_cause(ctx, conn)
    if cause is not None and conn.icmp_sender not in (None, conn.resp_h):
        return (f"the SYN to {endpoint(conn.resp_h, conn.resp_p)} was answered with "
                f"{refusal_how(conn)}, not by {conn.resp_h}: {cause}")
    if cause is not None:
        return (f"{endpoint(conn.resp_h, conn.resp_p)} answered the SYN with "
                f"{refusal_how(conn)}: {cause}")
    rst = undecremented_reset(ctx, conn)
    hedge = "" if rst is None else undecremented_words(conn, rst)[:-1]
    if (ann := announced_bound(ctx, conn)) is not None:
        # Its listener had bound the port: not "in use" (newuser61 6).
        return (f"{endpoint(conn.resp_h, conn.resp_p)} answered the SYN with "
                f"{refusal_how(conn)}: {bound_words(conn, ann)}{'.' if hedge else ''}{hedge}")
    if not ctx.profile.backup_exec:
        return (f"{endpoint(conn.resp_h, conn.resp_p)} answered the SYN with "
                f"{refusal_how(conn)}: either nothing listens there (the listener could not "
                "bind the port because it was already in use, or had stopped), or a firewall "
                f"rejects it{'.' if hedge else ''}{hedge}")
    # The resource-skip consequence is a data connection's: a refused callback ends the
    # whole job (trial 19 D7).
    skip = (" (Backup Exec then skips the resource and the job fails with \"Communication "
            "Failure has occurred between the Job Engine and Remote Agent\")"
            if conn.role != "callback" else "")
    return (f"{endpoint(conn.resp_h, conn.resp_p)} answered the SYN with {refusal_how(conn)}: "
            f"either nothing listens there because the port was already in use{skip}, or a "
            f"firewall rejects it{'.' if hedge else ''}{hedge}")


def callback_refused_fix(ctx: Context, conn: Connection, session: Session) -> str:
    """The fix of callback_refused: the port in use or a firewall's reject."""
    return refused_fix(ctx, conn, session) or (
        f"If the port was in use: {port_holder(ctx, conn, 'media')}; if a firewall rejects "
        f"it, {allow_rule(ctx, conn, session)}.{_hedge_fix(ctx, conn, session)}")


def data_refused_fix(ctx: Context, conn: Connection, session: Session) -> str:
    """The fix of data_refused: the port in use or a firewall's reject; where its listener
    had bound the port (bound_port.announced_bound), the reject or the listener stopped."""
    which = ctx.host_role(conn.resp_h) or \
        ("agent" if ctx.config.in_agent_range(conn.resp_p) else "media")
    if (ann := announced_bound(ctx, conn, session)) is not None and \
            not refused_fix(ctx, conn, session):
        # Its listener had bound the port: nothing held it (newuser61 6).
        return (bound_fix(conn, ann, allow_rule(ctx, conn, session))
                + f".{_hedge_fix(ctx, conn, session)}")
    return refused_fix(ctx, conn, session) or (
        f"If the port was in use: {port_holder(ctx, conn, which)}; if a firewall "
        f"rejects it: {allow_rule(ctx, conn, session)}.{_hedge_fix(ctx, conn, session)}")


def refusal_allows(conn: Connection, ruled: bool = True) -> Allows | None:
    """Finding.allows of a refusal's fix (refused_fix's, device_fix's,
    callback_refused_fix's, data_refused_fix's): rule_allows(conn), each of their rules
    being for conn; None for the own stack's routing reading (the neighbour and the
    route to check, no rule: own_unreachable.own_stack_fix) and when `ruled` is False
    (refused_fix's "" for a RST or another ICMP code)."""
    if not ruled or (own_stack_refused(conn) and routing_unreachable(conn) is not None):
        return None
    return rule_allows(conn)


def _hedge_fix(ctx: Context, conn: Connection, session: Session) -> str:
    """undecremented_fix when the RST's TTL calls for it, else ""."""
    return "" if undecremented_reset(ctx, conn) is None else \
        undecremented_fix(ctx, conn, session)


def port_holder(ctx: Context, conn: Connection, which: str) -> str:
    """How to free the refused port: find what holds it on its host (Windows and Linux
    commands), and widen the `which` range when the user set it (trial 20 D5 c: "free it
    or widen the range" named no host, no port, no command)."""
    port = conn.resp_p
    widen = (f", or widen {ctx.ranges(which)} so each resource gets its own port"
             if which not in ctx.config.default_ranges() else "")
    return (f"on {conn.resp_h} find what holds TCP port {port} and stop it (Windows: "
            f"`netstat -ano | findstr :{port}`, then `tasklist /FI \"PID eq <PID>\"`; "
            f"Linux: `ss -tanp 'sport = :{port}'`){widen}")


def refused_fix(ctx: Context, conn: Connection, session: Session,
                in_name: InName | None = None) -> str:
    """The fix of a reject only a filter or a device between the hosts sends: the allow
    rule on the device between the hosts that sent it (rejecting_device, or one whose
    TTL shows it refused in the responder's name: refused_in_name), or on the filter (an
    administratively prohibited code from elsewhere, or one, a port unreachable or a
    routing code from the responder itself: its reject rule, or a bridge firewall's in
    front of it unless the capture shows the reject leaving it, verify.own_reject; a RST
    to a SYN that never reached the other capture point of two: refused_between); for a
    routing code from a router, its route to the host first; "" for a RST or another
    ICMP code (the port in use, or a firewall: the caller's words). in_name: the
    refusal's refused_in_name when the caller found it for its message (not None), so
    it is not found again; None: found here."""
    if own_stack_refused(conn):
        return own_stack_fix(ctx, conn, session, routing_unreachable(conn) is not None)
    rejecting = rejecting_device(conn)
    if rejecting is not None:
        return device_fix(ctx, conn, session, str(rejecting))
    device = None
    if in_name is None:
        in_name = refused_in_name(ctx, conn)
    if in_name is not None:
        device = in_name.device
    elif refused_between(ctx, conn):
        device = BETWEEN
    if device is not None:
        rule = allow_rule(ctx, conn, session, device=device)
        return f"{capitalised(rule)}."
    rule = allow_rule(ctx, conn, session)
    own = conn.icmp_sender == conn.resp_h
    if prohibited(conn) and not own:
        return f"{capitalised(rule)} (the firewall or filter that sent the reject)."
    routing = routing_unreachable(conn) is not None
    if port_unreachable(conn) or prohibited(conn) or (routing and own):
        host = conn.icmp_sender or conn.resp_h
        return (f"{capitalised(rule)}: the reject rule is in "
                f"{rule_place(ctx, conn, host)}, so the allow rule must come before it "
                "there.")
    if routing and conn.icmp_sender is None:
        return (f"{capitalised(rule)} (the firewall that sent the reject); if none "
                f"rejects it, check the route to {conn.resp_h} and that it is up.")
    if routing:
        router = conn.icmp_sender
        device_rule = allow_rule(ctx, conn, session, device=device_name(str(router)))
        return (f"Check that {router} reaches {conn.resp_h} (its route to it, and "
                f"{conn.resp_h} up and answering on its network: `ping {conn.resp_h}` from "
                f"there); if {router} rejects the connection on purpose, {device_rule}.")
    return ""
