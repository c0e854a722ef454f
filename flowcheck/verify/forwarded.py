"""A host reported unreachable on one port while it answers another: a port forward.

A router or firewall that forwards only some ports of an address to a host behind it (a
port forward, a DNAT of the NDMP port alone, the address one of the device's own or a
virtual IP) has no host for the address's other ports: it answers their SYNs with an
ICMP host unreachable (its ARP for the address gets no answer) or drops them. When that
address answers another connection at the same time (the job's control connection on
port 10000), it is neither down nor unroutable as a whole (field check trial 37b: "the
agent down, or no route" for a forward of port 10000 only). Said by the refusal findings
(flowcheck.verify.failed_data: data_refused, its message and fix), and by the fix of
announced_address_mismatch when the agent announces its own address from behind such a
forward: announcing the forwarded address needs the data range forwarded too.
"""

from __future__ import annotations

from flowcheck.model import Allows, Announcement, Connection, Session
from flowcheck.model.traffic import INITIAL_TTLS
from flowcheck.verify.allow_rules import allow_rule, rule_allows
from flowcheck.verify.context import Context
from flowcheck.verify.foreign_reset import foreign_reset
from flowcheck.verify.refusals import device_name, unreachable_router
from flowcheck.verify.ttl import ttl_word


def answered_meanwhile(ctx: Context, session: Session, conn: Connection
                       ) -> Connection | None:
    """An established connection to conn's responder address (another port), opened
    before conn's first SYN and answered by that address after it, when a router (not
    the responder) reported that address unreachable to conn (a routing code); None
    otherwise, and when the session's callback came from that address itself
    (_callback_from: the agent's own address, no device's forward; reset_meanwhile
    asks the same)."""
    if unreachable_router(conn) is None or _callback_from(ctx, session, conn.resp_h):
        return None
    return _meanwhile(ctx, conn)


def router_meanwhile(ctx: Context, session: Session, conn: Connection
                     ) -> tuple[Connection, Connection] | None:
    """(the connection its address answered meanwhile, the session's callback) when a
    router reported conn's responder unreachable (unreachable_router) while that address
    answered another port (_meanwhile) and called the media server back from itself:
    up, routed, and the agent's own address, so the router's ICMP is most likely its
    forward rules' reject with that code (newuser64: `reject with icmp type
    host-unreachable` on 6001-6100 in the router's forward chain read "a device in front
    of it that forwards only some of its ports", the port forward's fix first). None
    otherwise."""
    callback = _callback_from(ctx, session, conn.resp_h)
    if unreachable_router(conn) is None or callback is None:
        return None
    other = _meanwhile(ctx, conn)
    return None if other is None else (other, callback)


def _callback_from(ctx: Context, session: Session, host: str) -> Connection | None:
    """The session's callback when it came from `host`; None else (no callback, or one
    from another address)."""
    callback = ctx.by_uid.get(session.callback_uid or "")
    return callback if callback is not None and callback.orig_h == host else None


def router_reject_words(conn: Connection, other: Connection, callback: Connection) -> str:
    """The sentence for router_meanwhile's connections: the address reached, so the
    router's reject; the ICMP's sender by its source address and, where an initial value,
    its TTL (one a router next to the capture point sent)."""
    router = conn.icmp_sender
    ttl = conn.icmp_ttl
    word = ttl_word(str(router))
    sent = (f" (with {word} {ttl}, an initial value: the first router from the capture "
            "point)" if ttl in INITIAL_TTLS else
            f" (with {word} {ttl})" if ttl is not None else "")
    return (f" Yet {conn.resp_h} answered {other.uid} on port {other.resp_p} at the same "
            f"time and the agent's callback ({callback.uid}) came from {conn.resp_h} "
            f"itself, so it is up and routed, and most likely the agent's own address, "
            "not a device's that forwards some of its ports (such a device would also "
            "have to give the agent's own connections its address, a source NAT to it, "
            "which the capture cannot tell from the agent's own): the router "
            f"{router} that sent the ICMP"
            f"{sent} most likely rejects the connection on purpose with that code (a "
            "reject rule in its forward chain, such as nft's `reject with icmp type "
            "host-unreachable`).")


