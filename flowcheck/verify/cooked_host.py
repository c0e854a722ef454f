"""The host a Linux cooked capture was taken on, when its packet types prove it.

A capture host marks the frames it sends PACKET_OUTGOING and those addressed to its own
link-layer address PACKET_HOST (flowcheck.connections.cooked_hosts). So when a host's
SYNs, FINs and RSTs to a peer are all marked outgoing at one initial TTL (INITIAL_TTLS),
none of them also captured arriving, and the peer's to it all marked host, the capture
host sent the one's packets and received the other's: it is that host, when a SYN or FIN
is among its own (cooked_hosts.OWN_OPENING: a router or firewall rejecting with a TCP reset
sends the RST itself, outgoing at its own initial TTL, for the host it stands in for:
review 50b's router capture on bytes read "this capture was taken on" the agent, its own
firewall blamed for the router's drop). Nothing else
gives those marks: a router's `-i any` holds each packet it forwards arriving (host) and
leaving one TTL lower, a bridge's arriving other-host, two hosts' captures merged each
packet leaving one and arriving at the other, a host's `-Q out` capture merged with its
peer's the peer's packets outgoing too. The TTLs alone cannot tell the host from its
segment's other points, nor anything with no router between the hosts (flowcheck.verify.
ttl.capture_host): lab matrix seed 117 runs 3 and 11 (`tcpdump -i any` on the media
server, the data SYNs dropped by its own input chain) read "unless it was taken on
10.77.0.1 itself", the file proving it was. A pair whose peer sent nothing back at that
address (a dual-stack host's other address) is placed when the file is one host's
capture whose host another pair proves (one_host).
"""

from __future__ import annotations

from collections.abc import Callable

from flowcheck.connections.cooked_hosts import OWN_OPENING, OWN_SYN, HostMarks
from flowcheck.connections.syn_ways import (
    PACKET_HOST,
    PACKET_OUTGOING,
    marked_types,
    single_ttl,
)
from flowcheck.model.traffic import INITIAL_TTLS
from flowcheck.verify.context import Context
from flowcheck.verify.ttl import ttl_word

# How a reading finds one_host of the marks it reads: a Context's, found once
# (context_one_host); None: one_host(marks) itself, where no Context is built.
OneHost = Callable[[], "tuple[str, str] | None"]


def host_by_marks(marks: HostMarks, a: str, b: str, one: OneHost | None = None
                  ) -> str | None:
    """a or b when the set's Linux cooked marks prove the capture was taken on it (module
    docstring; marks: Context.host_marks, or where no Context is built, an unjudged
    connection's words, cooked_hosts.CookedHosts.marks, Traffic.host_marks); None when
    they do not (no marks, a host pair not marked so, or not every file a Linux cooked
    capture). one: how one_host of marks is found (None: one_host itself; a Context's
    reader passes its cached one, context_one_host)."""
    if not marks:
        return None
    for host, peer in ((a, b), (b, a)):
        if _proves(marks, host, peer):
            return host
    for host, peer in ((a, b), (b, a)):
        if ((peer, host) not in marks and _sent_by_capture_host(marks.get((host, peer)))
                and (one() if one is not None else one_host(marks)) is not None):
            return host
    return None


def context_one_host(ctx: Context) -> tuple[str, str] | None:
    """one_host of ctx.host_marks, found once per Context (Context.proofs.one_host): it walks
    every marked pair (some 20 ms at cooked_hosts.HOST_PAIRS_CAP), and a failing
    dual-stack session's readings ask it about six times. host_by_marks' and
    words_by_marks' `one` when they read ctx.host_marks (capture_host)."""
    if ctx.proofs.one_host is None:
        ctx.proofs.one_host = (one_host(ctx.host_marks),)
    return ctx.proofs.one_host[0]


def _sent_by_capture_host(mine: int | None) -> bool:
    """A host pair's SYNs, FINs and RSTs all marked sent by the capture host (outgoing),
    at one initial TTL, a SYN or FIN among them (OWN_OPENING), none also arriving."""
    return (mine is not None and bool(mine & OWN_OPENING)
            and marked_types(mine) == 1 << PACKET_OUTGOING and single_ttl(mine) in INITIAL_TTLS)


def sent_as(marks: HostMarks, host: str) -> tuple[str, int] | None:
    """(a peer, the TTL) of host's own openings the capture host sent: a host pair of
    host's (not to itself) whose SYNs, FINs and RSTs are all marked outgoing, at one
    initial TTL (_sent_by_capture_host), a SYN without ACK among them (OWN_SYN: host
    opened a connection): the capture host sends TCP from host's address, so it holds
    that address (a router forwarding host's packets marks them arriving too and one TTL
    lower; a RST alone proves no sender, nor do a SYN-ACK and a FIN: a router's SYN proxy
    or transparent proxy (nft `redirect`, TPROXY) answers connections to host in its
    name, its SYN-ACKs and FINs leaving the router at its initial TTL, never arriving).
    The least such peer; None when no pair of host's is so marked."""
    peers = sorted(peer for (sender, peer), packed in marks.items()
                   if sender == host and not _to_itself(sender, peer)
                   and packed & OWN_SYN and _sent_by_capture_host(packed))
    if not peers:
        return None
    ttl = _ttl(marks, host, peers[0])
    return None if ttl is None else (peers[0], ttl)


