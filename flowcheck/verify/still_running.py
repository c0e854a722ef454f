"""capture_ended_early of a job still running where the capture ends (flowcheck.verify.
running judges when): its latest DATA_START_* with no sign of a halt after it on any
control connection of the job (its own, and the other one of a three-way job, where the
tape server's NOTIFY_MOVER_HALTED comes: open_transfer.last_halt), its control
connection still open; the open transfer it leaves (flowcheck.verify.open_transfer)
named in the same words."""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import (
    Connection,
    NdmpMessage,
    NdmpStream,
    RingGap,
    Session,
    connection_ends,
)
from flowcheck.sessions import message_op
from flowcheck.verify.allow_rules import capitalised
from flowcheck.verify.context import Context
from flowcheck.verify.no_reply import take_awaiting
from flowcheck.verify.open_transfer import (
    RING_FIX,
    ended_data,
    job_sessions,
    last_halt,
    open_transfer,
    said,
    step_words,
)
from flowcheck.verify.silent_end import (
    SILENT_FIX,
    mark,
    mark_unended,
    silent_end,
    silent_end_message,
)
from flowcheck.verify.unseen_resources import still_due_words, unseen_resources_words


def halted_since(ctx: Context, session: Session, start: NdmpMessage) -> bool:
    """Did the session's job halt after its start `start` by a sign on any of its control
    connections (open_transfer.last_halt: NOTIFY_*_HALTED, a state reply saying HALTED, a
    successful DATA_STOP / MOVER_STOP reply; the other control connection of a three-way
    job too)?"""
    halt = last_halt(ctx, session)
    return halt is not None and ctx.order.later(*halt, start.frame, start.ts)


def _others_words(ctx: Context, session: Session) -> str:
    """" on either of the job's control connections (the other: A -> B)" for a three-way
    job's session (open_transfer.job_sessions), else ""."""
    others = [ctx.by_uid[s.control_uid] for s in job_sessions(ctx, session)[1:]]
    if not others:
        return ""
    names = ", ".join(f"{connection_ends(c)}"
                      for c in others)
    return f" on either of the job's control connections (the other: {names})"


