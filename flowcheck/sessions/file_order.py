"""Which of two events of the capture came first: by frame number where the frames are
the order one sniffer wrote its packets in, else by time (trial 29 D2).

A sniffer stamps each packet with its host's wall clock, which can be set back while it
captures (NTP, by hand: capture_clock_stepped, or by less than NTP's step threshold):
the packets after the step look older than those before, but the file still holds them
in the order they came. So within one file of one interface a connection written after
an announcement follows it, and a callback written after its control connection opened
came while it was open, whatever their timestamps say. So do the files of a set of one
interface each, each file's last time before the next one's first packet (a ring's
files, captures of different times; ClockSteps.one_stream): merged by time, each file's
packets come whole after the one before it, each in its own write order (clockpools: a
one-file capture whose clock was set back, given with captures/ndmjob/v4-backup.pcap,
read FAIL announced_not_used by time). Where the merge puts one file's packets among
another's, and in a pcapng file of several interfaces, written in blocks (dumpcap):
there frame numbers across files or interfaces say nothing, and time alone decides, as
it does beside frames for the little jitter two interfaces' stamps have (tcpdump -i any);
so does a file whose records were written out of time order (ClockSteps.written: a
multi-queue sniffer, files merged unsorted), whose write order is no event order. A
connection whose own packets were written out of time order by less than NTP's step
threshold (a NIC-queue swap: the tracker took them in time order,
flowcheck.connections.by_time) is ordered by time against anything, its frames being no
event order: every frame within its span in the file (first to last packet as written),
another connection's written there too (conservative: time orders there, with no list of
each moved connection's frames to keep); the rest of the file keeps its order (`moved`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import field
from typing import TYPE_CHECKING

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection

if TYPE_CHECKING:
    from flowcheck.sources.clock_epochs import EpochFrames
    from flowcheck.traffic import Traffic

__all__ = ["BEGINNING", "END", "FileOrder", "Moment", "TIME_ORDER", "capture_order",
           "moved_spans"]

# A moment of the capture by time: (its clock epoch, seconds), FileOrder's time order (a
# later epoch after every time of an earlier one).
Moment = tuple[float, float]
BEGINNING: Moment = (-float("inf"), -float("inf"))
END: Moment = (float("inf"), float("inf"))


@fields_dataclass(frozen=True, slots=True)
class FileOrder:
    """How the capture set orders its events. frames: its frame numbers are one
    sniffer's write order (one file, one interface: ClockSteps.one_stream); moved: the
    spans of frames (first, last, inclusive; sorted, disjoint: moved_spans) of the
    connections whose packets were written out of time order (Traffic.time_ordered),
    which time orders; epochs: the clock epoch of each frame where the capture host's
    clock stepped back on all its streams at once (flowcheck.sources.clock_epochs): time
    orders within an epoch, a later epoch comes after."""

    frames: bool = False
    moved: tuple[tuple[int, int], ...] = ()
    epochs: EpochFrames | None = field(default=None, compare=False, hash=False)

    def by_frame(self, *frames: int | None) -> bool:
        """Do the events at these frames come in the file's order (frames), none of
        them within the span of a connection written out of time order (moved)? None:
        an event whose frame is unknown, which time orders."""
        return self.frames and not any(f is None or self._in_moved(f) for f in frames)

    def _in_moved(self, frame: int) -> bool:
        """Is the frame within a moved span (a binary search)?"""
        at = bisect_right(self.moved, (frame, float("inf"))) - 1
        return at >= 0 and self.moved[at][0] <= frame <= self.moved[at][1]

    def follows(self, frame: int, ts: float, than_frame: int, than_ts: float,
                slack: float = 0.0) -> bool:
        """Does the event at (frame, ts) come after the one at (than_frame, than_ts)?
        Timestamped at most `slack` seconds before it, or written after it (frames)."""
        return self._at_or_after(frame, ts, than_frame, than_ts - slack) or (
            self.by_frame(frame, than_frame) and frame > than_frame)

    def before(self, frame: int, ts: float, than_frame: int, than_ts: float,
               slack: float = 0.0) -> bool:
        """Does the event at (frame, ts) come before the one at (than_frame, than_ts)?
        Written before it, where the file has an order for both (by_frame), by that
        alone: a later event stamped earlier (the clock set back between them) is not.
        Else by time: timestamped at most `slack` seconds after it."""
        return (frame < than_frame if self.by_frame(frame, than_frame)
                else self._at_or_after(than_frame, than_ts, frame, ts - slack))

    def later(self, frame: int, ts: float, than_frame: int, than_ts: float) -> bool:
        """Is the event at (frame, ts) at or after the one at (than_frame, than_ts), by
        the file's order alone where it has one (frames), else by time? For events
        of one connection (its NDMP messages), which no jitter between interfaces
        reorders."""
        return (frame >= than_frame if self.by_frame(frame, than_frame)
                else self._at_or_after(frame, ts, than_frame, than_ts))

    def epoch(self, frame: int | None) -> int:
        """The clock epoch of the event at frame (0 without a shared clock step)."""
        return 0 if self.epochs is None or frame is None else self.epochs.of(frame)

    def moment(self, frame: int | None, ts: float) -> Moment:
        """The event at frame stamped ts (s) as a moment of the capture by time: (its
        clock epoch, ts)."""
        return (self.epoch(frame), ts)

    def began(self, conn: Connection) -> Moment:
        """The moment a connection opened (its first captured packet's)."""
        return self.moment(conn.first_frame, conn.ts)

    def place(self, frame: int, ts: float) -> tuple[float, ...]:
        """Where the event at frame stamped ts (s) falls in the capture's order, for
        bisection against other places: (its frame) where every frame is the file's
        write order (frames), else its moment ((clock epoch, ts): moment)."""
        return (frame,) if self.frames else self.moment(frame, ts)

    def time_key(self, conn: Connection) -> tuple[Moment, int]:
        """A connection's sort key in the capture's time order: the moment it opened
        (began: (clock epoch, s)), then its first frame; (ts, first_frame) order without
        a shared clock step."""
        return (self.began(conn), conn.first_frame)

    def _at_or_after(self, frame: int | None, ts: float, than_frame: int | None,
                     than_ts: float) -> bool:
        """By time: (its clock epoch, ts) at or after (than's epoch, than_ts)."""
        if self.epochs is not None:
            epoch, than = self.epoch(frame), self.epoch(than_frame)
            if epoch != than:
                return epoch > than
        return ts >= than_ts

    def key(self, frame: int, ts: float) -> tuple[float, ...]:
        """A sort key of an event: its frame, else (its time, its frame). One kind for
        every event, so a sort has one order: an event of a connection written out of
        time order (moved) sorts by its frame too (its first packet, a SYN, never moves
        ahead: by_time._by_time); comparisons of two events go by by_frame."""
        return (frame,) if self.frames else (self.epoch(frame), ts, frame)

    def opened(self, conn: Connection) -> tuple[float, ...]:
        """The sort key of a connection's first captured packet."""
        return self.key(conn.first_frame, conn.ts)

    def open_at(self, conn: Connection, control: Connection, until: float) -> bool:
        """Was conn opened by `until` seconds (a window's end, on the clock of control's
        last packet: its epoch's), or (frames) before control's last packet was
        written?"""
        return self.began(conn) <= self.moment(control.last_frame, until) or (
            self.by_frame(conn.first_frame, control.last_frame)
            and conn.first_frame <= control.last_frame)


def moved_spans(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """The spans (first frame, last frame) sorted and merged where they overlap or
    touch: FileOrder.moved."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return tuple(merged)


# Time decides (a set of files, or no capture behind the connections: tests' and
# callers' default).
TIME_ORDER = FileOrder()


def capture_order(traffic: Traffic) -> FileOrder:
    """How the traffic's capture orders its events: by frame in one file of one
    interface, but within the span of frames (first to last packet, in time and in file
    order) of each connection written out of time order: every event there (its RST,
    stall, FIN, NDMP messages) is ordered by time (pipeline.file_order; the ladders,
    report.ladder_order)."""
    epochs = traffic.clock_epochs
    # After a clock step back on all the capture's streams at once, merged by (clock
    # epoch, time) (flowcheck.sources.clock_epochs): frames in that merged order are an
    # event order as one interface's are; else time orders within each epoch.
    frames = traffic.one_stream or (epochs is not None and epochs.in_frame_order)
    if not frames or not traffic.time_ordered:
        return FileOrder(frames=frames, epochs=epochs)
    spans = []
    for c in traffic.connections:
        if c.uid in traffic.time_ordered:
            ends = [c.first_frame, c.last_frame] + [
                w[0] for w in (c.written_first, c.written_last) if w is not None]
            spans.append((min(ends), max(ends)))
    spans += [(min(m.frame for m in s.messages), max(m.frame for m in s.messages))
              for s in traffic.streams if s.uid in traffic.time_ordered and s.messages]
    return FileOrder(frames=True, moved=moved_spans(spans), epochs=epochs)