def _proves(marks: HostMarks, host: str, peer: str) -> bool:
    """host_by_marks's rule for one pair: host's packets to peer sent by the capture host
    (_sent_by_capture_host) and peer's to it all marked arriving addressed to it."""
    theirs = marks.get((peer, host))
    return (theirs is not None and marked_types(theirs) == 1 << PACKET_HOST
            and _sent_by_capture_host(marks.get((host, peer))))


def own_point(ctx: Context, host: str) -> str | None:
    """A peer whose pair with host proves the set holds a capture taken on host itself,
    of both its directions (_proves: host's SYNs, FINs and RSTs to that peer all marked
    sent by the capture host at one initial TTL, a SYN or FIN among them, none also
    arriving, and the peer's to it all arriving addressed to it), whatever other hosts'
    captures are merged with it: the least such peer, None when no pair of host's proves
    it. Unlike host_by_marks, which asks of one pair, this reads host's pairs with every
    peer, so a merged set whose pair of two capture hosts is marked both ways (each packet
    leaving one and arriving at the other) still places each host's own point by its
    pairs with a third host that captured nothing (review61b: `tcpdump -i any` on a
    three-way job's data agent and tape agent, merged; the tape agent's own point shown by
    its packets to the media server). The index is built once per Context
    (Context.proofs.own_points): one walk over the marked pairs."""
    if ctx.proofs.own_points is None:
        marks = ctx.host_marks
        points: dict[str, str] = {}
        for sender, peer in marks:
            if not _to_itself(sender, peer) and _proves(marks, sender, peer) and (
                    sender not in points or peer < points[sender]):
                points[sender] = peer
        ctx.proofs.own_points = points
    return ctx.proofs.own_points.get(host)


def own_point_words(ctx: Context, host: str, peer: str) -> str:
    """Why own_point places a capture on host (its answer peer), after "whose own capture
    the set holds (": "its Linux cooked headers mark ...)"."""
    return (f"its Linux cooked headers mark each SYN, FIN and RST of {host}'s to {peer} "
            f"sent by the capture host (outgoing), at {ttl_word(host)} "
            f"{_ttl(ctx.host_marks, host, peer)}, an initial value, and {peer}'s to it "
            "arriving addressed to the capture host")


def one_host(marks: HostMarks) -> tuple[str, str] | None:
    """(host, peer) when the file is one host's capture, whose host the pair's marks prove
    (_proves): no host pair's SYNs, FINs and RSTs marked both leaving and arriving (a
    router's `-i any` marks each packet it forwards both ways, two hosts' captures merged
    each packet between them; a bridge's proves no host,
    its arrivals marked other-host), and one address alone proven so (two hosts' captures
    of disjoint traffic merged prove two). Then a host pair whose packets the capture host
    sent (_sent_by_capture_host) and whose peer sent nothing back at that address is that
    host's too: a dual-stack host's callback over IPv4 beside its control connection over
    IPv6 (lab matrix seed 120 run 10: `tcpdump -i any` on the agent, the media server's
    input dropping the callback SYNs, read "unless it was taken on 10.77.0.1 itself", the
    agent's capture). Past cooked_hosts.HOST_PAIRS_CAP pairs a pair is not noted, so
    this reads the pairs kept. A host's traffic to itself (a loopback address, or its own
    address to itself: both on lo) is marked both ways too but never left it, so it is
    passed over (review 52a: run 10's capture with the agent's own local connections
    added read "unless it was taken on 10.77.0.1 itself"). None otherwise."""
    both = 1 << PACKET_OUTGOING | 1 << PACKET_HOST
    proven: set[tuple[str, str]] = set()
    for (host, peer), packed in marks.items():
        if _to_itself(host, peer):
            continue  # on lo, each packet leaving and arriving: never off the host
        if marked_types(packed) & both == both:
            return None
        if _proves(marks, host, peer):
            proven.add((host, peer))
    hosts = {host for host, _ in proven}
    return min(proven) if len(hosts) == 1 else None


def _to_itself(host: str, peer: str) -> bool:
    """A host pair that is one host's traffic to itself, carried by its loopback
    interface: the same address at both ends, or a loopback one (127.0.0.0/8, ::1)."""
    return host == peer or host == "::1" or peer == "::1" or host.startswith("127.") \
        or peer.startswith("127.")


def _ttl(marks: HostMarks, host: str, peer: str) -> int | None:
    mine = marks.get((host, peer))
    return None if mine is None else single_ttl(mine)


