"""Data connections that stopped delivering in the middle of their transfer: `data_stalled`.

A data connection whose sender resent its last bytes (flowcheck.verify.stalled: 2 or more
retransmissions after its last new byte) that the receiver never acknowledged in the
capture, or that the capture shows acknowledged while the sender went on resending them
(the ACKs lost between the capture point and the sender); the capture went on at least
the retransmission timeout (Config.retransmission_timeout, RFC 6298) after the latest
resend, or after the first resend of the run (each resend waited a timeout for an ACK
that did not come: a capture stopped by hand or a job killed without a close ends soon
after the last), or the receiver then closed it and resent its FIN unanswered (those
resends waited their own timeouts); and no normal halt of its resource came after it
(NOTIFY_DATA_HALTED SUCCESSFUL, NOTIFY_MOVER_HALTED CONNECT_CLOSED). The transfer
stopped: step 5 failed.
A busy data connection has no idle timeout to blame: a firewall or NAT lost its state
(a failover, a reload), the route changed, or an IPS dropped the flow. A stall that
resumed (new bytes after the resends) is not one; an abnormal halt after it is its
consequence, named in the message.
"""

from __future__ import annotations

from typing import Literal

from flowcheck.durations import span_words
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model import (
    Connection,
    ControlPacket,
    NdmpMessage,
    Session,
    connection_ends,
    other_direction,
)
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import JOB_STARTS, reply_to
from flowcheck.sessions.unheard_ack import handshake_unheard
from flowcheck.verify.allow_rules import capitalised, lowered
from flowcheck.verify.capture_host import proven_host
from flowcheck.verify.capture_points import resends_vanished, resends_vanished_words
from flowcheck.verify.context import Context
from flowcheck.verify.end_roles import role_words
from flowcheck.verify.one_exit import closed_with_control
from flowcheck.verify.pmtu import (
    TooBig,
    conn_fix,
    full_size_resends,
    hole_why,
    lost_by_size,
    mtu_reading,
    one_segment,
    shrunk_words,
    small_passed,
    told_too_big,
    too_big_fix,
    too_big_words,
)
from flowcheck.verify.pmtu_sender import sender_reading, smaller_passed, unseen_full_size
from flowcheck.verify.replies import abnormal_reason
from flowcheck.verify.resource_halt import halt_of
from flowcheck.verify.stall_closer import (
    answered_sign,
    data_stopped,
    flow_blocked,
    logs_remedy,
)
from flowcheck.verify.stall_lost import add_lost, halt_then
from flowcheck.verify.stall_passed import passed_detail
from flowcheck.verify.stall_receiver import (
    acked_before,
    answered_after,
    carried_nothing,
    closed_after,
    control_frame,
    delivered,
    heard_after,
)
from flowcheck.verify.stall_timing import session_stalls, stall_timed_by
from flowcheck.verify.stall_unreachable import router_unreachable
from flowcheck.verify.stalled import (
    STATE_LOST,
    Stall,
    silent_peer_fix,
    silent_peer_words,
    stall_words,
)


@fields_dataclass(slots=True, frozen=True)
class StalledTransfer:
    """A data connection that stopped delivering mid-transfer: its stall, the abnormal
    halt that followed (None when none came), and what showed the stall was no late ACK:
    "fin" (the sender's FIN resent), "last" (the capture went on a retransmission
    timeout after the latest resend), "closed" (the receiver then closed it and resent
    its FIN unanswered: closed_unanswered_after), "first" (a timeout after the run's
    first resend) or "lost" (seen from the receiver, Stall.lost: the capture went on a
    retransmission timeout after the gap, and no resend filled it). passed: the sender's
    NDMP message that arrived after the first of its full-size resends (pmtu.small_passed);
    mtu: the capture shows segments lost by their size (pmtu: lost_by_size, or full-size
    resends and `passed`); heard: the first control-connection message the stall's
    receiver sent after the data stopped (heard_after), None when none; closed: when
    none, the receiver's FIN on the control connection after the data stopped
    (closed_after), None when none: either shows the receiver up and reachable; done:
    the normal halt that came after a receiver closed without the lost bytes
    (closed_without), None otherwise; unheard: the receiver's control-connection message
    after the data stopped that never reached its peer (stall_receiver.delivered), in
    place of heard; answered: when neither heard nor closed, in a capture that holds none
    of the receiver's packets, the frame of the sender's ACK on the control connection
    that shows a packet of the receiver arriving after the data stopped (stall_receiver
    .answered_after), 0 when none; told:
    the ICMP packet too big / fragmentation needed messages the sender ignored
    (pmtu.told_too_big), None when none."""

    conn: Connection
    stall: Stall
    halt: NdmpMessage | None
    timed_by: Literal["fin", "last", "closed", "first", "lost"]
    passed: NdmpMessage | None = None
    mtu: bool = False
    heard: NdmpMessage | None = None
    closed: ControlPacket | None = None
    told: TooBig | None = None
    done: NdmpMessage | None = None
    unheard: NdmpMessage | None = None
    answered: int = 0


