"""What an announced data address that is not the listener's control address is, when
the capture tells more than "another address" (flowcheck.verify.addresses):

- the unspecified address 0.0.0.0 (INADDR_ANY): the wildcard the listener's socket is
  bound to, announced instead of an address of its own (a known bug of NDMP agents on
  multi-homed hosts): it names no host, and a connect to it reaches the connecting host
  itself (Linux, BSD), off the wire;
- a loopback address (127.0.0.0/8, ::1): whichever host connects to it reaches itself.
  An agent announces one when it takes its data address from its host name and that
  resolves to loopback on the agent itself (Debian's "127.0.1.1 NAME" in /etc/hosts);
- another interface of the listener that the connector reaches from an address of its
  own on that network: its SYNs leave from an address other than its control
  connection's, in the announced address's network (same /24, IPv6 /64: the common LAN
  prefix; a capture does not show netmasks), with the TTL of its own packets (no router
  between it and the capture point: its own host sent them). The address is reachable
  then; a firewall on that interface or on the way drops the connection
  (data_unanswered and its rule, not "the address is the fault": trial 19 D3).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from flowcheck.frame_names import frame_text
from flowcheck.model import Announcement, Connection, Session, connection_ends, endpoint
from flowcheck.sessions import listener_host
from flowcheck.sessions.local import ip_version, is_loopback, other_version
from flowcheck.verify.context import Context
from flowcheck.verify.shared import listened_at
from flowcheck.verify.ttl import ttl_word

Special = Literal["unspecified", "loopback"]

# A loopback connection this long before its announcement is still taken as the
# connector's attempt to it (two interfaces merged: flowcheck.sessions.matching's jitter).
_JITTER_SECONDS = 0.005


def special(ip: str) -> Special | None:
    """"unspecified" for 0.0.0.0 / ::, "loopback" for 127.0.0.0/8 / ::1, else None."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if address.is_unspecified:
        return "unspecified"
    return "loopback" if is_loopback(ip) else None


def special_words(ip: str) -> str:
    """" (the unspecified address)" / " (a loopback address)" for a step's detail; ""
    for any other address."""
    kind = special(ip)
    return {"unspecified": " (the unspecified address)",
            "loopback": " (a loopback address)"}.get(kind or "", "")


def listener_end(ann: Announcement, conn: Connection) -> str:
    """The address of `conn`'s end at the announced port: its responder's, or its
    originator's when the sniffer lost the handshake and the listener sent the first
    packet the capture holds (sessions.matching: trial 25 D1, newuser58)."""
    return conn.orig_h if conn.orig_p == ann.port != conn.resp_p else conn.resp_h


def reached_over_other_version(session: Session, conn: Connection) -> Announcement | None:
    """The announcement `conn` reached at its port under the listener's control address
    over the other IP version (an IPv4 address announced beside a control connection
    over IPv6: NDMP v4's NDMP_ADDR_TCP holds IPv4 only, so the connector took the
    control connection's address: trial 28 D4); None for any other connection."""
    return next((a for a in session.announced if a.used_by == conn.uid
                 and other_version(a.ip, listener_end(a, conn))), None)


def other_version_words(ann: Announcement, conn: Connection) -> str:
    """"over IPv6 at fd77::2, the agent's control connection address: DATA_LISTEN (frame
    21) announced 10.77.0.2:6001, and NDMP v4 TCP addresses are IPv4 only (dual-stack
    hosts, no NAT)" for a connection reached_over_other_version accepts."""
    listener = "the agent" if ann.listener == "data" else "the media server"
    # 0.0.0.0 says "where the control connection came from", nothing of the hosts' IPv4
    # addresses (an IPv6-only agent announces it too).
    why = (" (the unspecified address: the control connection's address stands for it)"
           if special(ann.ip) == "unspecified" else
           ", and NDMP v4 TCP addresses are IPv4 only (dual-stack hosts, no NAT)")
    host = listener_end(ann, conn)
    return (f"over IPv{ip_version(host)} at {host}, {listener}'s control "
            "connection address: "
            f"{ann.message.removeprefix('NDMP_')} ({frame_text(ann.frame)}) announced "
            f"{endpoint(ann.ip, ann.port)}{why}")


