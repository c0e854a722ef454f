"""Data connections reset in the middle of their transfer: `data_reset`.

A data connection that carried bytes and then ended with a RST before any FIN, and whose
job did not report a normal end after it (NOTIFY_DATA_HALTED SUCCESSFUL, NOTIFY_MOVER_HALTED
CONNECT_CLOSED): the transfer was cut short, step 5 failed, on the RST as evidence. A FIN
before the RST does not excuse it when it came from the data's receiver while the sender
was still sending (flowcheck.verify.receiver_close): the receiver gave the transfer up
(or, none of the data having reached it, waited for data that never came); nor when the
sender's first answer to the receiver's FIN, after its silence, was a RST without ACK
(flowcheck.verify.unseen_reset): its side had been reset already, unseen. Some
NDMP servers end a finished transfer with a RST instead of a FIN; their job then halts
normally, so that reset is not reported; nor is the reset of a connection that had
stopped delivering before it (data_stalled reports it, flowcheck.verify.stalled_transfer),
nor of one whose receiver's window stayed 0 until it (data_receiver_stalled,
flowcheck.verify.closed_window).
An abnormal halt after the reset (CONNECT_ERROR,
ABORTED) is its consequence, named in the message instead of a data_halted_abnormally of
its own. A capture that ends too soon after the reset to show the halt cannot tell a cut
transfer from a finished one: step 5 is unknown (unseen_cut_transfers) and
capture_ended_early names the reset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from flowcheck.model import Connection, NdmpMessage, Session, connection_ends
from flowcheck.sessions import message_op
from flowcheck.verify.aborted import ONE_EXIT_SECONDS
from flowcheck.verify.capture_points import resets_between, resets_between_words
from flowcheck.verify.carried import carried_words
from flowcheck.verify.clock_order import reset_end_order
from flowcheck.verify.closed_window import zero_window
from flowcheck.verify.context import Context
from flowcheck.verify.durations import span_words
from flowcheck.verify.end_roles import role_words
from flowcheck.verify.evidence import after, ended_early, time_enough
from flowcheck.verify.one_way_data import carried, halts_unseen
from flowcheck.verify.own_halt import closed_by_halter, other_halts
from flowcheck.verify.receiver_close import (
    closed_by_receiver,
    never_delivered,
    never_delivered_report,
    waited_words,
)
from flowcheck.verify.replies import HALTS, abnormal_reason
from flowcheck.verify.reset_first import control_reset_sender, reset_before
from flowcheck.verify.resource_halt import after_event, halt_of
from flowcheck.verify.rst_words import cited_rsts, reset_frame, reset_time, reset_words
from flowcheck.verify.sent_after_reset import reset_went_on_words, sent_after_reset
from flowcheck.verify.stall_unreachable import router_reported
from flowcheck.verify.stalled import data_stall
from flowcheck.verify.ttl import forged_words, reset_ttls
from flowcheck.verify.two_clocks import fin_may_precede_reset
from flowcheck.verify.unseen_reset import dropped_report, dropped_side, dropped_words


def _resets(ctx: Context, session: Session
            ) -> list[tuple[Connection, NdmpMessage | None, bool]]:
    """The session's data connections reset mid-transfer with no normal halt after the
    reset: (connection, the abnormal halt that followed or None, whether the capture went
    on long enough after the reset to show a halt). Found once per session (ctx.resets):
    the check and the steps each read both kinds."""
    found = ctx.resets.get(session.id)
    if found is None:
        found = ctx.resets[session.id] = list(_find_resets(ctx, session))
    return found


def _find_resets(ctx: Context, session: Session
                 ) -> Iterator[tuple[Connection, NdmpMessage | None, bool]]:
    """_resets, for one pass over the session's data connections."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    messages = stream.messages if stream else []
    control = ctx.by_uid.get(session.control_uid)
    for uid in session.data_connections:
        conn = ctx.by_uid[uid]
        dropped = dropped_side(ctx, conn)
        if not conn.rst_frames or not carried(conn) or (
                conn.fin_frames and (conn.fin_frames[0] < conn.rst_frames[0]
                                     or fin_may_precede_reset(ctx, conn))  # two clocks
                and not closed_by_receiver(conn) and dropped is None):
            continue  # no reset, nothing carried, or a close begun before it
        if data_stall(conn) is not None:
            continue  # data_stalled: the reset came after the stall
        window = zero_window(conn, ctx.capture_end)
        if window is not None and window.ended == "reset":
            continue  # data_receiver_stalled: the reset ended a closed window
        reset_ts = reset_time(conn)
        if closed_by_receiver(conn) and any(
                closed_by_halter(conn, session, h, abnormal_reason(h) or "")
                for h in other_halts(ctx, session, conn)[:1]):
            continue  # the other session's halt is the cause (flowcheck.verify.own_halt)
        reset_at = reset_frame(conn)
        halt = halt_of(messages, conn, reset_ts, reset_at, ctx.order)
        if dropped is not None and halt is not None and not after_event(
                ctx.order, halt.frame, halt.ts, dropped.fin_frame, dropped.fin_ts):
            continue  # the job had halted before the close: its end, not a cut
        if halt is None:
            if halts_unseen(ctx, session):
                yield conn, None, False  # its halt would be in the direction not captured
                continue
            across = reset_end_order(ctx, control, stream, conn) if control else ""
            ended = (None if across == "unknown" else across) if across \
                else _control_ended(control, conn)
            if time_enough(ctx, reset_ts, reset_at):
                yield conn, None, True
            elif any(message_op(m) in HALTS and after_event(ctx.order, m.frame, m.ts, reset_at,
                                                               reset_ts) for m in messages):
                continue  # halts after it that halt_of did not tie to this connection
            elif ended == "after":
                yield conn, None, True
            elif ended is None:
                yield conn, None, False
            # else the session had ended before the reset: no halt could come, the
            # control connection's end is the failure (flowcheck.verify.running)
        elif (reason := abnormal_reason(halt)) is not None:
            if closed_by_receiver(conn) and closed_by_halter(conn, session, halt, reason):
                continue  # the halt's own reason is the cause (flowcheck.verify.own_halt)
            yield conn, halt, True
        elif closed_by_receiver(conn) and not reset_before(control, conn):
            # A SUCCESSFUL halt says the sender's writes returned, not that its bytes
            # arrived: the receiver closed and reset bytes still coming (multipath trial:
            # the DMA's session reset under it, its mover closed mid-transfer; when the
            # capture holds that reset, control_reset reports it: cut_after_reset).
            yield conn, None, True


