"""Where SYNs vanished between two capture points given together.

Both hosts' captures of a job given together (flowcheck.connections.points) hold every
packet that passed both capture points twice: the second one a capture copy
(Connection.orig_copy_bytes / resp_copy_bytes count their payload; a copy is a packet,
orig_pkts, but never a SYN retry). A connection whose SYNs are each in the set once
only (orig_pkts is its SYNs, syn_retries + 1), with the TTL their sender gave them (an
initial one: captured on the sender's side of any router, verify.ttl), while other
packets from the same sender to the same receiver are in it twice, left the sender and
never reached the other capture point: something between the two points dropped them.
A capture point sees arriving packets before its host's firewall (the packet tap comes
before netfilter's input chain), so even a point on the receiver puts the drop before
it: on a router or firewall between the hosts. SYNs each in the set twice, with no
SYN-ACK, reached the other point: when both hosts' packets are in the set with initial
TTLs (a point on each host, or no router between them), that is the receiver's own
firewall, its input chain (the SYNs) or its output chain (the tap sees leaving packets
after it: the SYN-ACKs). One capture, or two that never saw the
same packet, tell nothing here (verify.ttl reads one capture point's TTLs); nor do the
copies of a Windows tool that logs each packet at several places of one host's stack
(pktmon, netsh trace: Context.host_copies), which are one capture point's; nor the
copies of one capture of a bridge's or router's several interfaces (`tcpdump -i any` on
it: Context.interface_copies), each packet it forwarded captured coming in and leaving,
with the sender's TTL across a bridge: SYNs each in it twice with no SYN-ACK passed that
host and were lost at or beyond it, toward the responder or on it (`passed_capture_host`,
trial 35 D3), not necessarily by the responder's own firewall.

The same proof places the answers (trial 26 D5). A SYN each in the set once, with the TTL
its sender gave it, answered with a RST in the responder's name, never reached the other
capture point: the responder never saw it, so the RST is a device's between the points
(`refused_between`). SYNs each in the set twice (they passed both points) and SYN-ACKs
each once with the responder's initial TTL (none a copy) left the responder and never
reached the originator's point: the return traffic is dropped between them, not by the
originator's input chain (`synacks_vanished`). An established connection both of whose
ends' RSTs are each at one capture point only (no RST of that end at a second TTL, as
the other point a router apart would show it: SideEvidence.rst_twice) was reset by no
RST that crossed between the hosts: each end got a RST the other end's point never saw
leave, a device between them reset it both ways (`resets_between`; trial 26 D4, an
IPS's `reject with tcp reset` read as "reset by both ends"). A sender's stalled bytes
and their resends in the set once (its payload there once is at least all of them)
while its other packets to the receiver are in it twice never reached the receiver's
point: lost between the points, not on the receiver (`resends_vanished`).
"""

from __future__ import annotations

from flowcheck.connections.endpoint import EVIDENCE_CAP
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session, endpoint, other_direction
from flowcheck.verify.allow_rules import own_rules
from flowcheck.verify.arrival import marked_arrival
from flowcheck.verify.context import Context
from flowcheck.verify.copy_counts import (
    as_often_as_pair,
    fewer_than_pair,
    kept_leg,
    pair_copies,
    syn_copies,
    whole_copies,
)
from flowcheck.verify.ttl import INITIAL_TTLS, initial_both_ways, ttl_word


def copied_pairs(ctx: Context) -> set[tuple[str, str]]:
    """(sender, receiver) pairs with payload the capture set holds twice (built once
    per Context); none when the copies are one host's tool's (Context.host_copies)."""
    if ctx.proofs.copied is None:
        pairs: set[tuple[str, str]] = set()
        for c in ([] if ctx.host_copies else ctx.connections):
            if c.orig_copy_bytes:
                pairs.add((c.orig_h, c.resp_h))
            if c.resp_copy_bytes:
                pairs.add((c.resp_h, c.orig_h))
        ctx.proofs.copied = pairs
    return ctx.proofs.copied