def stalled_transfers(ctx: Context, session: Session) -> list[StalledTransfer]:
    """The session's data connections that stopped delivering mid-transfer."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    messages, stalls = session_stalls(ctx, session)
    found = []
    for conn, stall in stalls:
        if handshake_unheard(conn):
            continue  # never opened at its listener: handshake_incomplete (trial 34)
        timed_by = stall_timed_by(ctx, conn, stall)
        if timed_by is None:
            continue  # an ACK comes within the retransmission timeout: it may be missed
        halt = halt_of(messages, conn, stall.ts, stall.frame or None, ctx.order)
        done = None
        if halt is not None and abnormal_reason(halt) is None and closed_without(conn, stall):
            halt, done = None, halt
        if halt is None or abnormal_reason(halt) is not None:
            sender = conn.host(stall.side)
            passed, by_size = smaller_passed(ctx, ctx.by_uid.get(session.control_uid),
                                             messages, conn, stall)
            receiver = conn.host(other_direction(stall.side))
            heard, unheard = heard_after(session, messages, halt, receiver, stall, conn), None
            if heard is not None and not delivered(ctx.by_uid.get(session.control_uid), heard):
                heard, unheard = None, heard  # it left the receiver, never arrived
            told = told_too_big(conn, stall, sender)
            shut = None if heard is not None else closed_after(session, stream, receiver,
                                                               stall)
            answered = (answered_after(session, ctx.by_uid.get(session.control_uid), stream,
                                       receiver, conn.fin_frames[0] if stall.fin
                                       and conn.fin_frames else stall.first_frame
                                       or stall.frame)
                        if stall.unseen and heard is None and unheard is None
                        and shut is None else 0)
            found.append(StalledTransfer(conn, stall, halt, timed_by, passed,
                                         by_size or lost_by_size(stall) or told is not None,
                                         heard, shut, told, done, unheard, answered))
    return found


def closed_without(conn: Connection, stall: Stall) -> bool:
    """Whether the receiver closed the data connection without the bytes lost on the way
    (Stall.lost): its last ACK, still below them, came on its FIN. A normal halt after
    it (NOTIFY_DATA_HALTED SUCCESSFUL) then tells only that the sender's writes were done
    (its kernel took the bytes), not that they arrived: the receiver gave up waiting for
    them (trial 38 A8: jumbo frames across a 1500-byte switch port, the media server's
    timeout)."""
    return stall.lost and stall.ack_frame in conn.fin_frames


def stalled_detail(stalled: StalledTransfer) -> str:
    """Step 5's words for a stalled data connection."""
    stall = stalled.stall
    mtu = ("" if not stalled.mtu else "; full-size resends, smaller packets through: path MTU "
           "black hole likely" if stall.unseen else
           "; only full-size segments lost: path MTU black hole")
    if stall.sender_only:
        return passed_detail(stall, mtu)
    if stall.lost:
        return (f"stopped delivering mid-transfer ({stall.unacked:,} B never arrived: the "
                f"receiver's ACKs never covered them, {frame_text(stall.frame)}{mtu})")
    if stall.fin and carried_nothing(stalled.conn):
        return (f"never carried data: closed with no data in it, its FIN resent "
                f"{stall.resends} times and never answered{mtu}")
    if acked := acked_before(stalled.conn, stall):
        conn = stalled.conn
        closer, other = conn.host(stall.side), conn.host(other_direction(stall.side))
        return (f"stopped delivering mid-transfer ({closer}'s ACKs acknowledge {acked:,} B of "
                f"{other}'s data, then no more; then its FIN, resent {stall.resends} times, "
                f"never answered{mtu})")
    what = ("resent bytes its peer acknowledged, the ACKs lost on the way" if stall.acks_lost
            else "its FIN never answered" if stall.fin
            else "no ACK reached the sender, the receiver's packets not captured"
            if stall.unseen else f"its last {stall.unacked:,} B never acknowledged")
    return f"stopped delivering mid-transfer ({stall.resends} retransmissions: {what}{mtu})"


