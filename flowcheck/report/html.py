"""A self-contained HTML report of `flowcheck analyze` (--html FILE): no external assets."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from flowcheck import __version__
from flowcheck.config import format_ranges
from flowcheck.frame_names import frame_span
from flowcheck.model import endpoint
from flowcheck.report.analyze import summary_counts
from flowcheck.report.answer import answer_rows, summary_blocks
from flowcheck.report.connections import session_words
from flowcheck.report.files import write_report_file
from flowcheck.report.frame_list import finding_where
from flowcheck.report.ladder_build import build_ladders, human_bytes
from flowcheck.report.ladder_svg import LADDER_STYLE, render_svg
from flowcheck.report.overview import (
    GROUP_IDS,
    STATUS_WORDS,
    SUMMARY_LIMIT,
    TIME_ORIGIN,
    SummaryBlock,
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
from flowcheck.report.step_table import endpoints, shown_detail, step_connections
from flowcheck.report.step_time import message_times, step_time
from flowcheck.report.verdict_notes import inconclusive_note, mid_job_note
from flowcheck.report.zeek_words import history_legend, state_legend

if TYPE_CHECKING:
    from flowcheck.pipeline import Analysis

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left;
         vertical-align: top; font-size: 0.9em; }
th { background: #f0f0f0; }
.pass { color: #060; } .fail { color: #b00; } .inconclusive { color: #a60; }
.ok { color: #060; } .missing, .failed, .violated { color: #b00; font-weight: bold; }
.not_applicable { color: #888; } .unknown { color: #a60; font-style: italic; }
.error { color: #b00; font-weight: bold; } .warning { color: #a60; } .info { color: #068; }
.fix { margin-left: 1em; } code { background: #f6f6f6; }
"""
# Readable in dark mode and on paper; the ladder's own colours are in LADDER_STYLE.
_THEME = """
:root { color-scheme: light dark; }
.inconclusive, .unknown { color: #6a4fb0; font-weight: bold; }
@media screen and (prefers-color-scheme: dark) {
  body { background: #161616; color: #e8e8e8; } th { background: #2b2b2b; }
  th, td { border-color: #555; } code { background: #2b2b2b; }
  .pass, .ok { color: #6cd46c; } .fail, .missing, .failed, .violated, .error { color: #ff7b7b; }
  .warning { color: #ffc266; } .info { color: #7cc7ff; }
  .inconclusive, .unknown { color: #b9a2ff; }
}
@media print { body { margin: 0; } .ladder-box { break-inside: avoid; } }
.ladder-box { overflow-x: auto; margin: 0.5em 0 1.5em; }
.side, .ended { color: #888; } ul.summary a { color: inherit; }
.nowrap { white-space: nowrap; }
h2:target, li:target { outline: 2px solid #c62828; outline-offset: 2px; }
"""


def write_html(analysis: Analysis, path: str | Path) -> None:
    write_report_file(path, render_html(analysis), "--html")


def render_html(analysis: Analysis) -> str:
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    since = first_packet(analysis)
    base = since or Since(0.0)
    parts = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
             f"<title>{_title(analysis)}</title>",
             f"<style>{_STYLE}{_THEME}{LADDER_STYLE}</style></head><body>"]
    parts += _verdict(analysis, _summary(analysis, since))
    parts += _sessions_table(analysis, by_uid, base)
    ladders = {ladder.session: ladder for ladder in build_ladders(analysis)}
    streams = {s.uid: s for s in analysis.traffic.streams}
    for session in analysis.sessions:
        version = session.version_words()
        kind = escape(session.kind_words())
        status = session_status(session, analysis.findings)
        start = session_start(session, by_uid)
        started = (f", started {wall_clock(start)} ({base(start)})"
                   if start is not None else "")
        if session.profile and session.profile != analysis.config.profile:
            # Judged by another profile than the run's (flowcheck.mixed_reading).
            started = f", judged by the {escape(session.profile)} profile{started}"
        parts.append(f"<h2 id=\"{_anchor(session.id)}\"><span class=\"{status}\">"
                     f"{escape(STATUS_WORDS[status])}</span> "
                     f"Session {escape(session.id)}: {kind}, {version}, "
                     f"{escape(session.media_server)} &rarr; {escape(session.remote_agent)}"
                     f"{started}</h2>")
        rows = []
        times = message_times(streams.get(session.control_uid))
        for step in session.steps:
            conns = step_connections(step, by_uid)
            when_ts = step_time(step, session, conns, times)
            # The wall-clock time as the cell's tooltip: the column stays narrow.
            when = (f"<span title=\"{wall_clock(when_ts)}\">{base(when_ts)}</span>"
                    if when_ts is not None else "-")
            rows.append([str(step.step), step.name,
                         (step.status, step.status.replace("_", " ")),
                         "<br>".join(escape(endpoints(c)) for c in conns) or "-", when,
                         shown_detail(step)])
        parts.append(_table(["step", "what", "status", "connection", "time", "detail"], rows,
                            raw_columns={3, 4}))
        parts.append(f'<div class="ladder-box">{render_svg(ladders[session.id])}</div>')
    parts += _findings(analysis, since)
    parts += _connections(analysis, base)
    parts.append(f"<p><small>flowcheck {escape(__version__)}</small></p></body></html>")
    return "\n".join(parts) + "\n"


