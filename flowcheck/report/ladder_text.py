"""A Ladder in the terminal (rich): the HTML report's sequence diagram as text, for SSH.

One column per host, time going down on the left; each arrow is a line of box-drawing
characters between two lifelines with its label on it, styled by the step's status, with
a cross for a failed step, "!" for a violated one, "?" for an unknown one (never colour
alone). A long gap is one "⋮ 3.5 s" line. `ladder_width` says how many columns a ladder
needs, so the caller can show it only on a terminal wide enough.
"""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING

from rich.text import Text

from flowcheck.report.ladder import Arrow, Ladder, spacing

if TYPE_CHECKING:
    from rich.console import Console

TIME_W = 10  # "+123.456s" and a space (wider for a longer time: time_width)
MIN_GAP = 24
LEAST_GAP = 12  # fitting a terminal: labels wrap, down to this (or their longest word)
STATUS_STYLE = {"ok": "green", "failed": "bold red", "missing": "bold red",
                "violated": "dark_orange", "unknown": "magenta", "neutral": ""}


def arrow_text(arrow: Arrow) -> str:
    """The words on an arrow: step number, label, status glyph and finding codes."""
    step = f"[{arrow.step}] " if arrow.step is not None else ""
    codes = "".join(f" {mark.code}" for mark in arrow.findings)
    return f"{step}{arrow.label}{arrow.glyph}{codes}"


def time_width(ladder: Ladder) -> int:
    """Columns left of the first lifeline: TIME_W, or one more than the longest time
    written there (Ladder.stamp): "-1.978s (clock set back)" after the capture's clock
    steps back, "+1234.567s" in a capture that ran 1,000 s or more ("+12345.000s" wrote
    over the first lifeline)."""
    return max(TIME_W, 1 + max((len(stamp) for arrow in ladder.arrows
                                if (stamp := ladder.stamp(arrow)) is not None), default=0))


def _gap(ladder: Ladder, limit: int | None = None) -> int:
    """Columns between lifelines: enough for every label on the span it crosses; with
    `limit`, no more than fits in `limit` columns, but never less than its longest word
    needs (an address or code is never cut): a longer label then wraps under its arrow
    (trial 20 D10: 81-84 columns hid it from an 80-column terminal)."""
    index = {lane.key: i for i, lane in enumerate(ladder.lanes)}
    need, least = MIN_GAP, LEAST_GAP
    for arrow in ladder.arrows:
        span = max(1, abs(index[arrow.src] - index[arrow.dst]))
        words = arrow_text(arrow).split()
        need = max(need, math.ceil((len(" ".join(words)) + 6) / span))
        least = max(least, math.ceil((max(map(len, words), default=0) + 6) / span))
    if limit is not None and len(ladder.lanes) > 1:
        need = max(least, min(need, (limit - time_width(ladder) - 1)
                              // (len(ladder.lanes) - 1)))
    return need


def ladder_width(ladder: Ladder, limit: int | None = None) -> int:
    """Terminal columns the ladder needs (lane titles included), its labels on one line;
    with `limit`, the columns it needs when labels wrap to fit in `limit` (more than
    `limit` only when even MIN_GAP between lifelines does not fit)."""
    left = time_width(ladder)
    last = left + _gap(ladder, limit) * max(0, len(ladder.lanes) - 1)
    titles = [len(lane.title) for lane in ladder.lanes]
    return max(last + 1, left + (titles[0] if titles else 0), *titles)


def _header(ladder: Ladder, xs: dict[str, int], width: int) -> list[str]:
    """The lane titles: the first starting at its lifeline, the others ending at theirs
    (so the last adds no width), each whole: a title that would touch another goes on a
    line of its own."""
    lines: list[list[str]] = []
    for number, lane in enumerate(ladder.lanes):
        title = lane.title
        start = xs[lane.key] if number == 0 else max(0, xs[lane.key] - len(title) + 1)
        start = min(start, width - len(title))
        for line in lines:
            if all(c == " " for c in line[max(0, start - 1):start + len(title) + 1]):
                break
        else:
            line = [" "] * width
            lines.append(line)
        line[start:start + len(title)] = title
    return ["".join(line).rstrip() for line in lines]


def render_ladder(ladder: Ladder, console: Console) -> None:
    """The ladder in the console's width: labels longer than their arrow wrap under it
    (at spaces: an address is never cut)."""
    gap, left = _gap(ladder, console.width), time_width(ladder)
    xs = {lane.key: left + i * gap for i, lane in enumerate(ladder.lanes)}
    width = ladder_width(ladder, console.width)
    console.print(Text(ladder.title, style="bold"))
    for line in _header(ladder, xs, width):
        console.print(Text(line, style="bold"), no_wrap=True, overflow="crop")
    for arrow, space in zip(ladder.arrows, spacing(ladder), strict=True):
        if space.broken:
            console.print(Text(f"{'':{left}}\u22ee {space.seconds:.1f} s", style="dim"))
        for row in _rows(ladder, arrow, xs, width):
            console.print(row, no_wrap=True, overflow="crop")
    if ladder.omitted:
        console.print(Text(f"{'':{left}}\u2026 {ladder.omitted} more arrows of connections "
                           "that went well are left out", style="dim"))


def _rows(ladder: Ladder, arrow: Arrow, xs: dict[str, int], width: int) -> list[Text]:
    """The arrow's line, then a line per piece of its label that did not fit on it."""
    x1, x2 = xs[arrow.src], xs[arrow.dst]
    left, right = min(x1, x2), max(x1, x2)
    pieces = textwrap.wrap(arrow_text(arrow), max(1, right - left - 6),
                           break_long_words=False, break_on_hyphens=False) or [""]
    style = STATUS_STYLE.get(arrow.status, "")
    rows = [_row(ladder, arrow, xs, width, pieces[0])]
    for piece in pieces[1:]:
        cells = [" "] * max(width, left + 4 + len(piece))
        for x in xs.values():
            cells[x] = "\u2502"
        cells[left + 4:left + 4 + len(piece)] = piece
        text = Text("".join(cells).rstrip())
        if style:
            text.stylize(style, left + 4, left + 4 + len(piece))
        rows.append(text)
    return rows


def _row(ladder: Ladder, arrow: Arrow, xs: dict[str, int], width: int, label: str) -> Text:
    cells = [" "] * width
    for x in xs.values():
        cells[x] = "\u2502"
    time = ladder.stamp(arrow)
    stamp = time if time is not None else ""
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
    words = f" {label} "
    start = left + 3
    cells[start:start + len(words)] = words
    text = Text("".join(cells[:width]))
    style = STATUS_STYLE.get(arrow.status, "")
    if style:
        text.stylize(style, left + 1, right)
    if stamp:
        text.stylize("dim", 0, len(stamp))
    return text
