"""Whose firewall an ICMP reject from the refusing host's own address is: the host's own,
or a bridge (transparent) firewall in front of it answering in its name.

A host's own reject rule (nft `reject`, iptables' REJECT in its input chain) sends the
ICMP unreachable from the host's address; a router's filter mostly answers from its own
(the address its route back to the originator leaves by), but an nftables netdev ingress
reject and a DNAT router's forward-chain reject of the translated SYN answer from the
address the SYN was sent to (review 53d). A bridge firewall has no address on
the path: Linux's bridge-family `reject` and br_netfilter's REJECT (nf_reject) build the
reject from the SYN itself, its source address and MAC those of the SYN's destination,
its TTL the bridge's own default, and a transparent or virtual-wire firewall answers the
same way. So the reject's source address alone names the host or such a device in front
of it, and the words say both (flowcheck.verify.refusals: an administratively
prohibited, port unreachable or routing code from the responder itself).

Only a capture taken on the responder itself, which the Linux cooked marks prove
(flowcheck.verify.capture_host.proven_host, `marked`; for a responder that sent no TCP
to the originator, the marks of the SYNs, of the reject and of its own TCP to another
host: rejects_marked), shows the reject left the
host: a bridge's reject goes back toward the originator and never passes the host, nor
does the SYN it refused. The TTLs of the host's packets prove less (the host or a point on its
network segment, a bridge possibly between). But the reject's own TTL (IPv6 hop limit,
Connection.icmp_ttl) can prove the opposite, as flowcheck.verify.foreign_reset reads a
RST's: a host sends its ICMP errors with the initial TTL of its TCP packets (Linux's
ip_default_ttl / IPv6 hop_limit for both, Windows 128 for both), so a reject from its
address arriving with another TTL than every other packet of it to the originator
(verify.ttl.own_ttls) left a device between them: at 64 from a bridge in front of a
Windows host (128), or undecremented where the host's packets arrive one router lower
(forged_reject). An equal TTL tells nothing (the bridge's default TTL may be the host's).
(Review 51b: lab matrix seed 118 run 24's words, "a firewall on fd77::1 rejects it",
were said of every reject from the responder's address, wherever it was captured.)
"""

from __future__ import annotations

from flowcheck.connections.syn_ways import (
    ARRIVED,
    ELSEWHERE,
    OTHER_TTL,
    PACKET_HOST,
    PACKET_OUTGOING,
    SENT,
    marked_types,
)
from flowcheck.model import Connection, endpoint
from flowcheck.model.traffic import INITIAL_TTLS, hops_travelled
from flowcheck.verify.arrival import marked_both_ends, twice_words
from flowcheck.verify.capture_host import proven_host
from flowcheck.verify.capture_host_proof import CaptureHostProof
from flowcheck.verify.context import Context
from flowcheck.verify.cooked_host import sent_as
from flowcheck.verify.ttl import alternating_ttls, apart_from_own, forged_words, ttl_word


def reject_left_host(ctx: Context, conn: Connection) -> CaptureHostProof | None:
    """The proof that the capture was taken on the responder itself (Linux cooked marks),
    so the reject from its address that the capture holds left it; None otherwise (no
    such proof, or the TTLs' alone: a point on its segment, a bridge possibly between)."""
    found = _leaving_proof(ctx, conn)
    return None if found is None else found[0]