def _control_ended(control: Connection | None, conn: Connection
                   ) -> Literal["before", "after"] | None:
    """Did the session's control connection end (its first FIN or RST) before or after
    the data connection's first RST? None: it did not in the capture. No halt comes after
    it ends: when none came before either, the capture shows there was none, however
    soon it stopped."""
    closes = (control.fin_frames[:1] + control.rst_frames[:1]) if control else []
    if not closes:
        return None
    return "after" if min(closes) > conn.rst_frames[0] else "before"


def cut_transfers(ctx: Context, session: Session) -> list[tuple[Connection, NdmpMessage | None]]:
    """The session's data connections reset mid-transfer, each with the abnormal halt that
    followed its reset (None when none came)."""
    return [(conn, halt) for conn, halt, seen in _resets(ctx, session) if seen]


def unseen_cut_transfers(ctx: Context, session: Session) -> list[Connection]:
    """The session's data connections reset mid-transfer less than the retransmission
    timeout before the capture ended, with no halt of their job after the reset in it
    and their control connection still open (_control_ended), or with no halt in a
    capture that lacks the direction halts travel (halts_unseen): whether the job halted
    normally (a finished transfer torn down with a RST) or the transfer was cut short is
    not in the capture."""
    return [conn for conn, _, seen in _resets(ctx, session) if not seen]


def cut_words(ctx: Context, conn: Connection, session: Session, it: str = "it") -> str:
    """How the transfer was cut: "reset mid-transfer (RST, frame 301)", or "the media
    server 10.77.0.1 closed it mid-transfer (FIN, frame 2192) while the agent 10.77.1.2
    was still sending, then reset it (RST, frame 2194)" (`it`: how to name the
    connection)."""
    dropped = dropped_side(ctx, conn)
    if dropped is not None:
        return dropped_words(dropped, session)
    if not closed_by_receiver(conn):
        return f"reset mid-transfer ({reset_words(conn)})"
    if never_delivered(conn):
        return waited_words(conn, session, it)
    sender, receiver = ((conn.orig_h, conn.resp_h) if conn.sender_is_orig
                        else (conn.resp_h, conn.orig_h))
    return (f"{role_words(conn, session, receiver)} closed {it} mid-transfer (FIN, frame "
            f"{conn.fin_frames[0]}) while {role_words(conn, session, sender)} was still "
            f"sending, then reset it ({reset_words(conn)})")


