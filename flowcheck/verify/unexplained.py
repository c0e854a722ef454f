"""The last check: a required step that failed always comes with an error finding.

Each failed, missing or violated step is explained by the finding of its root cause
(data_unanswered, announced_not_used, step_missing, ndmp_error_reply, ...). The verdict
reads only the findings (contract: fail on any error), so a step judged failed with no
error in its session would pass the job: a bug in the checks before, which this turns
into a `step_missing` error instead of a silent pass. The stored captures never reach
it (tests/test_verify_unexplained.py).
"""

from __future__ import annotations

from flowcheck.model import Session, Severity
from flowcheck.sessions import announcement_groups
from flowcheck.verify.context import Context
from flowcheck.verify.refused_connect import group_refusal
from flowcheck.verify.shared import SHARED_KINDS, data_holders

# Statuses that mean the step did not work as the profile requires.
NOT_WORKING = ("failed", "missing", "violated")
UNEXPLAINED = "and no other finding says why"


def check_unexplained(ctx: Context) -> None:
    """One step_missing per session with a failed, missing or violated step and no
    error finding about that session."""
    explained = {f.session for f in ctx.findings if f.severity == Severity.ERROR}
    shared = {spec.number for spec in ctx.profile.steps if spec.kind in SHARED_KINDS}
    for session in ctx.sessions:
        bad = [s for s in session.steps if s.status in NOT_WORKING]
        if any(holder.id in explained for holder in data_holders(ctx, session)
               ) or _refused_elsewhere(ctx, session, explained):
            # Its data steps are another session's (a three-way job): explained there.
            bad = [s for s in bad if s.step not in shared]
        if not bad or session.id in explained:
            continue
        listed = "; ".join(f"step {s.step} ({s.name}) {s.status}: {s.detail}" for s in bad)
        ctx.add("step_missing",
                f"Session {session.id}: {listed}, {UNEXPLAINED} (a flowcheck bug: please "
                "report it with the capture).",
                "See the steps' details; capture the whole job on the media server's "
                "interface toward the agent.",
                session=session, conn=ctx.by_uid.get(session.control_uid))


def _refused_elsewhere(ctx: Context, session: Session, explained: set[str | None]) -> bool:
    """Was a LISTEN endpoint of the session handed on in a CONNECT request that another
    session's NDMP server refused before connecting, that session's error said (a
    three-way job: flowcheck.verify.refused_connect)?"""
    for group in announcement_groups(session.announced):
        found = group_refusal(ctx, group)
        if found is not None and found.carried.control_uid != session.control_uid:
            other = next((s for s in ctx.sessions
                          if s.control_uid == found.carried.control_uid), None)
            if other is not None and other.id in explained:
                return True
    return False
