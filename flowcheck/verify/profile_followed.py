"""A missing callback in a capture whose other jobs followed the profile.

step_missing for Backup Exec's callback (step 2) says plain NDMP never calls back and
suggests `--profile ndmp` when the traffic is not Backup Exec's. When another judged
session of the same capture followed the profile, its callback included, the capture is
that product's traffic: the suggestion would only hide the real failures (trial 23 D1:
with --profile ndmp a night's refused and unanswered callbacks became warnings and
their jobs passed as browses), so it names that session instead.
"""

from __future__ import annotations

from flowcheck.model import Session
from flowcheck.verify.context import Context

# step_missing's words for a missing callback (verify.callback_step) that this module replaces.
OTHER_PRODUCT = ("plain NDMP (for example Amanda's ndmjob) never does, so if this is not "
                 "Backup Exec use --profile ndmp")
OTHER_PRODUCT_FIX = "; if the capture is not Backup Exec traffic, analyze it with --profile ndmp"


def wrong_way_fix(profile: str) -> str:
    """step_out_of_order's fix up to the allow rule (verify.data_steps): another profile
    first, for data connections opened by the side `profile` expects to listen."""
    return (f"If this is not {profile} traffic, analyze it with the matching profile "
            "(--profile ndmp for plain NDMP); otherwise ")


def note_profile_followed(ctx: Context) -> None:
    """After every session's steps: each step_missing that suggests another profile
    (Finding.other_profile "said": its data, not its words), when another judged session
    followed this one (every step ok or not applicable, its callback ok), names that
    session and drops the suggestion. The finding is edited in place, never swapped for
    a copy: RangeStop.finding (verify.range_stops, whose note_range_stops writes the
    "Widen ... first" lead after this) and Context.by_session hold it by identity
    (newuser66: a dataclasses.replace copy here left that lead on a discarded finding
    whenever another job of the capture worked)."""
    followed: list[Session] | None = None  # read once, on the first such finding
    for finding in ctx.findings:
        if finding.code != "step_missing" or finding.other_profile != "said":
            continue
        if followed is None:
            followed = _followed(ctx)
        model = next((s for s in followed if s.id != finding.session), None)
        if model is None:
            continue
        finding.message = finding.message.replace(
            OTHER_PRODUCT, f"session {model.id} of this capture did, every step of the "
            f"{ctx.profile.name} profile ok, so the capture is traffic of that profile")
        finding.fix = finding.fix.replace(OTHER_PRODUCT_FIX, "")
        finding.other_profile = ""


def _followed(ctx: Context) -> list[Session]:
    """The first two judged sessions whose steps all worked (ok or not applicable), their
    callback step ok: the first other than a finding's own session is among them."""
    found: list[Session] = []
    for session in ctx.sessions:
        if session.side or not session.steps:
            continue
        callback = [step for step, spec in zip(session.steps, ctx.profile.steps, strict=False)
                    if spec.kind == "callback"]
        if callback and all(step.status == "ok" for step in callback) and all(
                step.status in ("ok", "not_applicable") for step in session.steps):
            found.append(session)
            if len(found) == 2:
                break
    return found