def both_points_until(ctx: Context, a: str, b: str) -> float:
    """Until when both capture points saw the traffic between hosts a and b: the last
    packet (seconds) of a connection between them whose payload, one way or the other,
    the set holds all of twice; -inf when none. One point's files may end early (a ring's
    last file not copied): a packet after that is in the set once because that point
    no longer captured, not because it never reached it (trial 18 D3)."""
    if ctx.proofs.copied_until is None:
        until: dict[frozenset[str], float] = {}
        for c in ([] if ctx.host_copies else ctx.connections):
            if (whole_copies(c.orig_bytes, c.orig_copy_bytes) >= 2
                    or whole_copies(c.resp_bytes, c.resp_copy_bytes) >= 2):
                key = frozenset((c.orig_h, c.resp_h))
                until[key] = max(until.get(key, float("-inf")), c.last_ts)
        ctx.proofs.copied_until = until
    return ctx.proofs.copied_until.get(frozenset((a, b)), float("-inf"))


def vanished_between(ctx: Context, conn: Connection) -> bool:
    """Did conn's SYNs leave its originator's capture point and never reach the other
    one (module docstring): unanswered, each SYN in the set once with an initial TTL,
    or fewer times than the other packets from the originator to the responder (a
    firewall's own recording: copy_counts), while the set holds those twice or more,
    and both points saw the traffic between the two hosts until after the last SYN
    (both_points_until)?"""
    return (conn.resp_pkts == 0 and bool(conn.syn_frames)
            and fewer_than_pair(ctx, conn)
            and conn.orig_ttl in INITIAL_TTLS
            and (conn.orig_h, conn.resp_h) in copied_pairs(ctx)
            and both_points_until(ctx, conn.orig_h, conn.resp_h) > conn.last_ts)


def reached_responder(ctx: Context, conn: Connection) -> bool:
    """Did conn's SYNs reach a capture point on its responder, with no SYN-ACK captured
    (module docstring): each SYN in the set twice, the set holding other packets from
    the originator to the responder twice, and both hosts' packets with initial TTLs,
    the copies not one capture host's several interfaces' (passed_capture_host), and a
    router between the two points (Context.routed_points: copies at another TTL)? With
    no router between the hosts every point sees both hosts' initial TTLs, so they
    place no point on the responder: two points on the originator's host (a hypervisor's
    vNIC port and its uplink, field check 36b) read the same; reached_second_point's
    words, which say so, are left. Unless the SYNs' Linux cooked marks place the second
    point on the responder without a router (verify.arrival.marked_arrival: captured
    leaving the originator and arriving at the host addressed, at one TTL), which show the
    two points themselves: then each SYN in the set twice is enough, with no payload of
    the originator's to the responder in it twice nor the responder's packets at initial
    TTLs (review61b)."""
    if ctx.interface_copies:
        return False
    if ctx.routed_points:  # marked_arrival reads a set without them
        return _twice_unanswered(ctx, conn)
    return reached_marked(ctx, conn)


def reached_marked(ctx: Context, conn: Connection) -> bool:
    """reached_responder placed by the SYNs' Linux cooked marks (verify.arrival.
    marked_arrival): the responder's own capture, proven by its packets to another host
    (cooked_host.own_point), holding the SYNs arriving and none of its packets to the
    originator, so its silence is no way back left out of the capture (review61b: not
    answer_uncaptured's "one direction only"). The marks show the two points themselves
    (each SYN captured leaving the originator and arriving at the responder): no payload
    of the originator's to the responder need be in the set twice to show them two
    points' (review61b: a data connection's SYNs, the only packets of the data agent's
    to the tape agent). marked_arrival holds only in a set with no copies at another TTL
    and no capture of one host's several interfaces, so this is reached_responder's
    other half, not a second reading of it."""
    return (marked_arrival(ctx, conn) and conn.resp_pkts == 0 and bool(conn.syn_frames)
            and as_often_as_pair(ctx, conn))


