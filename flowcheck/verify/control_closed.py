"""control_closed: a side closed the control connection (FIN) in the middle of a job
(flowcheck.verify.running decides when): its words, fix, frames. Moved out of
verify.running, with the close a FIN the capture lacks shows by the sequence numbers
(flowcheck.verify.lost_fin) besides a FIN captured."""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import (
    Connection,
    ControlPacket,
    NdmpMessage,
    NdmpStream,
    Session,
    Severity,
    connection_ends,
)
from flowcheck.sessions import closing, message_op
from flowcheck.sessions.classify import reply_to
from flowcheck.verify.acked_no_halt import acked_no_halt_words
from flowcheck.verify.clock_order import end_order_doubt
from flowcheck.verify.context import Context
from flowcheck.verify.first_close import fin_words, first_closer
from flowcheck.verify.lost_fin import LostFin, lost_fin_words
from flowcheck.verify.one_exit import ONE_EXIT_SECONDS, closed_with_control
from flowcheck.verify.one_way_start import one_way_words
from flowcheck.verify.replies import HALTS
from flowcheck.verify.reset_answer import closed_before_reset
from flowcheck.verify.silent_sender import silent_sender, silent_words
from flowcheck.verify.snapped_halts import SNAPPED_FROM_WORDS, SNAPPED_WORDS, headers_whole
from flowcheck.verify.three_way_close import MOVER_STARTS, agent_closed_first, gave_up_words
from flowcheck.verify.unseen_resources import last_message_words
from flowcheck.verify.unseen_start import running_data, unseen_start_words


def halt_after(stream: NdmpStream, fin: ControlPacket | None) -> NdmpMessage | None:
    """The other side's first halt (NOTIFY_*_HALTED) after the control connection's first
    FIN `fin`; None when none or no FIN."""
    if fin is None:
        return None
    return next((m for m in stream.messages if m.frame > fin.frame and m.type != "reply"
                 and m.direction != fin.direction and message_op(m) in HALTS), None)