def _title(analysis: Analysis) -> str:
    """The browser tab's (and a saved page's) name: the verdict and the capture's file
    name (the first and how many more, for a set of several), escaped."""
    names = [_capture_name(str(c.path)) for c in analysis.traffic.captures]
    shown = (", ".join(names) if len(names) <= 2
             else f"{names[0]} and {len(names) - 1} more")
    return escape(f"flowcheck {analysis.verdict.upper()}: {shown or '-'}")


def _capture_name(path: str) -> str:
    """A capture's file name without its folder; "standard input" for "-", "live
    capture" for a stream without a name (the sniffer's pipe of `live`)."""
    words = {"-": "standard input", "<stream>": "live capture"}
    return words.get(path) or Path(path).name or path


def _arrows(markup: str) -> str:
    """`markup` (escaped) with every "->" kept on one line: a browser breaks after the
    dash of "a -> b" in a narrow column (trial 20 D14)."""
    return markup.replace("-&gt;", "<span class=\"nowrap\">-&gt;</span>")


def _verdict(analysis: Analysis, summary: list[str]) -> list[str]:
    """The verdict, the counts, `summary` (the failing sessions), then the settings."""
    config = analysis.config
    counts = summary_counts(analysis.findings)
    captures = ", ".join(escape(str(c.path)) for c in analysis.traffic.captures) or "-"
    midway = mid_job_note(analysis)
    return [f"<h1 class=\"{analysis.verdict}\">Verdict: {analysis.verdict.upper()}</h1>",
            f"<p>{len(analysis.sessions)} session(s); {counts['error']} error(s), "
            f"{counts['warning']} warning(s), {counts['info']} info. Captures: {captures}.</p>",
            *summary,
            f"<p>Profile <code>{escape(config.profile)}</code>, NDMP port {config.ndmp_port}, "
            f"media range {format_ranges(config.media_range)}, agent range "
            f"{format_ranges(config.agent_range)}, port hold {config.port_hold_seconds:g} s; "
            f"{escape(source_words(config))}.</p>",
            *([f"<p class=\"inconclusive\">{escape(midway)}</p>"] if midway else []),
            *([f"<p class=\"inconclusive\">{escape(inconclusive_note(analysis))}</p>"]
              if analysis.verdict == "inconclusive" else [])]


def _anchor(session_id: str) -> str:
    """The id of a session's heading, the summary's link target: `session-S10`."""
    return escape(f"session-{session_id}")


def _summary(analysis: Analysis, first: Since | None) -> list[str]:
    """Under the verdict: the failing and inconclusive sessions in the text report's
    blocks (report.answer.summary_blocks: one per first error code, hosts and fix, with
    that cause and fix once; trial 35 D5), each session id linked to its heading, and
    what the relative times count from (`first`: first_packet, None without
    connections)."""
    base = first or Since(0.0)
    out = []
    blocks = summary_blocks(summary_lines(analysis), analysis.findings)
    if blocks:
        out.append("<ul class=\"summary\">")
        told: dict[str, str] = {}  # fixes already given above ("as for S3")
        for block in blocks[:SUMMARY_LIMIT]:
            line = block.lines[0]
            answer = "".join(f"<br><span class=\"side\">{escape(label)}</span> {escape(text)}"
                             for label, text in answer_rows(line.session,
                                                            analysis.findings, told))
            out.append(f"<li class=\"{line.status}\">{_linked(block, base)}{answer}</li>")
        rest = [line for block in blocks[SUMMARY_LIMIT:] for line in block.lines]
        if rest:
            out.append(f"<li>... and {len(rest)} more:<ul>"
                       + "".join(f"<li>{escape(group)}</li>"
                                 for group in grouped_lines(rest))
                       + "</ul></li>")
        out.append("</ul>")
    outside = unattached_errors(analysis)
    if outside:
        out.append(f"<p class=\"failed\">Errors outside any session: "
                   f"{escape(', '.join(outside))}</p>")
    if first is not None:
        out.append(f"<p>Times +N s count from {wall_clock(first.at)} (UTC), "
                   f"{escape(first.origin_words(TIME_ORIGIN))}.</p>")
    return out