def check_stalled_transfers(ctx: Context) -> None:
    """One data_stalled error per data connection that stopped delivering mid-transfer."""
    for session in ctx.sessions:
        for stalled in stalled_transfers(ctx, session):
            conn, stall, halt = stalled.conn, stalled.stall, stalled.halt
            sender, receiver = conn.host(stall.side), conn.host(other_direction(stall.side))
            roles = (role_words(conn, session, sender).rpartition(" ")[0],
                     role_words(conn, session, receiver).rpartition(" ")[0])
            if stall.lost:
                add_lost(ctx, session, conn, stall, (stalled.halt, stalled.done), roles)
                continue
            what = ("bytes" if stall.acks_lost else
                    "its FIN" if stall.fin else
                    "its last bytes" if stall.unseen else
                    f"its last {stall.unacked:,} B")
            since = stall.first_ts if stalled.timed_by == "first" else stall.ts
            head = stall_words("data", conn, roles, stall, what,
                               None if stall.fin else ctx.end_at(since) - since,
                               from_first=stalled.timed_by == "first")
            if acked_in := acked_before(conn, stall):
                head = data_stopped(conn, stall, roles, acked_in)
            then = halt_then(halt)
            reset = (f" The connection was then reset (RST, {frame_text(conn.rst_frames[0])})."
                     if conn.rst_frames else "")
            closed = (f" {capitalised(roles[1])} then closed it and resent its "
                      f"FIN {len(conn.fin_frames) - 1} times (the last in "
                      f"{frame_text(conn.fin_frames[-1])}), never answered: the path was still "
                      f"losing "
                      "its packets." if stalled.timed_by == "closed" else "")
            reading = (f" {STATE_LOST}. The data connection was busy, so not after an idle "
                       "timeout: the device lost its state table or reloaded it (a failover, a "
                       "restart), the route between them changed, or an IPS "
                       "dropped the flow." if _seen_busy(conn) else
                       f" {STATE_LOST}. The capture holds none of the connection's data (it "
                       "started after the connection opened), so whether it sat idle before "
                       "cannot be seen: an idle timeout, the device losing its state table or "
                       "reloading it (a failover, a restart), a route change or an IPS "
                       "dropping the flow.")
            remedy = logs_remedy(conn)
            heard, shut = stalled.heard, stalled.closed
            on = None if stall.acks_lost else proven_host(ctx, receiver, sender)
            # Two capture points: the resends never reached the receiver's (trial 26 D5).
            vanished = not stall.acks_lost and resends_vanished(
                ctx, conn, stall.side, stall.unacked, stall.resends,
                stall.ts if stall.ts is not None else conn.last_ts)
            if vanished:
                reading += resends_vanished_words(sender, receiver, roles[1])
            elif (lost := stalled.unheard) is not None:
                # Its control message was lost too (field check 39 k04): all of the
                # receiver's packets to the sender, not this connection's alone.
                reading += (f" {capitalised(roles[1])} {receiver} was still up after the "
                            f"data stopped, but its {message_op(lost)} on the control "
                            f"connection ({frame_text(lost.frame)}) never reached {sender} either "
                            "(resent, never acknowledged): everything from "
                            f"{receiver} to {sender} is lost, not this connection's alone: a "
                            f"firewall between them or on {sender} that drops all of "
                            f"{receiver}'s packets, or the path from {receiver} to {sender}.")
                remedy = logs_remedy(conn, f" and the host firewall on {sender} (a rule that "
                                            f"drops {receiver}'s packets)")
            elif (heard is not None or shut is not None or stalled.answered) and \
                    (on is None or on.host != receiver):
                # Trial 23 D9: the receiver spoke on the control connection after the
                # stall: it was up and reachable, so not "the host went down"; trial 26
                # D9: its FIN there (or a message after the closer's FIN) shows it too.
                sign = (f"it sent {message_op(heard)} on the control connection ("
                        f"{frame_text(heard.frame)})" if heard is not None else
                        f"its FIN on the control connection ({frame_text(control_frame(shut))}) "
                        f"came "
                        "through" if shut is not None else
                        answered_sign(ctx, session, stalled.answered, sender))
                # ACKs lost on the way to the sender: its own firewall is the host one
                # (trial B of session 34: the agent's input chain, read as the media
                # server's, where the capture was taken and the resends are).
                blocking: tuple[str, str] | tuple[str]
                if stall.unseen:  # one direction: either host's, or between (both named)
                    blocking, shows = (sender, receiver) if acked_in else (receiver, sender), ""
                elif stall.acks_lost:
                    blocking, shows = (sender,), f"{receiver}'s ACKs reach it"
                else:
                    blocking, shows = (receiver,), "the resends reach it"
                reading, remedy = flow_blocked(conn, (roles[1], receiver), sign, reading,
                                               blocking, shows)
            elif not stall.acks_lost:  # the receiver answered nothing: it may be gone
                reading += silent_peer_words(roles[1], receiver, sender, on)
                host_fix = silent_peer_fix(roles[1], receiver, sender, on)
                # On the receiver itself the resends reached it: the host alone.
                remedy = (host_fix if on is not None and on.host == receiver else
                          f"{host_fix} Else {remedy[0].lower()}{remedy[1:]}")
            # The closer's first FIN and the message heard after; the ACK that shows the
            # receiver heard (StalledTransfer.answered).
            cited: list[int] = [stalled.answered] if stalled.answered else []
            if stall.fin and carried_nothing(conn):
                head, reading, remedy = _nothing_came(ctx, session, stalled, roles,
                                                      head, reading, remedy)
                cited = [conn.fin_frames[0]] + ([heard.frame] if heard is not None else [])
            if (gone := router_unreachable(conn, receiver)) is not None:
                reading, remedy = gone
                cited += conn.icmp_frames[:1]
            size, passed = full_size_resends(conn, stall), stalled.passed
            told = stalled.told
            if told is not None:  # path MTU discovery's message, ignored (trial 28 D5)
                reading = too_big_words(told, sender, on.taken_there
                                        if on is not None and on.host == sender else None)
                remedy = too_big_fix(told, sender)
                head = head.replace(" stopped delivering: ",
                                    " stopped delivering in a path MTU black hole: ", 1)
            elif unseen_full_size(conn, stall):  # the sender's packets alone
                reading, remedy = sender_reading(ctx, conn, stall, roles, passed,
                                                 (reading, remedy))
            elif passed is not None:
                reading = (f" Its resends are full-size ({size:,} B, its largest segment) and "
                           f"{roles[1]} {receiver} acknowledged none of its data, while its "
                           f"smaller packets to it still arrived after the first of them (the "
                           f"control connection's {message_op(passed)}, "
                           f"{frame_text(passed.frame)}, "
                           f"acknowledged): {mtu_reading(ctx, conn)}. An IPS that blocks the "
                           "flow from its first full-size segment looks the same from "
                           f"here; a capture on {receiver} tells them apart.")
                remedy = conn_fix(ctx, conn) + "."
            elif size and vanished:  # its smaller packets crossed: copied_pairs
                # The two points prove only full-size segments were lost: that leads, the
                # state-table reading follows (re-check of trial 26, N5).
                reading = (resends_vanished_words(sender, receiver, roles[1])
                           + f" Its resends are full-size ({size:,} B, its largest segment) "
                           f"while its smaller packets to {receiver} reached both points "
                           f"(they are in the set twice): {mtu_reading(ctx, conn)}. An IPS "
                           "that blocks the flow from its first full-size segment looks the "
                           "same; so "
                           f"would a device that lost the flow's state ({STATE_LOST[0].lower()}"
                           f"{STATE_LOST[1:]}), were the smaller packets not crossing.")
                logs = logs_remedy(conn, tells="")
                remedy = (conn_fix(ctx, conn) + ". If the MTU is not it: "
                          + logs[0].lower() + logs[1:])
            elif size and one_segment(ctx, conn):
                # No router between them, none of its data ever delivered (trial 38 A8b,
                # the sender's capture): a switch's MTU leads, a device's state second.
                reading = (f" Its resends are full-size ({size:,} B, its largest segment) and "
                           f"{roles[1]} {receiver} acknowledged none of its data: "
                           f"{mtu_reading(ctx, conn)}."
                           + (f" Otherwise, {lowered(reading.lstrip())}" if reading else ""))
                remedy = conn_fix(ctx, conn) + ". If the MTU is not it: " + lowered(remedy)
            elif size:
                reading += (f" Its resends are full-size ({size:,} B, its largest segment): if "
                            "smaller packets still pass between them, a path MTU black hole "
                            f"fits too {hole_why(ctx, conn)}.")
                remedy += (" If only full-size segments are lost (a path MTU black hole): "
                           + lowered(conn_fix(ctx, conn)) + ".")
            elif shrunk := shrunk_words(conn, stall, small_passed(
                    ctx.by_uid.get(session.control_uid), _messages(ctx, session), sender,
                    stall.first_ts)):  # full-size resends after a delivered part
                reading += shrunk
                remedy += (" If only full-size segments are lost (a path MTU that shrank): "
                           + lowered(conn_fix(ctx, conn)) + ".")
            ctx.add("data_stalled",
                    head + reset + closed + then + reading, remedy,
                    session=session, conn=conn,
                    frames=sorted({*cited, stall.frame, *conn.rst_frames[:1],
                                   *(told.frames[:1] if told is not None else [])})
                    + ([halt.frame] if halt is not None else []),
                    ts=stall.ts, cause="data")


