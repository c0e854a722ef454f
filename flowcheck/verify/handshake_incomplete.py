"""handshake_incomplete: the finding for a connection that got a SYN-ACK whose handshake
never completed (RFC 9293 3.5), read by what the capture shows: the SYN-ACK held only
across a NAT, an ICMP quoting it, a reset by the originator (read by the timing) or by the
responder (a closed port), SYN-ACKs lost between two capture points, the ACK lost before
the listener, else the return traffic blocked (a stateless rule). Step 1, 2 or 4 of
flow-model.md's five steps, whichever connection it is (the control, callback and data
checks). Moved out of verify.opening (whose words are for SYNs never answered)
unchanged."""

from __future__ import annotations

from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import Connection, Session, connection_ends
from flowcheck.sessions.classify import originator_aborted
from flowcheck.sessions.unheard_ack import handshake_unheard
from flowcheck.verify.ack_unheard import (
    both_directions_words,
    listener_side_only,
    report_ack_lost_before,
    report_unheard,
    synack_reached_originator,
    towards_listener_fix,
)
from flowcheck.verify.allow_rules import return_ports
from flowcheck.verify.capture_points import (
    BETWEEN,
    synacks_vanished,
    synacks_vanished_words,
)
from flowcheck.verify.context import Context
from flowcheck.verify.established_accept import established_accept
from flowcheck.verify.own_return_drop import arrived_words, return_fix, taken_on_originator
from flowcheck.verify.synack_reset import (
    late_answer,
    late_reading,
    rejected_words,
    resent_after_reset,
    reset_timeline,
    synacks_unreceived,
    unreceived_reading,
)
from flowcheck.verify.synack_unreachable import (
    other_address_words,
    report_synack_unreachable,
    synack_unreachable,
)
from flowcheck.verify.unresent import (
    unheard_cut,
    unheard_cut_words,
)


def handshake_incomplete(ctx: Context, session: Session | None, conn: Connection,
                          what: str, cause: str) -> None:
    """handshake_incomplete for `conn` (a SYN-ACK, no completing ACK), `what` naming it
    in the message ("control connection", "callback", "data connection") and `cause`
    the root cause recorded (Context.causes): a reset by its originator is read by the
    timing, a reset by the responder as a closed port, else the return traffic blocked
    (RFC 9293 3.5)."""
    if handshake_unheard(conn):  # the SYN-ACK resent after the ACK (trial 34)
        went = unheard_cut(ctx, conn)  # the capture ended soon after (task resentsyn)
        report_unheard(ctx, session, conn, what, cause,
                       "" if went is None else unheard_cut_words(conn, went))
        return
    head = (f"The {what} {connection_ends(conn)} got a SYN-ACK but the handshake never "
            "completed")
    subject = len(f"The {what} ")  # Finding.subject: the words before the ends
    return_rule = _return_rule(ctx, conn)
    if conn.far_synack_frames:
        _answered_across_nat(ctx, session, conn, head, return_rule, cause, subject)
        return
    if synack_unreachable(conn):  # an ICMP quoting the SYN-ACK (trial 40 x1)
        report_synack_unreachable(ctx, session, conn, head, cause, subject)
        return
    if originator_aborted(conn):
        _reset_by_originator(ctx, session, conn, head, return_rule, cause, subject)
        return
    if conn.resp_rst:
        # The responder reset its half-open connection (RFC 9293 3.10.7.4: a listener
        # that closed, or a stack that gave the connection up), no ACK seen before it.
        ctx.add("handshake_incomplete",
                f"{head}: {conn.resp_h} reset it (RST, {frame_text(conn.rst_frames[0])}) before "
                f"an ACK from {conn.orig_h} was seen. Its port stopped listening (the "
                "service or job on that side closed it), or the ACK never reached it and "
                "it gave the connection up.",
                f"See the log of the service on {conn.resp_h} port {conn.resp_p} for why it "
                f"closed the connection; if {conn.orig_h} sent the ACK (a capture on it "
                f"shows), {return_rule}.", session=session, conn=conn, cause=cause,
                subject=subject)
        return
    if synacks_vanished(ctx, conn):  # two capture points place it (trial 26 D5)
        ctx.add("handshake_incomplete",
                f"{head}: the return traffic is blocked between the hosts: "
                f"{synacks_vanished_words(ctx, conn)}.",
                f"In the forward chain of {BETWEEN}, accept the return traffic of "
                "established connections ahead of any drop "
                f"{established_accept('forward')}, or {return_rule}. If it drops "
                f"none of them: check the route back from {conn.resp_h} to {conn.orig_h} "
                "(replies sent another way never pass it) and any stateful firewall on "
                "that way that never sees the SYNs.",
                session=session, conn=conn, cause=cause, subject=subject)
        return
    if synack_reached_originator(ctx, conn):  # one SYN, SYN-ACKs resent for long
        report_ack_lost_before(ctx, session, conn, head, cause, subject)
        return
    if listener_side_only(conn):
        ctx.add("handshake_incomplete", f"{head}: {both_directions_words(conn)}.",
                f"{towards_listener_fix(ctx, conn, session)} Likewise for the replies: on "
                f"{conn.orig_h} (its input chain) and on any firewall between, accept the "
                f"return traffic of established connections, or {return_rule}.",
                session=session, conn=conn, cause=cause, subject=subject)
        return
    other = other_address_words(session, conn)  # a second address's routes (check 41)
    # Taken on the originator, its TTL maybe Windows' (verify.own_return_drop).
    on = taken_on_originator(ctx, conn)
    ctx.add("handshake_incomplete",
            f"{head}: the return traffic is blocked, typically by a stateless rule."
            + (f" And {other}, an address the routers between them may not route back "
               "to." if other else "") + ("" if on is None else arrived_words(ctx, conn, on)),
            return_fix(ctx, conn, return_rule), session=session, conn=conn,
            cause=cause, subject=subject)


