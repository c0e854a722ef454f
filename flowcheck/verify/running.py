"""A control connection lost in the middle of a job: its packets no longer acknowledged
(control_stalled), reset (control_reset) or closed (control_closed); or a job still
running where the capture ends (capture_ended_early: flowcheck.verify.still_running)."""

from __future__ import annotations

from dataclasses import replace

from flowcheck.frame_names import frame_text
from flowcheck.model import (
    Connection,
    Finding,
    NdmpMessage,
    NdmpStream,
    Session,
    other_direction,
)
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import reply_to, seen_closing
from flowcheck.verify.aborted import report_deferred
from flowcheck.verify.acked_no_halt import acked_no_halt
from flowcheck.verify.capture_host import proven_host
from flowcheck.verify.context import Context
from flowcheck.verify.control_closed import halt_after, report_closed
from flowcheck.verify.control_reset import halt_unanswered, report_reset
from flowcheck.verify.control_stall import control_stall, no_messages, start_unseen
from flowcheck.verify.evidence import ended_early
from flowcheck.verify.hidden_ends import announcement_lost, lost_start, missed_from
from flowcheck.verify.idle_bound import bounded_idle_words, data_end_in
from flowcheck.verify.lost_fin import LostFin, lost_close
from flowcheck.verify.lost_reply import failure_signs
from flowcheck.verify.mid_transfer_resets import unseen_cut_transfers
from flowcheck.verify.no_reply import fold_awaiting
from flowcheck.verify.one_way_data import halts_unseen
from flowcheck.verify.one_way_start import agent_start, started_one_way
from flowcheck.verify.open_transfer import open_transfer, polled_halted, report_open_transfer
from flowcheck.verify.opening_stall import opening_stalled, report_opening_stall
from flowcheck.verify.replies import HALTS
from flowcheck.verify.reset_answer import (
    IDLE_SECONDS,
    closed_before_reset,
    idle_timeout_fix,
    silence_before,
    silence_words,
)
from flowcheck.verify.reset_first import cut_after_reset
from flowcheck.verify.rst_words import reset_time
from flowcheck.verify.sent_after_reset import sent_after_reset
from flowcheck.verify.silent_sender import silent_sender
from flowcheck.verify.snapped_halts import (
    headers_whole,
    whole_after,
)
from flowcheck.verify.stalled import (
    STATE_LOST,
    Stall,
    silent_peer_fix,
    silent_peer_words,
    stall_words,
    unacked_from,
    unacked_words,
)
from flowcheck.verify.still_running import halted_since, still_running
from flowcheck.verify.stream_evidence import stream_whole
from flowcheck.verify.three_way_close import (
    job_starts,
)
from flowcheck.verify.unjudged_halt import sender_words, stall_judged, unjudged_halt
from flowcheck.verify.unseen_resources import report_unseen_resources
from flowcheck.verify.unseen_start import (
    JobBegin,
    first_halt,
    running_data,
    unseen_start_judged,
)


def check_running(ctx: Context) -> None:
    """For each session whose failure has no other root cause and that started a job: if
    the job is running at the end of its control stream (a DATA_START_* request with no
    NOTIFY_*_HALTED after it), control_reset when a RST ended its control connection,
    control_closed when a FIN did (a side's FIN and then its own RST included: the RST
    answered the peer's packets after the close, reset_answer.closed_before_reset),
    else capture_ended_early when the connection is still open; if the job halted and its
    session was reset before any CONNECT_CLOSE,
    control_reset too when the RST answered a message sent from the halt on that its
    receiver never acknowledged (the halt never reached the DMA, or the DMA's next
    request the agent: the job cannot end normally), or fewer resources started than the
    configured `resources` (the rest never ran). A control connection that stopped
    delivering (control_stall, its closer's FIN resent into the void included) is
    control_stalled, whatever the job's state."""
    for session in ctx.sessions:
        _check_running(ctx, session)
        report_open_transfer(ctx, session)  # one its job's warning did not name
    report_deferred(ctx)  # data_aborted when no control connection failure explains it