def reached_second_point(ctx: Context, conn: Connection) -> bool:
    """Did conn's SYNs reach a second capture point, with no answer at either and too
    little else in the set to place the points (reached_responder's proof needs both
    hosts' packets): no SYN-ACK, each SYN in the set twice, the set's copies two capture
    points' (two files paired as two points, or copies a router apart), not one host's
    tool's nor one host's several interfaces'? A job that stopped at its control
    connection's SYNs, both hosts' captures given (session 34's trial A, D2): nothing
    before the point nearer the responder lost them."""
    return (conn.resp_pkts == 0 and bool(conn.syn_frames)
            and as_often_as_pair(ctx, conn)
            and (ctx.linked_files or ctx.routed_points)
            and not ctx.host_copies and not ctx.interface_copies
            and not reached_responder(ctx, conn))


def point_each_side(ctx: Context, a: str, b: str) -> bool:
    """Does the set hold a capture point on each host's side of the routers between a
    and b: two capture points given together (packets between them in it twice, not one
    host's tool's nor one host's several interfaces'), copies a router apart (another
    TTL: Context.routed_points, SideEvidence.copy_ttl_other), and both hosts' packets
    first seen with initial TTLs (each at its own point)? Then what left a host shows at
    its point (trial A of session 34: an agent whose own outbound rules dropped its SYNs,
    both hosts' captures given, read vaguer than the agent's capture alone)."""
    copied = copied_pairs(ctx)
    if ctx.interface_copies or not ((a, b) in copied or (b, a) in copied):
        return False
    return initial_both_ways(ctx, a, b) and (ctx.routed_points or any(
        c.evidence("orig").copy_ttl_other or c.evidence("resp").copy_ttl_other
        for c in ctx.connections if {c.orig_h, c.resp_h} == {a, b}))


def passed_capture_host(ctx: Context, conn: Connection) -> bool:
    """Did conn's SYNs pass the one host the capture was taken on, with no SYN-ACK
    captured: each SYN in the set twice as reached_responder asks, but the copies one
    capture of that host's several interfaces (a bridge's or router's, `tcpdump -i any`
    on it: Context.interface_copies), each SYN captured as it came in and as it left
    toward the responder? A bridge forwards with the sender's TTL, so both hosts' initial
    TTLs show no capture point on each (trial 35 D3): the SYNs, or the SYN-ACKs, are lost
    at or beyond that host, toward the responder or on it."""
    return ctx.interface_copies and _twice_unanswered(ctx, conn)


def _twice_unanswered(ctx: Context, conn: Connection) -> bool:
    """No SYN-ACK, each SYN in the set twice, or as often as the other packets from the
    originator to the responder (copy_counts), those in it twice or more, both hosts'
    packets with initial TTLs."""
    return (conn.resp_pkts == 0 and bool(conn.syn_frames)
            and as_often_as_pair(ctx, conn)
            and (conn.orig_h, conn.resp_h) in copied_pairs(ctx)
            and initial_both_ways(ctx, conn.orig_h, conn.resp_h))


def refused_between(ctx: Context, conn: Connection) -> bool:
    """Was conn's SYN refused with a RST its responder never sent (module docstring): no
    SYN-ACK, a RST in the responder's name, each SYN in the set once with an initial TTL,
    the set holding other packets from the originator to the responder twice, and both
    points seeing the traffic between the hosts until after it (both_points_until)?"""
    return (conn.resp_rst and not conn.synack_frames and bool(conn.syn_frames)
            and conn.orig_pkts == conn.syn_retries + 1
            and conn.orig_ttl in INITIAL_TTLS
            and (conn.orig_h, conn.resp_h) in copied_pairs(ctx)
            and both_points_until(ctx, conn.orig_h, conn.resp_h) > conn.last_ts)


