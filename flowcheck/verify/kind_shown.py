"""Is a session that shows no sign of a job a browse the capture shows?

A session with no DATA_* or MOVER_* setup, no DATA_START_* and no announcement has the
kind "browse" by its rule (sessions.classify.session_kind). That absence says "no job
was started" only when the capture could have shown the job and the failure that would
have stopped it first (docs/findings.md). After its steps are judged: when a step after
the callback is `unknown` (the capture ended while the control connection was still
open, the peer went silent, the stream is hidden), or was not reached because an earlier
step failed (a blocked callback stops a backup as it stops a browse), the session's kind
is unknown (Session.kind_unknown; the JSON kind keeps the contract's "browse").

"The job stopped after step 2 failed" is said only when the capture shows that stop: the
control connection closed (a FIN or RST), or a CONNECT_CLOSE, a halt or a stop request on
it after the failed step's last packet (after_failed). A capture that ended first, the
control connection still open, shows the failure, not the stop: the later steps are
`unknown`, saying how long the capture went on after the failed step (editcap -r
callback-blocked.pcap 1-21, cut at the fourth callback SYN, before its CONNECT_CLOSE, read
"not reached: the job stopped after step 2 failed"). A FAIL from the failed step's own
evidence stays FAIL (the verdict rule: its error finding).
"""

from __future__ import annotations

from flowcheck.durations import ended_words
from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import Connection, Session, Step
from flowcheck.profiles import StepSpec
from flowcheck.sessions.classify import seen_closing
from flowcheck.verify.capture_time import after_last
from flowcheck.verify.context import Context
from flowcheck.verify.step_base import make_step
from flowcheck.verify.unresent import ending_message_after

NOT_REACHED = "not reached: the job stopped after step {number} {how}"
# What the capture lacks on a control connection whose job it does not show stop
# (still_open_words).
CLOSE_UNSEEN = "no FIN, RST or CONNECT_CLOSE"


def _failed_step(session: Session) -> Step | None:
    """The session's first step after the control connection (already judged) that
    failed or is missing; None when none did."""
    return next((s for s in session.steps[1:] if s.status in ("failed", "missing")), None)


def _how(step: Step) -> str:
    """"failed" or "was missing", as the step's status says."""
    return "failed" if step.status == "failed" else "was missing"


def stop_seen(ctx: Context, session: Session, conn: Connection | None) -> bool:
    """Does the capture show the session's job stop after `conn`'s last packet (the
    failed step's connection; None: a missing step's, judged from the control
    connection's opening): its control connection closed (a FIN or RST either way), or
    a message on it at or after that packet ending the job or the session
    (unresent.ending_message_after: CONNECT_CLOSE, NOTIFY_*_HALTED, DATA_/MOVER_ STOP or
    ABORT)?"""
    control = ctx.by_uid[session.control_uid]
    return seen_closing(control) or ending_message_after(
        ctx, session, control.ts if conn is None else conn.last_ts)


def still_open_words(ctx: Context, session: Session) -> str:
    """What the capture shows of the session's control connection at its end, for a
    step `unknown` because the capture ended before the job visibly stopped (stop_seen
    false: after_failed; verify.flow_cut): "with the control connection still open, no
    FIN, RST or CONNECT_CLOSE on it". Where the capture holds one direction of it only
    (Context.lacks) or cannot read its NDMP messages (TLS: NdmpStream.tls_start; none
    decoded), the close may be missing from it, and the words say only what it holds:
    "with no FIN or RST on the control connection in the capture, which holds one
    direction of it only and has its NDMP messages in TLS from frame 131 on, so a close
    may be missing from it" (field48-matrix/two-tls-jobs-dual-stack-one-direction-out
    S2, captured `-Q out`, said the first of a connection whose agent side it lacks)."""
    control = ctx.by_uid[session.control_uid]
    stream = ctx.stream_by_uid.get(session.control_uid)
    reasons = []
    if ctx.lacks((control.orig_h, control.resp_h), control.ts) \
            or ctx.lacks((control.resp_h, control.orig_h), control.ts):
        reasons.append("holds one direction of it only")
    readable = stream is not None and stream.tls_start is None and bool(stream.messages)
    if stream is not None and stream.tls_start is not None:
        reasons.append(f"has its NDMP messages in TLS from {frame_text(stream.tls_start)} on")
    elif not readable:
        reasons.append("has none of its NDMP messages readable")
    if not reasons:
        return f"with the control connection still open, {CLOSE_UNSEEN} on it"
    what = CLOSE_UNSEEN.removeprefix("no ") if readable else "FIN or RST"
    return (f"with no {what} on the control connection in the capture, which "
            f"{' and '.join(reasons)}, so a close may be missing from it")