def loopback_attempts(ctx: Context, ann: Announcement) -> list[Connection]:
    """The connections on a host's own loopback to the announced port from the
    announcement on (a capture that holds the connector's lo: tcpdump -i any): its
    attempt to a 0.0.0.0 or loopback endpoint."""
    return [c for c in ctx.connections if is_loopback(c.orig_h) and is_loopback(c.resp_h)
            and c.resp_p == ann.port and c.ts >= ann.ts - _JITTER_SECONDS]


def _attempt_words(connector: str, attempts: list[tuple[Connection, str]]) -> str:
    """"; the media server 10.77.0.1's own attempt is in the capture, on its loopback
    (C3 127.0.0.1:5002 -> 127.0.0.1:6001, refused): ..." ("" without attempts);
    attempts: (connection, its outcome: flowcheck.verify.evidence.judged)."""
    if not attempts:
        return ""
    listed = ", ".join(f"{c.uid} {connection_ends(c)}, {outcome.replace('_', ' ')}"
                       for c, outcome in attempts)
    return (f"; {connector}'s own attempt is in the capture, on its loopback ({listed}): "
            "the agent never saw it")


def special_message(ann: Announcement, listener: str, connector: str, host: str,
                    attempts: list[tuple[Connection, str]]) -> str:
    """The announced_address_mismatch message for a 0.0.0.0 or loopback announcement;
    attempts: the connector's captured attempts to it with their outcomes."""
    op = ann.message.removeprefix("NDMP_")
    where = endpoint(ann.ip, ann.port)
    seen = _attempt_words(connector, attempts)
    if not seen:
        seen = (f"; no connection to it was seen: {connector}'s attempt stays on its own "
                "host, off the wire")
    if special(ann.ip) == "unspecified":
        return (f"{op} ({frame_text(ann.frame)}) announced {where} for the data connection: "
                f"{ann.ip} is the unspecified address (INADDR_ANY), the wildcard "
                f"{listener}'s listener is bound to, not an address of {listener}: it names "
                f"no host, and a connect to it reaches the connecting host itself, so "
                f"{connector} cannot reach {listener} there (the control connection reached "
                f"{listener} at {host}){seen}.")
    return (f"{op} ({frame_text(ann.frame)}) announced {where} for the data connection, a "
            f"loopback address: it names whichever host connects to it, so {connector} "
            f"connects to itself, not to {listener} (the control connection reached "
            f"{listener} at {host}){seen}. {listener.capitalize()} most likely takes the "
            "address it announces from its host name, which resolves to a loopback "
            f"address on {listener} itself.")


def special_fix(ip: str, listener: str, connector: str, host: str) -> str:
    """The fix for a 0.0.0.0 or loopback announcement: on the listener's side."""
    setting = ("set its data interface / preferred network (Backup Exec: the agent's "
               "preferred network, \"Backup To Network Card\"; NDMP filers: the NDMP "
               "preferred interface)")
    tail = " Opening firewall ports for the data range does not help."
    if special(ip) == "unspecified":
        return (f"Make {listener} announce an address of its own that {connector} reaches "
                f"it on ({host}), not its wildcard bind: {setting}; if {listener} "
                "announces 0.0.0.0 whatever its settings, it needs its vendor's fix." + tail)
    return (f"On {listener} ({host}), make its host name resolve to the address "
            f"{connector} reaches it on ({host}), not to a loopback address (/etc/hosts: a "
            "'127.0.1.1 NAME' or '127.0.0.1 NAME' line; on Windows the hosts file), or "
            f"{setting} to {host}." + tail)


