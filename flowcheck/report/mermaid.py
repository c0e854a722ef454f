"""The ladders as a Mermaid sequence diagram (`analyze --mermaid FILE`).

Mermaid renders in GitHub and GitLab issues and wikis, where administrators file their
tickets: paste the file inside a ```mermaid block. One `sequenceDiagram` for the capture
set, one participant per host; each session opens with a note naming it. Failing arrows
end in a cross (`-x`), answers are dotted (`-->>`), a long gap is a note with its length,
a failed, violated or unknown step's arrow is shaded. Syntax: Mermaid's sequenceDiagram
documentation (checked by tests with the official CLI, @mermaid-js/mermaid-cli).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from flowcheck.report.files import write_report_file
from flowcheck.report.ladder import Arrow, Ladder, spacing
from flowcheck.report.ladder_build import build_ladders
from flowcheck.report.ladder_text import arrow_text

if TYPE_CHECKING:
    from flowcheck.pipeline import Analysis

_COLOUR = {"failed": "rgba(220, 40, 40, 0.15)", "missing": "rgba(220, 40, 40, 0.15)",
           "violated": "rgba(230, 120, 0, 0.15)", "unknown": "rgba(110, 80, 180, 0.15)"}


def write_mermaid(analysis: Analysis, path: str | Path) -> None:
    write_report_file(path, render_mermaid(analysis), "--mermaid")


def render_mermaid(analysis: Analysis) -> str:
    return mermaid_of(build_ladders(analysis), verdict=analysis.verdict)


def mermaid_of(ladders: list[Ladder], verdict: str = "") -> str:
    """Mermaid source text for these ladders (participants shared by host)."""
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
        lines += ["    participant N as no NDMP session", "    Note over N: nothing to draw"]
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
    rel = ladder.relative(arrow)
    stamp = f"+{rel:.3f}s " if rel is not None else ""
    line = f"    {ids[arrow.src]}{shape}{ids[arrow.dst]}: {_clean(stamp + arrow_text(arrow))}"
    colour = _COLOUR.get(arrow.status)
    return [f"    rect {colour}", "  " + line, "    end"] if colour else [line]


def _clean(text: str) -> str:
    """Text Mermaid takes literally: no statement separators, comments, entity codes or
    markup (`;`, `%%`, `#`, `<`, `>`), one line."""
    text = re.sub(r"[;#<>{}]", " ", text.replace("%%", "%").replace("\n", " "))
    return " ".join(text.split()) or "-"
