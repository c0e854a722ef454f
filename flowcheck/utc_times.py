"""Packet timestamps (seconds since the Unix epoch) as UTC ISO 8601 text, for every report.

A corrupt record's timestamp can lie outside the calendar Python's datetime knows (years
1 to 9999): a pcapng timestamp is 64 bits of ticks (584,542 years of microseconds), an
interface's if_tsoffset moves it by up to 2**63 seconds either way. Such a time is
written as its Unix time, never an exception: a damaged packet in a good capture does not
stop the report.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_moment(ts: float) -> datetime | None:
    """The UTC date and time of a timestamp; None for one outside years 1 to 9999."""
    try:
        return datetime.fromtimestamp(ts, UTC)
    except (ValueError, OverflowError, OSError):  # out of range, NaN (ValueError)
        return None


def utc_text(ts: float, *, millis: bool = True) -> str:
    """`2026-12-01T00:58:17.123Z` (`2026-12-01T00:58:17Z` without millis): always 10
    characters of date, a `T`, then the time of day; a timestamp without a calendar date
    as `Unix time 584554049253.000 (no calendar date)`."""
    moment = utc_moment(ts)
    if moment is None:
        return f"Unix time {ts:.3f} (no calendar date)"
    text = (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
            f"{moment.minute:02d}:{moment.second:02d}")
    return text + (f".{moment.microsecond // 1000:03d}Z" if millis else "Z")


def has_date(text: str) -> bool:
    """Whether a utc_text() is a date and time (not a bare Unix time)."""
    return text[10:11] == "T"