def report_closed(ctx: Context, session: Session, stream: NdmpStream, control: Connection,
                  start: NdmpMessage | None, resource: int, *, one_way: bool = False,
                  lost: LostFin | None = None, acked: int | None = None) -> None:
    """control_closed: a side closed the control connection (FIN) in the middle of a
    resource, with no halt notified: it ended the session, and the job with it. Devices
    between the hosts reset connections, they do not close them: the side's own service
    stopped, restarted or crashed (the system closes a process's connections with FIN
    when it ends), or gave the job up. Its first FIN tells the side (sessions.closing: a
    RST that side sent after it, the close's consequence, is named, and tells the same).
    one_way: `start` is the agent's reply to the start request, the capture holding only
    the agent's direction (flowcheck.verify.one_way_start); None: the job started before
    the capture, its data seen flowing (flowcheck.verify.unseen_start). lost: the close a FIN the
    capture lacks, its sequence numbers show it (flowcheck.verify.lost_fin): its side is
    the closer, the packet that shows it stands for the FIN (frame, time). acked: the
    capture holds only the media server's packets, whose ACKs show the agent's bytes
    after `start` too few for its reply and a halt (flowcheck.verify.acked_no_halt): the
    reply among them, the words say so.
    """
    by_agent = (lost.side == "resp" if lost is not None
                else first_closer(control, stream) == "responder")
    fin = lost.shown.frame if lost is not None else control.fin_frames[0]
    # A three-way job's tape agent is named so (trial 27 D5).
    agent = f"the {session.server_roles.get(control.resp_h, 'agent')}"
    closer_name = f"{agent} {control.resp_h}" if by_agent else f"the media server {control.orig_h}"
    if _clocks_doubt(ctx, session, stream, control, start, lost, closer_name):
        return
    last = next((m for m in reversed(stream.messages) if m.frame < fin), start)
    # A reply stands for its request when the capture lacks the request (one_way, or
    # the sniffer lost it: hidden_ends.lost_start).
    answered = (start if start is None or one_way or start.type == "reply" or acked is not None
                else reply_to(start, stream.messages[stream.messages.index(start) + 1:]))
    unanswered = ("never answered, " if start is not None
                  and (answered is None or answered.frame > fin) else "")
    begun = (unseen_start_words(ctx, session) if start is None else
             f"{message_op(start)}, {frame_text(start.frame)}")
    last_words = f"; last NDMP message: {frame_text(last.frame)}" if last is not None else ""
    tls = stream.tls_start
    if tls is not None and tls < fin and (last is None or last.frame < tls):
        last_words = f"; {last_message_words(stream, control, fin)}"  # no message named
    what = ("its mover was active" if start is not None and message_op(start) in MOVER_STARTS else
            "the job was running" if resource == 1 else
            f"the job's resource {resource} was running")
    head = (f"The control connection {connection_ends(control)} was closed by {closer_name}"
            f" ({lost_fin_words(control, lost) if lost else fin_words(control, stream)})"
            f" while {what} ({begun}, {unanswered}no NOTIFY_DATA_HALTED or "
            f"NOTIFY_MOVER_HALTED after it{last_words}). The job cannot go on without it. "
            + (acked_no_halt_words(control, start, acked) if acked is not None
               and start is not None else
               one_way_words(control, start) if one_way and start is not None else
               SNAPPED_WORDS if headers_whole(ctx, session, stream) else
               SNAPPED_FROM_WORDS if stream.snap_cut else "")
            + _data_closed_too(ctx, session))
    reset = stream.reset if closed_before_reset(stream) is not None else None
    head += reset_after_close_words(stream, agent if by_agent else "the media server")
    open_data = None if lost is not None or stream.fin is None or stream.fin.frame != fin \
        else _data_left_open(ctx, session, control, stream)
    if open_data is not None:  # its process's exit would have closed it too (newuser 67)
        message, fix = head + open_data[0], open_data[1]
    elif by_agent:
        words, fix = agent_close_words(agent)
        message = head + words
    else:
        message = head + (
            "The media server's job engine ended the session without stopping the job over "
            "NDMP (a cancelled job sends DATA_ABORT or MOVER_ABORT, and halts follow): its "
            "service stopped, restarted or crashed.")
        fix = ("See the job log and the media server's system event log at that time for the "
               "job engine service (stopped, restarted or crashed).")
    close_ts = (lost.shown.ts if lost is not None else stream.fin.ts if stream.fin is not None
                else control.last_ts)
    first = None if by_agent else agent_closed_first(ctx, session, close_ts)
    if first is not None:  # the other agent's session ended first (trial 27 D5)
        message = head + gave_up_words(first, close_ts)
        fix = f"See session {first[0].id}'s {first[3]}."
    # The FIN's time (the packet the message names first), not the connection's last
    # packet (an ACK or a RST after it, not among the frames).
    fin_ts = (lost.shown.ts if lost is not None else stream.fin.ts
              if stream.fin is not None and stream.fin.frame == fin
              else start.ts if start is not None else control.last_ts)
    data = running_data(ctx, session) if start is None else None
    frames = [start.frame if start is not None else data.first_frame if data is not None
              else fin, fin, *([last.frame] if last is not None else []),
              *([reset.frame] if reset else []),
              *([open_data[2]] if open_data is not None else [])]
    closer = control.resp_h if by_agent else control.orig_h
    silent = (silent_sender(ctx, session, closer, fin_ts)
              if stream.fin is not None and stream.fin.frame == fin else None)
    if silent is not None:  # it gave up waiting for a silent peer (trial 25 D7)
        message, fix = silent_words(ctx, session, silent, control, fin, stream, reset)
        frames.append(silent.fin_frame)
        halt = halt_after(stream, stream.fin)
        if halt is not None:  # the peer's halt after the close (trial 25 D4)
            frames.append(halt.frame)
    ctx.add("control_closed", message, fix, session=session, conn=control,
            frames=frames, ts=fin_ts, cause="control",
            severity=Severity.WARNING if first is not None else None)


