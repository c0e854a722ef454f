"""The terminal report of `flowcheck analyze`: verdict, sessions as timelines, findings.

Written for the backup administrator: what passed or failed first, then each session's
steps in order (which hosts and ports, when, how it went), then each finding with the
rule or setting that fixes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from flowcheck.config import format_ranges
from flowcheck.model import Connection, Finding, Session, Step, endpoint

if TYPE_CHECKING:
    from rich.console import Console

    from flowcheck.pipeline import Analysis
    from flowcheck.report.ladder import Ladder

STATUS_STYLE = {"ok": "green", "missing": "red", "failed": "red", "violated": "red",
                "not_applicable": "dim", "unknown": "yellow"}
VERDICT_STYLE = {"pass": "bold green", "fail": "bold red", "inconclusive": "bold yellow"}
INCONCLUSIVE_NOTE = ("No error found, but the capture cannot show whether every step "
                     "worked (steps marked unknown say why): capture the whole job, both "
                     "directions, with tcpdump -s 0.")
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def render_analysis(analysis: Analysis, console: Console, *,
                    ladder: bool | None = False) -> None:
    """The report; `ladder`: each session's sequence as text too (None: when the console
    is a terminal wide enough for it)."""
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    base = min((c.ts for c in analysis.traffic.connections), default=0.0)
    _render_verdict(analysis, console)
    ladders = {}
    if ladder is not False:
        from flowcheck.report.ladder import build_ladders

        ladders = {lad.session: lad for lad in build_ladders(analysis)}
    for session in analysis.sessions:
        _render_session(session, by_uid, base, console)
        if session.id in ladders:
            _render_ladder(ladders[session.id], console, forced=ladder is True)
    _render_findings(analysis.findings, console)


def summary_counts(findings: list[Finding]) -> dict[str, int]:
    counts = {"error": 0, "warning": 0, "info": 0}
    for finding in findings:
        counts[str(finding.severity)] += 1
    return counts


def _render_verdict(analysis: Analysis, console: Console) -> None:
    config = analysis.config
    counts = summary_counts(analysis.findings)
    style = VERDICT_STYLE.get(analysis.verdict, "bold")
    sessions = len(analysis.sessions)
    console.print(
        f"[{style}]{analysis.verdict.upper()}[/]  {sessions} session"
        f"{'' if sessions == 1 else 's'}, {counts['error']} error(s), "
        f"{counts['warning']} warning(s), {counts['info']} info", highlight=False)
    console.print(
        f"profile {escape(config.profile)}; NDMP port {config.ndmp_port}; media range "
        f"{format_ranges(config.media_range)}; agent range {format_ranges(config.agent_range)}"
        f"; port hold {config.port_hold_seconds:g} s", style="dim", highlight=False)
    if analysis.verdict == "inconclusive":
        console.print(INCONCLUSIVE_NOTE, style="yellow", highlight=False)


def endpoints(conn: Connection) -> str:
    return f"{endpoint(conn.orig_h, conn.orig_p)} -> {endpoint(conn.resp_h, conn.resp_p)}"


def step_connections(step: Step, by_uid: dict[str, Connection]) -> list[Connection]:
    return [by_uid[uid] for uid in step.uids if uid in by_uid]


def step_time(step: Step, session: Session, conns: list[Connection]) -> float | None:
    """When the step happened: the announcing message, else the first connection."""
    announced = [a.ts for a in session.announced if a.frame in step.frames]
    if announced:
        return min(announced)
    return conns[0].ts if conns else None


def _render_session(session: Session, by_uid: dict[str, Connection], base: float,
                    console: Console) -> None:
    version = f"NDMP v{session.version}" if session.version else "NDMP version unknown"
    console.print()
    console.print(f"[bold]Session {session.id}[/]: {session.kind}, {version}, media server "
                  f"{session.media_server} -> agent {session.remote_agent} "
                  f"(control {session.control_uid})", highlight=False)
    table = Table(show_edge=False, pad_edge=False, box=None)
    for header in ("step", "what", "status", "connection", "time", "detail"):
        table.add_column(header, overflow="fold")
    for step in session.steps:
        conns = step_connections(step, by_uid)
        where = "\n".join(endpoints(c) for c in conns[:3]) or "-"
        if len(conns) > 3:
            where += f"\n+{len(conns) - 3} more"
        when = step_time(step, session, conns)
        when = f"+{when - base:.3f}s" if when is not None else "-"
        style = STATUS_STYLE.get(step.status, "default")
        table.add_row(str(step.step), escape(step.name),
                      f"[{style}]{step.status.replace('_', ' ')}[/]", escape(where), when,
                      escape(step.detail))
    console.print(table)


def _render_ladder(ladder: Ladder, console: Console, *, forced: bool) -> None:
    from flowcheck.report.ladder_text import ladder_width, render_ladder

    needed = ladder_width(ladder)
    if forced or (console.is_terminal and console.width >= needed):
        console.print()
        render_ladder(ladder, console)
    elif console.is_terminal:
        console.print(f"(the sequence needs {needed} columns: widen the terminal, or "
                      "--ladder)", style="dim", highlight=False)


def _render_findings(findings: list[Finding], console: Console) -> None:
    console.print()
    if not findings:
        console.print("No findings: the traffic follows the profile and the ranges.")
        return
    console.print(f"[bold]Findings[/] ({len(findings)})")
    for finding in findings:
        severity = str(finding.severity)
        where = ", ".join(part for part in (
            f"session {finding.session}" if finding.session else "",
            f"connection {finding.uid}" if finding.uid else "",
            "frames " + ",".join(map(str, finding.frames[:8])) if finding.frames else "",
        ) if part)
        console.print(f"[{SEVERITY_STYLE.get(severity, '')}]{severity.upper()}[/] "
                      f"[bold]{finding.code}[/]" + (f" ({where})" if where else ""),
                      highlight=False)
        console.print(f"  {escape(finding.message)}", highlight=False)
        if finding.fix:
            console.print(f"  [bold]Fix:[/] {escape(finding.fix)}", highlight=False)