def _answered_across_nat(ctx: Context, session: Session | None, conn: Connection,
                         head: str, return_rule: str, cause: str, subject: int = 0) -> None:
    """handshake_incomplete for a connection whose SYN-ACKs the set holds only in its
    view across a NAT (Connection.far_synack_frames): the NAT device drops the return
    traffic (field check 36: an ASA's inside and outside captures). subject: how long
    head's subject is (Finding.subject)."""
    frames = conn.far_synack_frames
    ctx.add("handshake_incomplete",
            f"{head}: {conn.resp_h} answered with {len(frames)} "
            f"SYN-ACK{'s' if len(frames) > 1 else ''}, which the capture set holds only in "
            f"this connection's view across a NAT "
            f"({frames_words(frames[:8], ranges=False, plural=True)}"
            f"{', ...' if len(frames) > 8 else ''}: capture_duplicates), never at the capture "
            f"point on {conn.orig_h}'s side, which saw its SYNs leave: the NAT device between "
            "them (or a device between it and that capture point) drops the return traffic "
            "(a stateless rule, or an asymmetric route that keeps its state from seeing "
            "both directions).",
            f"On the NAT device between the hosts, accept the return traffic of the "
            "connections it translates (established connections ahead of any drop, both "
            f"directions through it), or {return_rule}.",
            session=session, conn=conn, cause=cause,
            frames=sorted({*conn.syn_frames, *frames[:8]}), subject=subject)


def _return_rule(ctx: Context, conn: Connection) -> str:
    """The stateless return rule for `conn`, by port range (return_ports)."""
    answer, back_to = return_ports(ctx, conn)
    return (f"allow the return traffic explicitly: TCP from {conn.resp_h} {answer} back to "
            f"{conn.orig_h} {back_to}; a rule dropping those ports without `ct state new` "
            "drops these replies too")


def _reset_by_originator(ctx: Context, session: Session | None, conn: Connection, head: str,
                         return_rule: str, cause: str, subject: int = 0) -> None:
    """handshake_incomplete for a control connection or callback its originator reset
    after the SYN-ACK, read by the timing as data_aborted reads a data connection's
    (subject: how long head's subject is, Finding.subject)."""
    if late_answer(ctx, conn):
        reading, fix = late_reading(conn, conn.orig_h)
    elif resent := resent_after_reset(conn):
        reading = rejected_words(conn, resent)
        fix = f"Check the firewall on {conn.orig_h}: make the rule stateful, or {return_rule}."
    elif unreceived := synacks_unreceived(conn):
        reading, fix = unreceived_reading(ctx, conn, unreceived)
    else:
        reading = (f"The SYN-ACK came at once: a rule on {conn.orig_h} rejects it with a "
                   "reset (a stateless firewall that does not let in the return traffic of "
                   f"its own connections), or {conn.orig_h} gave the connection up itself.")
        fix = (f"Check the firewall on {conn.orig_h}: make the rule stateful, or "
               f"{return_rule}; if it lets them in, see the log of the service that "
               "connected.")
    ctx.add("handshake_incomplete", f"{head}: {reset_timeline(conn)}. {reading}", fix,
            session=session, conn=conn, cause=cause,
            frames=[*conn.syn_frames, *conn.synack_frames, *conn.rst_frames[:1]],
            subject=subject)
