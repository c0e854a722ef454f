"""The profile's steps for each session: status, evidence, and step findings.

Runs after the connection and NDMP checks, so a step whose failure already has a root
cause finding only gets its status (failed/missing) and no step_missing on top.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import (
    Session,
    Step,
    cites_of,
    connection_ends,
)
from flowcheck.profiles import StepSpec
from flowcheck.sessions import message_op
from flowcheck.sessions.unseen import cut_last_word, side_words
from flowcheck.verify.after_close import job_ended
from flowcheck.verify.before_job import ended_step
from flowcheck.verify.callback_step import callback_step
from flowcheck.verify.candidate_data import note_callback_candidates
from flowcheck.verify.capture_time import after, opened_at
from flowcheck.verify.closed_job import ended_beside_job, ended_step_of
from flowcheck.verify.context import Context
from flowcheck.verify.control_step import control_step
from flowcheck.verify.data_flow import data_flow_step
from flowcheck.verify.data_steps import announcement_step, data_connection_step
from flowcheck.verify.evidence import OR_FAILED, is_open, judged
from flowcheck.verify.fallback import later_step
from flowcheck.verify.half_open import half_open_check
from flowcheck.verify.hidden_ends import job_missed
from flowcheck.verify.kept import filtered_handshake
from flowcheck.verify.kind_guess import settle_guess
from flowcheck.verify.kind_shown import after_failed, job_unseen_words, settle_browse
from flowcheck.verify.late_job import joined_late_words, unjudge_job_steps
from flowcheck.verify.lost_reply import lost_reply_step
from flowcheck.verify.mid_session import started_mid_session
from flowcheck.verify.no_reply import silent_peer
from flowcheck.verify.not_reached import control_ended_early, control_over, not_due_step
from flowcheck.verify.order import check_order
from flowcheck.verify.port_check import (
    KIND_WHY,
    connect_check,
    unseen_wait,
)
from flowcheck.verify.reply_errors import waiting_tape
from flowcheck.verify.session_words import opened_unseen_words
from flowcheck.verify.shared import SHARED_KINDS, data_holders, shared_step
from flowcheck.verify.stale import given_up_where
from flowcheck.verify.step_base import make_step
from flowcheck.verify.stream_evidence import stream_hidden
from flowcheck.verify.ttl_exceeded import traceroute_probe

_LATER = ("announcement", "data_connection", "data_flow")


def check_steps(ctx: Context) -> None:
    # A session whose data connection another session holds (three-way jobs) reads its
    # data steps from that one: those go first.
    holders = {session.id: data_holders(ctx, session) for session in ctx.sessions}
    for session in sorted(ctx.sessions, key=lambda s: bool(holders[s.id])):
        session.steps = []
        for spec in ctx.profile.steps:  # in order: a step may read the ones before it
            step = _evaluate(ctx, session, spec, holders[session.id])
            session.steps.append(lost_reply_step(ctx, session, spec, step))
        session.ended = ended_beside_job(ctx, session)
        if connect_check(ctx, session):
            session.kind_unknown, session.kind_unknown_why = True, KIND_WHY
        settle_browse(session, [step for step, spec in zip(session.steps, ctx.profile.steps,
                                                            strict=True) if spec.kind in _LATER])
        settle_guess(ctx, session)
        control = ctx.by_uid[session.control_uid]
        if judged(ctx, control) == "midstream" and not filtered_handshake(ctx, session):
            # The job's start not in the capture either: its resources' steps cannot be
            # judged for the job as a whole (late_job).
            late = joined_late_words(ctx, session, control)
            if late is not None and not unjudge_job_steps(session, ctx.profile, late):
                late = None
            session.joined_late = late is not None
            # After the steps, whose statuses it names. A filter that kept only data
            # packets left the handshake out instead: capture_filtered says so.
            started_mid_session(ctx, session, control, late)
        check_order(ctx, session)
        _note_cut_last_word(ctx, session)
        note_callback_candidates(ctx, session)  # step 2's maybe-callbacks among the data


def _evaluate(ctx: Context, session: Session, spec: StepSpec,
              holders: list[Session]) -> Step:
    control = ctx.by_uid[session.control_uid]
    if spec.kind != "control" and (later := later_step(ctx, spec, control)) is not None:
        return later  # its control connection given up for the other IP version
    outcome = judged(ctx, control)
    if spec.kind != "control" and outcome == "unknown":
        return make_step(spec, "unknown", detail="unknown: whether the control connection (step "
                         "1) opened cannot be seen, and this step follows it")
    if spec.kind != "control" and outcome == "given_up":
        where = given_up_where(ctx, control)
        return make_step(spec, "not_applicable", detail="not a job in the capture: its control "
                         f"connection was given up {where} (step 1)", cites=cites_of(where))
    if spec.kind != "control" and half_open_check(ctx, control):
        return make_step(spec, "not_applicable",
                         detail="a half-open port check (step 1), not a job")
    if spec.kind != "control" and connect_check(ctx, session):
        return make_step(spec, "not_applicable", detail="a port check (step 1), not a job")
    if spec.kind != "control" and outcome in ("unanswered", "handshake_incomplete") and \
            traceroute_probe(ctx, control):
        return make_step(spec, "not_applicable", detail="a traceroute probe (step 1), not a job")
    if spec.kind != "control" and not is_open(outcome):
        return make_step(spec, "not_applicable", detail="the control connection never opened")
    ended = job_ended(ctx, session) if spec.kind != "control" else None
    if ended is not None:
        # Its job had ended before the capture saw it run: the capture holds only that
        # closed job's aftermath, nothing of this step (trial 15 D6).
        return ended_step_of(ctx, session, spec, ended)
    if spec.kind in SHARED_KINDS and holders:
        return shared_step(ctx, session, spec, holders)
    if spec.kind in _LATER and session.kind == "browse":
        silent = silent_peer(ctx, session)
        if silent:
            # The capture's end is no stop of the session (lab matrix seed 110 run 15).
            lead = ("whether a backup or restore started cannot be seen"
                    if session.id in ctx.silence_cut else
                    "the session stopped before a backup or restore could start")
            if session.id in ctx.not_due:  # nothing after the opening was due
                return not_due_step(spec, f"not reached: {lead}: {silent}", cites_of(silent))
            return make_step(spec, "unknown", detail=f"unknown: {lead}: {silent}",
                             cites=cites_of(silent))
        if outcome == "midstream":
            # Its DATA_* requests may have gone before the capture started (or in a
            # ring buffer's hole).
            # A connection held only closing beside the control connection's close
            # (Session.closing_only) may have carried a resource's data before the
            # capture: said, counted as none (docs/json.md `status`).
            closing = ", ".join(f"{uid} {connection_ends(ctx.by_uid[uid])}"
                                for uid in session.closing_only if uid in ctx.by_uid)
            opened = opened_unseen_words(session)
            return make_step(spec, "unknown", detail="unknown: whether the session started a "
                             "backup or restore cannot be seen: its control connection opened "
                             f"{opened}" + (
                                 f"; the capture holds {closing} only closing, beside the "
                                 "control connection's close: the job's closing, counted as "
                                 "none of its data connections" if closing else ""),
                             cites=cites_of(opened))
        stream = ctx.stream_by_uid.get(session.control_uid)
        hidden = unseen_wait(ctx, session) or stream_hidden(ctx, session, stream)
        # An unreadable or lossy stream shows no message that would tell.
        if hidden and (not stream or not stream.messages or job_missed(control, stream)):
            return make_step(spec, "unknown",
                             detail=f"unknown: whether the session started a backup or restore "
                                    f"cannot be seen: {hidden}", cites=cites_of(hidden))
        if session.job_unseen and not ctx.causes.get(session.id):
            # One direction, records cut whole, a last reply cut before its error: no sign
            # of a job is no proof there was none, nor that nothing failed first
            # (sessions.unseen). A failure the capture shows (a refused callback, an error
            # reply) ended the session as it does in a whole capture.
            return make_step(spec, "unknown", detail="unknown: whether the session started a "
                             "backup or restore, or failed before one, cannot be seen: "
                             f"{session.job_unseen}", cites=cites_of(session.job_unseen))
        if session.ended_before_job is not None:
            # Refused at its opening, or closed right after authenticating: it asked
            # nothing, so it browsed nothing (sessions.before_job).
            return ended_step(session, spec)
        waiting = waiting_tape(stream)
        if waiting is not None:  # a TAPE_OPEN refused, the session open at the end
            error = (waiting.error_name or str(waiting.error)).removeprefix("NDMP_")
            return make_step(spec, "unknown", [control.uid], [waiting.frame], detail=(
                f"unknown: the capture ended while the session waited for the tape drive: "
                f"TAPE_OPEN was answered {error} ("
                f"{frame_text(waiting.frame)}) and no later TAPE_OPEN, close or CONNECT_CLOSE "
                f"came; a "
                "backup or restore may have started after a retry"))
        if not control_over(ctx, control):
            if not any(f.code == "capture_ended_early"  # one early end said once a session
                       for f in ctx.session_findings(session.id)):
                control_ended_early(ctx, session, control, "a backup or restore could start",
                                    job_unseen_words(session),
                                    f"until the backup or restore has started{OR_FAILED}")
            return make_step(spec, "unknown", detail="unknown: the capture ended "
                             f"{span_words(after(ctx, *opened_at(control)))} after the "
                             "control connection opened, while it was still open: a "
                             "backup or restore may have started later")
        stopped = after_failed(ctx, session, spec)
        if stopped is not None:  # a failed callback stops a backup as it stops a browse
            return stopped  # (trial 20 D4), when the capture shows the stop
        return make_step(spec, "not_applicable",
                         detail="no backup or restore started in this session (browse)")
    evaluate = {"control": control_step, "callback": callback_step,
                "announcement": announcement_step, "data_connection": data_connection_step,
                "data_flow": data_flow_step}[spec.kind]
    return evaluate(ctx, session, spec, control)


def _note_cut_last_word(ctx: Context, session: Session) -> None:
    """ndmp_partial names the reply whose error field the snap length cut when that
    leaves the session's kind unknown (sessions.unseen): the message says the fields that
    were captured are decoded, and this one is the field that decides."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if not session.job_unseen or ctx.causes.get(session.id) or stream is None \
            or stream.snap_finding is None:
        return
    reply = cut_last_word(stream)
    if reply is None or reply.body_len is None:
        return
    note = (f" The error field of the {message_op(reply)} reply ({frame_text(reply.frame)}), "
            f"session {session.id}'s last word, was cut: whether the {side_words(reply)} "
            "refused it cannot be seen, so the session's kind and its later steps are "
            "unknown, not failed.")
    if note not in stream.snap_finding.message:
        stream.snap_finding.message += note