def _leaving_proof(ctx: Context, conn: Connection) -> tuple[CaptureHostProof, str, str] | None:
    """reject_left_host's proof, what shows it (said in brackets after the third) and
    where the capture was taken ("this capture was taken on HOST"): the host pair's
    opening packets' marks (capture_host.proven_host: "its Linux cooked headers show
    it"), else those of the SYNs and of the reject itself (rejects_marked: a responder
    that sent no TCP, its reject its only packet), else, two hosts' captures merged,
    those of the SYNs at both ends and of the reject leaving a capture host
    (merged_reject_marked: "this capture merges one taken on HOST with one taken on
    ORIGINATOR")."""
    host = conn.resp_h
    proof = proven_host(ctx, conn.orig_h, host)
    taken = f"this capture was taken on {host}"
    if proof is not None and proof.marked and proof.host == host:
        return proof, proof.shown, taken
    own = rejects_marked(ctx, conn) if proof is None else None
    if own is not None:
        peer, ttl = own
        words = (f"its Linux cooked headers mark each SYN from {conn.orig_h} arriving "
                 "addressed to the capture host, the reject, from "
                 f"{host}'s address, sent by it, and each SYN, FIN and RST of {host}'s to "
                 f"{peer} sent by it (outgoing), at {ttl_word(host)} {ttl}, an initial "
                 "value, none of them also captured arriving: the capture host sends TCP "
                 f"from {host}'s address, so it is {host} (a router or bridge forwarding "
                 f"{host}'s packets captures each arriving too)")
        return CaptureHostProof(host, words, None, True), words, taken
    if proof is None and merged_reject_marked(ctx, conn):
        ttl = ttl_word(conn.orig_h)
        twice = twice_words(conn, "each SYN").replace("in the capture", "in it")
        words = (f"{twice} at one {ttl}, {conn.orig_ttl}: its Linux cooked "
                 f"headers mark one copy outgoing, captured on {conn.orig_h} as it left, "
                 "and one host, captured as it arrived at the host its frame was addressed "
                 f"to; and they mark the reject, from {host}'s address at an initial {ttl}, "
                 f"sent by the host that captured it; and a SYN or SYN-ACK of {host}'s to "
                 f"{conn.orig_h} marked leaving one capture host and arriving at the other "
                 f"at one initial {ttl}: sent by {host} itself, no router between, so the "
                 f"host the SYNs arrived at is {host}")
        return (CaptureHostProof(host, words, None, True), words,
                f"this capture merges one taken on {host} with one taken on {conn.orig_h}")
    return None  # a proof of another host, or the TTLs' alone: not on the responder


def merged_reject_marked(ctx: Context, conn: Connection) -> bool:
    """Whether two hosts' Linux cooked captures merged show the reject leaving the
    responder: the SYNs marked leaving the originator and arriving at the host they were
    addressed to at one TTL, no router between any two points and no capture of one
    host's several interfaces (arrival.marked_both_ends), the ICMP unreachables about the
    connection from the responder's address marked sent by a capture host
    (PACKET_OUTGOING) and otherwise only arriving (PACKET_HOST: the originator's copy),
    capture copies included (Connection.icmp_ways), at an initial TTL. The capture hosts
    are the SYNs' sender and the host they arrived at; the sender sends no ICMP error from
    its peer's address (a Linux host sends one from the refused packet's destination only
    when that address is its own), and a bridge (transparent) firewall that refused the
    SYNs would have kept them from the host they arrived at and sent its reject without
    passing it: the responder's own firewall rejected them. Lab matrix seed 122 run 6
    (both hosts' `tcpdump -i any` merged, the media server's input rejecting the callback
    with ICMPv6 reject-route) read "nothing in the capture tells them apart (a capture on
    fd77::1 itself holds its own reject leaving it)" with that capture in the file.
    rejects_marked's one-host rule leaves such a set out (its SYNs marked leaving too).
    The SYNs' marks alone leave the first router toward the responder beside it (its
    `tcpdump -i any` marks them arriving at the TTL they left with when its forward chain
    drops them: arrival.silent_words, review 53b); the reject rules it out: that router
    answers from its own address, and a DNAT router's reject of the host behind it leaves
    it one TTL lower, no initial TTL (review 52a). But not every router's own reject: a
    DNAT router's forward chain rejecting the translated SYN sends it from the address
    the SYN was sent to (conntrack turns its source back), and an nftables netdev ingress
    (or bridge family) reject from the refused packet's destination, both at the
    router's initial TTL and marked leaving it (review 53d, network namespaces: M --
    router -- A, the router's `tcpdump -i any` merged with M's, read the same marks as
    run 6). So the responder's own packets to the originator must show the point: a SYN
    or SYN-ACK of its marked leaving a capture host and arriving at the other at one TTL,
    an initial one (responder_left_own): sent by the responder itself, no router between
    it and the originator, so the host the SYNs arrived at, unrouted, is the responder."""
    return (merged_reject_sent(ctx, conn)
            and responder_left_own(ctx, conn.resp_h, conn.orig_h))


