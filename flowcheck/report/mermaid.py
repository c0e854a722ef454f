"""The ladders as a Mermaid sequence diagram (`analyze --mermaid FILE`).

Mermaid renders in GitHub and GitLab issues and wikis, where administrators file their
tickets: paste the file inside a ```mermaid block. One `sequenceDiagram` for the capture
set, one participant per host; each session opens with a note naming it. Failing arrows
end in a cross (`-x`), answers are dotted (`-->>`), a long gap is a note with its length,
a failed, violated or unknown step's arrow is shaded. Syntax: Mermaid's sequenceDiagram
documentation (checked by tests with the official CLI, @mermaid-js/mermaid-cli).

Mermaid refuses a diagram over its maxTextSize, 50,000 characters by default (GitHub
and GitLab keep the default): it draws only "Maximum text size in diagram exceeded". A
capture of many jobs (a night) keeps its failing sessions first, then the inconclusive,
the passed and the side traffic, as many as fit, and a note at the top counts the rest.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from flowcheck.report.files import write_report_file
from flowcheck.report.ladder import Arrow, Ladder, spacing
from flowcheck.report.ladder_build import build_ladders
from flowcheck.report.ladder_text import arrow_text
from flowcheck.report.overview import STATUS_WORDS, SessionStatus, session_status

if TYPE_CHECKING:
    from flowcheck.pipeline import Analysis

_COLOUR = {"failed": "rgba(220, 40, 40, 0.15)", "missing": "rgba(220, 40, 40, 0.15)",
           "violated": "rgba(230, 120, 0, 0.15)", "unknown": "rgba(110, 80, 180, 0.15)"}


def write_mermaid(analysis: Analysis, path: str | Path) -> None:
    write_report_file(path, render_mermaid(analysis), "--mermaid")


# Mermaid's default maxTextSize (mermaidAPI config), kept by GitHub and GitLab.
MERMAID_MAX_TEXT = 50_000
# Which sessions a diagram too long for Mermaid keeps first.
_KEPT_FIRST: tuple[SessionStatus, ...] = ("failed", "unknown", "ok", "ended", "side")


def render_mermaid(analysis: Analysis) -> str:
    status = {s.id: session_status(s, analysis.findings) for s in analysis.sessions}
    return mermaid_within(build_ladders(analysis), status, verdict=analysis.verdict)


def mermaid_within(ladders: list[Ladder], status: dict[str, SessionStatus],
                   verdict: str = "", limit: int = MERMAID_MAX_TEXT) -> str:
    """mermaid_of for as many ladders as fit in `limit` characters: all when they fit,
    else the failing sessions first, then by status (_KEPT_FIRST) and capture order,
    drawn in capture order under a note counting those left out by status. status:
    session id -> its status (flowcheck.report.overview.session_status)."""
    text = mermaid_of(ladders, verdict)
    if len(text) <= limit:
        return text
    rank = {name: place for place, name in enumerate(_KEPT_FIRST)}
    order = sorted(range(len(ladders)),
                   key=lambda i: (rank.get(status.get(ladders[i].session, "ok"), 0), i))

    def drawn(count: int) -> str:
        kept = sorted(order[:count])
        left = Counter(status.get(ladders[i].session, "ok") for i in order[count:])
        words = ", ".join(f"{n} {STATUS_WORDS[s]}" for s, n in sorted(
            left.items(), key=lambda item: rank.get(item[0], 0)))
        note = (f"{sum(left.values())} of {len(ladders)} sessions left out ({words}): "
                f"Mermaid draws at most {limit:,} characters. The text and HTML reports "
                "show every session")
        return mermaid_of([ladders[i] for i in kept], verdict, note)

    low, high = 0, len(ladders) - 1  # the most ladders that fit (at least none)
    while low < high:
        middle = (low + high + 1) // 2
        if len(drawn(middle)) <= limit:
            low = middle
        else:
            high = middle - 1
    return drawn(low)


def mermaid_of(ladders: list[Ladder], verdict: str = "", note: str = "") -> str:
    """Mermaid source text for these ladders (participants shared by host); note: a
    line drawn above them (what was left out)."""
    lines = ["sequenceDiagram"]
    if verdict:
        lines.append(f"    title flowcheck: verdict {_clean(verdict)}")
    ids: dict[str, str] = {}
    for ladder in ladders:
        for lane in ladder.lanes:
            if lane.key not in ids:
                ids[lane.key] = f"H{len(ids) + 1}"
                lines.append(f"    participant {ids[lane.key]} as {_clean(lane.title)}")
    if not ladders:
        lines += ["    participant N as no NDMP session",
                  f"    Note over N: {_clean(note) if note else 'nothing to draw'}"]
    elif note:
        last = f"H{len(ids)}"
        lines.append(f"    Note over H1,{last}: {_clean(note)}" if last != "H1"
                     else f"    Note over H1: {_clean(note)}")
    for ladder in ladders:
        hosts = [ids[lane.key] for lane in ladder.lanes]
        span = f"{hosts[0]},{hosts[-1]}" if len(hosts) > 1 else hosts[0]
        lines.append(f"    Note over {span}: {_clean(ladder.title)}")
        for arrow, gap in zip(ladder.arrows, spacing(ladder), strict=True):
            if gap.broken:
                lines.append(f"    Note over {span}: \u2026 {gap.seconds:.1f} s later")
            lines += _arrow(ladder, arrow, ids)
        if ladder.omitted:
            lines.append(f"    Note over {span}: \u2026 {ladder.omitted} more arrows left out")
    return "\n".join(lines) + "\n"


def _arrow(ladder: Ladder, arrow: Arrow, ids: dict[str, str]) -> list[str]:
    head = "x" if arrow.failing else ">>"
    shape = ("--" if arrow.reply else "-") + head
    time = ladder.stamp(arrow)
    stamp = f"{time} " if time is not None else ""
    line = f"    {ids[arrow.src]}{shape}{ids[arrow.dst]}: {_clean(stamp + arrow_text(arrow))}"
    colour = _COLOUR.get(arrow.status)
    return [f"    rect {colour}", "  " + line, "    end"] if colour else [line]


def _clean(text: str) -> str:
    """Text Mermaid takes literally: no statement separators, comments, entity codes or
    markup (`;`, `%%`, `#`, `<`, `>`), one line."""
    text = re.sub(r"[;#<>{}]", " ", text.replace("%%", "%").replace("\n", " "))
    return " ".join(text.split()) or "-"