def router_reject_fix(ctx: Context, session: Session, conn: Connection,
                      other: Connection) -> str:
    """The fix for router_meanwhile's reading (`other`: the connection conn's address
    answered meanwhile): the allow rule in the forward chain of the router that sent the
    ICMP (device_name), then its route to the host if no rule there rejects it
    (refusals.refused_fix's routing reading, second: it led with it), last the port
    forward a device that also gives the agent's connections its address would lack
    (review62e: the capture cannot tell that address from the agent's own)."""
    router = str(conn.icmp_sender)
    rule = allow_rule(ctx, conn, session, device=device_name(router))
    return (f"{rule[:1].upper()}{rule[1:]}, before the rule there that rejects it; if "
            f"none does, check that {router} reaches {conn.resp_h} on those ports (its "
            f"route and neighbour entry for it: `ping {conn.resp_h}` from there). If "
            f"{conn.resp_h} is a device's address that forwards port {other.resp_p} to the "
            "agent and gives the agent's connections that address (a port forward with a "
            f"source NAT), forward {_range_words(ctx, conn)} to the agent there too.")


def reset_meanwhile(ctx: Context, session: Session, conn: Connection
                    ) -> tuple[Connection, Connection, tuple[int, int]] | None:
    """(the connection to conn's responder address on another port that it answered
    meanwhile, as answered_meanwhile finds it; the session's callback; the RST's TTL and
    that of the address's other packets, foreign_reset's) when conn, to the
    address the session's control connection reached the agent at, was refused by a RST
    that address did not send (verify.foreign_reset: another TTL than its own packets)
    and the callback came from another address: the control address may then be a
    device's that forwards some ports alone, its own stack resetting the others
    (captures/lab-natfix, the agent announcing the forwarded address with port 10000
    forwarded alone: it read a `reject with tcp reset` in the device's forward rules
    only, the fix an allow rule in its forward chain). None otherwise."""
    control = ctx.by_uid[session.control_uid]
    callback = ctx.by_uid.get(session.callback_uid or "")
    if (callback is None or conn.resp_h != control.resp_h or callback.orig_h == conn.resp_h
            or (ttls := foreign_reset(ctx, conn)) is None):
        return None
    other = _meanwhile(ctx, conn)
    return None if other is None else (other, callback, ttls)


def _meanwhile(ctx: Context, conn: Connection) -> Connection | None:
    """An established connection to conn's responder address on another port, opened
    before conn's first SYN and answered by that address after it; None if none."""
    start = conn.opening_ts
    # Answered: the address sent on it after this SYN (a host that went down leaves its
    # other connections open in the capture, their resends unanswered).
    return next((c for c in ctx.connections
                 if c is not conn and c.established and c.resp_h == conn.resp_h
                 and c.resp_p != conn.resp_p and c.ts <= start and _spoke_after(c, start)),
                None)


def _spoke_after(conn: Connection, start: float) -> bool:
    """Did conn's responder send on it at or after `start` (its last data packet's time,
    which every path of the engine keeps; else its last packet's, where known)?"""
    last = conn.resp_last_data[1] if conn.resp_last_data is not None else None
    if last is None or last < start:
        last = conn.resp_last_ts
    return last is not None and last >= start


def forwarded_words(conn: Connection, other: Connection) -> str:
    """The sentence for answered_meanwhile's connection `other`."""
    return (f" Yet {conn.resp_h} answered {other.uid} on port {other.resp_p} at the same "
            f"time, so it is neither down nor unroutable as a whole: a device in front of "
            f"it that forwards only some of its ports (a port forward or DNAT of port "
            f"{other.resp_p} alone, {conn.resp_h} an address of that device) answers so "
            "for the others.")


def reset_forward_words(conn: Connection, other: Connection, callback: Connection,
                        ttls: tuple[int, int]) -> str:
    """The sentence for reset_meanwhile's connections, ending with what the TTLs that
    foreign_reset_words read as "a RST {address} did not send" are in that reading: the
    address's other packets the agent's, forwarded, the RST the device's own (it said
    only "did not send" and "not ... a firewall on {address}" beside a device that is that
    address: captures/lab-natfix)."""
    rst, own = ttls
    return (f" Yet {conn.resp_h} answered {other.uid} on port {other.resp_p} at the same "
            f"time, and the agent's callback ({callback.uid}) came from {callback.orig_h}, "
            f"not from {conn.resp_h}: {conn.resp_h} may as well be a device in front of "
            f"the agent that forwards port {other.resp_p} alone (a port forward or DNAT), "
            "whose own stack resets the connections to its other ports: then the packets "
            f"from {conn.resp_h} that arrive with {ttl_word(conn.resp_h)} {own} are the "
            f"agent's, passed on by the device, and the RST with {rst} is the device's own.")