def merged_reject_sent(ctx: Context, conn: Connection) -> bool:
    """merged_reject_marked's marks of the SYNs and of the reject, without its proof of
    the host the SYNs arrived at: the SYNs marked leaving the originator and arriving at
    the host they were addressed to at one TTL (arrival.marked_both_ends), the ICMP
    unreachables about the connection from the responder's address marked sent by a
    capture host and otherwise only arriving, at an initial TTL. A bridge (transparent)
    firewall that refused the SYNs would have kept them from the host they arrived at and
    sent its reject without passing it, so that host sent it: the responder, or a router
    rejecting in its name (an nftables netdev ingress reject, a DNAT router's forward
    chain: review 53d), as reject_sent_here reads one host's capture. Lab matrix seed 126
    run 17 (both hosts' `tcpdump -i any -s 96` merged, the agent's input rejecting the
    control SYNs with ICMPv6 port unreachable, the agent sending no TCP) read "nothing in
    the capture tells them apart" of the bridge, which the marks rule out."""
    ways = conn.icmp_ways
    return (bool(ways & 1 << PACKET_OUTGOING)
            and not ways & ~(1 << PACKET_OUTGOING | 1 << PACKET_HOST)
            and conn.icmp_sender == conn.resp_h
            and conn.icmp_ttl in INITIAL_TTLS
            and marked_both_ends(ctx, conn))


def responder_left_own(ctx: Context, host: str, peer: str) -> bool:
    """Does the set hold a SYN or SYN-ACK of host's to peer marked leaving a capture host
    and arriving at the other at one TTL (arrival.leaving_captured's marks), that TTL an
    initial one (Connection.orig_ttl / resp_ttl in INITIAL_TTLS)? Its packet left host
    itself, crossed no router to peer, and a router between them in front of host would
    have lowered it (a DNAT router's forwarding of host's packets leaves them one lower)."""
    read = SENT | ARRIVED | OTHER_TTL | ELSEWHERE
    return any((c.orig_h == host and c.orig_syn_ways & read == SENT | ARRIVED
                and c.orig_ttl in INITIAL_TTLS)
               or (c.resp_h == host and c.resp_syn_ways & read == SENT | ARRIVED
                   and c.resp_ttl in INITIAL_TTLS)
               for c in ctx.between(host, peer))


def rejects_marked(ctx: Context, conn: Connection) -> tuple[str, int] | None:
    """(a peer, the TTL) of the responder's own TCP the capture host sent (sent_as,
    below) when the Linux cooked marks show the capture host received the SYNs and sent
    the ICMP reject from the responder's address, and is the responder; None otherwise.
    The marks: every file a Linux cooked capture
    (Context.host_marks), every SYN, FIN and RST of the originator's to the responder
    marked arriving addressed to the capture host (PACKET_HOST, none leaving: no router
    forwarding them, no second host's capture merged), each ICMP unreachable about the
    connection marked sent by it (Connection.icmp_ways, capture copies included), and
    whatever TCP the responder sent the originator marked sent by it too, and the reject
    at an initial TTL (Connection.icmp_ttl: a host sends its own ICMP errors at one; a
    reject it forwards leaves it one lower). A Linux host's stack sends an ICMP error
    from the refused packet's destination address only when that address is its own
    (icmp_send, icmp6_send), and a bridge's capture marks the SYNs it passes other-host;
    but a reject rule may answer in another's name (below). A DNAT router's own capture
    holds the same marks for the reject of the host behind it, which its conntrack sends
    on from the public address (the SYNs' destination, its own), the quote translated
    back, while the SYNs it forwarded inside are another 4-tuple's: only that reject's
    TTL, one lower, tells it (review 52a).
    For a responder that sent no TCP to the originator (its control connection
    refused), which capture_host.proven_host cannot place (lab matrix seed 120 run 12:
    `tcpdump -i any` on the agent, its input chain rejecting ndmjob's control SYNs with
    ICMP network unreachable). These marks alone do not show the capture host is the
    responder: a router's own reject in its name (an nftables netdev ingress reject; a
    DNAT router's forward chain rejecting the translated SYN, conntrack turning the
    source back) leaves the router from the responder's address at its initial TTL, the
    SYNs marked arriving at it and never passed on (review 53d: the router's `tcpdump -i
    any` alone read "this capture was taken on 10.2.0.2"). So the capture host must also
    have sent TCP of its own from the responder's address (cooked_host.sent_as: a SYN
    without ACK of it to some peer marked outgoing only, at an initial TTL; not a
    SYN-ACK or FIN, which a router's SYN proxy or transparent proxy sends in the
    responder's name: review 53e, tests/data/review53e), as
    merged_reject_marked asks of the responder's own SYN or SYN-ACK."""
    return sent_as(ctx.host_marks, conn.resp_h) if reject_sent_here(ctx, conn) else None


