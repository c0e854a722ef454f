"""Durations as the step details and finding messages give them (span_words), and the
words for a time across a clock set back (CLOCK_BACK_WORDS)."""

from __future__ import annotations

# A duration a clock set back between its two ends made negative (trial 29 D2).
CLOCK_BACK_WORDS = "an unknown time (the capture's clock was set back in between)"


def span_words(seconds: float) -> str:
    """A duration as the step details give it: "0.036 ms" below a second, else "3.01 s";
    CLOCK_BACK_WORDS for a negative one, never a negative time."""
    if seconds < 0:
        return CLOCK_BACK_WORDS
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"
