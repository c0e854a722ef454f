"""The terminal report of `flowcheck analyze`: verdict, sessions as timelines, findings.

Written for the backup administrator: what passed or failed first, then each session's
steps in order (which hosts and ports, when, how it went), then each finding with the
rule or setting that fixes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from flowcheck.config import format_ranges
from flowcheck.durations import long_span_words
from flowcheck.model import Connection, Finding, Session, Severity
from flowcheck.report.answer import (
    finding_parts,
    finding_rows,
    gist,
    render_answer,
    render_rows,
    summary_blocks,
)
from flowcheck.report.frame_list import finding_where
from flowcheck.report.hanging import print_hanging
from flowcheck.report.overview import (
    STATUS_WORDS,
    SUMMARY_LIMIT,
    TIME_ORIGIN,
    SessionStatus,
    clock_time,
    first_packet,
    grouped_lines,
    named_ids,
    session_start,
    session_status,
    source_words,
    status_counts,
    summary_lines,
    unattached_errors,
    wall_clock,
)
from flowcheck.report.since import Since
from flowcheck.report.step_table import step_table
from flowcheck.report.step_time import message_times
from flowcheck.report.verdict_notes import inconclusive_note, mid_job_note

if TYPE_CHECKING:
    from rich.console import Console

    from flowcheck.pipeline import Analysis
    from flowcheck.report.ladder import Ladder

VERDICT_STYLE = {"pass": "bold green", "fail": "bold red", "inconclusive": "bold yellow"}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
SESSION_STYLE = {"failed": "bold red", "unknown": "bold yellow", "ok": "green", "ended": "dim",
                 "side": "dim"}
# Sessions above which those that passed (or are side traffic) get one line each.
SESSION_DETAIL_LIMIT = 10


def render_analysis(analysis: Analysis, console: Console, *,
                    ladder: bool | None = False, all_sessions: bool = False) -> None:
    """The report; `ladder`: each session's sequence as text too (None: when the console
    is a terminal wide enough for it). A capture of more than SESSION_DETAIL_LIMIT
    sessions shows the steps of the failing and inconclusive ones only, the others one
    line each in a table (trial 23 D7: a night's 49 good jobs buried its 8 failures),
    unless `all_sessions`."""
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    streams = {s.uid: s for s in analysis.traffic.streams}
    since = first_packet(analysis)
    base = since or Since(0.0)
    told = _render_verdict(analysis, console, since)
    ladders = {}
    if ladder is not False:
        from flowcheck.report.ladder_build import build_ladders

        ladders = {lad.session: lad for lad in build_ladders(analysis)}
    brief = not all_sessions and len(analysis.sessions) > SESSION_DETAIL_LIMIT
    listed: list[tuple[Session, SessionStatus]] = []
    for session in analysis.sessions:
        status = session_status(session, analysis.findings)
        if brief and status in ("ok", "ended", "side"):
            listed.append((session, status))
            continue
        _render_session(session, status, by_uid, base, console,
                        message_times(streams.get(session.control_uid)),
                        analysis.config.profile)
        if session.id in ladders:
            _render_ladder(ladders[session.id], console, forced=ladder is True)
    if listed:
        _render_listed(listed, by_uid, base, console)
    _render_findings(analysis.findings, analysis.verdict, since, console, told)


def _render_listed(listed: list[tuple[Session, SessionStatus]],
                   by_uid: dict[str, Connection], base: Since, console: Console) -> None:
    """The sessions whose steps are not shown, one line each."""
    console.print()
    # A job ended before the capture is neither (newuser61): named when one is listed.
    which = ("passed, ended before the capture or are side traffic"
             if any(status == "ended" for _, status in listed) else
             "passed or are side traffic")
    console.print(f"[bold]Sessions that {which}[/] ({len(listed)}; "
                  "--all-sessions shows their steps)", highlight=False)
    table = Table(show_edge=False, pad_edge=False, box=None)
    for header in ("session", "status", "media server -> agent", "kind", "started"):
        table.add_column(header, overflow="fold")
    for session, status in listed:
        start = session_start(session, by_uid)
        table.add_row(session.id, Text(STATUS_WORDS[status], style=SESSION_STYLE[status]),
                      Text(f"{session.media_server} -> {session.remote_agent}"),
                      Text(f"{session.kind_words(short=True)}, "
                           f"{session.version_words(short=True)}"),
                      f"{clock_time(start)} ({base(start)})" if start is not None
                      else "-")
    console.print(table)


def summary_counts(findings: list[Finding]) -> dict[str, int]:
    counts = {"error": 0, "warning": 0, "info": 0}
    for finding in findings:
        counts[str(finding.severity)] += 1
    return counts


def _render_verdict(analysis: Analysis, console: Console,
                    base: Since | None) -> dict[str, str]:
    """The verdict, its summary and the configuration; the fixes told under it (by
    text, with the session or finding they were given for: report.answer.answer_rows;
    `base`: first_packet, None without connections)."""
    config = analysis.config
    counts = summary_counts(analysis.findings)
    style = VERDICT_STYLE.get(analysis.verdict, "bold")
    sessions = len(analysis.sessions)
    console.print(
        f"[{style}]{analysis.verdict.upper()}[/]  {sessions} session"
        f"{'' if sessions == 1 else 's'}, {counts['error']} error(s), "
        f"{counts['warning']} warning(s), {counts['info']} info", highlight=False)
    told = _render_summary(analysis, console, base)
    console.print(source_words(config), style="dim", highlight=False, markup=False)
    console.print(
        f"profile {escape(config.profile)}{_inferred(analysis)}; NDMP port {config.ndmp_port}; "
        "media range "
        f"{format_ranges(config.media_range)}; agent range {format_ranges(config.agent_range)}"
        f"; port hold {config.port_hold_seconds:g} s", style="dim", highlight=False)
    midway = mid_job_note(analysis)  # specific: before the general note
    if midway:
        console.print(midway, style="yellow", highlight=False,
                      markup=False)
    if analysis.verdict == "inconclusive":
        console.print(inconclusive_note(analysis), style="yellow", highlight=False,
                      markup=False)
    return told


def _inferred(analysis: Analysis) -> str:
    """" (no profile given; the capture reads as plain NDMP: profile_inferred)" when
    the capture was judged by ndmp, none given (verify.plain_reading); the sessions
    judged by ndmp when only they were (flowcheck.mixed_reading); "" otherwise."""
    apart = [s.id for s in analysis.sessions
             if s.profile and s.profile != analysis.config.profile]
    if apart:
        which = ", ".join(apart)
        return (f" (no profile given; session{'s' if len(apart) > 1 else ''} {which} "
                f"read{'' if len(apart) > 1 else 's'} as plain NDMP, judged by ndmp: "
                "profile_inferred)")
    if any(f.code == "profile_inferred" for f in analysis.findings):
        return " (no profile given; the capture reads as plain NDMP: profile_inferred)"
    return ""


def _render_summary(analysis: Analysis, console: Console,
                    base: Since | None) -> dict[str, str]:
    """Under the verdict: the failing, then the inconclusive sessions in blocks (at most
    SUMMARY_LIMIT, the rest counted; sessions with the same first error code, hosts and
    fix in one block, with that cause and fix once: report.answer.summary_blocks),
    errors outside any session (each code's first with its cause and fix), configured
    agents with no session (agent_not_seen), then the sessions' statuses counted and the
    wall-clock time the relative times count from (`base`: first_packet, None without
    connections)."""
    blocks = summary_blocks(summary_lines(analysis), analysis.findings)
    told: dict[str, str] = {}  # fixes already given under the verdict
    for block in blocks[:SUMMARY_LIMIT]:
        line = block.lines[0]
        console.print(Text.assemble("  ", block.text(base or Since(0.0)),
                                    style=SESSION_STYLE[line.status]))
        render_answer(line.session, analysis.findings, console, SESSION_STYLE[line.status],
                      told)
    rest = [line for block in blocks[SUMMARY_LIMIT:] for line in block.lines]
    if rest:
        console.print(f"  ... and {len(rest)} more:", highlight=False)
        for group in grouped_lines(rest):
            print_hanging(console, "    ", group, indent=6)
    outside = unattached_errors(analysis)
    if outside:
        console.print(Text.assemble("  errors outside any session: ", ", ".join(outside),
                                    style=SESSION_STYLE["failed"]))
        # Each code's first, with its cause and fix (trial 23 D4: a configured agent
        # that never answered ARP failed the night with a bare code).
        firsts: dict[str, Finding] = {}
        for finding in analysis.findings:
            if finding.session is None and finding.severity == Severity.ERROR:
                firsts.setdefault(finding.code, finding)
        for finding in list(firsts.values())[:SUMMARY_LIMIT]:
            render_rows(finding_rows(finding, told=told, name=finding.code), console,
                        SESSION_STYLE["failed"])
    for finding in analysis.findings:
        if finding.code == "agent_not_seen":  # a PASS says nothing of that agent's jobs
            note = gist(finding.message, keep=finding.hedges)
            print_hanging(console, "  note: ", f"{note} ({finding.code})", indent=8)
    if analysis.sessions or base is not None:
        console.print(
            "sessions: " + (status_counts(analysis) or "none")
            + (f"; times +N s count from {wall_clock(base.at)} (UTC), "
               f"{base.origin_words(TIME_ORIGIN)}"
               if base is not None else "") + _spread_words(analysis),
            style="dim", highlight=False)
    return told


SPREAD_SAID = 3600.0  # seconds between the first and last session's starts worth words


def _spread_words(analysis: Analysis) -> str:
    """"; the sessions' starts span 6 days 6 h 31 min (S1 to S2)" when the
    sessions' starts lie an hour or more apart, else "": "+541879.853s" alone does not
    tell a reader that two captures merged are of days apart (newuser54)."""
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    starts = [(start, session.id) for session in analysis.sessions
              if (start := session_start(session, by_uid)) is not None]
    if len(starts) < 2:
        return ""
    (first, first_id), (last, last_id) = min(starts), max(starts)
    if last - first < SPREAD_SAID:
        return ""
    return (f"; the sessions' starts span {long_span_words(last - first)} ({first_id} to "
            f"{last_id})")


def _render_session(session: Session, status: str, by_uid: dict[str, Connection],
                    base: Since, console: Console, times: dict[int, float],
                    profile: str) -> None:
    """The session's header (its status first, the profile that judged it when not the
    run's `profile`: a capture set of two kinds of job, flowcheck.mixed_reading; its
    wall-clock start last), then its steps (times: its control connection's NDMP
    message times by frame, step_time)."""
    version = session.version_words()
    start = session_start(session, by_uid)
    console.print()
    console.print(f"[{SESSION_STYLE[status]}]{STATUS_WORDS[status]}[/]  "
                  f"[bold]Session {session.id}[/]: {escape(session.kind_words())}, "
                  f"{escape(version)}, media server "
                  f"{session.media_server} -> agent {session.remote_agent} "
                  f"(control {session.control_uid})"
                  + ("; side traffic, not judged (host_not_configured)" if session.side else "")
                  + ("; not a job in the capture, not judged (its job had ended before the "
                     "capture saw it run: step 2)" if status == "ended" else "")
                  + (f"; judged by the {escape(session.profile)} profile"
                     if session.profile and session.profile != profile else "")
                  + (f"; started {wall_clock(start)} ({base(start)})"
                     if start is not None else ""),
                  highlight=False)
    console.print(step_table(session, by_uid, base, console.width, times))


def _render_ladder(ladder: Ladder, console: Console, *, forced: bool) -> None:
    from flowcheck.report.ladder_text import ladder_width, render_ladder

    needed = ladder_width(ladder, console.width)  # labels wrap to fit
    if forced or (console.is_terminal and console.width >= needed):
        console.print()
        render_ladder(ladder, console)
    elif console.is_terminal:
        console.print(f"(the sequence needs {needed} columns: widen the terminal, or "
                      "--ladder)", style="dim", highlight=False)


def _alike_infos(findings: list[Finding]) -> dict[int, list[str]]:
    """Info findings said alike (code, message, fix) in several sessions, as a night's
    vendor message in each of its jobs (trial 23 D7: 163 of them): id of the first ->
    the sessions of all, id of each other -> [] (not printed again)."""
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    for finding in findings:
        if finding.severity == Severity.INFO and finding.session:
            groups.setdefault((finding.code, finding.message, finding.fix), []).append(finding)
    alike: dict[int, list[str]] = {}
    for group in groups.values():
        if len(group) > 1:
            alike[id(group[0])] = [f.session for f in group if f.session]
            alike.update((id(f), []) for f in group[1:])
    return alike


def _sessions_words(sessions: list[str]) -> str:
    """"the same in 148 sessions: S1, S2, ..., +140 more"."""
    return f"the same in {len(sessions)} sessions: {named_ids(sessions)}"


def _render_findings(findings: list[Finding], verdict: str, base: Since | None,
                     console: Console, told: dict[str, str]) -> None:
    """Each finding, its cause and action first (report.answer.finding_parts; `told`:
    the fixes given under the verdict, by text, which a finding names, not repeats)."""
    console.print()
    if not findings:
        # An inconclusive verdict has no finding when a step's own detail says what
        # could not be seen (a lone RST): not "follows the profile".
        console.print("No findings: the traffic follows the profile and the ranges."
                      if verdict == "pass" else
                      "No findings; the steps marked unknown say what the capture could not "
                      "show.")
        return
    console.print(f"[bold]Findings[/] ({len(findings)})")
    alike = _alike_infos(findings)
    for finding in findings:
        severity = str(finding.severity)
        same = alike.get(id(finding))
        if same is not None and not same:
            continue  # told with the first of its kind
        where = finding_where(finding, base, session=not same)
        if same:
            where = f"{_sessions_words(same)}; the first: session {same[0]}, {where}"
        print_hanging(console, Text.assemble((severity.upper(), SEVERITY_STYLE.get(severity, "")),
                                             " ", (finding.code, "bold")),
                      f" ({where})" if where else "", indent=4)
        # Wrapped lines start under the text, not at column 0 (trial 20 D19).
        for label, text in finding_parts(finding, told):
            print_hanging(console, Text.assemble("  ", (label, "bold"), " " * bool(label)),
                          text, indent=2 + len(label) + bool(label))
