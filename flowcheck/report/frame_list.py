"""A list of evidence frames in words, and where a finding is, the same in every form of
a report (trial 20 D13: the text showed 8 frames, the HTML and JSON 20, each list ended
by a bare comma)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.frame_names import frames_words
from flowcheck.report.overview import wall_clock

if TYPE_CHECKING:
    from flowcheck.model import Finding
    from flowcheck.report.since import Since


def frame_words(frames: list[int], more: int = 0) -> str:
    """"frame 250", "frames 901, 969", "frames 1-20 and 2 more": runs of three or more
    consecutive frames as a range, and the frames left out of the list (`more`, a
    finding's frames_more) counted; "" for none. Of a set of several files (the
    FrameNames current: flowcheck.frame_names.naming), each file's frames by its own
    numbers: "frames 201, 202 of ring.pcap3"."""
    return frames_words(frames, more)


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
