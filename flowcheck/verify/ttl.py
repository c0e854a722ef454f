"""What the IP TTLs (IPv6 hop limits) of the captured packets tell: whose RST a RST was,
and which host the capture was taken on.

A host sends its packets with an initial TTL (64 Linux and macOS, 128 Windows, 255 some
network OSes) and each router on the way takes one off (RFC 791 3.1, RFC 8200 3), so all
of one host's packets of a connection reach the capture point with the same TTL while
the route stays. A RST a device between the hosts injects in a host's name (a firewall's
"reject with tcp reset", a NAT or IPS that lost the state) leaves the device with the
device's own TTL: when it differs from the TTL of that host's own packets, the device
sent it (the classic check: Wireshark's and Zeek's users read ip.ttl so). When it is
the same, the host sent it itself, unless a device copies the TTL (rare) or sits on the
same network segment with the same initial TTL.

A capture taken on a host sees that host's packets with its initial TTL and the peer's
lower by the routers between; equal TTLs (the same segment, no router) or two lowered
ones (a capture point between) tell nothing. Read from Connection.orig_ttl / resp_ttl
(each side's first packet), SideEvidence.rst_ttl, ttl_before_rst (the side's last
packet before its RST) and ttl_moved (its TTL's latest change) (flowcheck.connections).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from flowcheck.model import Connection, other_direction
from flowcheck.model.traffic import INITIAL_TTLS, hops_travelled

if TYPE_CHECKING:
    from flowcheck.verify.context import Context



def own_ttl(conn: Connection, side: str) -> int | None:
    """The TTL of side's ("orig", "resp") own packets: its first packet's, None if none."""
    return conn.orig_ttl if side == "orig" else conn.resp_ttl


def reset_ttls(ctx: Context, conn: Connection, side: str) -> tuple[int, int] | None:
    """(the TTL of side's first RST, of side's own packets then) when both are known: its
    last packet's before the RST (SideEvidence.ttl_before_rst), else its first packet's.
    The packet just before, since a route that changed mid-connection (a router more or
    less: trial 37c D2) moves the TTL of all of the host's later packets, its RST's too.
    And a connection idle while the route changed holds no packet after it: when a
    connection between the same two hosts saw the host's TTL change (route_ttl_at), the
    TTL that change says the host's packets had at the RST is its own then (field
    check 41)."""
    evidence = conn.evidence(side)  # type: ignore[arg-type]
    rst, own = evidence.rst_ttl, evidence.ttl_before_rst
    if own is None:
        own = own_ttl(conn, side)
    if rst is None or own is None:
        return None
    host, peer = conn.host(side), conn.host(other_direction(side))
    if conn.rst_ts is not None:
        then = route_ttl_at(ctx, host, peer, conn.rst_ts)
        if then is not None:
            own = then
    if rst != own and rst in alternating_ttls(ctx, host, peer):
        own = rst  # its packets take two paths: both TTLs are its own (multipath trial)
    return rst, own


def alternating_ttls(ctx: Context, host: str, peer: str) -> set[int]:
    """The TTLs host's packets to peer arrive with on a connection between them whose TTL
    changed more than once (its latest change SideEvidence.ttl_moved came from a TTL
    other than its first packet's: it went and came back, or moved twice): packets
    balanced over paths of unequal length, or a route that flaps. Either TTL is the
    host's own then; empty when no connection shows that."""
    found: set[int] = set()
    for _conn, first, (_, before, after) in _moves(ctx, host, peer):
        if first is not None and before != first:
            found.update((first, before, after))
    return found


def route_ttl_at(ctx: Context, host: str, peer: str, when: float) -> int | None:
    """The TTL host's packets to peer arrived with at `when` (seconds, capture clock) by
    the latest change of it seen on a connection between them that opened by then
    (SideEvidence.ttl_moved: the TTL after a change at or before `when`; before one after
    it, which the packets had until then); None when none changed (_moves)."""
    best: tuple[float, int] | None = None
    for c, _, (at, before, after) in _moves(ctx, host, peer):
        if c.ts > when:
            continue
        seen = (at, after) if at <= when else (when, before)
        if best is None or seen[0] > best[0]:
            best = seen
    return None if best is None else best[1]


def _moves(ctx: Context, host: str, peer: str
           ) -> Iterator[tuple[Connection, int | None, tuple[float, int, int]]]:
    """(connection, host's first TTL on it, its SideEvidence.ttl_moved) for each
    connection between host and peer on which host's TTL changed. A side with capture
    copies is left out: two capture points' packets differ by their routers, not by a
    route that changed."""
    for c in ctx.between(host, peer):
        side = "orig" if c.orig_h == host else "resp"
        moved = c.evidence(side).ttl_moved  # type: ignore[arg-type]
        if moved is not None and not (c.orig_copy_bytes if side == "orig"
                                      else c.resp_copy_bytes):
            yield c, own_ttl(c, side), moved


def own_ttls(ctx: Context, host: str, peer: str) -> set[int]:
    """The TTLs host's own packets (none a RST: Connection.orig_ttl / resp_ttl) to peer
    arrived with, over every connection between them; empty when none is captured."""
    return _host_ttls(ctx).get((host, peer), set())


def apart_from_own(ctx: Context, conn: Connection, ttl: int) -> int | None:
    """The TTL every other packet of conn's responder to its originator arrived with
    (own_ttls, one value) when `ttl`, that of a packet in the responder's name refusing
    the SYN (a RST, an ICMP reject from its address), is not it: a device between the
    hosts may have sent that packet. None when the responder's TTLs are unknown or
    several, `ttl` is among them, or the packet crossed more routers than those packets
    (then they were a nearer device's, a SYN proxy's SYN-ACKs: flowcheck.sessions.
    syn_proxy; field check trial 37b, and the packet is the responder's)."""
    own = own_ttls(ctx, conn.resp_h, conn.orig_h)
    if len(own) != 1 or ttl in own:
        return None
    reference = next(iter(own))
    return None if hops_travelled(ttl) > hops_travelled(reference) else reference


def ttl_word(host: str) -> str:
    """"TTL" for an IPv4 host, "hop limit" for an IPv6 one (RFC 8200 3: IPv6 has no TTL;
    trial 28 D5)."""
    return "hop limit" if ":" in host else "TTL"


def forged_words(host: str, rst: int, own: int) -> str:
    """"its TTL 64, where 10.77.0.2's own packets arrive with 63": the mark of a RST a
    device sent in host's name."""
    return f"its {ttl_word(host)} {rst}, where {host}'s own packets arrive with {own}"


def _host_ttls(ctx: Context) -> dict[tuple[str, str], set[int]]:
    """Per (sender host, receiver host), the TTLs its connections' first packets arrived
    with (built once per Context)."""
    if ctx.proofs.host_ttls is None:
        table: dict[tuple[str, str], set[int]] = defaultdict(set)
        for c in ctx.connections:
            if c.orig_ttl is not None:
                table[(c.orig_h, c.resp_h)].add(c.orig_ttl)
            if c.resp_ttl is not None:
                table[(c.resp_h, c.orig_h)].add(c.resp_ttl)
        ctx.proofs.host_ttls = dict(table)
    return ctx.proofs.host_ttls


def capture_host(ctx: Context, a: str, b: str) -> tuple[str, int, int] | None:
    """The host of a and b the capture was taken on (or on its network segment) when the
    TTLs show it: (that host, its packets' TTL, the other's), where every connection
    between them brought the host's packets with one initial TTL (INITIAL_TTLS) and the
    other's with one TTL below any initial one (routers between). None when they do not
    tell (one side never sent, equal TTLs, both lowered, or a route that changed)."""
    table = _host_ttls(ctx)
    mine, theirs = table.get((a, b)), table.get((b, a))
    if not mine or not theirs or len(mine) != 1 or len(theirs) != 1:
        return None
    ttl_a, ttl_b = next(iter(mine)), next(iter(theirs))
    if ttl_a in INITIAL_TTLS and ttl_b not in INITIAL_TTLS:
        return a, ttl_a, ttl_b
    if ttl_b in INITIAL_TTLS and ttl_a not in INITIAL_TTLS:
        return b, ttl_b, ttl_a
    return None


def taken_on_words(found: tuple[str, int, int], other: str) -> str:
    """"or on its network segment: 10.77.1.2's packets arrive with TTL 64, an initial
    value, and 10.77.0.1's with 63: a router between them" for capture_host's answer
    `found` (other: the other host), said after "taken on 10.77.1.2"; the routers
    counted from the initial TTL next above the other's. The TTLs cannot tell the host
    from a point on its segment before the first router (a router's own interface
    there, a SPAN port of its switch: trial 26 D10)."""
    host, mine, theirs = found
    routers = routers_words(found)
    return (f"or on its network segment: {host}'s packets arrive with {ttl_word(host)} "
            f"{mine}, an initial value, and {other}'s with {theirs}: {routers} between them")


def initial_both_ways(ctx: Context, a: str, b: str) -> bool:
    """Did every connection between a and b bring both hosts' packets with an initial
    TTL (INITIAL_TTLS)? One capture point sees that only with no router between the
    hosts; two points given together, one on each host, always (each host's packets are
    first seen at its own point)."""
    table = _host_ttls(ctx)
    mine, theirs = table.get((a, b)), table.get((b, a))
    return bool(mine) and bool(theirs) and (mine | theirs) <= set(INITIAL_TTLS)


def routers_words(found: tuple[str, int, int]) -> str:
    """"a router" / "2 routers": the hops between the hosts for capture_host's answer,
    counted from the initial TTL next above the other host's."""
    theirs = found[2]
    hops = min(initial for initial in INITIAL_TTLS if initial > theirs) - theirs
    return "a router" if hops == 1 else f"{hops} routers"
