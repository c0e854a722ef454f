"""SYNs a merged Linux cooked capture shows arriving at the host they were sent to.

Two hosts' `tcpdump -i any` captures merged (mergecap; or given together) hold each packet
between them twice, and each copy's Linux cooked header says how its capture host saw it
(flowcheck.connections.syn_ways): PACKET_OUTGOING on the host that sent it, PACKET_HOST on
the host its frame was addressed to. A SYN captured leaving its sender and again,
with the same TTL (hop limit), arriving at the host it was addressed to crossed no router
between the two capture points: a router is addressed at the link layer by the hosts on
either side of it and lowers the TTL of what it forwards, so its own capture shows a
packet arriving (host) and leaving one TTL lower, and a capture beyond it sees the SYN
one lower. A bridge's ports mark the frames it forwards PACKET_OTHERHOST: no arrival. So,
when no copy in the set came with another TTL than its original (Context.routed_points:
no router between any two of its points, none captured forwarding), the host the SYN was
addressed to is its responder, and the SYNs reached a capture point on it (the copies'
order is not read: two hosts' clocks may put the arrival first, and the TTL already tells a
router's forwarding apart). That no SYN-ACK left it needs that point to have taken its
leaving packets too (`tcpdump -Q in` takes none): the responder's own SYNs or SYN-ACKs to
the originator in the set marked leaving it (leaving_captured) (field check 53,
seed 116 run 9: job 2's data SYNs dropped by the agent host's own input chain, both hosts'
captures merged, read "a capture on fd77::3 shows which way they are lost", the capture
it asked for already in the file).

On Linux the packet tap (AF_PACKET, what tcpdump reads) takes an arriving frame in
__netif_receive_skb_core (net/core/dev.c: the ptype_all taps) before the netdev ingress
hook and before ip_rcv / ipv6_rcv run netfilter's prerouting and input hooks, and a
leaving one in dev_queue_xmit_nit, called from dev_hard_start_xmit after the output and
postrouting hooks (ip_output, ip6_output) and the netdev egress hook: SYNs captured
arriving with no SYN-ACK captured leaving were dropped by the host's own input (its SYNs)
or output (its SYN-ACKs) rules, or its stack sent nothing (a full accept queue).
Read by flowcheck.verify.capture_points.reached_responder.

The responder's point is shown either way: by its own packets to the originator captured
leaving it and arriving at the originator's point at one TTL (leaving_captured), or by
its packets to any other host, where the set holds a capture taken on it of both
directions (cooked_host.own_point: its SYNs and FINs to that host marked sent by the
capture host at an initial TTL, that host's to it arriving addressed to it). Then a SYN
that reached the responder is in the set arriving there; that it is at the TTL it left
with puts no router between: a router's capture would be a third point in the set, one
that forwarded nothing in it. Before review61b only the first was read, so a merged
`tcpdump -i any` of a three-way job's data agent and tape agent, the tape agent's input
chain dropping the data SYNs, read "a capture point on 10.77.0.3, or on the first router"
and asked for a capture on 10.77.0.3 the file held, and with an unrelated connection
between the two hosts added (the tape agent's SYN to a closed port of the data agent's,
reset) lost that reading for "unless it was taken on 10.77.0.3 itself".
"""

from __future__ import annotations

from flowcheck.connections.syn_ways import ARRIVED, ELSEWHERE, OTHER_TTL, SENT
from flowcheck.model import Connection
from flowcheck.verify.context import Context
from flowcheck.verify.cooked_host import own_point, own_point_words
from flowcheck.verify.ttl import ttl_word

_READ = SENT | ARRIVED | OTHER_TTL | ELSEWHERE


def marked_both_ends(ctx: Context, conn: Connection) -> bool:
    """Are conn's SYNs marked captured leaving its originator and arriving at the host
    they were addressed to at one TTL, none at another TTL or arriving elsewhere
    (Connection.orig_syn_ways), with no copy in the set at another TTL than its original
    (Context.routed_points) and no capture of one host's several interfaces
    (Context.interface_copies)? marked_arrival's reading of the SYNs, and
    verify.addresses.connector_leaving's of each of its two connections."""
    return (conn.orig_syn_ways & _READ == SENT | ARRIVED
            and not ctx.routed_points and not ctx.interface_copies)


