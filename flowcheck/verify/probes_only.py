"""no_control_session for a capture whose sessions are probes only: no job in it.

A traceroute's probe (verify.ttl_exceeded.traceroute_probe), a half-open port check
(verify.half_open.half_open_check) or a full-connect one (verify.port_check.connect_check)
to the NDMP port is a session whose step 1 is `ok` and whose later steps are
`not_applicable`: no job. A capture holding nothing else judged nothing of a job, yet read
PASS with "No findings: the traffic follows the profile and the ranges" (review56f: the
verdicts56 lab's tcptraceroute and traceroute -T, captured alone, read PASS, 26 sessions
ok, exit 0; so did lab-trial23-probe/connect-check's two port checks without its job), as
if the job had passed. It reads as a capture without a control connection does: the
warning no_control_session (findings.verdict: inconclusive).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from flowcheck.model import Finding, Session, Severity
from flowcheck.model.finding import Reading
from flowcheck.verify.context import Context
from flowcheck.verify.half_open import half_open_check
from flowcheck.verify.port_check import connect_check
from flowcheck.verify.ttl_exceeded import traceroute_probe

# How note_probes_only's no_control_session begins: the reports tell it from another
# one (verify.unjudged_tls, unjudged_files: a job that could not be read) by it
# (said_probes_only, report.verdict_notes).
OPENING = "No job in the capture: "

# What each probe is called, one and several.
_NAMES = {"traceroute": ("traceroute probe", "traceroute probes"),
          "half_open": ("half-open port check (SYN, SYN-ACK, RST)",
                        "half-open port checks (SYN, SYN-ACK, RST)"),
          "connect": ("port check (connect and close)", "port checks (connect and close)")}


def _probe_kind(ctx: Context, session: Session) -> str | None:
    """Which probe the session is (a _NAMES key), None when it may be a job's."""
    control = ctx.by_uid.get(session.control_uid)
    if control is None:
        return None
    if traceroute_probe(ctx, control):
        return "traceroute"
    if half_open_check(ctx, control):
        return "half_open"
    return "connect" if connect_check(ctx, session) else None


def note_probes_only(ctx: Context) -> None:
    """no_control_session (a warning) when the capture holds sessions, each not side
    traffic (Session.side) a probe (_probe_kind), and no error: "No job in the capture:
    its 26 connections to the NDMP port 10000 are 24 traceroute probes and 2 half-open
    port checks (SYN, SYN-ACK, RST) ...". Nothing when a session may be a job's. In a set
    of files apart in time (sources.pieces), each piece whose sessions are all probes and
    have no error gets its own, as it reads alone (_probes_piece)."""
    sessions = [s for s in ctx.sessions if not s.side]
    if not sessions:
        return
    if len(ctx.pieces) > 1:
        by_piece = ctx.pieces.group(sessions, lambda s: ctx.by_uid[s.control_uid].ts)
        for piece, its in enumerate(by_piece):
            if its:
                _probes_piece(ctx, its, piece)
        return
    if any(f.severity == Severity.ERROR for f in ctx.findings):
        return
    _say_probes(ctx, sessions, OPENING, reading="probes_only")


def _probes_piece(ctx: Context, sessions: list[Session], piece: int) -> None:
    """note_probes_only's warning for piece `piece` of the set, whose sessions (not side
    traffic) are `sessions`, when each is a probe and none has an error: beside another
    file's judged job, review56f's traceroute probes read PASS (mergedone). Its words
    begin "No job in the file X of the capture set", not OPENING: the set's other
    sessions were judged (report.verdict_notes)."""
    if any(f.severity == Severity.ERROR for session in sessions
           for f in ctx.session_findings(session.id)):
        return
    _say_probes(ctx, sessions, f"No job in {ctx.pieces.words(piece)}: ")


def _say_probes(ctx: Context, sessions: list[Session], opening: str,
                reading: Reading = "") -> None:
    """The no_control_session warning of note_probes_only, when every one of `sessions`
    is a probe (_probe_kind); its message begins with `opening`, its Finding.reading is
    `reading` ("probes_only" for the whole capture's, "" for a piece's)."""
    kinds: Counter[str] = Counter()
    for session in sessions:
        kind = _probe_kind(ctx, session)
        if kind is None:
            return
        kinds[kind] += 1
    count = len(sessions)
    parts = [f"{n} {_NAMES[kind][n > 1]}" for kind, n in kinds.items()]
    what = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    what = f"is a {_NAMES[next(iter(kinds))][0]}" if count == 1 else f"are {what}"
    ctx.add("no_control_session",
            f"{opening}its {count} connection{'s' if count > 1 else ''} to "
            f"the NDMP port {ctx.config.ndmp_port} {what}, not a job's control connection "
            f"(step 1 {'of each ' if count > 1 else ''}says what it was), so nothing of a "
            "job was judged: the capture was not taken while the job ran, or the job never "
            "started.",
            "Capture while the job runs: start the capture before the job starts and stop "
            f"it after the job ends. {'The probes need' if count > 1 else 'A probe needs'} "
            "no firewall rule.",
            severity=Severity.WARNING, reading=reading)


def said_probes_only(findings: Iterable[Finding]) -> bool:
    """Is one of the findings note_probes_only's (every session judged a probe, no job),
    not another no_control_session?"""
    return any(f.code == "no_control_session" and f.reading == "probes_only"
               for f in findings)
