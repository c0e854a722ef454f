"""Spans of capture time in the findings' words (durations.span_words): three
significant digits, "0.01 ms" not "0.000 s", and from an hour hours and minutes, not
"7235 s" (field check 60's words reviews)."""

from __future__ import annotations

import pytest

from flowcheck.durations import span_words


@pytest.mark.parametrize(("seconds", "words"), [
    (1e-5, "0.01 ms"), (0.0398, "39.8 ms"), (3599.4, "3599 s"), (3600.0, "1 h 0 min"),
    (7235.0, "2 h 0 min"), (90061.0, "1 day 1 h 1 min"),
])
def test_span_words_short_and_long(seconds: float, words: str) -> None:
    assert span_words(seconds) == words