def marked_arrival(ctx: Context, conn: Connection) -> bool:
    """Do conn's SYNs carry the marks of a capture point on its sender and one on the
    host they were addressed to, a router apart from neither (module docstring): a copy
    captured leaving its originator and one arriving at the host it was addressed to at
    the same TTL, all of them at that TTL, none arriving at a host it was not addressed
    to (a bridge's port, whose egress copy is marked outgoing too), no copy in the set at
    another TTL than its
    original's (Context.routed_points), and no capture of one host's several interfaces
    (Context.interface_copies: a bridge's or router's own `-i any`), and the responder's
    own packets to the originator captured leaving it (leaving_captured), or the set holding
    a capture taken on the responder of both directions (cooked_host.own_point: its
    packets to another host; module docstring)? The caller asks for the rest (unanswered,
    each SYN in the set twice: capture_points.reached_responder)."""
    return marked_both_ends(ctx, conn) and (leaving_captured(ctx, conn.resp_h, conn.orig_h)
                                            or own_point(ctx, conn.resp_h) is not None)


def leaving_captured(ctx: Context, host: str, peer: str) -> bool:
    """Does the set show host's own packets to peer captured as they left it: a SYN or
    SYN-ACK of host's on a connection with peer marked leaving a host and arriving at the
    host it was addressed to at one TTL, never at another host (Connection.*_syn_ways)?
    Then a capture point on host saw its leaving packets (one that took arriving ones only,
    `tcpdump -Q in`, would not hold a SYN-ACK it sent), so no SYN-ACK in the set left it."""
    return any((c.orig_h == host and c.orig_syn_ways & _READ == SENT | ARRIVED)
               or (c.resp_h == host and c.resp_syn_ways & _READ == SENT | ARRIVED)
               for c in ctx.between(host, peer))


def twice_words(conn: Connection, subject: str = "each") -> str:
    """"each is in the capture twice" of conn's SYNs, or, when the capture lacks a copy of
    some (a sniffer's loss on one point: field check 75 seed 138 run 21, 9 SYNs, the
    outgoing copy of the fifth lost, read "each is in the capture twice"), "8 of the 9 are
    in the capture twice (the other once: the capture lacks its other copy)". The copies
    counted as the originator's packets beyond its SYNs (Connection.orig_pkts counts
    capture copies, syn_retries does not), when it sent nothing else (no byte, no FIN or
    RST, no ACK: its history's upper-case letters "S" alone), whatever its peer answered
    (a reject's RST). More copies than
    two a SYN (a capture point's duplicates: an overlapping merge, a packet captured twice
    at one point) are counted as they are, "the 9 are in the capture 27 times", not "each
    is in the capture twice" (review63d: field check 58's merged SYNs with each outgoing
    copy doubled). As many copies as SYNs, more than one SYN, is no proof of each twice:
    a SYN captured three times and one the capture holds once count alike (the counts
    are all there is: copies are told per packet, not kept per SYN), so they are counted
    too, "the 9 are in the capture 18 times" (words64); none beyond them, "the 2 are in
    the capture once each". When the originator sent more than SYNs its count holds those
    packets' copies too, so no count is said per SYN: "copies of them are in the
    capture", what the marks show (review64d: "each is in the capture twice" was said of
    such connections uncounted). subject: "each" or "each SYN"."""
    sent = conn.syn_retries + 1
    syns = "SYNs " if subject != "each" else ""
    if conn.orig_bytes or conn.fin_frames or conn.orig_rst or any(
            not letter.islower() and letter != "S" for letter in conn.history):
        return f"copies of {'them' if subject == 'each' else 'the SYNs'} are in the capture"
    copies = conn.orig_pkts - sent
    if copies == sent == 1:
        return f"{subject} is in the capture twice"
    if copies <= 0:
        return f"the {sent} {syns}are in the capture once each"
    if copies >= sent:
        return f"the {sent} {syns}are in the capture {conn.orig_pkts} times"
    once = sent - copies
    return (f"{copies} of the {sent} {syns}are in the "
            f"capture twice (the other{'s' if once > 1 else ''} once: the capture lacks "
            f"{'their' if once > 1 else 'its'} other cop{'ies' if once > 1 else 'y'})")


def arrival_words(ctx: Context, conn: Connection) -> str:
    """Why the capture places a point on conn's responder, for marked_arrival's
    reading: "the SYNs reached fd77::3 (each is in the capture twice, ...)". By the
    responder's packets to the originator (leaving_captured), else by its own capture's
    proof with another host (cooked_host.own_point)."""
    ttl = ttl_word(conn.orig_h)
    head = (f"the SYNs reached {conn.resp_h} ({twice_words(conn)} at one {ttl}, "
            f"{conn.orig_ttl}: its Linux cooked headers mark one copy outgoing, captured on "
            f"{conn.orig_h} as it left, and one host, captured on the host it was addressed "
            "to as it arrived")
    peer = None if leaving_captured(ctx, conn.resp_h, conn.orig_h) else \
        own_point(ctx, conn.resp_h)
    if peer is None:
        return (f"{head}, which is {conn.resp_h} with no router between them to lower "
                f"the {ttl}: two hosts' `tcpdump -i any` captures merged)")
    return (f"{head}: the set holds a capture taken on {conn.resp_h} itself ("
            f"{own_point_words(ctx, conn.resp_h, peer)}), which sees a SYN arrive at the "
            f"{ttl} it left {conn.orig_h} with when no router is between them: two hosts' "
            "`tcpdump -i any` captures merged)")


