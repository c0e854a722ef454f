"""The words for a connection whose opening failed with its SYNs never answered (a drop,
or an answer the capture lacks). Shared by the control, callback and data checks; a
handshake that never completed (the return traffic blocked, a reset by either side) is
verify.handshake_incomplete's.
"""

from __future__ import annotations

from typing import NamedTuple

from flowcheck.connections.syn_ways import PACKET_OUTGOING, marked_types
from flowcheck.model import Connection, Session
from flowcheck.verify.allow_rules import allow_rule, capitalised, own_rules
from flowcheck.verify.arrival import (
    arrival_words,
    arrived_silent,
    marked_arrival,
    silent_fix,
    silent_words,
)
from flowcheck.verify.capture_host import proven_host
from flowcheck.verify.capture_host_proof import CaptureHostProof
from flowcheck.verify.capture_points import (
    BETWEEN,
    passed_capture_host,
    passed_host_words,
    reached_marked,
    reached_responder,
    reached_second_point,
    second_point_fix,
    second_point_words,
    vanished_between,
    vanished_words,
)
from flowcheck.verify.context import Context
from flowcheck.verify.cut_icmp import untied_words
from flowcheck.verify.evidence import after_last
from flowcheck.verify.gave_up import gave_up_at_once, gave_up_words
from flowcheck.verify.last_point import last_point_fix, last_point_only, last_point_words
from flowcheck.verify.return_way import return_way_words
from flowcheck.verify.ttl import routers_words
from flowcheck.verify.ttl_exceeded import ttl_exceeded, ttl_exceeded_words
from flowcheck.verify.unresent import (
    resend_cut,
    unresent_words,
)
from flowcheck.verify.way_back import (
    answer_uncaptured,
    asked_toward,
    asked_toward_words,
    came_back,
    came_back_fix,
    came_back_words,
    lacking_words,
    other_source,
    translated_back,
)
from flowcheck.verify.windows_host import inbound_words, windows_host


def retried(conn: Connection, attempts: int = 1) -> bool:
    """Were the SYNs to that endpoint sent more than once (resent, or new attempts)?"""
    return conn.syn_retries > 0 or attempts > 1


class Where(NamedTuple):
    """lost_where's words, and whether they quote `flowcheck firewall` (the routers
    between: a fix holding them gives no other pointer, Allows.pointed, set from this)."""

    words: str
    quoted: bool = False


