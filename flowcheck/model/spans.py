"""Spans (first, last), merged where they overlap: times in seconds, or any ordered
values (flowcheck.sessions.lifetimes: (clock epoch, s) keys and frame numbers)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

# Any values that sort and compare with <= and max: floats, ints, tuples of them.
T = TypeVar("T", bound=Any)


def merged_spans(spans: Iterable[tuple[T, T]]) -> list[tuple[T, T]]:
    """`spans` ((start, end) pairs, ends inclusive, any order; seconds for times) as the
    disjoint spans covering the same, in order: two that overlap or touch become one."""
    merged: list[list[T]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]
