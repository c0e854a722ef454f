"""A Ladder as inline SVG for the HTML report: lanes, arrows, step badges, relative times.

No script, no external asset, no font download: colours come from the page's CSS
(LADDER_STYLE, with a dark-mode and a print variant), so the same SVG reads on screen,
in dark mode and on paper. Status is never colour alone: a failed arrow's label carries
its finding code and a cross, a violated one "!", an unknown one "?". Each arrow with a
finding is a link to the finding's entry in the report (`#finding-N`).
Hooks for tests and scripts: `g.lane[data-host]`, `g.arrow[data-kind][data-step]
[data-status][data-finding]`.
"""

from __future__ import annotations

from html import escape

from flowcheck.frame_names import frames_words
from flowcheck.report.ladder import Arrow, Ladder, spacing

LANE_GAP = 360  # px between lifelines: room for a 45-character label at 12 px
LEFT = 96  # room for the relative times
TOP = 64  # below the lane headers
ROW = 30  # px per arrow
HEADER_W = 200
REPEAT_GAP = 6  # px between the copies of a retransmitted packet
MAX_REPEATS = 4  # copies drawn; the label says how many there were

# Colours as CSS custom properties, so dark mode and print swap them in one place.
LADDER_STYLE = """
:root { --ok: #1b7a1b; --failed: #c62828; --violated: #b34700; --unknown: #6a4fb0;
        --neutral: #555; --lane: #888; --box: #f3f3f3; --text: #222; --note: #666; }
@media screen and (prefers-color-scheme: dark) {
  :root { --ok: #6cd46c; --failed: #ff7b7b; --violated: #ffad5c; --unknown: #b9a2ff;
          --neutral: #bbb; --lane: #888; --box: #2b2b2b; --text: #e8e8e8; --note: #aaa; }
}
@media print { :root { --ok: #006400; --failed: #b00000; --violated: #8a3a00;
               --unknown: #4b2d99; --neutral: #333; --box: #fff; --text: #000; } }
svg.ladder { font: 12px system-ui, sans-serif; max-width: 100%; height: auto; }
svg.ladder text { fill: var(--text); }
svg.ladder .lifeline { stroke: var(--lane); stroke-dasharray: 4 3; }
svg.ladder .lane rect { fill: var(--box); stroke: var(--lane); }
svg.ladder .time, svg.ladder .break text { fill: var(--note); font-size: 11px; }
svg.ladder .break path { stroke: var(--note); fill: none; }
svg.ladder .arrow line { stroke-width: 1.6; }
svg.ladder .arrow.data line { stroke-width: 4; }
svg.ladder .arrow.reply line { stroke-dasharray: 6 3; }
svg.ladder .badge circle { stroke: none; }
svg.ladder .badge text { fill: #fff; font-weight: bold; font-size: 10px; }
svg.ladder a .label { text-decoration: underline; }
svg.ladder .finding { font-weight: bold; }
"""
_VAR = {"ok": "ok", "failed": "failed", "missing": "failed", "violated": "violated",
        "unknown": "unknown"}


def colour(status: str) -> str:
    return f"var(--{_VAR.get(status, 'neutral')})"