def reject_sent_here(ctx: Context, conn: Connection) -> bool:
    """rejects_marked's marks of the SYNs and of the reject (its docstring): the capture
    host received the SYNs and sent the reject from the responder's address, so it is
    the responder or a router rejecting in its name (a bridge in front of the responder
    marks the SYNs other-host, and its reject never reaches the responder's capture)."""
    marks = ctx.host_marks
    syns = marks.get((conn.orig_h, conn.resp_h)) if marks else None
    if (syns is None or marked_types(syns) != 1 << PACKET_HOST
            or conn.icmp_sender != conn.resp_h or conn.icmp_ways != 1 << PACKET_OUTGOING
            or conn.icmp_ttl not in INITIAL_TTLS):
        return False
    theirs = marks.get((conn.resp_h, conn.orig_h))
    return theirs is None or marked_types(theirs) == 1 << PACKET_OUTGOING


def rejects_it(ctx: Context, conn: Connection, host: str, why: str, rule: str = "") -> str:
    """"SENDER rejects it (WHY; SOURCE; RULE)", the cause of a reject from host's own
    address: SENDER "a firewall on HOST" when the capture shows the reject leaving it
    (reject_left_host), else when the marks are those of a capture on it or on a router
    rejecting in its name (reject_sent_here; two hosts merged: merged_reject_sent) that
    or such a router, else that or a
    bridge (transparent) firewall in front of it answering in its name; SOURCE what the
    reject's source shows of whose it is (the capture on host holding it leaving, and
    what shows that: _leaving_proof; else the marks that fit such a router too; else that
    a bridge firewall's comes from host's address too and the capture does not tell them
    apart); why: why a filter sent it; rule: a clause after SOURCE ("": none), the rule
    that sends such a reject when why does not name it. The proof is read once for the
    three (refusals.icmp_cause, filter_reject_words)."""
    found = _leaving_proof(ctx, conn)
    if found is not None:
        sender = f"a firewall on {host}"
        source = (f"{found[2]} ({found[1]}) and holds the reject leaving it, where a bridge "
                  f"firewall in front of {host} would send its own back without passing "
                  f"{host}")
    elif reject_sent_here(ctx, conn):
        # The marks of a capture on host, or on a router rejecting in its name (review
        # 53e: "a capture on HOST itself holds ..." told run 12, taken on HOST, to take it).
        sender = f"a firewall on {host}, or a router in front of {host} rejecting in its name,"
        source = (f"this capture's Linux cooked headers mark each SYN from {conn.orig_h} "
                  "arriving addressed to the capture host and the reject, from "
                  f"{host}'s address, sent by it: a capture on {host} marks them so, and "
                  f"so does one on a router that rejects in {host}'s name (an nftables "
                  "netdev ingress reject, a DNAT router's forward chain), and the capture "
                  f"holds no connection {host}'s address opened (its SYN marked sent by "
                  "the capture host) to tell them apart")
    elif merged_reject_sent(ctx, conn):
        sender = f"a firewall on {host}, or a router in front of {host} rejecting in its name,"
        source = (f"this capture merges two hosts' captures: its Linux cooked headers mark "
                  f"each SYN from {conn.orig_h} sent by one capture host and arriving "
                  f"addressed to the other at one {ttl_word(conn.orig_h)}, and the reject, "
                  f"from {host}'s address, sent by that other, where a bridge firewall in "
                  f"front of {host} would have kept the SYNs from it and sent its own back "
                  f"without passing it; a capture on {host} marks them so, and so does one "
                  f"on a router that rejects in {host}'s name (an nftables netdev ingress "
                  "reject, a DNAT router's forward chain), and the capture holds no SYN or "
                  f"SYN-ACK of {host}'s marked leaving one capture host and arriving at the "
                  "other to tell them apart")
    else:
        sender = (f"a firewall on {host}, or a bridge (transparent) firewall in front of "
                  f"{host} answering in its name,")
        source = (f"a bridge firewall in front of {host} (nft's bridge-family reject, a "
                  f"transparent or virtual-wire firewall) sends its reject from {host}'s "
                  "address too, and nothing in the capture tells them apart (a capture on "
                  f"{host} itself holds its own reject leaving it)")
    return f"{sender} rejects it ({why}; {source}{'; ' + rule if rule else ''})"


