"""Durations as the step details and finding messages give them (span_words; from an
hour, long_span_words), and the words for a time across a clock set back
(CLOCK_BACK_WORDS); one event after another, later_words ("less than a microsecond
later", not "0 ms later"); beside a limit it stays below, span_below; a time from the
capture's start, signed ("+1.942s", "-0.035s": the text report's and the findings')."""

from __future__ import annotations

HOUR = 3600.0

# A duration a clock set back between its two ends made negative (trial 29 D2).
CLOCK_BACK_WORDS = "an unknown time (the capture's clock was set back in between)"


def signed(seconds: float) -> str:
    """`seconds` as "+1.942s" or "-3.456s", to the millisecond; "+0.000s" for anything
    that rounds to zero (never "-0.000s", nor "+-0.035s" for a time after a clock set
    back that falls before the capture's start)."""
    return f"{round(seconds, 3) + 0.0:+.3f}s"  # -0.0 + 0.0 is 0.0


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


def later_words(seconds: float | None, word: str = "later") -> str:
    """How long after an event another came, as the words say it: "0.004 ms later"
    (span_words, to the microsecond: a time as epoch seconds in a float holds about a
    quarter of a microsecond, so two stamps 1 us apart differ by 0.000954 ms or 0.00119 ms);
    "less than a microsecond later" for a span that rounds to none, two packets with one
    timestamp among them (closer than the capture clock's resolution, not "0 ms later":
    words64, verdicts56's half-open checks reset within the SYN-ACK's microsecond); "an
    unknown time later" when an end's time is not known (None); CLOCK_BACK_WORDS when the
    clock was set back between them (negative). word: after the span ("later", "after
    it", "after the SYN")."""
    if seconds is None:
        return f"an unknown time {word}"
    if seconds < 0:
        return f"{CLOCK_BACK_WORDS} {word}"
    micros = round(seconds, 6)
    if micros == 0:
        return f"less than a microsecond {word}"
    return f"{span_words(micros)} {word}"


def span_below(seconds: float, limit: float) -> str:
    """span_words of a span said beside a `limit` (s) it stays below, with as many more
    significant digits as it takes not to read as the limit: a port used again 2.4398 s
    after its connection ended, within a 2.44 s hold, read "2.44 s after ..., within the
    2.44 s the port is held", as 239.6 s beside Windows' 240 s TIME-WAIT reads "240 s"
    (review58c: 3 significant digits since words58; one decimal made "10.0 s" of 9.96 s
    beside a 10 s hold). span_words itself for a span not below the limit, or from an
    hour."""
    words = span_words(seconds)
    if not 0 <= seconds < limit or seconds >= HOUR:
        return words
    for digits in range(4, 10):
        value, unit = words.split(" ")
        if float(value) / (1000 if unit == "ms" else 1) < limit:
            break
        words = (f"{seconds * 1000:.{digits}g} ms" if seconds < 1 else
                 f"{seconds:.{digits}g} s")
    return words


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


def ended_words(went: float, what: str, subject: str = "the capture", *,
                clause: bool = False) -> str:
    """How long a capture ran on after an event, as the words say it: "the capture
    ended 41.9 ms after the last SYN"; with no capture time after it (the event is the
    file's last packet, or shares its stamp) "the capture ends with the last SYN": a
    "0 ms" wait names a wait the capture never showed (field check 71: "the capture
    ended 0 ms after the last SYN" of a file whose last packet was that SYN). subject:
    "the capture", "it". clause: `what` is a clause ("the data connection ... was
    reset"), said "ended right after ..., with no capture time after it"."""
    if went > 0:
        return f"{subject} ended {span_words(went)} after {what}"
    if clause:
        return f"{subject} ended right after {what}, with no capture time after it"
    return f"{subject} ends with {what}"