def after_failed(ctx: Context, session: Session, spec: StepSpec) -> Step | None:
    """The later step `spec` of a session whose earlier step (already judged) failed or
    is missing; None when none did. `not_applicable`, "not reached: the job stopped
    after step 2 failed", when the capture shows that stop (stop_seen); else `unknown`:
    the capture ended N after that step's last packet (or the control connection's),
    the control connection still open, so whether the job stopped there or went on
    cannot be seen. Either way Step.stopped_after names the failed step (settle_browse
    reads it)."""
    failed = _failed_step(session)
    if failed is None:
        return None
    conn = next((ctx.by_uid[uid] for uid in failed.uids if uid in ctx.by_uid), None)
    if stop_seen(ctx, session, conn):
        step = make_step(spec, "not_applicable",
                         detail=NOT_REACHED.format(number=failed.step, how=_how(failed)))
    else:
        last = conn if conn is not None else ctx.by_uid[session.control_uid]
        what = (f"step {failed.step}'s last packet" if conn is not None else
                "the control connection's last packet")
        step = make_step(spec, "unknown", detail=(
            f"unknown: {ended_words(after_last(ctx, last), what)} "
            f"({frame_text(last.last_frame)}) {still_open_words(ctx, session)}: whether the job "
            "stopped after step "
            f"{failed.step} {_how(failed)}, as a job does, or went on to a backup or "
            "restore cannot be seen"))
    step.stopped_after = failed.step
    return step


def job_unseen_words(session: Session) -> str:
    """What a control connection still open at the capture's end leaves unseen (the
    words of its capture_ended_early: verify.steps): whether a backup or restore started,
    after the earlier step that failed or was missing when one did (a refused callback:
    its refusal is in the capture; lab matrix seed 105 run 7)."""
    stopped = _failed_step(session)
    if stopped is None:
        return "whether the session started a backup or restore"
    how = _how(stopped)
    frames = (f" ({frames_words(stopped.frames, ranges=False, plural=True)})"
              if stopped.frames else "")
    return (f"whether the session stopped after step {stopped.step} ({stopped.name}) {how}"
            f"{frames}, as a job does, or went on to a backup or restore")


def settle_browse(session: Session, later: list[Step]) -> None:
    """A browse (by its rule) whose `later` steps (announcement, data connection, data
    flow) the capture cannot judge or did not reach gets kind unknown, saying why. One
    whose kind the capture's gaps left unknown (sessions.unseen: one direction, TLS, cut
    records) but whose later steps a failure the capture shows did not let it reach (a
    refused callback: verify.steps) is unknown for that failure, as its steps say (lab
    matrix seed 113 run 11: "one of them may have refused the job (a
    CONNECT_CLIENT_AUTH refused, say)" beside steps "not reached: the job stopped after
    step 2 failed"). A step not reached is one after_failed made `not_applicable`
    (Step.stopped_after set): read from the data, not the words."""
    if session.kind != "browse":
        return
    if session.kind_unknown:
        if session.job_unseen and session.kind_unknown_why == session.job_unseen:
            stopped = next((step for step in later if _not_reached(step)), None)
            if stopped is not None:
                session.kind_unknown_why = _stopped_why(stopped)
        return
    for step in later:
        if step.status == "unknown":
            why = step.detail.removeprefix("unknown: ")
        elif _not_reached(step):
            why = _stopped_why(step)
        else:
            continue
        session.kind_unknown, session.kind_unknown_why = True, why
        return


def _not_reached(step: Step) -> bool:
    """Was the step not reached because the job visibly stopped after an earlier step
    failed (after_failed)?"""
    return step.stopped_after is not None and step.status == "not_applicable"


def _stopped_why(step: Step) -> str:
    """The kind's why for a later step not reached (NOT_REACHED): "the job stopped after
    step 2 failed, before anything showed a backup, a restore or a browse"."""
    return (step.detail.removeprefix("not reached: ")
            + ", before anything showed a backup, a restore or a browse")
