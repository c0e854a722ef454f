"""The text and HTML reports' relative times ("+1.942s"): what they count from, and how
one is written (durations.signed, re-exported here).

They count from the first packet of the capture's earliest connection (TIME_ORIGIN).
When the capture's clock steps back (Traffic.clock_step, the step capture_clock_stepped
tells of: a clock set back or pieces appended out of time order; not a file read as its
pieces merged by time, nor records only written out of time order, whose times are
right), the earliest
by timestamp can be a connection stamped after the step, so the times before the step
read from +1.942s and the step itself sat at -0.035s, before the base the header named
(newuser59: frames 200-300 of lab/clean-3-resources set back 2 s). The base is then the
earliest connection that begins before the step, and a time after the step that falls
before it says so: "-1.978s (clock set back)". A time is never written "-0.000s" (a
negative zero: "+0.000s"). The JSON keeps the absolute times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.durations import signed
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from flowcheck.connections.clock_words import ClockStep
    from flowcheck.model import Connection

SET_BACK = " (clock set back)"
__all__ = ["SET_BACK", "Since", "time_base"]


@fields_dataclass(frozen=True, slots=True)
class Since:
    """What relative times count from: `at` (epoch seconds) and `stepped`, the frame
    where the capture's clock first steps back when `at` was taken before it (0: no
    such step, or no connection begins before it)."""

    at: float
    stepped: int = 0

    def __call__(self, ts: float, frame: int | None = None) -> str:
        """`ts` (epoch seconds) from the base: "+1.942s", "+0.000s" for anything that
        rounds to zero; "-1.978s (clock set back)" when it falls before the base after
        the clock stepped back: `frame` the packet's frame when known (a finding's
        first frame: one before the step is not marked, 0 for none), None for a time of
        a connection or NDMP message (every connection that begins before the step
        starts at or after the base, so one before it was stamped after the step)."""
        text = signed(ts - self.at)
        if text.startswith("-") and self.stepped and (frame is None or frame >= self.stepped):
            return text + SET_BACK
        return text

    def origin_words(self, origin: str) -> str:
        """`origin` (TIME_ORIGIN), with the step when the base was taken before it."""
        if not self.stepped:
            return origin
        return (f"{origin} before its clock steps back at {frame_text(self.stepped)} "
                f"(capture_clock_stepped; a time after it that reads earlier says so:"
                f"{SET_BACK})")


def time_base(connections: Sequence[Connection], step: ClockStep | None) -> Since | None:
    """What the relative times count from: the earliest connection's first packet, or,
    when the capture's clock steps back (`step`: Traffic.clock_step, a clock set back at
    its `set_back` frame), the earliest of those that begin before the step (Since);
    None without connections. A step that is only records written out of time order, a
    second capture appended or a file read as its pieces merged by time moves nothing:
    their times are right, the earliest connection by time is the earliest."""
    if not connections:
        return None
    stepped = step.set_back if step is not None else 0
    before = [c.ts for c in connections if c.first_frame < stepped] if stepped else []
    if before:
        return Since(min(before), stepped)
    return Since(min(c.ts for c in connections))