def check_gave_up(ctx: Context) -> None:
    """control_closed, before the halts are judged (flowcheck.verify.replies), for a
    session whose side closed its control connection in the middle of a resource after
    giving the job up on a silent data sender (silent_sender), when the peer's halt came
    only after that close: the halt is the give-up's consequence, not the job's end
    (trial 25 D4: a CONNECT_ERROR halt 8 ms after the media server's FINs read as
    data_halted_abnormally, and the RST its closed socket answered it with as
    control_reset, "stopped, restarted or crashed"). check_running judges the rest."""
    for session in ctx.sessions:
        stream = ctx.stream_by_uid.get(session.control_uid)
        if stream is None or stream.fin is None or ctx.causes.get(session.id):
            continue
        control = ctx.by_uid[session.control_uid]
        starts, fin, later = job_starts(ctx, session, stream), stream.fin, ctx.order.later
        if (not starts or not control.fin_frames or fin.frame != control.fin_frames[0]
                or not later(fin.frame, fin.ts, starts[-1].frame, starts[-1].ts)
                or halt_after(stream, fin) is None
                or control_stall(control, closing=True) is not None
                or not stream_whole(ctx, session, stream)):
            continue
        if any(message_op(m) in HALTS and later(m.frame, m.ts, starts[-1].frame, starts[-1].ts)
               and not later(m.frame, m.ts, fin.frame, fin.ts)
               for m in stream.messages) or polled_halted(ctx, stream, starts[-1].frame,
                                                          starts[-1].ts):
            continue  # the job had halted before the close
        closer = control.host(stream.fin.direction)
        if silent_sender(ctx, session, closer, stream.fin.ts) is not None:
            report_closed(ctx, session, stream, control, starts[-1], len(starts))


def _check_running(ctx: Context, session: Session) -> None:
    """check_running for one session."""
    control = ctx.by_uid[session.control_uid]
    stream = ctx.stream_by_uid.get(session.control_uid) or no_messages(control)
    if ctx.causes.get(session.id, set()) - {"halt"}:
        return
    starts = job_starts(ctx, session, stream)
    stall = control_stall(control, closing=True)
    # A FIN the capture lacks, which the sequence numbers show, closed it as well (field
    # check 38's killed agent, `-Q in`, without its FIN: "still open", PASS).
    lost = lost_close(control, stream)
    seen = started_one_way(stream, control, lost.shown.frame if lost is not None
                           and lost.side == "resp" else 0
                           ) if not starts and stall is None else None
    if seen is not None and _start_refused(ctx, session, stream, seen):
        seen = None  # its error cut and a refusal's signs after it: judged below as unseen
    if seen is not None:  # the start request unseen, the agent's side shows the close
        if control.resp_rst:  # its RST, not its FIN: as a whole capture reads it
            report_reset(ctx, session, stream, control, seen, 1, None)
        else:
            report_closed(ctx, session, stream, control, seen, 1, one_way=True, lost=lost)
        return
    # The agent's direction only, or the start request lost by the sniffer: the agent's
    # reply shows the job started.
    begun = (agent_start(stream, control) or lost_start(stream, session)
             ) if not starts else None
    if begun is not None:
        starts = [begun]
    unseen = not starts and start_unseen(ctx, session, stream, control)
    if not starts and not unseen and not (stall is not None and opening_stalled(control, stall)):
        return
    last = unacked_from(stream, stall) if stall is not None else None
    # An ACK comes well within the retransmission timeout after the message the
    # unacknowledged bytes began; a capture that ended sooner may only miss it. A FIN
    # resent unanswered waited the closer's timeout before each resend already.
    if stall is not None and stall_judged(ctx, control, stall, last):
        if not starts and opening_stalled(control, stall):
            report_opening_stall(ctx, session, stream, control, stall, last)
        else:
            _stalled(ctx, session, stream, control, stall, last)
        return
    if starts:
        _job_end(ctx, session, stream, control, JobBegin.at_start(starts), lost, begun)
    elif unseen and unseen_start_judged(ctx, session, stream, control):
        # A stall left unjudged above (its resends too close to the capture's end) is
        # left to the reset's or close's evidence, as for a start in the capture.
        data = running_data(ctx, session)
        if data is not None:
            _job_end(ctx, session, stream, control, JobBegin.at_data(data), lost, None)


