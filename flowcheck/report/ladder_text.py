"""A Ladder in the terminal (rich): the HTML report's sequence diagram as text, for SSH.

One column per host, time going down on the left; each arrow is a line of box-drawing
characters between two lifelines with its label on it, styled by the step's status, with
a cross for a failed step, "!" for a violated one, "?" for an unknown one (never colour
alone). A long gap is one "⋮ 3.5 s" line. `ladder_width` says how many columns a ladder
needs, so the caller can show it only on a terminal wide enough.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.text import Text

from flowcheck.report.ladder import Arrow, Ladder, spacing

if TYPE_CHECKING:
    from rich.console import Console

TIME_W = 10  # "+1234.567s" and a space
MIN_GAP = 24
STATUS_STYLE = {"ok": "green", "failed": "bold red", "missing": "bold red",
                "violated": "dark_orange", "unknown": "magenta", "neutral": ""}


def arrow_text(arrow: Arrow) -> str:
    """The words on an arrow: step number, label, status glyph and finding codes."""
    step = f"[{arrow.step}] " if arrow.step is not None else ""
    codes = "".join(f" {mark.code}" for mark in arrow.findings)
    return f"{step}{arrow.label}{arrow.glyph}{codes}"


def _gap(ladder: Ladder) -> int:
    """Columns between lifelines: enough for every label on the span it crosses."""
    index = {lane.key: i for i, lane in enumerate(ladder.lanes)}
    need = MIN_GAP
    for arrow in ladder.arrows:
        span = max(1, abs(index[arrow.src] - index[arrow.dst]))
        need = max(need, math.ceil((len(arrow_text(arrow)) + 6) / span))
    return need


def ladder_width(ladder: Ladder) -> int:
    """Terminal columns the ladder needs (lane titles included)."""
    titles = max((len(lane.title) for lane in ladder.lanes), default=0)
    return TIME_W + _gap(ladder) * max(0, len(ladder.lanes) - 1) + max(2, titles)


def render_ladder(ladder: Ladder, console: Console) -> None:
    gap = _gap(ladder)
    xs = {lane.key: TIME_W + i * gap for i, lane in enumerate(ladder.lanes)}
    width = ladder_width(ladder)
    console.print(Text(ladder.title, style="bold"))
    header = [" "] * width
    for lane in ladder.lanes:
        start = min(xs[lane.key], width - len(lane.title))
        header[start:start + len(lane.title)] = lane.title
    console.print(Text("".join(header).rstrip(), style="bold"), no_wrap=True, overflow="crop")
    for arrow, space in zip(ladder.arrows, spacing(ladder), strict=True):
        if space.broken:
            console.print(Text(f"{'':{TIME_W}}\u22ee {space.seconds:.1f} s", style="dim"))
        console.print(_row(ladder, arrow, xs, width), no_wrap=True, overflow="crop")
    if ladder.omitted:
        console.print(Text(f"{'':{TIME_W}}\u2026 {ladder.omitted} more arrows of connections "
                           "that went well are left out", style="dim"))


def _row(ladder: Ladder, arrow: Arrow, xs: dict[str, int], width: int) -> Text:
    cells = [" "] * width
    for x in xs.values():
        cells[x] = "\u2502"
    rel = ladder.relative(arrow)
    stamp = f"+{rel:.3f}s" if rel is not None else ""
    cells[: len(stamp)] = stamp
    x1, x2 = xs[arrow.src], xs[arrow.dst]
    left, right = min(x1, x2), max(x1, x2)
    line = "\u2501" if arrow.kind == "data" else "\u254c" if arrow.reply else "\u2500"
    for x in range(left + 1, right):
        cells[x] = line
    if x2 > x1:
        cells[right - 1] = "\u25b6"
    else:
        cells[left + 1] = "\u25c0"
    words = f" {arrow_text(arrow)} "
    start = left + 3
    cells[start:start + len(words)] = words
    text = Text("".join(cells[:width]))
    style = STATUS_STYLE.get(arrow.status, "")
    if style:
        text.stylize(style, left + 1, right)
    if rel is not None:
        text.stylize("dim", 0, len(stamp))
    return text
