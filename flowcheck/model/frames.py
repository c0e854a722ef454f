"""NO_FRAMES: the empty frame list many Connection records share (flowcheck.model.traffic).

A record's evidence lists (syn_frames, synack_frames, rst_frames, icmp_frames,
fin_frames, gap_frames) are empty for most short connections: three of six in a
handshake-data-FIN connection. An empty list is 56 bytes; the short-connection path
(flowcheck.connections.short_records) gives those fields this one shared list instead,
kept to the end by each of 200,000 connections (issue 7). It reads as an empty list (==
[], len 0, slices and `+` give lists, JSON []); it cannot be changed, so a writer that
may meet it assigns a new list (`frames_of`) instead of appending to a shared one.
"""

from __future__ import annotations

from typing import Any, NoReturn


class _NoFrames(list):
    """An empty list that refuses every change (module docstring)."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("NO_FRAMES is shared by many records: assign a new list")

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __copy__(self) -> _NoFrames:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _NoFrames:
        return self  # flowcheck.live copies trackers: still the shared one

    def __reduce__(self) -> str:
        return "NO_FRAMES"  # pickled as this module's NO_FRAMES


NO_FRAMES: list[int] = _NoFrames()


def frames_of(frames: list[int]) -> list[int]:
    """`frames` if it may be changed, else (NO_FRAMES) a new empty list."""
    return [] if frames is NO_FRAMES else frames