def _clocks_doubt(ctx: Context, session: Session, stream: NdmpStream, control: Connection,
                  start: NdmpMessage | None, lost: LostFin | None, closer: str) -> bool:
    """Whether the close (its first FIN captured, or the packet that shows a FIN the
    capture lacks: lost_fin), the job's start and the halts cannot be ordered on two
    clocks apart (clock_order.end_order_doubt: capture_clocks_apart reported, True).
    closer: the side that closed it, as report_closed names it ("the agent 10.77.0.2")."""
    shown = lost.shown if lost is not None else stream.fin
    if shown is None or (lost is None and shown.frame != control.fin_frames[0]):
        return False
    words = (f"{closer}'s close of the control connection {connection_ends(control)} "
             f"({'FIN' if lost is None else 'shown by the packet at'} {frame_text(shown.frame)})")
    return end_order_doubt(ctx, session, stream, control, start,
                           (shown.direction, shown.frame, shown.ts, words),
                           "whether the control connection closed while the job ran",
                           "control_closed")


def reset_after_close_words(stream: NdmpStream, closer: str) -> str:
    """"The RST that followed (frame N) is the close's consequence, ..." when the closer
    (`closer`: "the agent", "the media server") reset the peer's packets after its FIN
    (reset_answer.closed_before_reset), else ""."""
    if closed_before_reset(stream) is None or stream.reset is None:
        return ""
    return (f"The RST that followed ({frame_text(stream.reset.frame)}) is the close's consequence, "
            f"not a device's: {closer}'s system answers a closed connection's later packets "
            "with a RST (RFC 9293 3.10.7.1), however soon. ")


def agent_close_words(agent: str) -> tuple[str, str]:
    """(message, fix) for a control connection the agent (`agent`: "the agent", "the tape
    agent") closed with no halt notified: its NDMP service ended the session."""
    return (f"{agent.capitalize()}'s NDMP service ended the session without notifying a "
            "halt: the service stopped, restarted or crashed (the system closes a process's "
            "connections this way when it ends), or it gave the job up.",
            f"See {agent}'s NDMP service log and its system event log at that time (a "
            "service stopped, restarted or crashed; an update or a reboot), then the job "
            f"log; make sure {agent}'s NDMP service is running before the job is run again.")


def _data_closed_too(ctx: Context, session: Session) -> str:
    """"It closed the data connection ... too (FIN, frame 62), 10 ms before: ..." when the
    side that closed the control connection closed a data connection with it
    (one_exit.closed_with_control), else ""."""
    for uid in session.data_connections:
        conn = ctx.by_uid[uid]
        fin = closed_with_control(ctx, session, conn)
        if fin is not None:
            order = "before" if conn.fin_frames[0] < fin.frame else "after"
            return (f"It closed the data connection {connection_ends(conn)} too (FIN, "
                    f"{frame_text(conn.fin_frames[0])}, just {order}), before any data: one "
                    f"process's "
                    "exit ends all its connections, so that close is this one's "
                    "consequence. ")
    return ""