def still_running(ctx: Context, session: Session, stream: NdmpStream,
                   start: NdmpMessage, resource: int) -> None:
    """capture_ended_early when the capture stopped in the middle of a backup or restore:
    the job started (DATA_START_*), no halt was notified after its latest start (a job of
    several resources halts and starts again for each) and its control connection is
    still open. What the job did later (the next resources' announcements and data
    connections, its end) is not in the capture; the steps judge what it holds, and the
    message says so (the data step is unknown while its data flows: open_transfer). A
    request of it still unanswered at the capture's end (verify.no_reply's
    capture_ended_early, ctx.awaiting) is said here, its finding taken back: one end of
    the capture, one finding."""
    control = ctx.by_uid[session.control_uid]
    last = stream.messages[-1]
    what = "it" if resource == 1 else f"its resource {resource}"
    where = connection_ends(control)  # IPv6 in brackets (lab matrix seed 112 run 24)
    # A ring buffer's hole after the control connection's last packet: the capture went
    # on, the job's end is in the missing files.
    gap = next((gap for gap in ctx.ring_gaps if gap.start >= control.last_ts), None)
    # The sniffer dropped packets and ran on past the control connection's last one:
    # the job's end may be among the packets it lost (trial 15: scapy lost the last
    # 125 KB and the halts of a job that had ended 7 s before the capture stopped).
    ran_on = ctx.end_at(control.last_ts) - control.last_ts
    # The control connection silent a retransmission timeout or more before the end, no
    # close in the capture: the job's end cannot be judged (flowcheck.verify.silent_end).
    silent = silent_end(ctx, session, stream, start)
    flowing = open_transfer(ctx, session)
    halt_unseen = False
    if silent is not None:
        mark(ctx, session)  # the data step says unknown (data_flow)
    if gap is None and silent is not None:
        head, fix = silent_end_message(silent, session.kind, what), SILENT_FIX
    elif gap is None and ctx.kernel_dropped and ran_on > ctx.config.retransmission_timeout:
        head, fix = (
            f"The capture holds no end of the {session.kind}: {message_op(start)} ("
            f"{frame_text(start.frame)}) started {what}, no NOTIFY_DATA_HALTED or "
            f"NOTIFY_MOVER_HALTED came after it and the control connection {where} shows "
            f"nothing after {frame_text(last.frame)}, although the capture went on for "
            f"{span_words(ran_on)}; the sniffer reported {ctx.kernel_dropped:,} packets "
            "dropped by the kernel (capture_loss), "
            "so the job's end may be among the packets it lost as well as after the "
            "capture stopped.",
            "If the job log says the job ended before the capture stopped, the sniffer "
            "lost its end: capture so it keeps up (capture_loss says how); else capture the "
            "whole job.")
    else:
        ended = [] if flowing is not None else ended_data(ctx, session)
        halt_unseen = bool(ended) and gap is None  # "... before the halt was reported"
        head, fix = _stopped_or_gap(session, start, what, where, last.frame, gap,
                                    _others_words(ctx, session), ended)
    unseen = unseen_resources_words(ctx, session, len(session.data_connections))
    if flowing is None and silent is None:  # its end may simply be after the capture
        mark_unended(ctx, session)  # the data step says unknown (data_flow)
    if flowing is not None:  # the transfer's end is not in the capture (trial 31 D3)
        said(ctx, session)
        words = flowing.words(halts=False, whose="its")
        head += f" {capitalised(words)}; {step_words(ctx, ring=flowing.gap is not None)}."
    waited = take_awaiting(ctx, session)
    if waited is not None:  # the same end: one finding (newuser60)
        head += f" {waited[0]}"
        fix += f" {waited[1]}"
    ctx.add("capture_ended_early",
            f"{head} {_after_words(ctx, resource, halt_unseen)}"
            + (f". {unseen[0].upper()}{unseen[1:]}. {still_due_words()}" if unseen else
               "." if flowing is not None else
               f". {capitalised(step_words(ctx, ring=gap is not None))}."
               if silent is not None else ": the steps judge only what it holds."),
            fix, session=session, conn=control,
            frames=[start.frame, last.frame, *([flowing.last_frame] if flowing else []),
                    *(waited[2] if waited else []),
                    *([silent.data.last_frame] if silent and silent.data else [])],
            ts=last.ts)


def _after_words(ctx: Context, resource: int, halt_unseen: bool = False) -> str:
    """"What the job did after that, ... is not in the capture": its later resources'
    announcements and data connections only when some are due (newuser56: "its later
    resources' announcements" after resource 3 of the 3 configured had started); "any
    later resources'" when `resources` is not configured, or when the job started more
    than it says (review56e: "resource 3 was the last of the 2 configured: no later
    resource's ... is due", though the job had shown it has more than configured).
    halt_unseen: the head said the data connections ended and no halt came ("before the
    backup's halt was reported"), so the halt leads: "The halt and what came after it,
    ..." (review 56b: "What the job did after that (frame 19)" beside "C2 closed (a FIN
    each way, frames 2138, 2140)" read as a second account, "after that" frame 19 or the
    close)."""
    total = ctx.config.resources
    whose = "its" if total and resource < total else "any"
    beyond = (f" (it started resource {resource}, beyond the {total} configured in "
              "`resources`: later ones may follow)" if total and resource > total else "")
    if halt_unseen and total and resource == total:
        return ("The halt and the job's end are not in the capture (resource "
                f"{resource} was the last of the {total} configured: no later resource's "
                "announcement or data connection is due, unless the job has more than `resources` "
                "says)")
    if halt_unseen:
        return (f"The halt and what came after it, {whose} later resources' announcements "
                f"and data connections and the job's end, are not in the capture{beyond}")
    if total and resource == total:
        return ("What the job did after that, up to its end, is not in the capture (resource "
                f"{resource} was the last of the {total} configured: no later resource's "
                "announcement or data connection is due, unless the job has more than `resources` "
                "says)")
    return (f"What the job did after that, {whose} later resources' announcements and data "
            f"connections and its end, is not in the capture{beyond}")