def forwarded_fix(ctx: Context, conn: Connection, other: Connection) -> str:
    """The fix's opening for answered_meanwhile's or reset_meanwhile's reading, `other`
    the connection its address answered meanwhile: forward conn's range as other's port
    is forwarded (it said "as port 10000 is" whatever the NDMP port, the message "port
    10010": tests/test_natfix.py)."""
    return (f"If {conn.resp_h} is a forwarded address (a port forward or DNAT on the "
            f"device in front of the host), forward {_range_words(ctx, conn)} to the host "
            f"too, as port {other.resp_p} is; else: ")


def _range_words(ctx: Context, conn: Connection) -> str:
    """The range conn's responder port is in, as the fixes name it ("ports 6001-6100
    (agent range)"), else "port N"."""
    return ctx.ranges("agent") if ctx.config.in_agent_range(conn.resp_p) else (
        ctx.ranges("media") if ctx.config.in_media_range(conn.resp_p) else
        f"port {conn.resp_p}")


def announce_and_forward_fix(ctx: Context, session: Session, ann: Announcement,
                             attempt: Connection | None, parties: tuple[str, str, str]
                             ) -> str:
    """The fix of announced_address_mismatch (flowcheck.verify.addresses) when the
    announced address is the agent's own (its callback came from it) and the control
    address a port forward's or NAT's of the NDMP port, the range's forward unseen (no
    connection to the control address on it). attempt: the connector's
    unanswered data connection to the announced address (None when the capture holds
    none: the rule then names the hosts and the range alone); parties: (listener words,
    connector words, the listener's control address) as addresses._parties gives them.
    Its first sentence, the headline under the verdict, names both halves: announce the
    forwarded address AND forward the agent range through the device too, or the other
    way, a route to the agent's own address without NAT (task natfix, newuser62: the
    headline said "make the agent announce ... (10.77.0.254)" alone, which still fails:
    captures/lab-natfix/port-forward-ndmp-only-agent-announces-forwarded-media.pcap; the
    range's forwarding was under "Also")."""
    listener, connector, host = parties
    port = ctx.config.ndmp_port
    data = ctx.ranges("agent")
    control = ctx.by_uid[session.control_uid]
    rule = (allow_rule(ctx, attempt, session, between=True) if attempt is not None else
            f"allow TCP from {control.orig_h} to {ann.ip} ports {data} on both hosts and "
            "on any firewall between them, and its return traffic")
    return (f"Make {listener} announce the address {connector} reaches it on ({host}) and "
            f"have the device that forwards {host}'s NDMP port {port} to {ann.ip} forward "
            f"{host}'s ports {data} to it as well, or reach {ann.ip} without NAT: give "
            f"{connector} a route to {ann.ip} and "
            f"{rule}. Announcing {host} alone "
            f"is not enough: the data connections then go to {host} and reach {listener} "
            f"only if the device forwards the data range as well as port {port}. To make "
            f"{listener} announce {host}: set "
            "its data interface / preferred network (Backup Exec: the agent's preferred "
            "network, \"Backup To Network Card\"; NDMP filers: the NDMP preferred "
            "interface); an NDMP-aware gateway (one that rewrites the address inside "
            "DATA_LISTEN replies) needs the range forwarded too.")


def forward_allows(ctx: Context, session: Session, ann: Announcement,
                   attempt: Connection | None) -> Allows:
    """Finding.allows of announce_and_forward_fix's rule: the attempt's ends
    (allow_rules.rule_allows), or, without one, the media server and the announced
    address its words name."""
    if attempt is not None:
        return rule_allows(attempt)
    return Allows((ctx.by_uid[session.control_uid].orig_h, ann.ip))
