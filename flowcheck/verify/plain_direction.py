"""A capture of plain NDMP analyzed with a profile whose media server connects (the
default, backup-exec-9): the fixes that suggest `--profile ndmp` say it first.

Plain NDMP's three-way backup announces the mover's endpoint (a MOVER_LISTEN reply, then
DATA_CONNECT; in NDMP v2 the address inside DATA_START_BACKUP / DATA_START_RECOVER): the
media server listens and the agent connects (docs/flow-model.md, "How plain NDMP
announces data connections"). Backup Exec 9's agent calls the job engine back, then
listens, and the media server connects. A capture whose announcements have the mover
listening and whose agents never called back is plain NDMP (Amanda's ndmjob): analyzed
with backup-exec-9 its first fix asked for the media and agent ranges and the hint that
`--profile ndmp` fits came only further down, under Findings. Here the hint leads the
fixes of step_missing (the callback) and step_out_of_order, and what the profile in
force would need follows it. A job whose agent called back (the callback step ok) is
Backup Exec's, whatever its pairing (flowcheck.lab scenario agent-connects-data): its
fixes stay as they are. A callback the capture does not hold (every judged session's
callback step `unknown`: a filter or the sniffer left it out) is no evidence either way,
so the lead is a condition, "If this is plain NDMP (...), analyze it with --profile
ndmp", not an instruction (review of today's change: Backup Exec's agent-connects-data
without its callback was told to analyze again with --profile ndmp).
"""

from __future__ import annotations

from typing import NamedTuple

from flowcheck.frame_names import frame_text
from flowcheck.model import Announcement, Finding, Session
from flowcheck.ndmp.listeners import mover_announcements
from flowcheck.verify.context import Context
from flowcheck.verify.profile_followed import OTHER_PRODUCT_FIX, wrong_way_fix
from flowcheck.verify.wrong_way import worked_part


def plain_direction(ctx: Context) -> list[Announcement]:
    """The capture's announcements with the mover listening, in time order, when the
    profile in force has the media server connect and no judged session's agent called
    back (its callback step ok); [] otherwise."""
    if ctx.profile.connector != "media_server":
        return []
    judged = [s for s in ctx.sessions if not s.side]
    if any(_called_back(ctx, s) for s in judged):
        return []
    return sorted((a for s in judged for a in mover_announcements(s)),
                  key=lambda a: a.frame)


def callback_unseen(ctx: Context) -> bool:
    """Is every judged session's callback step `unknown` (not in the capture), so that
    no session shows whether its agent called back?"""
    return all(step.status == "unknown"
               for s in ctx.sessions if not s.side
               for step, spec in zip(s.steps, ctx.profile.steps, strict=False)
               if spec.kind == "callback")


def _called_back(ctx: Context, session: Session) -> bool:
    """Is the session's callback step ok, its connection opened before any announcement
    with the mover listening? A refused or unanswered one is no proof: an agent's
    connection into the media range is also plain NDMP's data connection to the mover,
    read as a callback when its announcement is not in the capture (a job that ended
    before it, an address cut by the snap length: captures/ndmjob-ended); nor is one
    that opened after such an announcement (Backup Exec's agent calls back before the
    data port is announced: session 34's trial B, an ndmjob capture with -s 96 whose
    5 MB data connection read as the callback). When it opened is its SYN's time: one
    whose handshake is not in the capture opened before its first captured packet, so
    before the announcements or at a time the capture cannot place, and counts as the
    callback, as verify.plain_reading reads it (review56p: lab/agent-connects-data cut
    by editcap to frames 20-414, its callback C2 without its SYN, was told to analyze
    again with --profile ndmp)."""
    if not any(step.status == "ok" and spec.kind == "callback"
               for step, spec in zip(session.steps, ctx.profile.steps, strict=False)):
        return False
    callback = ctx.by_uid.get(session.callback_uid or "")
    return callback is None or not callback.syn_seen or all(
        a.frame > callback.first_frame for a in mover_announcements(session))