def unseen_words(ctx: Context, conn: Connection, session: Session) -> str:
    """Step 5's words for a reset the capture ends too soon after (unseen_cut_transfers)."""
    how = (cut_words(ctx, conn, session, "the data connection") if closed_by_receiver(conn)
           else f"the data connection was reset ({reset_words(conn)})")
    if halts_unseen(ctx, session):
        return (f"{how}: whether the job halted normally after it is in the agent's "
                "direction of the control connection, which the capture lacks (its "
                "NOTIFY_DATA_HALTED; some NDMP servers end a finished transfer with a RST)")
    return (f"{how} {after(ctx, reset_time(conn)):.3f} s before the capture ended: whether "
            "the job halted normally after it is not in the capture")


def check_cut_transfers(ctx: Context) -> None:
    """One data_reset error per data connection reset mid-transfer; one
    capture_ended_early warning per such reset the capture ended too soon after."""
    for session in ctx.sessions:
        hidden = halts_unseen(ctx, session)  # capture_one_direction says why, not its end
        for conn in [] if hidden else unseen_cut_transfers(ctx, session):
            words = (f"the data connection {connection_ends(conn)}")
            ended_early(ctx, session, cut_words(ctx, conn, session, words)
                        if closed_by_receiver(conn) else
                        f"{words} was reset mid-transfer ({reset_words(conn)})",
                        reset_time(conn), [*conn.fin_frames[:1], *cited_rsts(conn)],
                        conn=conn, waits="a halt of its job could be seen",
                        unseen="whether the job halted normally after it (some NDMP servers "
                        "end a finished transfer with a RST) or the transfer was cut short")
        for conn, halt in cut_transfers(ctx, session):
            _report(ctx, session, conn, halt)


def _report(ctx: Context, session: Session, conn: Connection,
            halt: NdmpMessage | None) -> None:
    """data_reset for one transfer cut short; halt: the abnormal halt after it, if any."""
    moved = carried_words(conn, session)  # "in the capture" when it opened before it
    aborted = None
    then = ""
    if halt is not None:
        then = (f" The job then halted with {abnormal_reason(halt)} "
                f"({message_op(halt)}, frame {halt.frame}).")
    words = f"{connection_ends(conn)}"
    dropped = dropped_side(ctx, conn)
    forged = ""
    if dropped is not None:  # its sender's side reset, the reset not captured (trial 30 D2)
        head, fix = dropped_report(ctx, dropped, session, words, moved)
    elif closed_by_receiver(conn) and never_delivered(conn):
        head, fix = never_delivered_report(ctx, session, conn, words)
    elif closed_by_receiver(conn) and (broke := _path_broke(conn, session)) is not None:
        head, fix = f"The data connection {words} carried {moved}; {broke[0]}", broke[1]
    elif closed_by_receiver(conn):
        receiver = conn.resp_h if conn.sender_is_orig else conn.orig_h
        head = (f"The data connection {words} carried {moved}; "
                f"{cut_words(ctx, conn, session)}, with no normal halt of its job after it: "
                "the receiver gave the transfer up and it was cut short.")
        fix = (f"See the job log and {role_words(conn, session, receiver)}'s NDMP service "
               "log at that time for why it gave the transfer up (a FIN comes from the host "
               "itself, not from a device between them): its control connection lost "
               "(a firewall's reset), its service stopped or restarted, or an error of its "
               "own.")
        control = ctx.by_uid.get(session.control_uid)
        if control is not None and reset_before(control, conn):
            # Its session's control connection was reset first (multipath trial: a
            # firewall on the control path, the DMA's job gone with it).
            sender = control_reset_sender(ctx, control)
            head += (f" The session's control connection had been reset before it ("
                     f"{reset_words(control)}{sender}): the job ended with it, so the "
                     "receiver closed its data connection.")
            fix = ("Find why the control connection was reset ("
                   + ("the device between the hosts that sent it: its session or threat "
                      f"log, its idle timeout for port {control.resp_p}" if sender else
                      "the hosts' logs, then the firewalls between them")
                   + "); the data connection's close followed it.")
    else:
        who = ("both ends" if conn.orig_rst and conn.resp_rst else
               role_words(conn, session, conn.orig_h if conn.orig_rst else conn.resp_h))
        forged = _forged_words(ctx, conn, session)
        if not forged and resets_between(ctx, conn):  # two capture points: trial 26 D4
            forged = resets_between_words(conn)
        if forged:
            who = f"a device between them, in the name of {who}"
        head = (f"The data connection {words} was reset by {who} ({reset_words(conn)}"
                f"{'; ' + forged if forged else ''}) "
                f"after carrying {moved}, before any FIN and with no normal halt of its job "
                "after it: the transfer was cut short.")
        fix = ("See the job log and both hosts' logs at that time for why the "
               "transfer stopped; if neither host reset it, look for a firewall or IPS "
               f"between {conn.orig_h} and {conn.resp_h} that resets long or large "
               "transfers (a session timeout, a threat signature: its log names it).")
        if forged:
            fix = (f"Look for the firewall, NAT or IPS between {conn.orig_h} and "
                   f"{conn.resp_h} that reset it (a session timeout, a lost state, a threat "
                   "signature: its log names the connection); the hosts did not.")
        aborted = None if forged else _dma_abort(ctx, session, conn)
        if aborted is not None:  # the DMA gave the job up itself (field check 39 t03)
            head += (f" The media server then aborted the job itself "
                     f"({message_op(aborted)}, frame {aborted.frame}): its job engine gave "
                     "the job up, on an error of its own (its tape or storage: a full "
                     "medium, a media error) or a cancel; no device between them did it.")
            fix = ("See the media server's job log at that time for the error that made it "
                   "abort the job (its tape or storage device: end of medium, a media "
                   f"error; or a cancel): it sent {message_op(aborted)} itself.")
        went_on = None if forged or aborted is not None else sent_after_reset(conn)
        if went_on is not None:  # its own TCP never reset it (trial 37c D3)
            head, fix = reset_went_on_words(ctx, conn, head, *went_on)
    both = _ended_both(ctx, session, conn) if halt is None and dropped is None else None
    if both is not None and forged:  # the host closed on the device's reset (trial 26 D3)
        then = both[0]
    elif both is not None:  # one process's exit ended the session's connections
        then, fix, _ = both
    ctx.add("data_reset", head + then, fix, session=session, conn=conn,
            frames=(conn.fin_frames[:1] if closed_by_receiver(conn) or dropped else [])
            + cited_rsts(conn) + ([both[2]] if both else [])
            + ([aborted.frame] if aborted is not None else [])
            + ([halt.frame] if halt else []),
            ts=reset_time(conn), cause="data")