def refused_between_words(conn: Connection) -> str:
    """Why the RST refused_between finds is not the responder's."""
    return (f"the SYN to {endpoint(conn.resp_h, conn.resp_p)} was answered with a RST ("
            f"{frame_text(conn.rst_frames[0])}) that {conn.resp_h} did not send: the capture "
            f"set holds "
            f"two capture points (other packets from {conn.orig_h} to {conn.resp_h} are in "
            f"it twice: capture_duplicates), and the SYN once, with "
            f"{ttl_word(conn.orig_h)} {conn.orig_ttl} as "
            f"{conn.orig_h} sent it: it never reached the other capture point, so "
            f"{conn.resp_h} never saw it, and {BETWEEN} rejects the connection in "
            f"{conn.resp_h}'s name (a `reject with tcp reset` in its forward rules), not a "
            f"port in use or a firewall on {conn.resp_h}")


def synacks_vanished(ctx: Context, conn: Connection) -> bool:
    """Did conn's SYN-ACKs leave its responder's capture point and never reach the
    originator's (module docstring): the handshake never completed, the originator's
    packets its SYNs and their copies (at least one: they passed both points; a copy
    that came late may count as a retry), the responder's packets all SYN-ACKs, fewer
    than twice their number (each at both points would be twice; copies.py may take a
    SYN-ACK resent within 0.5 ms of another, IP ID 0, for a copy), both sides with an
    initial TTL? "Twice" is as often as the other packets between the hosts when the set
    holds them more often (a firewall's own recording: copy_counts)."""
    return (not ctx.host_copies and not conn.established and bool(conn.syn_frames)
            and bool(conn.synack_frames) and not conn.resp_rst
            and not conn.orig_rst and not conn.fin_frames
            and conn.syn_retries + 1 < conn.orig_pkts
            <= max(2, pair_copies(ctx, conn.orig_h, conn.resp_h)) * (conn.syn_retries + 1)
            and len(conn.synack_frames) < EVIDENCE_CAP
            and conn.resp_pkts
            < max(2, pair_copies(ctx, conn.resp_h, conn.orig_h)) * len(conn.synack_frames)
            and conn.orig_ttl in INITIAL_TTLS and conn.resp_ttl in INITIAL_TTLS)


def synacks_vanished_words(ctx: Context, conn: Connection) -> str:
    """Where the SYN-ACKs synacks_vanished finds were lost: between the two capture
    points, and no more: a drop of the replies, a stateful device that never saw the SYN
    (taking them for invalid) and replies routed another way leave the same capture
    (newuser63: "drops the return traffic (a stateless rule)" claimed what it did not
    show)."""
    back = max(2, pair_copies(ctx, conn.resp_h, conn.orig_h))
    held = ("the SYNs twice (they passed both) and each SYN-ACK once" if back == 2 else
            f"the SYNs as often as {conn.orig_h}'s other packets (they passed every point) "
            f"and the SYN-ACKs fewer times than the {_times(back)} of {conn.resp_h}'s other "
            "packets")
    return (f"the capture set holds two capture points, {held}, with "
            f"{ttl_word(conn.resp_h)} {conn.resp_ttl} as "
            f"{conn.resp_h} sent it: "
            f"the SYN-ACKs left {conn.resp_h} and never reached the capture point on "
            f"{conn.orig_h}'s side, which sees arriving packets before its host's firewall: "
            f"they were lost between the two capture points, not in {conn.orig_h}'s input "
            "chain. The capture does not show how: a rule of "
            f"{BETWEEN} that drops them, a stateful device there that never saw the SYN "
            "dropping them as invalid, or a route that sends them another way")