def suggests_other_profile(finding: Finding) -> bool:
    """Does the finding's fix suggest analyzing with another profile (step_missing's
    callback, the callback's refusals, step_out_of_order, announced_not_used of a
    connection read as the callback: OTHER_PRODUCT_FIX or wrong_way_fix)? Such a finding
    holds under the profile in force, which may not be the traffic's. From
    Finding.other_profile, set by the check that wrote the fix, not from its words."""
    return bool(finding.other_profile)


class ProfileLead(NamedTuple):
    """profile_first's (lead, fix), and where in the lead it forks to the profile in
    force (fork_words: the conditional lead's), its first character's index; 0 for
    none (Finding.fork)."""

    lead: str
    fix: str
    fork: int = 0


def fork_words(profile: str) -> str:
    """Where the conditional lead (profile_first, the callback unseen) turns to the
    profile in force: "; if it is backup-exec-9 traffic: "."""
    return f"; if it is {profile} traffic: "


def profile_first(ctx: Context, finding: Finding, shown: list[Announcement],
                  unseen: bool = False) -> ProfileLead:
    """(lead, fix) for a finding whose fix suggests `--profile ndmp` in a capture of plain
    NDMP's direction: the lead names that profile and the announcements that show it, and
    ends where the fix for the profile in force begins (with_lead joins them); the fix is
    the finding's without the suggestion; for step_out_of_order's data connections that
    worked (verify.wrong_way.worked_part) the lead's first sentence and what it says of
    them, and "" (nothing of the profile in force to ask). ("", the finding's fix)
    otherwise; with the conditional lead, where it forks (ProfileLead.fork). shown:
    plain_direction(ctx), read once per analysis by the caller (it reads every session);
    unseen: callback_unseen(ctx), which makes the lead a condition."""
    fix = finding.fix
    wrong_way = wrong_way_fix(ctx.profile.name)
    if not suggests_other_profile(finding):
        return ProfileLead("", fix)
    if not shown:
        return ProfileLead("", fix)
    first = shown[0]
    more = f", {len(shown) - 1} more" if len(shown) > 1 else ""
    name = ctx.profile.name
    which = f"{first.message.removeprefix('NDMP_')}, {frame_text(first.frame)}{more}"
    rest = fix.replace(OTHER_PRODUCT_FIX, "").removeprefix(wrong_way)
    if unseen:
        lead = (f"If this is plain NDMP (its announcements have the media server's mover "
                f"listening and the agent connecting, {which}; the agent's callback to the "
                f"job engine, which {name} jobs make, is not in the capture to tell), "
                "analyze it with --profile ndmp")
        return ProfileLead(f"{lead}{fork_words(name)}", rest, len(lead))
    lead = (f"Analyze the capture again with --profile ndmp: its announcements have "
            f"the media server's mover listening and the agent connecting ({which}), "
            f"plain NDMP's direction; the {name} profile has the media server connect.")
    # A fix that starts with wrong_way_fix, told by its data (Finding.other_profile).
    worked = worked_part(fix.removeprefix(wrong_way)) \
        if finding.other_profile == "wrong_way" else ""
    if worked:
        # The data connections opened the other way worked: nothing of the profile in
        # force is left to ask of the firewall (verify.wrong_way).
        return ProfileLead(f"{lead} {worked[:1].upper()}{worked[1:]}.", "")
    return ProfileLead(f"{lead} If it is {name} traffic after all: ", rest)


def with_lead(lead: str, fix: str) -> str:
    """The lead, then the fix with its first letter in lower case when its first word is
    a plain one ("First set" -> "first set"; "DATA_LISTEN" stays)."""
    if not lead:
        return fix
    return f"{lead}{fix[:1].lower() if fix[1:2].islower() else fix[:1]}{fix[1:]}"