def _data_left_open(ctx: Context, session: Session, control: Connection,
                    stream: NdmpStream) -> tuple[str, str, int] | None:
    """(words, fix, the data connection's last frame) when a data connection of the
    session that carried data shows no FIN and no RST at all, though the capture holds
    packets of both its sides, its last packet before the control connection's first FIN
    (stream.fin, captured: the closer's), while the closer closed the session's callback
    with that FIN (_callback_closed_with): a process's exit closes every connection it
    holds at once, the data connection too (with FIN, or RST over unread data), so the
    closer's process did not simply end. The data connection's end was not seen at this
    capture point (a reset by a device between the hosts that did not cross it, lost
    packets), and the closer may have ended the session on it (newuser 67 item 3: a
    router's `reject with tcp reset` in the agent's name to the media server, captured
    on the agent: "its service stopped, restarted or crashed" stated as fact; the
    callback's FIN 0.1 ms after the control FIN). None otherwise, as for a session
    with no callback (ndmjob's): the capture's end may come before the data's close; and
    when the capture ends too soon after the closer's FINs to show the data connection's
    end (_seen_after: a media server killed mid-restore, its data's last segments and FIN
    going out 0.6 ms and more after its control FIN, the capture stopped at that FIN,
    review64c)."""
    fin = stream.fin
    if fin is None:
        return None
    closer = control.host(fin.direction)
    role = "the media server" if fin.direction == "orig" else "the agent"
    for uid in session.data_connections:
        conn = ctx.by_uid[uid]
        if (conn.fin_frames or conn.rst_frames or not (conn.orig_bytes or conn.resp_bytes)
                or not (conn.orig_pkts and conn.resp_pkts) or conn.last_ts > fin.ts
                or not _callback_closed_with(ctx, session, closer, fin)
                or not _seen_after(ctx, session, conn, fin)):
            continue
        words = (f"{role.capitalize()} {closer} ended the session without notifying a halt, "
                 f"but its data connection {conn.uid} ({connection_ends(conn)}) shows no FIN "
                 f"and no RST, open mid-transfer (its last packet "
                 f"{frame_text(conn.last_frame)}, before the close), though it closed the "
                 f"callback {session.callback_uid} with the control connection: a service "
                 "that stopped or crashed closes all its connections at once, so the "
                 "capture does not show that. "
                 f"{conn.uid}'s end was not seen here: a reset by a device between the "
                 "hosts that did not cross this capture point, or lost packets; "
                 f"{role} may have ended the session on it.")
        fix = (f"See {role}'s job log at that time for the error it ended the session on; "
               f"capture on {closer}'s side too (or read the firewall or IPS between "
               f"{control.orig_h} and {control.resp_h}: its log) to see how {conn.uid} "
               "ended.")
        return words, fix, conn.last_frame
    return None


def _callback_closed_with(ctx: Context, session: Session, closer: str,
                          fin: ControlPacket) -> bool:
    """Did `closer` close the session's callback connection (its first FIN or RST, the
    closer's by sessions.closing) within ONE_EXIT_SECONDS of its control FIN `fin`?"""
    callback = ctx.by_uid.get(session.callback_uid) if session.callback_uid else None
    if callback is None or not (callback.fin_frames or callback.rst_frames) \
            or callback.fin_ts is None:
        return False
    who = callback.orig_h if closing(callback)[0] == "originator" else callback.resp_h
    return who == closer and abs(callback.fin_ts - fin.ts) <= ONE_EXIT_SECONDS


# How many of the data connection's mean intervals between its packets the capture must
# go on after the closer's FINs to show that connection's end: a process's exit closes
# it at once (its FIN, or its unsent data then its FIN, at the connection's pace).
_PACES_AFTER = 10


def _seen_after(ctx: Context, session: Session, conn: Connection,
                fin: ControlPacket) -> bool:
    """Does the capture go on after the closer's FIN `fin` and its close of the callback
    for more than _PACES_AFTER times conn's mean interval between its packets (seconds:
    its first to its last packet over their count)? A process's exit closes a data
    connection with the others, but its FIN waits behind the data still unsent: a media
    server killed mid-restore (review64c: lab, tbf 20 Mbit/s on the router) closed
    callback and control at once while its data's segments went on at their pace
    (0.6 ms apart) and its FIN 0.2 s later; a capture stopped at the control FIN shows
    the data connection open, as a device's reset would leave it. ctx.end_at: the end of
    the capture file holding the FIN."""
    callback = ctx.by_uid.get(session.callback_uid) if session.callback_uid else None
    closed = max(fin.ts, callback.fin_ts if callback is not None and callback.fin_ts
                 is not None else fin.ts)
    pace = (conn.last_ts - conn.ts) / max(1, conn.orig_pkts + conn.resp_pkts - 1)
    return ctx.end_at(fin.ts) - closed > _PACES_AFTER * pace
