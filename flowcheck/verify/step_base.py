"""What every step's check uses: building a Step, the step before, step_missing, the
configured ranges of a connection's ports."""

from __future__ import annotations

from collections.abc import Iterable

from flowcheck.model import Allows, Connection, Finding, Session, Step, StepStatus, cited, cites_of
from flowcheck.model.finding import OtherProfile
from flowcheck.profiles import StepSpec
from flowcheck.verify.context import Context
from flowcheck.verify.ranges import outside_ends


def previous_step(session: Session, ctx: Context, kind: str) -> Step | None:
    """The session's step of that kind already evaluated, if the profile has one."""
    spec = ctx.profile.step(kind)  # type: ignore[arg-type]
    return next((s for s in session.steps if spec and s.step == spec.number), None)


def make_step(spec: StepSpec, status: StepStatus, uids: list[str] | None = None,
              frames: list[int] | None = None, detail: str = "", *,
              cites: Iterable[str] | None = None) -> Step:
    """A Step of spec's number and name (evidence frames sorted, the first 20); cites:
    the finding codes `detail` names (Step.cites), by default those a Said detail
    carries (model.said: none of a plain str)."""
    return Step(spec.number, spec.name, status, uids or [], sorted(set(frames or []))[:20],
                detail, cites=cites_of(detail) if cites is None else cited(cites))


def report_missing(ctx: Context, session: Session, spec: StepSpec, why: str, *,
                   fix: str = "", conn: Connection | None = None,
                   frames: list[int] | None = None, ts: float | None = None,
                   allows: Allows | None = None,
                   other_profile: OtherProfile = "") -> Finding:
    """A step_missing error for the step, saying why (frames: its evidence, else the
    connection's opening; ts: the first evidence frame's time, else the connection's
    start; allows: what the fix's allow rules are for, Finding.allows; other_profile:
    whether its words point to another profile, Finding.other_profile); returns it."""
    return ctx.add("step_missing",
            f"Step {spec.number} ({spec.name}) of the {ctx.profile.name} profile is missing: "
            f"{why}.".replace("..", "."),
            fix or "Capture the whole job from its start on the media server's interface "
                   "toward the agent; if the job really skipped this step, see its log.",
            session=session, conn=conn or ctx.by_uid.get(session.control_uid),
            frames=frames, ts=ts, allows=allows, other_profile=other_profile)


def ports_in_range(ctx: Context, session: Session, conn: Connection) -> bool:
    """Is each of the connection's dynamic ports in the range of its host's role
    (flowcheck.verify.ranges.outside_ends)? A port on a translated address
    (flowcheck.verify.ranges.translated_host) is the NAT's: it does not count."""
    return not outside_ends(ctx, session, conn)
