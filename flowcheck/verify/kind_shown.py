"""Is a session that shows no sign of a job a browse the capture shows?

A session with no DATA_* or MOVER_* setup, no DATA_START_* and no announcement has the
kind "browse" by its rule (sessions.classify.session_kind). That absence says "no job
was started" only when the capture could have shown the job and the failure that would
have stopped it first (docs/findings.md). After its steps are judged: when a step after
the callback is `unknown` (the capture ended while the control connection was still
open, the peer went silent, the stream is hidden), or was not reached because an earlier
step failed (a blocked callback stops a backup as it stops a browse), the session's kind
is unknown (Session.kind_unknown; the JSON kind keeps the contract's "browse").
"""

from __future__ import annotations

from flowcheck.model import Session, Step

NOT_REACHED = "not reached: the job stopped after step {number} {how}"
_STOPPED = "not reached: the job stopped after"


def stopped_by(session: Session) -> str:
    """The later steps' detail when an earlier step of the session (already judged)
    failed or is missing, so the job stopped there; "" when none did."""
    for step in session.steps[1:]:
        if step.status in ("failed", "missing"):
            how = "failed" if step.status == "failed" else "was missing"
            return NOT_REACHED.format(number=step.step, how=how)
    return ""


def job_unseen_words(session: Session) -> str:
    """What a control connection still open at the capture's end leaves unseen (the
    words of its capture_ended_early: verify.steps): whether a backup or restore started,
    after the earlier step that failed or was missing when one did (a refused callback:
    its refusal is in the capture; lab matrix seed 105 run 7)."""
    stopped = next((s for s in session.steps[1:] if s.status in ("failed", "missing")), None)
    if stopped is None:
        return "whether the session started a backup or restore"
    how = "failed" if stopped.status == "failed" else "was missing"
    frames = f" (frames {', '.join(map(str, stopped.frames))})" if stopped.frames else ""
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
    step 2 failed")."""
    if session.kind != "browse":
        return
    if session.kind_unknown:
        if session.job_unseen and session.kind_unknown_why == session.job_unseen:
            stopped = next((step for step in later if step.detail.startswith(_STOPPED)), None)
            if stopped is not None:
                session.kind_unknown_why = _stopped_why(stopped)
        return
    for step in later:
        if step.status == "unknown":
            why = step.detail.removeprefix("unknown: ")
        elif step.detail.startswith(_STOPPED):
            why = _stopped_why(step)
        else:
            continue
        session.kind_unknown, session.kind_unknown_why = True, why
        return


def _stopped_why(step: Step) -> str:
    """The kind's why for a later step not reached (NOT_REACHED): "the job stopped after
    step 2 failed, before anything showed a backup, a restore or a browse"."""
    return (step.detail.removeprefix("not reached: ")
            + ", before anything showed a backup, a restore or a browse")