def _ended_words(conns: list[Connection]) -> str:
    """How the data connections of open_transfer.ended_data ended, as captured: "its data
    connection C2 closed (a FIN each way, frames 2138, 2140)", "... was reset (frame 9)",
    of several "its 3 data connections ended (2 closed by FINs, 1 reset)"."""
    reset = [conn for conn in conns if conn.rst_frames or conn.orig_rst or conn.resp_rst]
    if len(conns) > 1:
        parts = [f"{len(conns) - len(reset)} closed by FINs" if len(reset) < len(conns)
                 else "", f"{len(reset)} reset" if reset else ""]
        return (f"its {len(conns)} data connections ended "
                f"({', '.join(part for part in parts if part)})")
    conn = conns[0]
    if reset:
        frames = f" ({frame_text(min(conn.rst_frames))})" if conn.rst_frames else ""
        return f"its data connection {conn.uid} was reset{frames}"
    return f"its data connection {conn.uid} closed ({_fin_words(conn)})"


def _fin_words(conn: Connection) -> str:
    """The FINs of a data connection that closed: "a FIN each way, frames 2138, 2140",
    "a FIN from 10.77.0.2, frames 2138, 2139" (its resend: review56b, words56 said "a FIN
    each way" of any two FIN frames), "its sender's FIN acknowledged" (none captured).
    Who sent one is the history's (F the originator, f the responder); fin_frames has
    no direction."""
    fins = sorted(conn.fin_frames)
    frames = ("" if not fins else f", {frame_text(fins[0])}" if len(fins) == 1 else
              f", {frames_words(fins[:3], ranges=False, plural=True)}"
              f"{' ...' if len(fins) > 3 else ''}")
    orig, resp = "F" in conn.history, "f" in conn.history
    if orig and resp:
        return f"a FIN each way{frames}"
    if orig or resp:  # the other's, proved by its peer's ACK (accounting.fin_proved_unseen)
        other = conn.resp_fin_unseen if orig else conn.orig_fin_unseen
        return f"a FIN from {conn.orig_h if orig else conn.resp_h}{frames}" + (
            "; the other side's acknowledged, not captured" if other else "")
    return f"a FIN{frames}" if fins else "its sender's FIN acknowledged"


def _stopped_or_gap(session: Session, start: NdmpMessage, what: str, where: str,
                    last: int, gap: RingGap | None, others: str,
                    ended: list[Connection]) -> tuple[str, str]:
    """(message head, fix) of capture_ended_early: a ring's missing files, else the
    capture's end: "still running" while the transfer may be, else "before the backup's
    halt was reported" when its data connections ended in the capture (ended:
    open_transfer.ended_data). others: _others_words."""
    if ended and gap is None:
        return (
            f"The capture stopped before the {session.kind}'s halt was reported: "
            f"{message_op(start)} ({frame_text(start.frame)}) started {what} and "
            f"{_ended_words(ended)}, but no NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED "
            f"(which say whether it succeeded) came after it{others} and the control "
            f"connection {where} is still open (last NDMP message: {frame_text(last)}).",
            "Capture the whole job: start the capture before the job starts and stop it "
            "after the job ends (the job log says when; it also says how this one ended).")
    return (
        (f"The capture lacks the end of the {session.kind}: {message_op(start)} ("
         f"{frame_text(start.frame)}) started {what}, and the control connection {where} shows "
         f"nothing after its NDMP message in {frame_text(last)}, before {gap.words()}: "
         "the job went on in the missing files, and no NOTIFY_DATA_HALTED or "
         f"NOTIFY_MOVER_HALTED is in the capture{others}.",
         RING_FIX) if gap else
        (f"The capture stopped while the {session.kind} was still running: "
         f"{message_op(start)} ({frame_text(start.frame)}) started {what}, no "
         f"NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED came after it{others} and the control "
         f"connection {where} is still open (last NDMP message: {frame_text(last)}).",
         "Capture the whole job: start the capture before the job starts and stop it "
         "after the job ends (the job log says when)."))