def resets_between(ctx: Context, conn: Connection) -> bool:
    """Was conn, established, reset by both ends in name only (module docstring): the
    RSTs of each end at one TTL only while copies of the connection's packets show two
    capture points a router apart (SideEvidence.copy_ttl_other), both hosts' packets
    with initial TTLs (a point on each), the set holding their other packets twice, and
    both points seeing the traffic between the hosts until after the first RST?"""
    if ctx.host_copies or not (conn.established and conn.orig_rst and conn.resp_rst):
        return False
    pair = (conn.orig_h, conn.resp_h)
    copied = copied_pairs(ctx)
    orig, resp = conn.evidence("orig"), conn.evidence("resp")
    return (not orig.rst_twice and not resp.rst_twice
            and (orig.copy_ttl_other or resp.copy_ttl_other)
            and (pair in copied or pair[::-1] in copied)
            and initial_both_ways(ctx, *pair)
            and conn.rst_ts is not None
            and both_points_until(ctx, *pair) > conn.rst_ts)


def resends_vanished(ctx: Context, conn: Connection, side: str, unacked: int,
                     resends: int, until: float) -> bool:
    """Did side's ("orig", "resp") stalled bytes (`unacked` of them, resent `resends`
    times, the last at `until`) never reach the receiver's capture point (module
    docstring): its payload in the set once at least all of them and a byte per resend,
    the set holding its other packets to the receiver twice, both points seeing the
    traffic between the hosts until after the last resend?"""
    sender, receiver = conn.host(side), conn.host(other_direction(side))
    sent, copied = ((conn.orig_bytes, conn.orig_copy_bytes) if side == "orig"
                    else (conn.resp_bytes, conn.resp_copy_bytes))
    return (not ctx.host_copies and unacked > 0
            and sent - 2 * copied >= unacked + resends
            and (sender, receiver) in copied_pairs(ctx)
            and both_points_until(ctx, sender, receiver) > until)


def resends_vanished_words(sender: str, receiver: str, receiver_role: str) -> str:
    """Where resends_vanished's bytes were lost."""
    return (f" The capture set holds two capture points (other packets from {sender} to "
            f"{receiver} are in it twice: capture_duplicates), and these bytes and their "
            f"resends once, at {sender}'s point: they never reached the capture point on "
            f"{receiver_role} {receiver}'s side, which sees arriving packets before its "
            f"host's firewall and stack, so they were lost between the two points, not on "
            f"{receiver}.")


def resets_between_words(conn: Connection) -> str:
    """Why resets_between's RSTs are a device's."""
    return (f"the capture set holds two capture points (other packets between "
            f"{conn.orig_h} and {conn.resp_h} are in it twice: capture_duplicates), and "
            f"each end's RSTs are in it at one capture point only, with one "
            f"{ttl_word(conn.orig_h)}: none "
            "crossed from one point to the other, as a host's own RST would; a device "
            "between them reset the connection in both ends' names")


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def vanished_words(ctx: Context, conn: Connection) -> str:
    """The cause for vanished_between: the SYNs dropped between the capture points.
    When the other packets are in the set more than twice and the SYNs more than once
    (a firewall's own recording: its drop stage, copy_counts), or the SYNs as often but
    all with the link-layer addresses they arrived with while the others crossed a
    device that rewrote theirs (copy_counts.kept_leg: an ASA's asp-drop), the words say
    so."""
    others = max(2, pair_copies(ctx, conn.orig_h, conn.resp_h))
    held = syn_copies(conn)
    if held >= others and kept_leg(ctx, conn):
        return (f"something between {conn.orig_h} and {conn.resp_h} drops its SYNs: "
                f"other packets from {conn.orig_h} to {conn.resp_h} are in the capture set "
                "on both sides of a device that rewrote their link-layer addresses "
                "(capture_duplicates), while each of these SYNs is in it "
                f"{_times(held)} with the addresses it arrived with only, {ttl_word(conn.orig_h)} "
                f"{conn.orig_ttl} as {conn.orig_h} sent it: they never left that device "
                "(the second copy is its record of the packet where it arrived, as a drop "
                "capture such as a Cisco ASA's asp-drop keeps it)")
    if held > 1 or others > 2:
        return (f"something between {conn.orig_h} and {conn.resp_h} drops its SYNs: "
                f"other packets from {conn.orig_h} to {conn.resp_h} are in the capture set "
                f"{_times(others)} (once per capture point or inspection point they passed: "
                f"capture_duplicates) and each of these SYNs {_times(held)} only, with "
                f"{ttl_word(conn.orig_h)} {conn.orig_ttl} as {conn.orig_h} sent it: they "
                f"left {conn.orig_h} and never reached the capture point nearer "
                f"{conn.resp_h} (a device's own record of the packets it dropped, a drop "
                "stage or drop capture, is one more copy at the point where they arrived)")
    return (f"something between {conn.orig_h} and {conn.resp_h} drops its SYNs: the capture "
            f"set holds two capture points (other packets from {conn.orig_h} to "
            f"{conn.resp_h} are in it twice: capture_duplicates), and each of these SYNs "
            f"once, with {ttl_word(conn.orig_h)} {conn.orig_ttl} as {conn.orig_h} sent it: "
            f"they left {conn.orig_h} and never reached the other capture point, which sees its "
            "packets before any firewall of its host")