def lost_where(ctx: Context, conn: Connection) -> Where:
    """The end of a both-ways fix (silence's both_ways): where the capture tells, said
    plainly when the TTLs or the Linux cooked marks show which host the capture was
    taken on (verify.capture_host.proven_host), and whether its words quote `flowcheck
    firewall` (Where)."""
    if (vanished_between(ctx, conn) or reached_responder(ctx, conn)
            or passed_capture_host(ctx, conn) or reached_second_point(ctx, conn)):
        return Where("")  # said instead: between_fix, own_firewall_fix
    if arrived_silent(ctx, conn):
        # The message placed the SYNs' arrival at the responder's own point or the first
        # router's (silent_words): no capture to ask for, the one it names is in the file
        # (review61b: "If this capture was taken on 10.77.0.3 ... otherwise a capture on
        # 10.77.0.3 shows", after "the SYNs reached a capture point on 10.77.0.3").
        return Where(" " + silent_fix(conn))
    on = proven_host(ctx, conn.orig_h, conn.resp_h)
    if on is None and ctx.lacks((conn.resp_h, conn.orig_h), conn.ts):
        # One direction only (the capture evidently lacks the responder's to the
        # originator, as the one-direction words of the message read it): a capture on
        # the responder that took its arriving packets alone (tcpdump -Q in) holds its
        # SYNs unanswered whatever it sent back, and rejected ones too (lab matrix seed
        # 122 run 13: "If this capture was taken on 10.77.0.1, its own firewall drops the
        # SYNs or its SYN-ACKs" of `-Q in` on the media server, its input rejecting the
        # data SYNs with ICMP).
        return Where(one_way_where(
            conn, ctx.census.other_words(conn.resp_h, conn.orig_h, conn.ts)
            if ctx.census else None, none_words(ctx, conn, at_all=False)))
    if on is None and leaving_only(ctx):
        # Each capture host took its leaving packets alone (tcpdump -Q out on each, merged:
        # lab matrix seed 126 run 2): "If this capture was taken on B, its own firewall
        # drops the SYNs" of a capture on B that cannot hold them arriving.
        return Where(
            " This capture's Linux cooked headers mark every SYN, FIN and RST in it "
            "sent by the host that captured it (outgoing), none arriving (tcpdump -Q out), "
            f"so not whether the SYNs reached {conn.resp_h}: a capture of both directions "
            f"on {conn.resp_h} shows it (there, SYNs arriving with no SYN-ACK, RST or ICMP "
            "leaving are its own firewall's drop).")
    # The responder's packets that are not TCP in a capture of no TCP of its: a filter
    # may have kept its SYN-ACKs out (came_back_words; review 56k).
    filtered = came_back_fix(conn) if came_back(ctx, conn) is not None else ""
    if on is None:
        return Where(
            f" If this capture was taken on {conn.resp_h}, its own firewall drops the "
            f"SYNs or its SYN-ACKs; otherwise a capture on {conn.resp_h} shows which way "
            f"they are lost.{filtered}")
    if on.host == conn.resp_h:
        return Where("")  # said first instead: own_firewall_fix
    taken = (f"This capture was taken on {conn.orig_h} ({on.shown})" if on.marked else
             f"This capture was taken on {conn.orig_h} or on its network segment")
    # Its two directions on two interfaces of the capture host: the way back is another
    # (newuser68 item 3).
    filtered = return_way_words(ctx, conn) + filtered
    if on.ttls is None:
        return Where(f" {taken}: a capture on {conn.resp_h} shows which way they are lost."
                     f"{filtered}")
    # The TTLs count the routers between (trial 17, D3): a drop may be in theirs.
    return Where(f" {taken}: a capture on {conn.resp_h} shows "
                 f"which way they are lost; with {routers_words(on.ttls)} between them, allow "
                 "them in its forward chain too (`flowcheck firewall`: \"on a firewall or "
                 f"router between them\").{filtered}", quoted=True)


def leaving_only(ctx: Context) -> bool:
    """Does every SYN, FIN and RST of a Linux cooked set carry the outgoing mark
    (Context.host_marks), none arriving or forwarded, and no packet that is not TCP the
    arriving one (Context.other_arriving): each capture host's leaving packets alone
    (tcpdump -Q out)? False for a set without the marks. A host's `tcpdump -i any` of
    both directions whose SYNs a bridge between dropped marks its SYNs alone outgoing
    too, but holds the ARP reply or neighbour advertisement arriving that let it send
    them (review 56m, netns r56m: the media server's control SYNs over IPv4 and IPv6
    read "(tcpdump -Q out)" of it)."""
    marks = ctx.host_marks
    return bool(marks) and not ctx.other_arriving and all(
        marked_types(packed) == 1 << PACKET_OUTGOING for packed in marks.values())


def none_words(ctx: Context, conn: Connection, *, at_all: bool = True) -> str:
    """Census.none_words of conn's responder's packets to its originator ("no packet at
    all from B to A") asked at conn's time (its piece of a set of files apart in time:
    such packets that came in an earlier file may go on in this one), said so without a
    census."""
    if ctx.census is None:
        return f"no packet{' at all' if at_all else ''} from {conn.resp_h} to {conn.orig_h}"
    return ctx.census.none_words(conn.resp_h, conn.orig_h, at_all=at_all, ts=conn.ts)