def _job_end(ctx: Context, session: Session, stream: NdmpStream, control: Connection,
             begin: JobBegin, lost: LostFin | None, begun: NdmpMessage | None) -> None:
    """_check_running from the job's begin on: its start request in the capture, or its
    running data's first packet when the capture lacks the start (unseen_start: the
    control conversation readable from its first captured packet on, unseen_start_judged;
    judged on the same evidence, but for the resource count, the still running job and
    the rest after a halt: the resources before the capture are not in it). lost: the
    control connection's FIN the capture lacks (lost_fin); begun: the agent's reply or a
    lost start that stands for the start request (agent_start, lost_start)."""
    start = begin.start
    halt = first_halt(ctx, stream, begin)
    # A reset is read when no control byte the capture missed may hide what came after
    # the job's start (a halt) or, a halt seen, after the halt (hidden_ends.missed_from:
    # sniffer loss early in a job, or a hole the sequence numbers name, hides nothing of
    # its end; ndmjob-idle/idle-rst-agent without a DATA_GET_STATE request lost 10 s
    # before the halt the RST answered read PASS).
    # Nor when a lost announcement hides the data connection (a failure of it the root
    # cause), or a lost reply to the start may have refused it.
    refused = start is not None and _start_refused(ctx, session, stream, start)
    judged = start is None or (not missed_from(control, stream, start.frame) and not (
        announcement_lost(stream, session) or refused))
    reset = bool(control.rst_frames) and judged
    reset_after_halt = bool(control.rst_frames) and halt is not None and not missed_from(
        control, stream, halt.frame)
    # A halt on the three-way job's other control connection (or a polled one) ended it
    # too, as open_transfer reads it: not still running.
    ended = halt is not None or (start is not None and halted_since(ctx, session, start))
    if lost is not None and lost.shown.frame < begin.frame:
        lost = None
    # Readable from the begin on: the running data's, from the control connection's
    # first captured packet (unseen_start_judged).
    # The media server's packets only: its ACKs may show the agent's FIN came with no
    # halt before it (flowcheck.verify.acked_no_halt).
    acked = acked_no_halt(ctx, session, stream, control, start) if halt is None else None
    closable = (halt is None and (bool(control.fin_frames) or lost is not None)
                and (start is None or stream_whole(ctx, session, stream)
                     or headers_whole(ctx, session, stream) or acked is not None
                     or (whole_after(ctx, session, stream, start.frame) and judged))
                and not polled_halted(ctx, stream, begin.frame, begin.ts) and not refused)
    if closable and reset and closed_before_reset(stream) is not None:
        # The side closed it, then its TCP reset the peer's later packets.
        report_closed(ctx, session, stream, control, start, begin.count)
    elif halt is None and reset:
        report_reset(ctx, session, stream, control, start, begin.count, None)
    elif closable:
        report_closed(ctx, session, stream, control, start, begin.count, lost=lost,
                      acked=acked)
    elif (start is not None and not ended and not seen_closing(control)
          and (halts_unseen(ctx, session) or not unseen_cut_transfers(ctx, session))):
        # A data connection reset just before the capture ended already has its
        # capture_ended_early, naming the reset (flowcheck.verify.cut_transfer; not when
        # the halts' direction is missing: halts_unseen); so has an open transfer whose
        # start request the capture lacks (open_transfer).
        if begun is None or open_transfer(ctx, session) is None:
            still_running(ctx, session, stream, start, begin.count)
    elif (start is not None and not ended and not seen_closing(control)
          and (cut := _cut_warning(ctx, session)) is not None):
        fold_awaiting(ctx, session, cut)  # its unanswered request too: one finding
    elif (reset_after_halt and not _closed_by_request(stream, control)
          and (halt_unanswered(ctx, stream, control, halt)
               or sent_after_reset(control) is not None
               or cut_after_reset(ctx, session) is not None
               or (start is not None and ctx.config.resources
                   and begin.count < ctx.config.resources))):
        report_reset(ctx, session, stream, control, start, begin.count, halt)
    elif start is None:
        return  # the rest is the verdict's: what the capture holds of the job says it
    elif (unjudged := unjudged_halt(ctx, session)) is not None:
        # Its halt resent when the capture ended: the data step says unknown (data_flow).
        ended_early(ctx, session, f"{sender_words(session, unjudged)}, resent "
                    f"{unjudged.stall.resends} times with no ACK reaching its sender",
                    unjudged.halt.ts,
                    [unjudged.halt.frame, unjudged.stall.frame], conn=control,
                    waits="a path that stopped delivering it could be told from an ACK "
                    "still on its way", unseen="whether it reached the DMA, and the job "
                    "ended,", frame=unjudged.halt.frame)
    elif ended:  # between resources: the rest may be after the capture
        report_unseen_resources(ctx, session)


def _cut_warning(ctx: Context, session: Session) -> Finding | None:
    """The session's capture_ended_early of a data connection reset just before the
    capture ended (verify.cut_transfer, unseen_cut_transfers), if any."""
    cut = {conn.uid for conn in unseen_cut_transfers(ctx, session)}
    return next((f for f in ctx.session_findings(session.id)
                 if f.code == "capture_ended_early" and f.uid in cut), None)


