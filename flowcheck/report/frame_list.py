"""A list of evidence frames in words, and where a finding is, the same in every form of
a report (trial 20 D13: the text showed 8 frames, the HTML and JSON 20, each list ended
by a bare comma)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.report.overview import wall_clock

if TYPE_CHECKING:
    from flowcheck.model import Finding
    from flowcheck.report.since import Since


def frame_words(frames: list[int], more: int = 0) -> str:
    """"frame 250", "frames 901, 969", "frames 1-20 and 2 more": runs of three or more
    consecutive frames as a range, and the frames left out of the list (`more`, a
    finding's frames_more) counted; "" for none."""
    if not frames:
        return ""
    parts: list[str] = []
    start = previous = frames[0]
    for frame in [*frames[1:], None]:
        if frame is not None and frame == previous + 1:
            previous = frame
            continue
        if previous - start >= 2:
            parts.append(f"{start}-{previous}")
        else:
            parts.extend(str(f) for f in range(start, previous + 1))
        if frame is not None:
            start = previous = frame
    plural = len(frames) > 1 or more
    return (f"frame{'s' if plural else ''} {', '.join(parts)}"
            + (f" and {more} more" if more else ""))


def finding_where(finding: Finding, base: Since | None, *, session: bool = True) -> str:
    """"session 2, connection C4, frames 12-14, at +3.201s = 2026-12-02 10:00:03.201"
    (the parts it has; `base`: the time +N s count from, None for wall-clock times only;
    `session`: False when the session is told beside it)."""
    return ", ".join(part for part in (
        f"session {finding.session}" if session and finding.session else "",
        f"connection {finding.uid}" if finding.uid else "",
        frame_words(finding.frames, finding.frames_more),
        (f"at {base(finding.ts, min(finding.frames, default=0))} = " if base else "at ")
        + wall_clock(finding.ts)
        if finding.ts is not None else "",
    ) if part)