def one_way_where(conn: Connection, back: str | None = None, none: str | None = None) -> str:
    """Where a capture holding no packet from conn's responder to its originator would
    tell (with its leading space): a capture on the responder of both directions, not
    any capture there (tcpdump -Q in holds the SYNs unanswered whatever it sent back:
    field check 59; control_unanswered said "A capture on B, or of both directions"
    until newuser55's list). back: that direction's packets that are not TCP
    (Census.other_words), when the capture holds some: then "no TCP packet"; none: what
    it holds else (Census.none_words: "no packet from B to A", the default)."""
    if back is not None:
        return (f" This capture holds no TCP packet from {conn.resp_h} to {conn.orig_h}, "
                f"only {back}, so not whether {conn.resp_h} answered: a capture of both "
                f"directions' TCP on {conn.resp_h} shows it (there, SYNs arriving with no "
                "SYN-ACK, RST or ICMP leaving are its own firewall's drop).")
    none = none or f"no packet from {conn.resp_h} to {conn.orig_h}"
    return (f" This capture holds {none}, so "
            f"not whether {conn.resp_h} answered: a capture of both directions on "
            f"{conn.resp_h} shows it (there, SYNs arriving with no SYN-ACK, RST or ICMP "
            "leaving are its own firewall's drop).")


def between_fix(ctx: Context, conn: Connection, session: Session | None) -> str:
    """The whole fix of an unanswered opening whose SYNs vanished between two capture
    points (verify.capture_points.vanished_between): the device between them; "" when
    they did not."""
    if not vanished_between(ctx, conn):
        return ""
    rule = allow_rule(ctx, conn, session, device=BETWEEN)
    return (f"{capitalised(rule)}: the SYNs left {conn.orig_h} and were lost before the "
            f"capture point toward {conn.resp_h}.")


def responder_reached(ctx: Context, conn: Connection) -> bool:
    """Does own_firewall_fix open with the responder itself ("On HOST itself (...)"):
    the SYNs shown reaching its capture point (capture_points.reached_responder) or the
    capture proven taken on it (proven_host), no capture host they passed nor a second
    point before it, nor only one file's copies a router apart placing the point
    (last_point_only)? Then a limit that stops some of its connections is its own
    (verify.limit_words.limit_fix; newuser68 item 2: slow3-a.pcap, taken on the agent,
    its fix led "on the firewalls between" the hosts)."""
    if passed_capture_host(ctx, conn) or reached_second_point(ctx, conn):
        return False
    on = proven_host(ctx, conn.orig_h, conn.resp_h)
    reached = reached_responder(ctx, conn)
    if not reached and (on is None or on.host != conn.resp_h):
        return False
    return not (reached and last_point_only(ctx, conn))


def own_firewall_fix(ctx: Context, conn: Connection, session: Session | None) -> str:
    """The opening of a both-ways fix when the TTLs or the Linux cooked marks show the
    capture was taken on the responder (verify.capture_host.proven_host): its own
    firewall, input or output chain (see silence), its rule for a callback's or data
    connection's port naming the range the port is drawn from (allow_rules.own_target:
    newuser61), Windows' words first when its TTL starts at 128 (verify.windows_host:
    newuser68b/slow3-agent got nft's alone), unless the Linux cooked marks prove the
    capture taken on it; "" otherwise."""
    if passed_capture_host(ctx, conn):
        rules = own_rules(ctx, conn, session)
        return (f"Beyond the capture host (the SYNs passed it and no SYN-ACK came back "
                f"to it), before any drop rule: on {conn.resp_h}, {rules}), and "
                "allow both ways in the forward chain of any firewall between the capture "
                f"host and {conn.resp_h} (the capture host's own too). ")
    if reached_second_point(ctx, conn):
        return second_point_fix(ctx, conn, session)
    on = proven_host(ctx, conn.orig_h, conn.resp_h)
    reached = reached_responder(ctx, conn)
    if not reached and (on is None or on.host != conn.resp_h):
        return ""
    if reached and last_point_only(ctx, conn):
        return last_point_fix(ctx, conn, session)  # no point proven on the host
    # The TTLs place the capture on the host or its segment alike, the Linux cooked marks
    # on the host (CaptureHostProof.taken_there).
    there = ("the SYNs reached its capture point" if reached or on is None else
             on.taken_there)
    rules = f"{own_rules(ctx, conn, session)}: a stateless output rule drops the SYN-ACKs)"
    # Windows' words first (verify.windows_host), unless the marks prove Linux.
    linux = (reached and marked_arrival(ctx, conn)) or (
        on is not None and on.marked and on.host == conn.resp_h)
    if windows_host(ctx, conn.resp_h, conn.orig_h, linux=linux):
        return (f"On {conn.resp_h} itself ({there}): {inbound_words(conn.resp_h)}; on "
                f"Linux, before any drop rule, {rules}. ")
    return f"On {conn.resp_h} itself ({there}), before any drop rule: {rules}. "