def _stalled(ctx: Context, session: Session, stream: NdmpStream, control: Connection,
             stall: Stall, last: NdmpMessage | None) -> None:
    """control_stalled: the path stopped delivering the control connection (a firewall
    or NAT that dropped its idle state drops its packets, silently: no reset). stall: the
    sender's (stalled.stall_of); last: its last NDMP message, where the bytes began."""
    roles = ("the media server", "the agent") if stall.side == "orig" else ("the agent",
                                                                       "the media server")
    fin = stream.fin if stall.fin and stream.fin is not None else None
    # The exchange whose packets were lost began after a silence: long, an idle timeout.
    if fin is not None:
        silence = silence_before(stream, fin.ts, fin.frame)
        what = f"its FIN ({frame_text(fin.frame)})"
    elif last is not None:
        silence = silence_before(stream, last.ts, last.frame)
        size = f"{stall.unacked:,} B" if stall.unacked else "bytes"
        what = f"its last {size} ({unacked_words(stream, stall, last)})"
    else:
        silence = silence_before(stream, control.last_ts, control.last_frame)
        what = f"its last {stall.unacked:,} B" if stall.unacked else "its last bytes"
    reset = (f" The connection was then reset (RST, {frame_text(control.rst_frames[0])})."
             if control.rst_frames else "")
    # The silence after the last resend, when it is long enough to say something (a
    # resent FIN waited a timeout of its own each time: nothing to add).
    went_on = ctx.end_at(stall.ts) - stall.ts if stall.ts is not None and not stall.fin else None
    if went_on is not None and went_on < ctx.config.retransmission_timeout:
        went_on = None
    # A halt lost at the data's end bounds the idle time (trial 26 D8): not the silence
    # up to the closer's FIN, which is its job engine's wait.
    end = data_end_in(ctx, session, control, silence, fin) if fin is not None else None
    idle = (end.idle if end is not None else silence.seconds) >= IDLE_SECONDS
    fix = f"{idle_timeout_fix(control)}; a capture on both hosts at once shows where " \
          "the packets are lost."
    peer = ""
    if not stall.acks_lost:  # the receiver answered nothing: it may be gone
        sender, receiver = control.host(stall.side), control.host(other_direction(stall.side))
        on = proven_host(ctx, receiver, sender)
        peer = silent_peer_words(roles[1], receiver, sender, on)
        host_fix = silent_peer_fix(roles[1], receiver, sender, on)
        # After an idle silence the timeout reading comes first, else the host; the host
        # alone when the capture was taken on it (the resends reached it).
        fix = (host_fix if on is not None and on.host == receiver else
               f"{fix} {host_fix}" if idle else f"{host_fix} Else {fix[0].lower()}{fix[1:]}")
    ctx.add("control_stalled",
            stall_words("control", control, roles, stall, what, went_on) + reset
            + f" The job cannot go on without its control connection. {STATE_LOST}"
            + (bounded_idle_words(end, silence, fin, roles)
               if idle and end is not None and fin is not None else
               ", here after its idle timeout: before them the control connection had sat "
               f"idle {silence_words(silence)}, as it does while the data flows." if idle else
               ": after an idle timeout, a failover or a reload of its state table; or "
               "the route between them changed, or an IPS dropped the flow.") + peer,
            fix,
            session=session, conn=control,
            frames=[fin.frame if fin is not None else last.frame if last is not None
                    else control.last_frame, *([end.frame] if end is not None else [])],
            ts=(fin.ts if fin is not None else last.ts if last is not None
                else control.last_ts), cause="control")


def _start_refused(ctx: Context, session: Session, stream: NdmpStream,
                   start: NdmpMessage) -> bool:
    """Did the sniffer lose the reply to the job's last start request, or the snap
    length its error word (NdmpMessage.error_unknown: the refusal unseen as well), and
    did the session then do what a refusal brings (lost_reply.failure_signs: the DMA
    closed the session at once)? Whether the job ran cannot be seen (trial39-server-
    errors/start-backup-before-data-connect without its error reply, or with it cut to
    24 or 28 B of TCP payload, read control_reset: review62b)."""
    if start.type == "reply":  # a lost start's reply stands for it (lost_start)
        asked = replace(start, type="request", direction=other_direction(start.direction),
                        sequence=start.reply_sequence, reply_sequence=0)
        return start.error_unknown and bool(failure_signs(ctx, session, stream, asked))
    answer = reply_to(start, (m for m in stream.messages if m.frame > start.frame))
    unseen = (answer.error_unknown if answer is not None
              else any(r.frame == start.frame for r in stream.lost_replies))
    return unseen and bool(failure_signs(ctx, session, stream, start))


def _closed_by_request(stream: NdmpStream, control: Connection) -> bool:
    """Did a CONNECT_CLOSE request end the session before its reset?"""
    reset_ts = reset_time(control)
    return any(message_op(m) == "CONNECT_CLOSE" and m.type == "request" and m.ts <= reset_ts
               for m in stream.messages)
