"""The catalogue of finding codes: stable snake_case codes and their default severity.

Codes are part of the JSON contract (docs/findings.md): never rename or remove one
without a changelog entry.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from flowcheck.model import Finding, Severity
from flowcheck.model.finding import Allows, OtherProfile, Reading

if TYPE_CHECKING:
    from flowcheck.model import Session

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741
FRAMES_LISTED = 20  # a finding's evidence frames listed (docs/json.md); the rest counted

CATALOGUE: dict[str, Severity] = {
    "no_control_session": E,
    "control_unanswered": E,
    "agent_unreachable": E,  # a configured agent never answered ARP (verify.absent_agents)
    "agent_not_seen": I,  # a configured agent with no session in the capture
    "control_refused": E,
    # A control connection given up for the other IP version (verify.fallback)
    "ip_version_fallback": W,
    "handshake_incomplete": E,
    "callback_unanswered": E,
    "callback_refused": E,
    "data_unanswered": E,
    "data_refused": E,
    "data_aborted": E,
    "data_reset": E,
    "data_stalled": E,
    "data_receiver_stalled": E,  # or W when the window reopened: verify.receiver_stalled
    "announced_not_used": E,
    "port_outside_media_range": E,
    "port_outside_agent_range": E,
    "control_port_outside_media_range": W,
    "ndmp_error_reply": E,  # or W, by message: see ndmp_error_severity
    "data_halted_abnormally": E,
    "control_reset": E,
    "control_closed": E,
    "ndmp_no_reply": E,
    "control_stalled": E,
    "control_end_unseen": W,  # a request never ACKed nor resent: verify.unseen_end
    "control_closed_after_auth": W,
    "control_off_backup_network": E,
    "step_missing": E,
    "step_out_of_order": E,
    "unannounced_connection": W,
    "host_not_configured": W,
    "ranges_overlap": W,
    "range_holds_ndmp_port": W,  # a configured range holds the NDMP port: verify.capacity
    "range_too_small": W,
    "port_reused_within_hold": W,
    "ndmp_partial": W,
    "ndmp_undecodable": W,
    "ndmp_vendor_message": I,
    "capture_truncated": W,
    "capture_undecodable_packets": I,
    "capture_duplicates": I,
    "capture_started_mid_session": I,
    "capture_clock_stepped": I,
    "capture_clocks_apart": W,  # a reading across two hosts' clocks not made: verify.two_clocks
    # Records out of time order by less than 128 ms, taken in time order (connections.clock)
    "capture_written_out_of_order": I,
    "capture_ring_gap": W,
    "capture_unreadable": W,
    "capture_files_skipped": I,
    "capture_loss": W,  # or I below 0.1% of the payload: see flowcheck.verify.loss
    "announced_address_mismatch": E,
    "capture_ended_early": W,
    "capture_one_direction": W,
    "capture_unread_encapsulation": W,  # or I, no direction missing: verify.unread_frames
    "capture_filtered": W,
    "capture_stray_syn": I,  # a flooded copy of another host pair's SYN: verify.stray
    # An unknown step no other finding explains: its own reason (verify.unknown_steps).
    "step_unknown": W,
    # No profile given, the capture plain NDMP's: judged by ndmp (verify.plain_reading).
    "profile_inferred": I,
}

# Findings that say the capture itself lacks something (cut, lost, filtered, one way,
# started or ended mid-job): with none, an inconclusive verdict is the job's doing.
CAPTURE_LIMITS = frozenset({
    "ndmp_partial", "capture_truncated", "capture_started_mid_session", "capture_ring_gap",
    "capture_unreadable", "capture_loss", "capture_ended_early", "capture_one_direction",
    "capture_unread_encapsulation", "capture_filtered", "capture_clock_stepped",
    "capture_undecodable_packets"})


def make_finding(code: str, message: str, fix: str = "", *, severity: Severity | None = None,
                 session: str | None = None, uid: str | None = None, ts: float | None = None,
                 frames: list[int] | None = None, reading: Reading = "",
                 allows: Allows | None = None, subject: int = 0,
                 other_profile: OtherProfile = "",
                 drawn_ports: tuple[int, ...] = (),
                 hedges: tuple[str, ...] = ()) -> Finding:
    """Build a Finding with the catalogue's severity unless one is given; `reading`
    tells later checks which reading of its code it is (Finding.reading), `allows` what
    the fix's allow rules are for (Finding.allows), `subject` how long the message's
    subject is (Finding.subject), `other_profile` whether its words point to another
    profile (Finding.other_profile), `drawn_ports` the ports its fix may name as drawn
    anew (Finding.drawn_ports), `hedges` the words the cause line keeps (Finding.hedges)."""
    if code not in CATALOGUE:
        raise KeyError(f"unknown finding code {code!r}: add it to CATALOGUE and docs")
    evidence = sorted(set(frames or []))
    return Finding(code=code, severity=severity or CATALOGUE[code], message=message, fix=fix,
                   session=session, uid=uid, ts=ts, frames=evidence[:FRAMES_LISTED],
                   frames_more=max(0, len(evidence) - FRAMES_LISTED), reading=reading,
                   allows=allows, subject=subject, other_profile=other_profile,
                   drawn_ports=drawn_ports, hedges=hedges)


def verdict(findings: list[Finding], sessions: Iterable[Session] = ()) -> str:
    """fail on any error; else inconclusive when a step the profile requires is unknown
    (the capture cannot show whether it worked), or when no_control_session is only a
    warning (a capture without TCP: nothing judged), or capture_filtered says the
    capture (or a piece of the set, beside sessions judged: control_left_out) left a
    job's control connection out, or no session was found and a capture_filtered; else pass
    (contract: verdict). A side-traffic session's steps (Session.side: not the
    configured job) do not count."""
    sessions = list(sessions)
    if any(f.severity == Severity.ERROR for f in findings):
        return "fail"
    if step_unknown_in(sessions):
        return "inconclusive"
    if any(f.code == "no_control_session" for f in findings):
        return "inconclusive"  # a capture without TCP: nothing of the job was judged
    if control_left_out(findings) or (
            not sessions and any(f.code == "capture_filtered" for f in findings)):
        # The control connection left out of the capture, or of a piece of the set beside
        # sessions judged (trial 54: verify.control_left_out): nothing of that job's steps
        # was judged.
        return "inconclusive"
    return "pass"


def control_left_out(findings: Iterable[Finding]) -> bool:
    """Is one of the findings verify.control_left_out's capture_filtered (the job's other
    connections in the capture, or in a piece of the set, without its control
    connection), told by its Finding.reading, not its words?"""
    return any(f.code == "capture_filtered" and f.reading == "control_left_out"
               for f in findings)


def step_unknown_in(sessions: Iterable[Session]) -> bool:
    """Has a session that is not side traffic (Session.side) a step whose status is
    unknown: what makes a verdict without errors inconclusive (verdict)?"""
    return any(step.status == "unknown" for session in sessions if not session.side
               for step in session.steps)


def kept_as_now(findings: Iterable[Finding]) -> Callable[[], None]:
    """A function that puts `findings` back as they are now, every field (lists copied):
    the pipeline analyzes one traffic twice when it infers the profile
    (flowcheck.verify.plain_reading), and checks write notes into the traffic's own
    findings (a decode finding's message: verify.lost_announcement.say_unchecked,
    steps._note_cut_last_word, cut_announcements), which the second pass must not
    inherit from the first (finalread54b)."""
    unique = list({id(f): f for f in findings}.values())
    names = [f.name for f in dataclasses.fields(Finding)]
    states = [(f, [(name, copy.copy(getattr(f, name))) for name in names]) for f in unique]

    def restore() -> None:
        for finding, values in states:
            for name, value in values:
                setattr(finding, name, copy.copy(value))
    return restore