def render_svg(ladder: Ladder) -> str:
    """The ladder as one <svg> element (a string), sized to its lanes and arrows."""
    xs = {lane.key: LEFT + HEADER_W // 2 + i * LANE_GAP for i, lane in enumerate(ladder.lanes)}
    width = LEFT + HEADER_W + LANE_GAP * max(0, len(ladder.lanes) - 1) + 40
    body: list[str] = []
    y = TOP
    statuses = set()
    for arrow, gap in zip(ladder.arrows, spacing(ladder), strict=True):
        y += ROW + round(gap.extra * ROW * 0.6)
        if gap.broken:
            body.append(_break(xs, y - ROW // 2 - 4, gap.seconds))
        body.append(_arrow(ladder, arrow, xs, y))
        y += REPEAT_GAP * (min(arrow.repeats, MAX_REPEATS) - 1)  # room for the copies
        statuses.add(arrow.status)
    if ladder.omitted:
        y += ROW
        body.append(f'<text class="time" x="8" y="{y}">\u2026 {ladder.omitted} more arrows '
                    f"of connections that went well are left out: see the connections "
                    f"table</text>")
    height = y + ROW + 10
    defs = "".join(
        f'<marker id="head-{ladder.session}-{s}" viewBox="0 0 10 10" refX="9" refY="5" '
        f'markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" '
        f'orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{colour(s)}"/></marker>'
        for s in sorted(statuses | {"neutral"}))
    lanes = [_lane(lane.host, lane.title, lane.role, xs[lane.key], height)
             for lane in ladder.lanes]
    return (f'<svg class="ladder" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'data-session="{escape(ladder.session)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><title>{escape(ladder.title)}</title>'
            f"<defs>{defs}</defs>" + "".join(lanes) + "".join(body) + "</svg>")


def _lane(host: str, title: str, role: str, x: int, height: int) -> str:
    return (f'<g class="lane" data-host="{escape(host)}" data-role="{escape(role)}">'
            f'<rect x="{x - HEADER_W // 2}" y="6" width="{HEADER_W}" height="34" rx="4"/>'
            f'<text x="{x}" y="21" text-anchor="middle" font-weight="bold">{escape(role)}</text>'
            f'<text x="{x}" y="35" text-anchor="middle">{escape(host)}</text>'
            f'<line class="lifeline" x1="{x}" y1="40" x2="{x}" y2="{height}"/></g>')


def _break(xs: dict[str, int], y: int, seconds: float) -> str:
    """A zig-zag across every lifeline: this much time is left out."""
    marks = "".join(f'<path d="M{x - 8},{y + 3} l5,-6 l6,6 l5,-6"/>' for x in xs.values())
    return (f'<g class="break">{marks}<text x="8" y="{y + 3}">'
            f"\u2026 {seconds:.1f} s</text></g>")


def _arrow(ladder: Ladder, arrow: Arrow, xs: dict[str, int], y: int) -> str:
    x1, x2 = xs[arrow.src], xs[arrow.dst]
    paint = colour(arrow.status)
    head = f"url(#head-{ladder.session}-{arrow.status})"
    direction = 1 if x2 >= x1 else -1
    lines = []
    # Repeats (retransmitted SYNs) as copies a few pixels apart, going down.
    for k in range(min(arrow.repeats, MAX_REPEATS)):
        offset = REPEAT_GAP * k
        lines.append(f'<line x1="{x1}" y1="{y + offset}" x2="{x2 - 6 * direction}" '
                     f'y2="{y + offset}" stroke="{paint}" marker-end="{head}"/>')
    label = escape(arrow.label) + arrow.glyph
    codes = " ".join(escape(m.code) for m in arrow.findings)
    text = (f'<text class="label" x="{(x1 + x2) / 2}" y="{y - 6}"'
            f' text-anchor="middle">{label}'
            + (f' <tspan class="finding" fill="{paint}">{codes}</tspan>' if codes else "")
            + "</text>")
    stamp = ladder.stamp(arrow)  # "-1.978s (clock set back)" ends left of the first lane
    time = (f'<text class="time" x="8" y="{y + 4}">{escape(stamp)}</text>'
            if stamp is not None else "")
    badge = ""
    if arrow.step is not None:
        bx = x1 + 14 * direction
        badge = (f'<g class="badge"><circle cx="{bx}" cy="{y}" r="8" fill="{paint}"/>'
                 f'<text x="{bx}" y="{y + 3.5}" text-anchor="middle">{arrow.step}</text></g>')
    frames = frames_words(arrow.frames[:8], max(0, len(arrow.frames) - 8))
    owner = f"connection {escape(arrow.uid)}" if arrow.uid else ""
    where = ", ".join(part for part in (owner, frames) if part)
    tooltip = f"<title>{escape(arrow.label)}" + (f" ({where})" if where else "")
    tooltip += "".join(f"; {escape(m.severity)} {escape(m.code)}" for m in arrow.findings)
    tooltip += "</title>"
    classes = " ".join(["arrow", arrow.kind] + (["reply"] if arrow.reply else []))
    attrs = (f'class="{classes}" data-kind="{arrow.kind}" data-status="{escape(arrow.status)}" '
             f'data-step="{arrow.step if arrow.step is not None else ""}" '
             f'data-uid="{escape(arrow.uid)}" data-finding="{codes}"')
    inner = tooltip + "".join(lines) + badge + text
    if arrow.findings:
        inner = f'<a href="#{escape(arrow.findings[0].anchor)}">{inner}</a>'
    return f"<g {attrs}>{time}{inner}</g>"
