"""A later step the capture did not reach, or reached too soon to judge (flow-model.md's
five steps, from step 2 on): `not_due_step`, the `not_applicable` step of a session whose
control connection stalled at its first bytes (Context.not_due); `control_over`, whether
the capture could have seen what comes after the control connection opened; and
`control_ended_early`, the one capture_ended_early warning for a control connection the
capture ended on too soon. Used by the callback step (verify.callback_step) and the browse
reading of steps 3-5 (verify.steps). Moved out of verify.steps unchanged."""

from __future__ import annotations

from flowcheck.model import (
    Connection,
    Session,
    Step,
    connection_ends,
)
from flowcheck.profiles import StepSpec
from flowcheck.verify.capture_time import after_opened, opened_at
from flowcheck.verify.context import Context, opening_frames
from flowcheck.verify.evidence import ended_early
from flowcheck.verify.step_base import make_step


def control_ended_early(ctx: Context, session: Session, control: Connection,
                        waits: str, unseen: str, stop_after: str) -> None:
    """capture_ended_early for a control connection still open too soon after it opened
    (one warning, whichever step asks): the capture ended before `waits`, so `unseen`
    cannot be seen (the control connection's own answer is in the capture: it opened);
    the fix asks it to run on `stop_after` (ending OR_FAILED: the job may fail first). A
    step of the job, not a TCP retry: no retransmission timeout is named (newuser54:
    "before a backup or restore could start (retransmission timeout 3 s)")."""
    opened, frame = opened_at(control)
    ended_early(ctx, session, f"the control connection "
                f"{connection_ends(control)} opened", opened,
                opening_frames(control), conn=control, frame=frame,
                waits=waits, unseen=unseen, stop_after=stop_after)


def control_over(ctx: Context, control: Connection) -> bool:
    """Could the capture have seen the callback? The control connection closed, or the
    capture went on long enough after it opened."""
    return bool(control.fin_frames or control.rst_frames) or \
        after_opened(ctx, control) >= ctx.config.retransmission_timeout


def not_due_step(spec: StepSpec, detail: str, cites: tuple[str, ...]) -> Step:
    """A later step of a session whose control connection stalled at its first bytes
    (Context.not_due): `not_applicable`, not reached after step 1 (Step.stopped_after:
    the kind says why, verify.kind_shown); cites: the codes `detail` names (Step.cites)."""
    step = make_step(spec, "not_applicable", detail=detail, cites=cites)
    step.stopped_after = 1
    return step
