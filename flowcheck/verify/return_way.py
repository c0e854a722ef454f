"""A capture host whose two directions with a peer cross different interfaces of it (a
Linux cooked capture v2's interface indexes: flowcheck.sources.cooked_interfaces): its
packets to the peer leave by one, the peer's arrive on another, so the way back passes
another router or link (asymmetric routing). A stateful firewall on either way sees one
direction only and drops what matches neither a new connection nor an established one
(the SYN-ACKs without their SYNs). newuser68 item 3: `tcpdump -i any` on the media
server 10.68.1.1, its packets leaving on index 2 and 10.68.2.2's arriving on index 3,
router s on the way back dropping the data SYN-ACKs: the unanswered data connection
read "a capture on 10.68.2.2 shows which way" alone. Read by flowcheck.verify.opening.
"""

from __future__ import annotations

from flowcheck.model import Connection
from flowcheck.sources.cooked_interfaces import PACKET_HOST, PACKET_OUTGOING, cooked_interfaces
from flowcheck.verify.capture_host import proven_host
from flowcheck.verify.context import Context


def split_ways(ctx: Context, sender: str,
               peer: str) -> tuple[frozenset[int], frozenset[int]] | None:
    """(the interface indexes `sender`'s packets to `peer` left by, those `peer`'s to it
    arrived on) when the Linux cooked marks prove the capture was taken on `sender`
    (verify.capture_host.proven_host, marked) and the two sets share no interface; None
    otherwise (no such proof, a direction without packets, or a way they share: a
    bridge's or VLAN's several interfaces hold both). The files are read again once per
    analysis, only when asked (Context.proofs.interfaces)."""
    if not ctx.host_marks or not ctx.capture_paths:
        return None
    on = proven_host(ctx, sender, peer)
    if on is None or not on.marked or on.host != sender:
        return None
    if ctx.proofs.interfaces is None:
        ctx.proofs.interfaces = cooked_interfaces(ctx.capture_paths)
    out = ctx.proofs.interfaces.get((sender, peer, PACKET_OUTGOING), frozenset())
    back = ctx.proofs.interfaces.get((peer, sender, PACKET_HOST), frozenset())
    if not out or not back or out & back:
        return None
    return out, back


def return_way_words(ctx: Context, conn: Connection) -> str:
    """With its leading space: that conn's originator, the capture host, sends to its
    responder by other interfaces than it receives from it on (split_ways), and what
    that means for a stateful firewall; "" when the capture does not show it."""
    ways = split_ways(ctx, conn.orig_h, conn.resp_h)
    if ways is None:
        return ""
    out, back = ways
    return (f" Its cooked headers also show the two directions on different interfaces of "
            f"{conn.orig_h}: its packets to {conn.resp_h} leave by interface index "
            f"{_indexes(out)}, {conn.resp_h}'s to it arrive on index {_indexes(back)} "
            f"(`ip link` on {conn.orig_h} names them), so the way back passes another "
            "router or link (asymmetric routing). A stateful firewall that sees one "
            "direction only would drop the SYN-ACKs (without their SYNs they match neither a "
            "new connection nor an established one): look on the devices of the way back "
            "too, and route both directions through one device or accept the replies "
            "there without connection state.")


def _indexes(indexes: frozenset[int]) -> str:
    return ", ".join(str(i) for i in sorted(indexes))
