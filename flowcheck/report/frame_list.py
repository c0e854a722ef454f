"""A list of evidence frames in words, the same in every form of a report (trial 20 D13:
the text showed 8 frames, the HTML and JSON 20, each list ended by a bare comma)."""

from __future__ import annotations


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