def rule_place(ctx: Context, conn: Connection, host: str) -> str:
    """Where the reject rule is, for the fix's "the reject rule is in ...": host's
    firewall, or, without the proof, that or a router rejecting in its name
    (reject_sent_here's or merged_reject_sent's marks) or a bridge firewall in front of
    it."""
    if reject_left_host(ctx, conn) is not None:
        return f"{host}'s firewall"
    if reject_sent_here(ctx, conn) or merged_reject_sent(ctx, conn):
        return (f"{host}'s firewall or in a router in front of {host} that rejects in its "
                f"name (`nft list ruleset` or `iptables -S` on {host} shows whether it "
                "holds the reject rule)")
    return (f"{host}'s firewall or in a bridge (transparent) firewall in front of {host} "
            f"that answers in its name (`nft list ruleset` or `iptables -S` on {host} "
            "shows whether it holds the reject rule)")


def forged_reject(ctx: Context, conn: Connection) -> tuple[int, int] | None:
    """(the reject's TTL or hop limit, that of the responder's own packets) when the SYN
    was refused by an ICMP unreachable from the responder's own address whose TTL is not
    the one every other packet of the responder to the originator arrived with
    (verify.ttl.apart_from_own, as foreign_reset's RST): a device between the hosts
    sent it in the responder's name. None otherwise: no such reject or its TTL unknown;
    the responder's TTLs unknown, several, or the reject's among them (equal, or one of
    two paths': alternating_ttls); a reject that crossed more routers than those packets
    (then they were a nearer device's, a SYN proxy's), or sent at a higher initial TTL
    than theirs (a stack whose ICMP starts at 255); or a capture the cooked
    marks place on the responder (reject_left_host: the reject left it, whatever its
    TTL)."""
    ttl = conn.icmp_ttl
    if (not conn.icmp_frames or conn.resp_rst or ttl is None
            or conn.icmp_sender != conn.resp_h):
        return None
    reference = apart_from_own(ctx, conn, ttl)
    if reference is None or ttl in alternating_ttls(ctx, conn.resp_h, conn.orig_h):
        return None
    if ttl + hops_travelled(ttl) > reference + hops_travelled(reference):
        # Sent at a higher initial TTL than the host's TCP: some stacks send their ICMP
        # so (Solaris and illumos, an NDMP filer's among them, at 255 beside TCP's 64;
        # network operating systems), so the host may have sent it.
        return None
    if reject_left_host(ctx, conn) is not None:
        return None
    return ttl, reference


def reject_device(conn: Connection) -> str:
    """The device that sent an ICMP reject in the responder's name (forged_reject), named
    for allow_rule."""
    return (f"the bridge (transparent) firewall, router or firewall between {conn.orig_h} "
            f"and {conn.resp_h} that sent the reject in {conn.resp_h}'s name")


def forged_reject_words(conn: Connection, ttls: tuple[int, int], how: str) -> str:
    """Why a reject from the responder's address with another TTL than its own packets'
    (forged_reject) is not its answer; how: the reject as refusals.refusal_how says it."""
    host = conn.resp_h
    return (f"the SYN to {endpoint(host, conn.resp_p)} was answered with {how} from "
            f"{host}'s address that {host} did not send: {forged_words(host, *ttls)}, and a "
            "host sends its ICMP errors with the initial TTL of its other packets, so a "
            f"device between the hosts rejects the connection in {host}'s name (a bridge "
            f"(transparent) firewall in front of {host}, which builds its reject from the "
            "SYN with the SYN's destination address, or a router or firewall that answers "
            f"from the address it refuses), not a firewall on {host}")