def _own_drop_words(ctx: Context, conn: Connection, on: CaptureHostProof | None,
                    reached: bool) -> str:
    """_silence's words when the SYNs reached the responder's capture point (reached:
    capture_points.reached_responder) or the capture was taken on it (on: proven_host's
    answer, naming the responder when not reached): its own firewall drops them; when
    one file's copies a router apart placed the point, not the SYNs' Linux cooked marks,
    the link after the last capture point too (verify.last_point.last_point_only)."""
    if reached and last_point_only(ctx, conn):
        return last_point_words(conn)  # no point proven on the host (verify.last_point)
    taken = (arrival_words(ctx, conn) if reached and marked_arrival(ctx, conn) else
             f"the SYNs reached the capture point on {conn.resp_h} (each is in the "
             "capture set twice, and both hosts' packets with initial TTLs: a "
             "capture point on each)" if reached or on is None else
             f"this capture was taken on {conn.resp_h} ({on.words})")
    return (f"{conn.resp_h}'s own firewall drops them: {taken}, where the "
            "SYNs arrived and no SYN-ACK left: its input chain drops the SYNs (the "
            "packet tap sees arriving packets before the firewall) or its output "
            "chain drops its SYN-ACKs (the tap sees leaving packets after it); the "
            "capture cannot tell which")


def silence(ctx: Context, conn: Connection, *, both_ways: bool = False,
            attempts: int = 1) -> str:
    """_silence's words (those of an ICMP time exceeded instead when one quotes the
    connection: verify.ttl_exceeded), after those of an ICMP unreachable whose quote the snap length
    cut that may answer the connection but was tied to none (verify.cut_icmp)."""
    if ttl_exceeded(conn):  # a router's TTL check dropped them (review 54h)
        return ttl_exceeded_words(conn)
    words = _silence(ctx, conn, both_ways=both_ways, attempts=attempts)
    untied = untied_words(conn)
    return f"{untied}; if it is not, {words}" if untied else words


