"""Where a finding is, the same in every form of a report (trial 20 D13: the text showed
8 frames, the HTML and JSON 20, each list ended by a bare comma); its frames in words
by flowcheck.frame_names.frames_words."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.frame_names import frames_words
from flowcheck.report.overview import wall_clock

if TYPE_CHECKING:
    from flowcheck.model import Finding
    from flowcheck.report.since import Since


def finding_where(finding: Finding, base: Since | None, *, session: bool = True) -> str:
    """"session 2, connection C4, frames 12-14, at +3.201s = 2026-12-02 10:00:03.201"
    (the parts it has; `base`: the time +N s count from, None for wall-clock times only;
    `session`: False when the session is told beside it)."""
    return ", ".join(part for part in (
        f"session {finding.session}" if session and finding.session else "",
        f"connection {finding.uid}" if finding.uid else "",
        frames_words(finding.frames, finding.frames_more),
        (f"at {base(finding.ts, min(finding.frames, default=0))} = " if base else "at ")
        + wall_clock(finding.ts)
        if finding.ts is not None else "",
    ) if part)
