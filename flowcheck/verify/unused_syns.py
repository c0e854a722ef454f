"""Where the SYNs to an announced endpoint no captured connection tried can have been lost
(announced_not_used, flowcheck.verify.data_links), from what the capture point can show.

A host's packet tap sees the packets it sends after its own firewall's outbound rules
(netfilter's output chain, Windows Firewall's outbound rules: docs/lab.md) and the packets
it receives before its inbound rules. So no SYN in an unfiltered capture means:
- the connecting side's own outbound rules dropped them, wherever the capture was taken
  (even a capture on that host holds none), or it never sent them (it could not bind a
  port: a port in use on its side);
- or a router, firewall or NAT between the hosts dropped them, unless the capture was
  taken on the connecting side (the TTLs or the Linux cooked marks show it:
  verify.capture_host.proven_host), where a SYN
  dropped further on would still be seen leaving;
- never the listener's own inbound rules: a capture on the listener or between the hosts
  would hold a SYN that reached them.
Field check 38: a media server whose own output chain dropped its data SYNs read only "a
firewall or NAT between the hosts", "a capture on the connecting side shows which" (it
shows none either), and the fix never named its outbound rules.
"""

from __future__ import annotations

from flowcheck.model import Announcement, Session
from flowcheck.verify.capture_host import proven_host
from flowcheck.verify.capture_host_proof import CaptureHostProof
from flowcheck.verify.capture_points import point_each_side
from flowcheck.verify.context import Context
from flowcheck.verify.shared import three_way_hosts
from flowcheck.verify.ttl import ttl_word

# Why the connector's own capture shows nothing either: said wherever its rules are named.
_BEFORE_TAP = ("a host's outbound firewall rules, netfilter's output chain or Windows "
               "Firewall's outbound rules, act before its own packet tap")


def ends(ctx: Context, session: Session, ann: Announcement) -> tuple[str, str]:
    """(connector, listener) addresses of the announcement: the agent connects to the
    mover, the media server to the data service; in a three-way job (three_way_hosts)
    the other agent. Either may be "" when the session does not know it."""
    found = three_way_hosts(ctx, session, ann)
    if found is not None and found[0] != found[1]:
        return found[0], found[1]
    if ann.listener == "mover":
        return session.remote_agent, session.media_server
    return session.media_server, session.remote_agent


def taken_on(ctx: Context, session: Session, ann: Announcement
             ) -> tuple[str, CaptureHostProof | None] | None:
    """(side, proof): the side, "connector" or "listener", the TTLs (or on its network
    segment, a router between the two) or the Linux cooked marks show the capture was
    taken on, and that proof (verify.capture_host.proven_host); for a capture set with
    a point on each side (point_each_side), ("connector", None): the connector's own
    point saw nothing leave it. The listener's side has a proof always. None when they
    do not tell."""
    connector, listener = ends(ctx, session, ann)
    if not connector or not listener:
        return None
    on = proven_host(ctx, listener, connector)
    if on is None:
        return ("connector", None) if point_each_side(ctx, listener, connector) else None
    return ("listener" if on.host == listener else "connector"), on


def never_left_words(ctx: Context, session: Session, ann: Announcement, connector: str,
                     found: CaptureHostProof | None) -> str:
    """announced_not_used's reading when the capture was taken on the connecting side
    (taken_on's "connector", with its proof `found`): no SYN left it, so only it can be
    the cause (connector: "the media server 10.77.0.1")."""
    host = ends(ctx, session, ann)[0]
    if found is not None:
        taken = f"this capture was taken on {connector} ({found.words})"
    else:  # taken_on: point_each_side
        taken = (f"the capture set holds a capture point on {connector}'s side (two points "
                 "given together, a router apart: each host's packets are in it first with "
                 f"their initial {ttl_word(host)}, then one lower: capture_duplicates)")
    return (f"{taken}, and no SYN to it left that "
            "host, so neither a router or firewall between the hosts nor the listener's "
            f"firewall is the cause: {connector} could not connect (for example it could "
            "not bind a port because the port was in use on its side), or its own outbound "
            f"rules dropped its SYNs ({_BEFORE_TAP}: this capture holds none either way)")


def never_left_fix(ctx: Context, host: str, where: str, side: str, ports: str) -> str:
    """The fix for never_left_words: the connector's outbound rules first (ports:
    the ports check, capitalised)."""
    return (f"On {host} itself, allow TCP to {where} in its outbound rules (its rule: "
            f"{ctx.ranges(side)}); its rule counters or firewall log show a drop there. "
            f"{ports}")


def dropped_before_words(connector: str) -> str:
    """The other reading of an announcement no captured connection tried, when neither
    the TTLs nor the Linux cooked marks tell the capture point (taken_on): its SYNs
    dropped before they reached it, by the connector's own outbound rules or on the
    way."""
    return (f", or {connector} did try and its SYNs were dropped before they reached the "
            "capture point: seen from the listener's side, a firewall or NAT between the "
            "hosts that drops the connection looks the same, and so do its own outbound "
            f"rules ({_BEFORE_TAP}: a capture on that host holds none either; one holds SYNs "
            "lost between the hosts leaving it)")


def dropped_first_words(connector: str, shown: str) -> str:
    """The readings of an announcement no captured connection tried, on a capture taken
    on the listener's side (shown: what shows it, taken_on's CaptureHostProof.shown): SYNs
    lost on the way first, the connector's own outbound rules as one place of it."""
    return (f"either {connector} did try and a firewall or NAT between the hosts dropped "
            "or rejected its SYNs before they reached this capture, taken on the listener's "
            f"side ({shown}), the common cause, or its own outbound rules dropped "
            "them; or it could not connect at all (for example it could not bind a port "
            "because the port was in use on its side). A capture on the connecting side "
            "shows SYNs lost between the hosts leave it; it holds none when its own "
            f"outbound rules dropped them ({_BEFORE_TAP})")


def outbound_fix(ctx: Context, connector: str, host: str, where: str, side: str,
                 never: str = "its log") -> str:
    """The part of a fix naming the connector's own outbound rules, a cause wherever the
    capture was taken when no SYN is in it (connector: "the media server 10.77.0.1",
    host: its address; never: what to check when it never sent them)."""
    return (f"If it shows none, {connector}'s own outbound rules may drop them ({_BEFORE_TAP}): "
            f"allow TCP to {where} outbound on {host} (its rule: {ctx.ranges(side)}; its "
            f"rule counters or firewall log show a drop there); else it never sent them: "
            f"{never}")
