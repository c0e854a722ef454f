"""Which of two events of the capture came first: by frame number where the frames are
the order one sniffer wrote its packets in, else by time (trial 29 D2).

A sniffer stamps each packet with its host's wall clock, which can be set back while it
captures (NTP, by hand: capture_clock_stepped, or by less than NTP's step threshold):
the packets after the step look older than those before, but the file still holds them
in the order they came. So within one file of one interface a connection written after
an announcement follows it, and a callback written after its control connection opened
came while it was open, whatever their timestamps say. The files of a set are merged by
time and a pcapng file of several interfaces is written in blocks (dumpcap): there
frame numbers across files or interfaces say nothing, and time alone decides, as it
does beside frames for the little jitter two interfaces' stamps have (tcpdump -i any);
so does a file whose records were written out of time order (ClockSteps.written: a
multi-queue sniffer, files merged unsorted), whose write order is no event order. A
connection whose own packets were written out of time order by less than NTP's step
threshold (a NIC-queue swap: the tracker took them in time order,
flowcheck.connections.by_time) is ordered by time against anything, its frames being no
event order; the other connections of the file keep the file's order (`moved`).
"""

from __future__ import annotations

from dataclasses import dataclass

from flowcheck.model import Connection

__all__ = ["FileOrder", "TIME_ORDER"]


@dataclass(frozen=True, slots=True)
class FileOrder:
    """How the capture set orders its events. frames: its frame numbers are one
    sniffer's write order (one file, one interface: ClockSteps.one_stream); moved: the
    frames of the events (first and last packet, NDMP messages) of the connections whose
    packets were written out of time order (Traffic.time_ordered), which time orders."""

    frames: bool = False
    moved: frozenset[int] = frozenset()

    def by_frame(self, *frames: int | None) -> bool:
        """Do the events at these frames come in the file's order (frames), none of
        them in a connection written out of time order (moved)? None: an event whose
        frame is unknown, which time orders."""
        return self.frames and not any(f is None or f in self.moved for f in frames)

    def follows(self, frame: int, ts: float, than_frame: int, than_ts: float,
                slack: float = 0.0) -> bool:
        """Does the event at (frame, ts) come after the one at (than_frame, than_ts)?
        Timestamped at most `slack` seconds before it, or written after it (frames)."""
        return ts >= than_ts - slack or (self.by_frame(frame, than_frame)
                                          and frame > than_frame)

    def before(self, frame: int, ts: float, than_frame: int, than_ts: float,
               slack: float = 0.0) -> bool:
        """Does the event at (frame, ts) come before the one at (than_frame, than_ts)?
        Written before it, where the file has an order for both (by_frame), by that
        alone: a later event stamped earlier (the clock set back between them) is not.
        Else by time: timestamped at most `slack` seconds after it."""
        return (frame < than_frame if self.by_frame(frame, than_frame)
                else than_ts >= ts - slack)

    def later(self, frame: int, ts: float, than_frame: int, than_ts: float) -> bool:
        """Is the event at (frame, ts) at or after the one at (than_frame, than_ts), by
        the file's order alone where it has one (frames), else by time? For events
        of one connection (its NDMP messages), which no jitter between interfaces
        reorders."""
        return frame >= than_frame if self.by_frame(frame, than_frame) else ts >= than_ts

    def key(self, frame: int, ts: float) -> tuple[float, ...]:
        """A sort key of an event: its frame, else (its time, its frame). One kind for
        every event, so a sort has one order: an event of a connection written out of
        time order (moved) sorts by its frame too (its first packet, a SYN, never moves
        ahead: by_time._by_time); comparisons of two events go by by_frame."""
        return (frame,) if self.frames else (ts, frame)

    def opened(self, conn: Connection) -> tuple[float, ...]:
        """The sort key of a connection's first captured packet."""
        return self.key(conn.first_frame, conn.ts)

    def open_at(self, conn: Connection, control: Connection, until: float) -> bool:
        """Was conn opened by `until` seconds (a window's end), or (frames) before
        control's last packet was written?"""
        return conn.ts <= until or (self.by_frame(conn.first_frame, control.last_frame)
                                    and conn.first_frame <= control.last_frame)


# Time decides (a set of files, or no capture behind the connections: tests' and
# callers' default).
TIME_ORDER = FileOrder()