# A DMA's abort this soon after the data connection's reset is its answer to the reset's
# cause (seconds; a job engine aborts within moments of the error).
_ABORT_AFTER_RESET_SECONDS = 10.0


def _dma_abort(ctx: Context, session: Session, conn: Connection) -> NdmpMessage | None:
    """The media server's DATA_ABORT or MOVER_ABORT on the control connection within
    _ABORT_AFTER_RESET_SECONDS after it alone reset the data connection, before any halt
    of the agent's (on which it could be acting): its job engine gave the job up itself
    (a full tape of its own read "if neither host reset it, look for a firewall"); None
    otherwise."""
    media = session.media_server
    if not (conn.orig_rst ^ conn.resp_rst) or \
            (conn.orig_h if conn.orig_rst else conn.resp_h) != media:
        return None
    stream = ctx.stream_by_uid.get(session.control_uid)
    reset = reset_time(conn)
    for message in stream.messages if stream is not None else []:
        if message.ts < reset:
            continue
        if message.ts - reset > _ABORT_AFTER_RESET_SECONDS or (
                message.direction == "resp" and message_op(message) in HALTS):
            return None  # the agent's halt first: the DMA may abort on what it reported
        if (message.type == "request" and message.direction == "orig"
                and message_op(message) in ("DATA_ABORT", "MOVER_ABORT")):
            return message
    return None


