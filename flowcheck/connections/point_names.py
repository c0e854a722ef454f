"""Two capture points' files as the capture_duplicates words name them
(flowcheck.connections.duplicates): each pair of files holding copies of each other's
packets, how far apart their clocks read (the median time between a packet and its
copy), and the shift flowcheck applied to a file's times to read the set on one clock
(TrackResult.shifts; tunnel_copies says the same shift in its words).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.connections.offsets import (
    ALIGN_SECONDS,
    OFFSET_TOLERANCE,
    STEADY,
    appended,
    same_capture,
)
from flowcheck.durations import span_words
from flowcheck.model import CaptureInfo

if TYPE_CHECKING:
    from flowcheck.connections.copy_family import CopyFamily
    from flowcheck.connections.offsets import Offset
    from flowcheck.connections.points import CapturePoints


class PointNames:
    """Capture points named by their files."""

    def __init__(self, points: CapturePoints, captures: list[CaptureInfo],
                 shifts: dict[int, float]) -> None:
        self.points, self.captures, self.shifts = points, captures, shifts

    def name(self, index: int) -> str:
        return self.captures[index].path if index < len(self.captures) else f"file {index + 1}"

    def moved(self, entry: Offset) -> float:
        """Seconds flowcheck moved the pair's second file's times against its first's
        (TrackResult.shifts): its copies' time differences less this are the files' own."""
        low, high = entry.sources
        return self.shifts.get(high, 0.0) - self.shifts.get(low, 0.0)

    def one_capture(self, entry: Offset) -> bool:
        """Are the pair's copies one capture given twice: at the very same times (each
        copy's time its original's, no shift of flowcheck's between them), or every one
        at one offset (offsets.same_capture) on microsecond clocks? A finer clock's
        stamps (CaptureInfo.tick; None: not known) of two points one bridge apart lie
        within float64's reading of one offset (review56b: 75 copies of two nanosecond
        captures in one netns within 0.48 us), so those are two points' unless the same
        times."""
        moved = self.moved(entry)
        if not moved and entry.copies and entry.same_time == entry.copies:
            return True
        ticks = [self.captures[i].tick if i < len(self.captures) else None
                 for i in entry.sources]
        return (all(tick is not None and tick >= 1e-6 for tick in ticks)
                and same_capture(entry, moved))

    def pair(self, entry: Offset, family: CopyFamily) -> str:
        """What one pair of capture points' copies show (family: the words' IP version)."""
        low, high = entry.sources
        first, second = self.name(low), self.name(high)
        routed = f", a router apart (the {family.ttl} differs)" if entry.routed else ""
        if appended(entry):
            return (f"{first} holds {entry.copies:,} copies of its own packets at about the "
                    f"same times ({_ms(entry.offset)} after them) but apart in the file"
                    f"{routed}: a second capture point's capture appended to the first "
                    "(mergecap -a), its times going back where it begins; each packet counts "
                    "at its first copy")
        if low == high:
            return (f"{first} holds {entry.copies:,} copies of its own packets "
                    f"{abs(entry.offset or 0.0):.3f} s after them{routed}: two capture "
                    "points' captures merged into one file (mergecap) while their clocks "
                    "disagreed, or one appended to the other (mergecap -a); each packet counts "
                    "at its first copy, and the file's times are each point's own (give the "
                    "two captures as separate files to have them read on one clock)")
        file_low, file_high = entry.sources
        moved = self.moved(entry)
        if self.one_capture(entry):
            return self._same_capture(entry, (entry.step or 0.0) - moved)
        offset = (entry.offset or 0.0) - moved  # as the files' own clocks read
        text = (f"{second} holds {entry.copies:,} copies of packets of {first}: two capture "
                f"points' captures of the same traffic{routed}")
        how = _how(entry, moved)
        if not moved and abs(offset) <= ALIGN_SECONDS:
            if entry.bound is not None:  # how: "the middle of LO s to HI s, ..."
                return (f"{text}; their clocks agree ({second}'s against {first}'s: "
                        f"{how})")
            return (f"{text}; their clocks agree (the median time between a packet and its "
                    f"copy is {_ms(offset)}, the path between the points included)")
        if not moved:  # standard input cannot be read again
            return (f"{text}; {second}'s clock reads {offset:+.3f} s against {first}'s "
                    f"({how}), and each file's times are its own clock's")
        # Said of the file read on another's clock (the one shifted; the second if both).
        if self.shifts.get(file_low) and not self.shifts.get(file_high):
            first, second, offset = second, first, -offset
            file_low, file_high = file_high, file_low
        return (f"{text}; {second}'s clock reads {offset:+.3f} s against {first}'s "
                f"({_how(entry, moved, entry.sources[0] != file_low)}): "
                f"{shifted_words(second, self.shifts[file_high])}")


    def _same_capture(self, entry: Offset, offset: float) -> str:
        """One capture given twice (offsets.same_capture): at the very same times only
        when they are; else each copy `offset` seconds from its original as the files'
        own clocks read (newuser55: a file and its `editcap -t -2.5` copy were said to be
        at the very same times, read after flowcheck's own shift)."""
        first, second = self.name(entry.sources[0]), self.name(entry.sources[1])
        if abs(offset) <= STEADY:
            return (f"{second} holds the same packets as {first} at the very same times "
                    f"({entry.copies:,}): the same capture given twice (or two sniffers "
                    "on one interface)")
        way = "later" if offset > 0 else "earlier"
        text = (f"{second} holds the same packets as {first} ({entry.copies:,}), each "
                f"{span_words(abs(offset))} {way} in {second} ({offset:+.6f} s, every "
                "copy alike): the same capture given twice, one copy's times shifted "
                "(editcap -t)")
        shifted = [index for index in entry.sources if self.shifts.get(index)]
        if not shifted:
            return text
        return f"{text}; {shifted_words(self.name(shifted[-1]), self.shifts[shifted[-1]])}"


def shifted_words(name: str, by: float) -> str:
    """What flowcheck did with a file read on another's clock (track_connections' shift
    of `by` seconds), and how to see the same in Wireshark."""
    return (f"flowcheck read {name}'s times shifted by {by:+.6f} s, so the packets of both "
            "come in the order they happened and the frames are numbered in that order (to "
            f"see it in Wireshark: editcap -t {by:+.6f} {name} shifted.pcap, then mergecap "
            "the two)")


def _ms(seconds: float | None) -> str:
    """A time difference in milliseconds, "0.0 ms" rather than "-0.0 ms"."""
    value = round((seconds or 0.0) * 1e3, 1)
    return f"{value + 0.0:.1f} ms"


def _how(entry: Offset, moved: float, swapped: bool = False) -> str:
    """How the offset was read: between the two ways' bounds (Offset.bound: seconds,
    less `moved`, flowcheck's shift; swapped: said of the first file against the second)
    or, one way's copies only, their median."""
    if entry.bound is None:
        return "the median time between a packet and its copy"
    lo, hi = (value - moved for value in entry.bound)
    if swapped:
        lo, hi = -hi, -lo
    queued = (f"; copies came up to {entry.queue:.3f} s later one way than the other: a "
              "queue on the path, not the clocks" if entry.queue > OFFSET_TOLERANCE else "")
    return (f"the middle of {lo:+.6f} s to {hi:+.6f} s, where a copy never comes before "
            f"its original either way{queued}")