def words_by_marks(marks: HostMarks, host: str, peer: str, one: OneHost | None = None
                   ) -> str:
    """Why the marks place the capture on host (host_by_marks's answer), said after
    "this capture was taken on HOST (": "its Linux cooked headers mark ...)". one: as
    host_by_marks's."""
    sent = (f"its Linux cooked headers mark each SYN, FIN and RST of {host}'s to {peer} "
            f"sent by the capture host (outgoing), at {ttl_word(host)} "
            f"{_ttl(marks, host, peer)}, an initial value, none of them also captured "
            f"arriving (a router or bridge forwarding them captures each arriving too)")
    # The peer's packets in the capture: host_by_marks's first rule (_proves); else its
    # second (one_host), or not its answer at all: the first rule's words then.
    proof = None if (peer, host) in marks else one() if one is not None else one_host(marks)
    if proof is None:
        return f"{sent}, and {peer}'s to it arriving addressed to the capture host"
    other, its_peer = proof
    return (f"{sent}; {peer} sent nothing to {host}, but the capture host is {other} "
            f"(its SYNs, FINs and RSTs to {its_peer} marked so, and {its_peer}'s to it "
            "arriving addressed to it), and the file marks no SYN, FIN or RST between two "
            "hosts both leaving and arriving (a router's capture or two hosts' merged do; a "
            "host's traffic to itself, on its loopback, is so marked): one host's capture, "
            f"so {host} is an address of {other}'s host")


def arrived_unanswered(ctx: Context, sender: str, receiver: str) -> int | None:
    """The TTL (an initial value) of sender's SYNs, FINs and RSTs to receiver when the
    Linux cooked marks show them arriving at the capture host and nothing else of the
    pair: every one marked addressed to the capture host's own link-layer address
    (PACKET_HOST), at one initial TTL (INITIAL_TTLS: not yet routed), none marked leaving
    (a router's `-i any` holds each packet it forwards leaving too), and nothing of
    receiver's to sender. Then the capture was taken on receiver or on the first router
    from sender toward it, which passed none of them on (lab matrix seed 119 run 12,
    `tcpdump -i any` on the agent, its input chain dropping the control SYNs, fixed "A
    capture on 10.77.0.2 ... shows which way is lost"). None otherwise (no such
    capture, a pair marked otherwise, or receiver's packets to sender in it)."""
    marks = ctx.host_marks
    if not marks or (receiver, sender) in marks:
        return None
    mine = marks.get((sender, receiver))
    if mine is None or marked_types(mine) != 1 << PACKET_HOST:
        return None
    ttl = single_ttl(mine)
    return ttl if ttl in INITIAL_TTLS else None


def leaving_taken(ctx: Context) -> bool:
    """Does the Linux cooked set mark a SYN, FIN or RST leaving its capture host (a host
    pair's PACKET_OUTGOING), none of a pair both leaving and arriving (two hosts'
    captures merged, or a router's, mark each packet between them so)? Then the capture
    took its host's leaving packets: no `tcpdump -Q in` (arrived_words' hedge). Not
    one_host: a dual-stack host's pairs of both IP versions prove two addresses. Only of
    one file of one interface (ctx.order.frames): the marks are kept per host pair, not
    per file, so a set's packets leaving one capture host say nothing of another file's
    filter (review58b: field56-matrix's SYNs-only capture given with another host's file
    of one SYN leaving it, between two other hosts, read "It holds packets marked leaving
    the capture host too (no tcpdump -Q in)")."""
    if not ctx.order.frames:
        return False
    both = 1 << PACKET_OUTGOING | 1 << PACKET_HOST
    types = [marked_types(packed) for (host, peer), packed in ctx.host_marks.items()
             if not _to_itself(host, peer)]
    return (any(kind & 1 << PACKET_OUTGOING for kind in types)
            and not any(kind & both == both for kind in types))


def arrived_words(sender: str, receiver: str, ttl: int, leaving: bool = False) -> str:
    """What arrived_unanswered's marks show, the fix's sentence (no leading space). The
    tap sees arriving packets before the host's firewall and leaving ones after it, so
    the receiver's output chain dropping its SYN-ACKs leaves the same capture as its
    input chain dropping the SYNs (lab matrix seed 127 run 2: the agent's stateless
    egress dropping its SYN-ACKs, captured `-i any` on it, read "its own firewall drops
    the SYNs (its input chain ...)"). leaving: leaving_taken's answer, which drops the
    `-Q in` hedge."""
    return (f"This capture's Linux cooked headers mark every SYN from {sender} as arriving "
            "addressed to the capture host's own link-layer address (incoming), at "
            f"{ttl_word(sender)} {ttl}, an initial value, and none as leaving it: the capture "
            f"was taken on {receiver}, or on the first router from {sender} toward it, which "
            f"passed none of them on. {_took_leaving(leaving)}"
            "that host answered none of them: its own firewall drops them "
            f"({receiver}'s input chain the SYNs or its output chain its SYN-ACKs, or that "
            "router's forward chain the SYNs), and the allow rule belongs there.")


def _took_leaving(leaving: bool) -> str:
    """arrived_words' hedge on what the capture took: none when it holds packets its host
    sent (leaving_taken: lab matrix seed 127 run 2, the other job's SYN-ACKs marked
    outgoing beside "Unless it left out what that host sent")."""
    if leaving:
        return ("It holds packets marked leaving the capture host too (no tcpdump -Q in), "
                "so ")
    return "Unless it left out what that host sent (tcpdump -Q in), "