def _path_broke(conn: Connection, session: Session) -> tuple[str, str] | None:
    """(words, fix) for a receiver's close that came after a router reported the sender
    unreachable (stall_unreachable.router_reported, its first ICMP before the receiver's
    FIN): the path to the sender broke and the receiver gave up waiting, no error of its
    own (field check trial 37c: a router's link down 30 s, an ARP entry the agent no
    longer answered, read "see the media server's NDMP service log"). None otherwise."""
    reported = router_reported(conn)
    if reported is None or not conn.fin_frames or conn.icmp_frames[0] > conn.fin_frames[0]:
        return None
    sender, receiver = ((conn.orig_h, conn.resp_h) if conn.sender_is_orig
                        else (conn.resp_h, conn.orig_h))
    router = conn.icmp_sender
    return (f"the router {router} reported {role_words(conn, session, sender)} unreachable "
            f"with {reported} before {role_words(conn, session, receiver)} closed it (FIN, "
            f"frame {conn.fin_frames[0]}) and reset it ({reset_words(conn)}), with no "
            "normal halt of its job after it: the path to "
            f"{sender} broke, and {receiver} gave the transfer up after waiting for its "
            "data (its timeout), not for an error of its own.",
            f"Check the path from {router} to {sender}: its link, its route and its ARP or "
            f"neighbour entry for {sender} (`ip neigh` there: FAILED or INCOMPLETE when "
            f"{sender} no longer answers; another host claiming its address looks the "
            f"same); then {sender}'s own log. {receiver}'s close was its timeout.")


def _forged_words(ctx: Context, conn: Connection, session: Session) -> str:
    """The TTL evidence when every RST the connection holds carries a TTL other than its
    side's own packets' (verify.ttl: a device between the hosts sent it in that side's
    name); "" when a RST's TTL is its side's own or unknown."""
    sides = [side for side, sent in (("orig", conn.orig_rst), ("resp", conn.resp_rst))
             if sent]
    ttls = [reset_ttls(ctx, conn, side) for side in sides]
    if not sides or any(t is None or t[0] == t[1] for t in ttls):
        return ""
    return "; ".join(
        forged_words(role_words(conn, session, conn.orig_h if side == "orig" else conn.resp_h),
                     rst, own)
        for side, (rst, own) in zip(sides, ttls, strict=True))  # type: ignore[misc]



def _ended_both(ctx: Context, session: Session, conn: Connection
                ) -> tuple[str, str, int] | None:
    """The words, fix and FIN frame when the host that alone reset the data connection also closed
    the session's control connection (its first FIN, NdmpStream.fin) within
    ONE_EXIT_SECONDS of the RST: it ended both at once, as its process's exit does (a
    DMA interrupted or cancelled, a service stopped or crashed); None otherwise. Devices
    between the hosts reset connections, they do not close them (RFC 9293 3.6: a FIN is
    its sender's close). When the RST was a device's (_forged_words), the close is the
    host's answer to it: the words say so and the fix stays the device's (trial 26 D3)."""
    control = ctx.by_uid.get(session.control_uid)
    stream = ctx.stream_by_uid.get(session.control_uid)
    if control is None or stream is None or stream.fin is None \
            or conn.orig_rst == conn.resp_rst or closed_by_receiver(conn):
        return None
    host = conn.orig_h if conn.orig_rst else conn.resp_h
    fin = stream.fin
    if host != (control.orig_h if fin.direction == "orig" else control.resp_h) \
            or abs(fin.ts - reset_time(conn)) > ONE_EXIT_SECONDS:
        return None
    gap = fin.ts - reset_time(conn)
    when = f"{span_words(abs(gap))} {'later' if gap >= 0 else 'before'}"
    if fin.direction == "orig":
        role, what = "the media server", ("its job engine (the DMA) ended: the job was "
                                          "cancelled or interrupted, or the job engine "
                                          "stopped or crashed")
        fix = ("See the job log and the media server's system event log at that time: the "
               "job cancelled or interrupted, or the job engine service stopped or crashed. "
               "No device between the hosts did it: devices reset connections, they do not "
               "close them.")
    else:
        role, what = "the agent", "its NDMP service stopped, restarted or crashed"
        fix = ("See the agent's NDMP service log and its system event log at that time (the "
               "service stopped, restarted or crashed), then the job log. No device between "
               "the hosts did it: devices reset connections, they do not close them.")
    words = (f" {role.capitalize()} {host} also closed the session's control connection "
             f"(FIN, frame {fin.frame}) {when}. It ended both connections at once, as the "
             f"system ends a process's connections when it exits; {what}.")
    if _forged_words(ctx, conn, session):  # the RST was a device's: the close answers it
        words = (f" {role.capitalize()} {host} then closed the session's control "
                 f"connection (FIN, frame {fin.frame}) {when}: its job ended on the reset "
                 "(a device that resets a connection in one host's name most often "
                 "resets the other host too).")
    return words, fix, fin.frame