def _silence(ctx: Context, conn: Connection, *, both_ways: bool = False,
             attempts: int = 1) -> str:
    """What an unanswered opening shows: retried SYNs are the mark of a drop, on the way
    there or, when the capture holds nothing of the way back, on either way; one SYN
    that TCP never resent although the capture went on past its retransmission timeout
    more likely got an answer the capture lacks, or was given up at once.

    both_ways: no SYN-ACK in the capture cannot tell a SYN dropped on the way there from
    a SYN-ACK dropped on the way back unless the capture was taken on the responder (a
    capture on the connector, or in between, sees the same), so name both (the data
    connection and callback). attempts: connections to the same endpoint (their SYNs
    count as retries)."""
    if retried(conn, attempts) and ctx.lacks((conn.resp_h, conn.orig_h), conn.ts):
        # A reject, or a SYN-ACK lost on its way back, would travel the way the capture
        # lacks: each looks the same (lab matrix seed 117 run 22: SYN-ACKs dropped by the
        # responder's output read "something drops or rejects its SYNs"). One clause, so a
        # headline cut at its first break keeps both (gist).
        return (f"something drops or rejects its SYNs or drops the SYN-ACKs on their way "
                f"back (the capture holds {lacking_words(ctx, conn.resp_h, conn.orig_h, conn.ts)}, "
                "the way a SYN-ACK, RST or ICMP unreachable would travel)")
    if retried(conn, attempts) and both_ways and reached_second_point(ctx, conn):
        return second_point_words(conn)
    if retried(conn, attempts) and both_ways and arrived_silent(ctx, conn):
        # the responder's own capture point in the set
        return silent_words(conn, came_back(ctx, conn), none_words(ctx, conn))
    if retried(conn, attempts) and both_ways and reached_marked(ctx, conn):
        # the responder's own capture, placed by the SYNs' marks
        return _own_drop_words(ctx, conn, proven_host(ctx, conn.orig_h, conn.resp_h), True)
    if retried(conn, attempts) and answer_uncaptured(ctx, conn) and \
            other_source(ctx, conn) is None and translated_back(ctx, conn) is None:
        if (back := came_back(ctx, conn)) is not None:
            # The responder's packets that are not TCP: the capture holds the way back.
            return came_back_words(conn, back)
        if (toward := asked_toward(ctx, conn)) is not None:
            # Another host's request for the originator's address: the capture holds
            # what travels toward it here, not the answers' way back (an asymmetric route).
            return asked_toward_words(conn, toward, none_words(ctx, conn))
        # The retries prove no SYN-ACK or RST arrived (RFC 6298 5.7, RFC 9293 3.8.1),
        # not that no ICMP did (a soft error: lab matrix seed 112 run 40's host-prohibited
        # reject, captured -Q out): the step failed either way; which way was lost the
        # capture cannot show.
        return (f"something drops its SYNs on the way to {conn.resp_h}, or the answers on "
                f"the way back. The capture holds {none_words(ctx, conn)}, so it may hold "
                "one direction only (tcpdump -Q in/out, a "
                "SPAN port that sees one way) and cannot tell which: a SYN-ACK sent by "
                f"{conn.resp_h} and lost on the return path, or a reject (RST, ICMP "
                "unreachable) the capture lacks, looks the same as no answer at all. The "
                f"retried SYNs show that no SYN-ACK or RST reached {conn.orig_h} (an ICMP "
                "unreachable may have: TCP resends its SYN after one, RFC 1122 4.2.3.9): the "
                "connection never opened"
                + (" while the capture ran" if resend_cut(ctx, [conn]) else ""))
    if retried(conn, attempts) and both_ways and vanished_between(ctx, conn):
        return vanished_words(ctx, conn)
    if retried(conn, attempts) and both_ways and passed_capture_host(ctx, conn):
        return passed_host_words(conn)
    if retried(conn, attempts) and both_ways:
        # On the responder the packet tap sees arriving packets before netfilter's input
        # chain and leaving ones after its output chain: SYNs in with no SYN-ACK out are
        # its own firewall's drop, of the SYNs (input) or of the SYN-ACKs (output).
        # The TTLs or the Linux cooked marks show the capture host (verify.capture_host;
        # lab matrix seed 117 runs 3 and 11: -i any on the responder, one segment).
        on = proven_host(ctx, conn.orig_h, conn.resp_h)
        reached = reached_responder(ctx, conn)
        if reached or (on is not None and on.host == conn.resp_h):
            return _own_drop_words(ctx, conn, on, reached)
        either = (f"something drops its SYNs on the way to {conn.resp_h}, or the SYN-ACKs "
                  "on the way back: the capture holds no SYN-ACK"
                  + (" while the job ran" if conn.synack_frames else "")
                  + ", which looks the same either way")
        if on is not None:
            return (f"{either}: this capture was taken on {conn.orig_h} ({on.words}), "
                    f"not on {conn.resp_h}")
        return (f"{either} unless it was taken on {conn.resp_h} itself (there, SYNs "
                "arriving with no SYN-ACK leaving are its own firewall's drop)")
    if retried(conn, attempts):
        return "something drops its SYNs"
    gave = gave_up_at_once(ctx, conn)
    if gave is not None:  # its connector stopped the job at once (verify.gave_up)
        return gave_up_words(ctx, conn, gave)
    words = unresent_words(ctx, conn, after_last(ctx, conn))
    if conn.role in ("callback", "data") and ctx.session_of(conn) is not None:
        # judged() leaves it failed only when the job stopped after it (verify.unresent).
        return (f"{words}; the job stopped after it (its control connection closed with "
                "nothing further)")
    return words