def passed_host_words(conn: Connection) -> str:
    """The cause for passed_capture_host: the SYNs passed the capture host and were lost
    at or beyond it, toward the responder (not said to be its own firewall: trial 35 D3).
    A bridge or a router alike (lab matrix seed 117 run 26, `tcpdump -i any` on a router,
    read "a firewall in the bridge or beyond it")."""
    return (f"something at or beyond the capture host drops its SYNs or the SYN-ACKs (on "
            f"the way to {conn.resp_h} or on {conn.resp_h} itself): each SYN is in the "
            "capture twice, as it came in on one interface of the host the capture was "
            "taken on and again as it left by another (one capture of a bridge's or "
            "router's several interfaces, the file marking the copies coming in, then going "
            "out: capture_duplicates; not a capture point on each host, though both hosts' "
            "packets arrive with initial TTLs), and no SYN-ACK came back to it: lost "
            f"between that host and {conn.resp_h} (a firewall on that bridge or router, or "
            f"beyond it) or dropped by {conn.resp_h}'s own "
            "firewall (its input chain the SYNs, its output chain its SYN-ACKs); the "
            f"capture cannot tell which: a capture on {conn.resp_h} shows whether the SYNs "
            "reach it")


def second_point_words(conn: Connection) -> str:
    """The cause for reached_second_point: the SYNs left the originator and reached the
    capture point nearer the responder, where no answer was captured either."""
    return (f"its SYNs reached both capture points (each is in the capture set twice, "
            "once per point) and neither captured an answer. If one of the captures was "
            f"taken on {conn.resp_h}, its own firewall drops them: the SYNs arrived there and "
            "no SYN-ACK left (the packet tap sees arriving packets before the firewall's "
            "input chain and leaving ones after its output chain: the input chain drops "
            "the SYNs or the output chain its SYN-ACKs). If neither was, they or their "
            f"SYN-ACKs are lost between the capture point nearer {conn.resp_h} and "
            f"{conn.resp_h}; nothing before that point lost them")


def second_point_fix(ctx: Context, conn: Connection, session: Session | None) -> str:
    """The opening of an unanswered opening's fix for reached_second_point (the rules:
    verify.allow_rules.own_rules, a range for a dynamic port)."""
    return (f"On {conn.resp_h} itself, if one of the captures was taken there (the SYNs "
            f"reached it), before any drop rule: {own_rules(ctx, conn, session)}); if not, "
            "on any firewall "
            f"between the capture point nearer {conn.resp_h} and {conn.resp_h}. ")


BETWEEN = "the router or firewall between the two capture points"