def _nothing_came(ctx: Context, session: Session, stalled: StalledTransfer,
                  roles: tuple[str, str], head: str, reading: str, remedy: str
                  ) -> tuple[str, str, str]:
    """(head, reading, remedy) of a data connection that carried nothing and that its
    closer's FIN, resent, never had answered (trial 25 D9): the closer waited for data
    that never came and gave up (its timeout), which is no cancelled job; when the other
    side was heard after that FIN (StalledTransfer.heard) it was up, and only this
    connection's packets from it were lost: its data, full-size segments, while its small
    packets passed (a path MTU black hole), or a device blocking this flow. The others
    as given."""
    conn, stall = stalled.conn, stalled.stall
    closer, silent = conn.host(stall.side), conn.host(other_direction(stall.side))
    messages = _messages(ctx, session)
    start = next((m for m in reversed(messages) if m.type == "request"
                  and message_op(m) in JOB_STARTS and m.frame < conn.fin_frames[0]), None)
    answer = reply_to(start, messages) if start is not None else None
    # A reply whose error word the capture cut (error_unknown) is no start accepted.
    began = answer if answer is not None and answer.error_free else None
    control_fin = closed_with_control(ctx, session, conn)
    waited = (f" for {span_words(control_fin.ts - began.ts)}"
              if began is not None and control_fin is not None else "")
    since = (f" after {message_op(began)} was answered ({frame_text(began.frame)})"
             if began is not None else
             f" after it opened ({message_op(answer)} answered in {frame_text(answer.frame)}, "
             "its error not captured)" if answer is not None and answer.error_unknown
             else " after it opened")
    head = (f"The data connection {connection_ends(conn)} never carried data: nothing came from "
            f"{roles[1]} {silent} on it{waited}{since}. {capitalised(roles[0])} {closer} "
            f"then gave up waiting for it (FIN, {frame_text(conn.fin_frames[0])}: its timeout for "
            f"data, not a cancelled job) and resent its FIN {stall.resends} times (the last "
            f"in {frame_text(stall.frame)}), never acknowledged.")
    heard = stalled.heard
    if heard is None:
        return head, reading, remedy
    return (head,
            f" {capitalised(roles[1])} {silent} was up and reachable all the while: it sent "
            f"{message_op(heard)} on the control connection ({frame_text(heard.frame)}) after that "
            "FIN, yet nothing of it on this connection arrived. Its data would have been "
            "full-size segments while its small packets passed: a path MTU black hole fits "
            f"{hole_why(ctx, conn)}. A device or a host firewall on {silent} that blocks this "
            "flow after its handshake looks the same from here; a capture on "
            f"{silent} shows its resends and their size.",
            conn_fix(ctx, conn) + ". " + logs_remedy(conn).replace(
                "See the session", "Else see the session", 1))


def _messages(ctx: Context, session: Session) -> list[NdmpMessage]:
    """The session's control stream's messages ([] when none)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    return stream.messages if stream else []


def _seen_busy(conn: Connection) -> bool:
    """Does the capture show the data connection carrying data, or its opening (a stall
    of one that carried nothing after its opening is no idle timeout either)? A capture
    started after it opened that holds none of its bytes cannot tell (field check trial
    37b: a capture started mid-job read "busy")."""
    return bool(conn.orig_bytes or conn.resp_bytes or conn.missed_bytes
                or conn.syn_seen or conn.synack_seen)
