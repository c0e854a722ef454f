"""Spans of capture time in the findings' words (durations.span_words): three
significant digits, "0.01 ms" not "0.000 s", and from an hour hours and minutes, not
"7235 s" (field check 60's words reviews)."""

from __future__ import annotations

import pytest

from flowcheck.durations import CLOCK_BACK_WORDS, later_words, span_words


@pytest.mark.parametrize(("seconds", "words"), [
    (1e-5, "0.01 ms"), (0.0398, "39.8 ms"), (3599.4, "3599 s"), (3600.0, "1 h 0 min"),
    (7235.0, "2 h 0 min"), (90061.0, "1 day 1 h 1 min"),
])
def test_span_words_short_and_long(seconds: float, words: str) -> None:
    assert span_words(seconds) == words


@pytest.mark.parametrize(("seconds", "words"), [
    (0.0, "less than a microsecond later"), (4e-7, "less than a microsecond later"),
    (9.5367431640625e-07, "0.001 ms later"), (5.0067901611328125e-06, "0.005 ms later"),
    (0.0123, "12.3 ms later"), (None, "an unknown time later"),
    (-0.5, f"{CLOCK_BACK_WORDS} later"),
])
def test_later_words_say_no_0_ms(seconds: float | None, words: str) -> None:
    """Two stamps of one microsecond are no "0 ms later" (words64: verdicts56's half-open
    checks), and a float's epoch seconds' error reads no digit past the microsecond."""
    assert later_words(seconds) == words