def _same_network(a: str, b: str) -> bool:
    """Are a and b in one /24 (IPv4) or /64 (IPv6)?"""
    try:
        first, second = ipaddress.ip_address(a), ipaddress.ip_address(b)
    except ValueError:
        return False
    if first.version != second.version:
        return False
    prefix = 24 if first.version == 4 else 64
    return (ipaddress.ip_network(f"{a}/{prefix}", strict=False)
            == ipaddress.ip_network(f"{b}/{prefix}", strict=False))


def own_address_on_it(ctx: Context, session: Session, conn: Connection,
                      ann: Announcement) -> tuple[str, int] | None:
    """(the connector's control address, its packets' TTL) when conn, an attempt to the
    announced address, left from another address of the connector on the announced
    network (see the module docstring); None otherwise."""
    control = ctx.by_uid[session.control_uid]
    mine, ttl = ((control.orig_h, control.orig_ttl) if ann.listener == "data"
                 else (control.resp_h, control.resp_ttl))
    if (conn.orig_h == mine or ttl is None or conn.orig_ttl != ttl
            or special(ann.ip) or not _same_network(conn.orig_h, ann.ip)):
        return None
    return mine, ttl


def other_interface(ctx: Context, session: Session, ann: Announcement) -> str | None:
    """The listener's control address when the announcement names another, ordinary
    address (not 0.0.0.0 nor loopback): most likely another interface of the listener;
    None otherwise."""
    control = ctx.by_uid[session.control_uid]
    host = listened_at(ctx, session, ann) or listener_host(ann, control)
    return host if ann.ip != host and special(ann.ip) is None else None



def other_nic_words(ctx: Context, session: Session, ann: Announcement, conn: Connection,
                    own: tuple[str, int]) -> str:
    """data_unanswered's words for an attempt own_address_on_it accepts (own: its
    answer). Unanswered SYNs show no direction: their drop or their SYN-ACKs' (field
    check 78, seed 141 run 17: "drops IPv4 to it" where the agent's own output dropped
    its SYN-ACKs)."""
    mine, ttl = own
    listener, connector = (("the agent", "the media server") if ann.listener == "data"
                           else ("the media server", "the agent"))
    host = other_interface(ctx, session, ann)
    op = ann.message.removeprefix("NDMP_")
    if host is not None and other_version(ann.ip, host):
        return (f" {ann.ip} is {listener}'s IPv4 address: the control connection reached "
                f"{listener} over IPv6 at {host}, and NDMP v4 TCP addresses are IPv4 only, "
                f"so {listener} announced its IPv4 address ({op}, {frame_text(ann.frame)}); "
                f"{connector} reaches it from {conn.orig_h}, an IPv4 address of its own (its "
                f"SYNs carry TTL {ttl}, as its own packets do: no router between), so the "
                f"address is reachable: a firewall on {listener} or on the way drops these "
                "IPv4 connections, their SYNs or the SYN-ACKs on the way back (rules for the "
                "IPv6 addresses alone do not let them through).")
    return (f" {ann.ip} is another interface of {listener} than the one the control "
            f"connection reached ({host}; {op}, {frame_text(ann.frame)}, announced it), and "
            f"{connector} reaches that network from {conn.orig_h}, an address of its own on "
            f"it (not its control connection's {mine}; its SYNs carry {ttl_word(conn.orig_h)} "
            f"{ttl}, as its own "
            "packets do: no router between), so the address is reachable: a firewall on "
            "that interface (a per-interface profile, such as Windows' Public profile on a "
            "second NIC) or on the way drops the connection.")


def other_nic_fix(ctx: Context, session: Session, ann: Announcement) -> str:
    """The note data_unanswered's fix adds for an attempt own_address_on_it accepts."""
    listener = "the agent" if ann.listener == "data" else "the media server"
    host = other_interface(ctx, session, ann)
    if host is not None and other_version(ann.ip, host):
        return (f" NDMP v4 cannot announce {host} (an IPv6 address): a connection to the "
                "announced address runs over IPv4, so the rules must name the IPv4 "
                "addresses too.")
    return (f" If the data should not use that interface, make {listener} announce "
            f"{host} instead (its data interface / preferred network).")
