"""A data connection opened the other way under the default profile, when the capture
cannot show which product ran the job: step `unknown`, not step_out_of_order.

With no profile given, flowcheck judges a session by backup-exec-9 unless it reads as
plain NDMP (flowcheck.verify.plain_reading). A session whose announcements have the
media server's mover listening (plain NDMP's three-way backup: the agent connects) and
that shows no Backup Exec sign, but whose capture may lack one (a hole in its control
stream, a ring's hole, or the capture joined it after its first NDMP message: its
callback step `unknown`), is refused that reading; its data connection, opened by the
agent as its announcement told it, then read ERROR step_out_of_order, "the backup-exec-9
profile expects the media server to open it" (latestart: captures/ndmjob/v4-backup.pcap
kept from frame 7 or 8, a good ndmjob job, read FAIL). That error holds only under a
profile nobody chose and the capture cannot confirm: contract.md's verdict is
inconclusive when the capture cannot show whether a step worked. So for such a session
the data connection step reads `unknown` (its detail saying what the capture shows and
why the profile is in doubt), and the step_out_of_order finding becomes a step_unknown
warning with the same fix ("If this is plain NDMP (...), analyze it with --profile ndmp;
if it is backup-exec-9 traffic: ..."). A profile given keeps step_out_of_order, and so
does a session with a Backup Exec sign (its vendor message, its callback) or an
announcement with the agent listening; any other error still fails the job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from flowcheck.config import Config
from flowcheck.model import (
    Announcement,
    Connection,
    Finding,
    NdmpStream,
    RingGap,
    Session,
    Severity,
    cites_of,
)
from flowcheck.ndmp.listeners import listener_of, mover_announcements
from flowcheck.profiles import Profile, StepSpec
from flowcheck.verify.plain_direction import fork_words
from flowcheck.verify.plain_reading import (
    PLAIN_PROFILE,
    _gap_may_hide,
    _sign_hidden,
    may_infer,
    plain_sessions,
    shown_words,
    stream_opening,
    vendor_signed,
)
from flowcheck.verify.step_base import make_step


def doubtful_sessions(sessions: Sequence[Session], findings: Sequence[Finding],
                      connections: Sequence[Connection], streams: Sequence[NdmpStream],
                      config: Config, profile: Profile, *,
                      ring_gaps: Sequence[RingGap],
                      plain: dict[str, list[Announcement]] | None = None) -> dict[str, str]:
    """The judged sessions that would read as plain NDMP but for what the capture may
    lack: no Backup Exec sign in it (no vendor message, no callback as read, every
    announcement with the mover listening, one at least) and their callback step
    `unknown`, refused by plain_sessions only because a sign may be hidden (a hole of the
    control stream or a ring buffer, or the stretch where a callback would show not
    captured: _callback_would_show). By id, with why the capture cannot show whether the
    job is Backup Exec's (_doubt_words); {} when a profile was given (may_infer) or a
    vendor message tied to no session may be any one's. `plain`: plain_sessions' answer
    for these arguments when the caller has it (pipeline.analyze), else made here."""
    if not may_infer(config, profile):
        return {}
    judged = [s for s in sessions if not s.side]
    signed = vendor_signed(judged, findings)
    if signed is None:
        return {}
    if plain is None:
        plain = plain_sessions(sessions, findings, connections, streams, config, profile,
                               ring_gaps=ring_gaps)
    by_uid = {c.uid: c for c in connections}
    by_stream = {s.uid: s for s in streams}
    kinds = [spec.kind for spec in profile.steps]
    doubt: dict[str, str] = {}
    for session in judged:
        movers = mover_announcements(session)
        callback = [step.status for step, kind in zip(session.steps, kinds, strict=False)
                    if kind == "callback"]
        if (session.id in plain or session.id in signed or session.callback_uid
                or session.callback_ambiguous or not movers or not callback
                or any(status != "unknown" for status in callback)
                or any(a.listener != "mover" for a in session.announced)
                or any(listener_of(name) != "mover"
                       for _, name, _ in session.cut_announcements)):
            continue
        doubt[session.id] = _doubt_words(session, movers, by_uid, by_stream, ring_gaps)
    return doubt


def _doubt_words(session: Session, movers: list[Announcement],
                 by_uid: dict[str, Connection], by_stream: dict[str, NdmpStream],
                 ring_gaps: Sequence[RingGap]) -> str:
    """Why the capture may lack the session's Backup Exec signs (doubtful_sessions):
    "it joined the session after its first NDMP message (...)", a hole, or the
    stretch where a callback would show not captured."""
    stream = by_stream.get(session.control_uid)
    control = by_uid.get(session.control_uid)
    opening = stream_opening(stream)
    if _sign_hidden(stream, movers):
        return ("a hole of its control stream before the first announcement may have held "
                "Backup Exec's vendor message")
    if _gap_may_hide(control, opening, movers, ring_gaps):
        return ("a ring buffer's hole before its first announcement may hold the control "
                "connection's opening, and a vendor message with it")
    if control is not None and not control.syn_seen and opening is None:
        return ("the capture joined the session after its first NDMP message (neither the "
                "control connection's handshake nor the agent's greeting, NOTIFY_CONNECTED, "
                "nor the DMA's CONNECT_OPEN request is in it), so a vendor message and the "
                "agent's callback to the job engine may have come before it started")
    return ("the capture may lack the stretch before the first announcement where the "
            "agent's callback to the job engine would show (a filter, sniffer loss, a "
            "hole, or an announcement whose address it cut)")


def judge_in_doubt(sessions: Sequence[Session], findings: Sequence[Finding],
                   profile: Profile, doubt: dict[str, str]) -> list[Finding] | None:
    """The findings of an analysis (pipeline.analyze: the default profile's reading, or a
    mixed one; its `sessions`, judged by `profile` unless sessions[].profile says ndmp)
    with each step_out_of_order of a session of `doubt` (doubtful_sessions: id -> why)
    made a step_unknown warning, in its place (the caller sorts them again), and that
    session's data connection step `violated` for the opener made `unknown`, in place
    (module docstring); None when none changed."""
    spec = profile.step("data_connection")
    if not doubt or spec is None:
        return None
    by_id = {s.id: s for s in sessions}
    changed = False
    kept: list[Finding] = []
    for finding in findings:
        session = by_id.get(finding.session or "")
        why = doubt.get(finding.session or "")
        if (finding.code == "step_out_of_order" and session is not None and why is not None
                and session.profile != PLAIN_PROFILE
                and _restep(session, spec, profile.name, why)):
            finding = _unknown_finding(finding, session, spec, profile.name, why)
            changed = True
        kept.append(finding)
    return kept if changed else None


def _which(session: Session) -> str:
    """The session's first mover-listening announcement, "DATA_CONNECT, frame 8"."""
    return shown_words(sorted(mover_announcements(session), key=lambda a: a.frame))