def arrived_silent(ctx: Context, conn: Connection) -> bool:
    """Do conn's SYNs carry the marks of a capture point on its sender and one on the host
    they were addressed to (marked_both_ends) while the set holds no packet at all from
    its responder to its originator (so leaving_captured cannot show that point took its
    leaving packets)? A control connection's agent that never answered, both hosts'
    `tcpdump -i any` merged (lab matrix seed 121 run 20: ndmjob's control SYNs dropped by
    the agent's input chain read "something drops its SYNs on the way to 10.77.0.2 ...
    it may hold one direction only", fix "A capture on 10.77.0.2, or of both directions,
    shows which way is lost", that capture in the file). The SYNs reached a point that
    took them arriving at the TTL they left with; that it sent nothing needs its point to
    have taken leaving packets too, which nothing in the set shows (a `tcpdump -Q in`
    there holds the same): the words say so. Nor does anything show that point is the
    responder: without a packet of the responder's marked leaving it and arriving at the
    same TTL (leaving_captured), the first router toward it, its forward chain dropping
    them, marks them alike (it lowers the TTL only of what it passes on, and passed none;
    the frame's link-layer destination is not in the cooked header): silent_words. Not
    when the set holds the responder's own capture of both directions (cooked_host
    .own_point: marked_arrival's reading instead, review61b)."""
    return (marked_both_ends(ctx, conn)
            and not ctx.holds((conn.resp_h, conn.orig_h), conn.ts)
            and own_point(ctx, conn.resp_h) is None)


def silent_words(conn: Connection, back: str | None = None, none: str | None = None) -> str:
    """_silence's cause for arrived_silent: the SYNs reached the responder's own capture
    point or the first router's toward it (as cooked_host.arrived_words says of one such
    capture), which holds nothing of an answer: the responder's firewall drops them, or
    that router's, unless that point left its leaving packets out (review 53b: the words
    said "which is 10.77.0.2 with no router between them", which a first router's
    `tcpdump -i any`, its forward chain dropping the SYNs, gives alike). back: the
    responder's packets to the originator that are not TCP (way_back.came_back), when
    the capture holds some: then not "no packet at all". none: what it holds else
    (Census.none_words: "no packet at all from B to A", the default, or the hedge of a
    pair past the 65,536 host pairs counted; task silentwords)."""
    ttl = ttl_word(conn.orig_h)
    held = (none or f"no packet at all from {conn.resp_h} to {conn.orig_h}") \
        if back is None else f"no TCP packet from {conn.resp_h} to {conn.orig_h}, only {back}"
    return (f"the SYNs reached a capture point on {conn.resp_h}, or on the first router "
            f"from {conn.orig_h} toward it, which passed none of them on ({twice_words(conn)} "
            f"at one {ttl}, {conn.orig_ttl}: its Linux cooked headers mark one "
            f"copy outgoing, captured on {conn.orig_h} as it left, and one host, captured as "
            f"it arrived at the host its frame was addressed to, before any router lowered "
            f"the {ttl}: two hosts' `tcpdump -i any` captures merged; nothing in it tells "
            f"{conn.resp_h} from a router, which lowers the {ttl} only of what it passes on), "
            f"and the capture holds {held}: "
            "unless that capture left out what its host sent (tcpdump -Q in), that host "
            f"passed on or answered none of them: {conn.resp_h}'s own firewall drops them, "
            "its input chain the SYNs (the packet tap sees arriving packets before the "
            "firewall) or its output chain its SYN-ACKs (the tap sees leaving packets after "
            "it), or that router's forward chain the SYNs, which the capture cannot tell "
            f"apart. The retried SYNs show that no SYN-ACK or RST reached {conn.orig_h}: the "
            "connection never opened")


def silent_fix(conn: Connection) -> str:
    """The close of an unanswered opening's fix for arrived_silent (no leading space)."""
    return (f"The SYNs reached a capture point on {conn.resp_h}, or on the first router "
            f"from {conn.orig_h} toward it (its Linux cooked headers mark each arriving "
            f"there, at the {ttl_word(conn.orig_h)} it left {conn.orig_h} with): unless that "
            "capture left out what its host sent (tcpdump -Q in), that host's own firewall "
            f"drops them ({conn.resp_h}'s input chain the SYNs or its output chain its "
            "SYN-ACKs, or that router's forward chain), and the allow rule belongs there.")