def _linked(block: SummaryBlock, base: Since) -> str:
    """A summary block's text with each named session id a link to its heading: one
    session's whole line is its link; a block's "S1, S2, S4 FAILED: ..." links each id."""
    text = block.text(base)
    if len(block.lines) == 1:
        return f"<a href=\"#{_anchor(block.lines[0].session.id)}\">{escape(text)}</a>"
    ids = [line.session.id for line in block.lines]
    named = named_ids(ids)
    links = ", ".join(f"<a href=\"#{_anchor(sid)}\">{escape(sid)}</a>"
                      for sid in ids[:GROUP_IDS])
    more = named[len(", ".join(ids[:GROUP_IDS])):]  # ", +4 more" or ""
    return links + escape(more + text[len(named):])


def _sessions_table(analysis: Analysis, by_uid: dict, base: Since) -> list[str]:
    """Every session in one table, each linked to its heading: status, hosts, kind,
    wall-clock and relative start, error codes."""
    if not analysis.sessions:
        return []
    out, rows = [], []
    for session in analysis.sessions:
        status = session_status(session, analysis.findings)
        start = session_start(session, by_uid)
        errors = sorted({f.code for f in analysis.findings
                         if f.session == session.id and str(f.severity) == "error"})
        rows.append([f"<a href=\"#{_anchor(session.id)}\">{escape(session.id)}</a>",
                     (status, STATUS_WORDS[status]),
                     f"{session.media_server} -> {session.remote_agent}",
                     session.kind_words(short=True),
                     wall_clock(start) if start is not None else "-",
                     base(start) if start is not None else "-",
                     ", ".join(errors) or "-"])
    out.append(f"<h2>Sessions ({len(rows)}: {escape(status_counts(analysis))})</h2>")
    out.append(_table(["session", "status", "media server -> agent", "kind", "start (UTC)",
                       "start", "errors"], rows, raw_columns={0}))
    return out


def _findings(analysis: Analysis, base: Since | None) -> list[str]:
    if not analysis.findings:
        return ["<h2>Findings</h2>", "<p>No findings.</p>"]
    out = [f"<h2>Findings ({len(analysis.findings)})</h2>", "<ul>"]
    for number, finding in enumerate(analysis.findings, 1):
        severity = str(finding.severity)
        where = finding_where(finding, base)
        out.append(f"<li id=\"finding-{number}\">"
                   f"<span class=\"{severity}\">{severity.upper()}</span> "
                   f"<code>{escape(finding.code)}</code> {escape(where)}<br>"
                   f"{_arrows(escape(finding.message))}"
                   + (f"<div class=\"fix\"><b>Fix:</b> {_arrows(escape(finding.fix))}</div>"
                      if finding.fix else "") + "</li>")
    out.append("</ul>")
    return out


def _connections(analysis: Analysis, base: Since) -> list[str]:
    rows = []
    for conn in analysis.traffic.connections:
        rows.append([conn.uid, base(conn.ts), endpoint(conn.orig_h, conn.orig_p),
                     endpoint(conn.resp_h, conn.resp_p), conn.conn_state, conn.history,
                     f"{human_bytes(conn.orig_bytes)}/{human_bytes(conn.resp_bytes)}",
                     conn.role, _session_cell(conn.session),
                     frame_span(conn.first_frame, conn.last_frame)])
    header = ["uid", "start", "originator", "responder", "state", "history", "bytes o/r",
              "role", "session", "frames"]
    conns = analysis.traffic.connections
    legend = [f"<p class=\"side\">{escape(line)}</p>"
              for line in (state_legend([c.conn_state for c in conns],
                                        [c.history for c in conns]),
                           history_legend(c.history for c in conns)) if line]
    return [f"<h2>Connections ({len(rows)})</h2>", _table(header, rows, {8}), *legend]


def _session_cell(session_id: str | None) -> str:
    """The connections table's session cell, escaped: "session 1" linked to the
    session's heading (S1 would read as the state column's Zeek S1), or "-"."""
    if not session_id:
        return "-"
    return f"<a href=\"#{_anchor(session_id)}\">{escape(session_words(session_id))}</a>"


def _table(header: list[str], rows: list[list], raw_columns: set[int] | None = None) -> str:
    raw_columns = raw_columns or set()
    out = ["<table><tr>" + "".join(f"<th>{_arrows(escape(h))}</th>" for h in header)
           + "</tr>"]
    for row in rows:
        cells = []
        for index, cell in enumerate(row):
            if isinstance(cell, tuple):  # (css class, text)
                cells.append(f"<td class=\"{escape(cell[0])}\">{_arrows(escape(cell[1]))}</td>")
            elif index in raw_columns:
                cells.append(f"<td>{_arrows(cell)}</td>")  # already escaped
            else:
                cells.append(f"<td>{_arrows(escape(str(cell)))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)