def _restep(session: Session, spec: StepSpec, profile: str, why: str) -> bool:
    """The session's data connection step `violated` for its opener ("opened by ...,
    expected the media server": verify.data_steps; Step.wrong_way) made `unknown`, its
    detail kept and why it cannot be judged said; whether there was one."""
    for index, step in enumerate(session.steps):
        if step.step == spec.number and step.status == "violated" and step.wrong_way:
            session.steps[index] = make_step(
                spec, "unknown", step.uids, step.frames,
                f"unknown: {step.detail} ({profile}, the default: no profile was given), "
                f"but as its announcement ({_which(session)}) told it, plain NDMP's "
                f"three-way backup; whether this job is {profile}'s the capture cannot "
                f"show: {why}", cites=[*step.cites, *cites_of(why)])
            return True
    return False


def _unknown_finding(finding: Finding, session: Session, spec: StepSpec, profile: str,
                     why: str) -> Finding:
    """step_out_of_order of the session made a step_unknown warning: its words, then why
    they may not hold; its fix, evidence and time kept. The signs are looked for per
    session (doubtful_sessions), so the words say "this session shows no sign", not that
    the capture holds none (review56p: ndmjob's v4-backup.pcap from frame 7 merged with
    lab/clean-3-resources.pcap, whose S2 has a vendor message and a callback)."""
    said = finding.message.removesuffix(".")
    return dataclasses.replace(
        finding, code="step_unknown", severity=Severity.WARNING,
        fix=_definite_fix(finding, spec, profile), fork=0,
        message=(f"Step {spec.number} ({spec.name}) of session {session.id} cannot be "
                 f"judged from the capture: {said[:1].lower()}{said[1:]}, but its "
                 f"announcement ({_which(session)}) has the media server's mover listening "
                 "and the agent connecting, plain NDMP's three-way backup. No profile was "
                 f"given, and whether this job is {profile}'s the capture cannot show: this "
                 f"session shows no sign of Backup Exec (no vendor message, no callback), "
                 f"but {why}."))


def _definite_fix(finding: Finding, spec: StepSpec, profile: str) -> str:
    """The fix of step_out_of_order, with what gives the definite reading of a job that
    is `profile`'s: analyzing it with --profile PROFILE, which judges the step (the
    agent's connect then step_out_of_order, an error) instead of leaving it unknown. Put
    at the fork plain_direction's lead makes ("...; if it is backup-exec-9 traffic: ",
    where Finding.fork says), else after the fix. Review56i: a Backup Exec user was told
    of --profile ndmp only."""
    fix = finding.fix
    definite = (f"analyze it with --profile {profile}, which judges step {spec.number} "
                "(unknown without it)")
    if finding.fork:
        after = finding.fork + len(fork_words(profile))
        return (f"{fix[:finding.fork]}; if it is {profile} traffic, {definite}; then: "
                f"{fix[after:]}")
    said = fix.rstrip()
    return (f"{said}{'' if not said or said.endswith('.') else '.'} If it is {profile} "
            f"traffic, {definite}.").lstrip()
