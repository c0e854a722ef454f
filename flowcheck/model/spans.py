"""Time spans (first, last), in seconds, merged where they overlap."""

from __future__ import annotations


def merged_spans(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """`spans` ((start, end) pairs, s, any order) as the disjoint spans covering the same
    times, in time order: two that overlap or touch become one."""
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]
