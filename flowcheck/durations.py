"""Durations as the step details and finding messages give them (span_words; from an
hour, long_span_words), and the words for a time across a clock set back
(CLOCK_BACK_WORDS)."""

from __future__ import annotations

HOUR = 3600.0

# A duration a clock set back between its two ends made negative (trial 29 D2).
CLOCK_BACK_WORDS = "an unknown time (the capture's clock was set back in between)"


def span_words(seconds: float) -> str:
    """A duration as the step details give it, 3 significant digits without trailing
    zeros: "0.041 ms", "1.2 ms", "150 ms" below a second, else "3.01 s", "1234 s", and
    from an hour long_span_words ("2 h 0 min", not "7235 s"); never an exponent ("1e+03
    ms" for 0.9996 s: "1 s"); CLOCK_BACK_WORDS for a negative one, never a negative time.
    Findings give spans of capture time so too (field check 60's reviews:
    capture_ended_early wrote "0.000 s after" of a capture cut 0.01 ms after the event)."""
    if seconds < 0:
        return CLOCK_BACK_WORDS
    if seconds >= HOUR:
        return long_span_words(seconds)
    seconds = abs(seconds)  # -0.0 is not below 0, and read "-0 ms" (review54c)
    millis = f"{seconds * 1000:.3g}"
    if seconds < 1 and "e" not in millis:
        return f"{millis} ms"
    if seconds < 0.001:  # below 1e-7 s, .3g writes an exponent: "1e-05" ms
        return f"{seconds * 1000:.6f}".rstrip("0").rstrip(".") + " ms"
    text = f"{seconds:.3g}"
    return f"{text} s" if "e" not in text else f"{seconds:.0f} s"


def long_span_words(seconds: float) -> str:
    """A long duration as a person reads it, to the minute: "6 days 6 h 31 min",
    "1 day 0 h 5 min", "8 h 0 min", "12 min" (newuser54: two captures six days apart
    merged read only "+541890.734s")."""
    minutes = int(max(0.0, seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days > 1 else ''} {hours} h {minutes} min"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"

