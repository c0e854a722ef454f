"""step_unknown: every inconclusive verdict comes with a finding that says why.

The verdict is inconclusive when a judged session has a step `unknown` (contract.md,
"Verdict and exit codes"); the step's detail says why. Most such captures also hold a
finding that says it (capture_ended_early, capture_one_direction, ndmp_partial, ...), but
not all: the ndmjob v4 backup without its data connection's packets after the SYN
(`tshark -Y 'not (tcp.port==5014 and frame.number>12)'`, new-user trial 54) read
inconclusive with `findings: []`, the reason only in step 3's detail, where a script
reading the findings finds nothing. So a session whose unknown steps no finding explains
gets one `step_unknown` warning carrying the first unknown step's detail and naming the
others. A finding explains them when it says the capture lacks something
(flowcheck.findings.CAPTURE_LIMITS) for that session or the whole capture, or is a
warning or error of that session (what the job did instead: control_closed_after_auth).
"""

from __future__ import annotations

from flowcheck.findings import CAPTURE_LIMITS, make_finding
from flowcheck.model import Connection, Finding, Session, Severity, Step

_EXPLAINING = (Severity.WARNING, Severity.ERROR)


def _explained(session: Session, findings: list[Finding]) -> bool:
    """Does a finding say why the session's steps are unknown (module docstring)?"""
    return any((f.code in CAPTURE_LIMITS and f.session in (session.id, None))
               or (f.severity in _EXPLAINING and f.session == session.id)
               for f in findings)


def _reason(step: Step) -> str:
    """The step's detail without its leading "unknown: " (the finding says it)."""
    return step.detail.removeprefix("unknown: ").strip() or "the capture does not show it"


def explain_unknown_steps(findings: list[Finding], sessions: list[Session],
                          connections: list[Connection]) -> list[Finding]:
    """The findings, and a step_unknown warning for each judged session (not side
    traffic: Session.side) with an unknown step that no finding explains, dated by the
    first packet of the step's first connection (among its frames); findings with their
    `session` set (pipeline.with_sessions) are what it reads."""
    by_uid = {c.uid: c for c in connections}
    added: list[Finding] = []
    for session in sessions:
        unknown = [step for step in session.steps if step.status == "unknown"]
        if session.side or not unknown or _explained(session, findings):
            continue
        first = unknown[0]
        others = [f"step {s.step} ({s.name})" for s in unknown[1:]]
        also = (f" Also unknown: {', '.join(others)}: see {'their' if len(others) > 1 else 'its'}"
                " detail." if others else "")
        conn = by_uid.get(first.uids[0] if first.uids else session.control_uid)
        frames = [*first.frames, *([conn.first_frame] if conn and conn.first_frame else [])]
        added.append(make_finding(
            "step_unknown",
            f"Step {first.step} ({first.name}) of session {session.id} cannot be judged from "
            f"the capture: {_reason(first)}.{also}",
            "Capture the whole job, both directions, with tcpdump -s 0 and no filter, from "
            "before the job starts until it ends, to judge it.",
            session=session.id, uid=conn.uid if conn else None,
            ts=conn.ts if conn and conn.first_frame else None, frames=frames))
    return findings + added
