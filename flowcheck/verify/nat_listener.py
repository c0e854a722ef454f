"""An announced address the configuration gives the listener, while the control connection
reached the listener under another (new-user trial 31, D1).

A NAT between the hosts that translates the listener's connections (a router
masquerading the media server's traffic: the agent sees it as the router's address)
leaves the address inside the NDMP message as it was: the announcement names the
listener's own address, and where the network routes it (a routed NAT, as in trial 31's
lab) the connector's SYNs reach the listener. When the configuration names that address
as the listener's (media_servers for a mover, remote_agents for a data service) and the
connector's SYNs to it went unanswered, the capture cannot tell a firewall that drops
them (the NAT device's forward chain among them) from a network that does not route the
address: the failure is data_unanswered, the firewall rule first, the NAT and the route
a note. It read announced_address_mismatch, "the announced address is the fault ...
opening firewall ports does not help", and told the media server to announce the
router's address; the same NAT without the drop rule passes (trial 31 snat-good). An
announced address the configuration does not give the listener stays
announced_address_mismatch (flowcheck.verify.addresses): it may be an inside address the
connector's side cannot reach. Nor does it when every packet between the hosts arrives
with its sender's initial TTL (flowcheck.verify.ttl.initial_both_ways): no router between
them, so no NAT; the listener announced another interface of its own (a multi-homed
agent with both addresses configured), and the address is the fault.
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Announcement, Session
from flowcheck.sessions import listener_host
from flowcheck.sessions.local import other_version
from flowcheck.verify.announced_kind import special
from flowcheck.verify.capture_points import copied_pairs
from flowcheck.verify.context import Context
from flowcheck.verify.shared import listened_at
from flowcheck.verify.ttl import initial_both_ways


def configured_listener(ctx: Context, session: Session, ann: Announcement) -> str | None:
    """The address the control connection reached the listener at when `ann` names
    another address that the configuration gives the listener's role (media_servers for
    the mover, remote_agents for the data service: the session's own peer, not a
    three-way job's other agent); None otherwise, for 0.0.0.0, loopback and an IPv4
    announcement reached over IPv6 (flowcheck.verify.announced_kind), and when the TTLs
    show no router between the control connection's hosts (no NAT: another interface)."""
    if special(ann.ip) or listened_at(ctx, session, ann) is not None:
        return None
    control = ctx.by_uid[session.control_uid]
    if _no_router_between(ctx, control.orig_h, control.resp_h):
        return None
    host = listener_host(ann, control)
    configured = (ctx.config.media_servers if ann.listener == "mover"
                  else ctx.config.remote_agents)
    if ann.ip == host or ann.ip not in configured or other_version(ann.ip, host):
        return None
    return host


def _no_router_between(ctx: Context, a: str, b: str) -> bool:
    """Do the TTLs show no router between a and b: both hosts' packets with an initial
    TTL in a capture of one capture point (two points given together, one on each host,
    see initial TTLs whatever lies between: flowcheck.verify.capture_points)?"""
    copied = copied_pairs(ctx)
    return (initial_both_ways(ctx, a, b)
            and (a, b) not in copied and (b, a) not in copied)


def _roles(ctx: Context, session: Session, ann: Announcement) -> tuple[str, str, str]:
    """(listener words, connector words, the listener's configuration flag)."""
    control = ctx.by_uid[session.control_uid]
    if ann.listener == "mover":
        return "the media server", f"the agent {control.resp_h}", "--media-server"
    return "the agent", f"the media server {control.orig_h}", "--remote-agent"


def nat_words(ctx: Context, session: Session, ann: Announcement, host: str) -> str:
    """data_unanswered's note for an attempt to a configured_listener announcement:
    " DATA_CONNECT (frame 11) announced 10.77.0.1, the media server's address as
    configured (--media-server), while the control connection reached it at 10.77.1.254
    ...: a NAT ..., or another interface of it. The agent 10.77.1.2 sent its SYNs to the
    media server's own address, so ...". host: the listener's control address."""
    listener, connector, flag = _roles(ctx, session, ann)
    configured = (ctx.config.media_servers if ann.listener == "mover"
                  else ctx.config.remote_agents)
    known = ("configured as its address too" if host in configured else
             "an address the configuration does not give it: host_not_configured")
    op = ann.message.removeprefix("NDMP_")
    return (f" {op} ({frame_text(ann.frame)}) announced {ann.ip}, {listener}'s address as "
            f"configured ({flag}), while the control connection reached {listener} at "
            f"{host} ({known}): most likely a NAT between the hosts shows {listener} as "
            f"{host} (NDMP carries the announced address inside its message, untranslated), "
            f"or {host} is another interface of it. {connector[0].upper()}{connector[1:]} "
            f"sent its SYNs to {listener}'s own address, so the announcement is not what failed: a "
            "firewall on the way drops them (the NAT device's forward rules among them), "
            f"unless {connector}'s network has no route to {ann.ip} at all (an inside "
            "address nothing routes to from there), which looks the same in a capture.")


def nat_fix(ctx: Context, session: Session, ann: Announcement, host: str) -> str:
    """The note data_unanswered's fix adds for a configured_listener announcement."""
    listener, connector, _ = _roles(ctx, session, ann)
    return (f" If {connector}'s network has no route to {ann.ip} ({listener}'s inside "
            f"address behind the NAT that shows it as {host}), give it one, or use "
            "NDMP-aware translation (a gateway that rewrites the address inside "
            "DATA_LISTEN / MOVER_LISTEN replies) or connect them without NAT.")
