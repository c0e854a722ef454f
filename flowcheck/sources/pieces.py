"""The parts of a capture set that no file joins in time: each read as it reads alone.

A capture set of files given in sequence (`flowcheck analyze a.pcap b.pcap`, a folder of
two nights' captures) may hold separate captures: one job's capture taken on a SPAN port
that saw one direction, beside another job's taken days before on the media server. The
time between two of its files that no file covers (sources.file_gaps: never between one
ring's files, nor between neighbouring files of one rotation by time) splits the set into
pieces; the files of one piece overlap or follow each other as one capture's parts. What
one piece holds says nothing of what another could show: the other job's two-way traffic
between the same hosts does not make this job's capture one of both directions
(mergedone: 22 one-direction stored cases lost capture_one_direction beside ndmjob's v4
backup), and the other piece's start is not this capture's start (verify.stale).

A set of one file, a ring or overlapping files is one piece, read as before; so is a
set whose files follow each other with a connection going on across the time between
them (one capture cut into files by a tool flowcheck does not name as a ring or a
rotation: `tcpdump -C 100 -w trace`'s trace, trace1; two files of a -G rotation; a job
split at a packet with editcap -r): a connection with packets on both sides of that time
proves the files one capture's parts (review58f: ndmjob's v4 backup cut after its
control connection's 11th packet into first.pcap and second.pcap, 57 us apart, read FAIL
no_control_session "none of the 1 TCP connections" in second.pcap, its data connection).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from pathlib import PurePath
from typing import TypeVar

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import CaptureInfo, Connection, RingGap

T = TypeVar("T")


@fields_dataclass(frozen=True, slots=True)
class Pieces:
    """The set's pieces in time order. starts: each piece's first packet time after the
    first piece's (the end of a file gap, seconds since the epoch, ascending); ends: the
    last packet time of each piece before the last (the start of that gap); names: per
    piece, the names of its files (file name only), in the set's order ((): not known)."""

    starts: tuple[float, ...] = ()
    names: tuple[tuple[str, ...], ...] = ()
    ends: tuple[float, ...] = ()  # each piece's last packet time but the last piece's (s)

    def __len__(self) -> int:
        return len(self.starts) + 1

    def of(self, ts: float) -> int:
        """The index of the piece that holds time `ts` (seconds): a packet of the time
        between two pieces goes with the earlier."""
        return bisect_right(self.starts, ts) if self.starts else 0

    def group(self, items: Iterable[T], at: Callable[[T], float]) -> list[list[T]]:
        """`items` per piece, in piece order (a list per piece, [] for a piece that holds
        none), each in the piece that holds its time at(item) (seconds: a connection's
        first packet, a session's control connection's, a file's first packet) and in
        the order given; [list(items)] with one piece. Each item placed once by
        bisection: a day of 1-minute files and its connections stay linear (the one
        grouping of verify.census, no_session, probes_only and capture_filter)."""
        if not self.starts:
            return [list(items)]
        groups: list[list[T]] = [[] for _ in range(len(self))]
        for item in items:
            groups[bisect_right(self.starts, at(item))].append(item)
        return groups

    def start(self, index: int) -> float | None:
        """When piece `index` starts (its first packet, s); None for the first piece (its
        start is the capture's)."""
        return self.starts[index - 1] if index > 0 else None

    def end(self, index: int) -> float | None:
        """When piece `index` ends (its last packet, s); None for the last piece (its end
        is the capture's: verify.context.Context.capture_end, which live's stop time or
        a packet that is not TCP may put later)."""
        return self.ends[index] if index < len(self.ends) else None

    def words(self, index: int) -> str:
        """What to call piece `index` in a finding: "the capture" with one piece, else "the
        file a.pcap of the capture set" ("the files a.pcap and b.pcap ...")."""
        if len(self) == 1:
            return "the capture"
        names = self.names[index] if index < len(self.names) else ()
        if not names:
            return "one part of the capture set"
        if len(names) == 1:
            return f"the file {names[0]} of the capture set"
        return f"the files {', '.join(names[:-1])} and {names[-1]} of the capture set"


ONE_PIECE = Pieces()


def least_in(pieces: Pieces, values: Iterable[tuple[float, int]]) -> dict[int, int]:
    """{piece index: the least value} of (time s, value) pairs, each in the piece of
    `pieces` that holds its time (verify.unannounced: each piece's first SYN frame)."""
    least: dict[int, int] = {}
    for ts, value in values:
        at = pieces.of(ts)
        least[at] = min(least.get(at, value), value)
    return least


def set_pieces(captures: Sequence[CaptureInfo], file_gaps: Sequence[RingGap],
               connections: Iterable[Connection]) -> Pieces:
    """The set's Pieces, split at each file gap (sources.file_gaps: RingGap with ring
    False; a ring's holes and a rotation's are one capture's and split nothing) that no
    TCP connection of `connections` goes on across (a packet of it at or before the gap's
    start and one at or after its end: the files are one capture's parts; module
    docstring). A file goes with the piece its first packet (CaptureInfo.span) falls in;
    one without packets with none."""
    gaps = sorted({(gap.end, gap.start) for gap in file_gaps if not gap.ring})
    if gaps:
        gaps = _unspanned(gaps, connections)
    if not gaps:
        return ONE_PIECE
    starts = tuple(end for end, _ in gaps)
    files = Pieces(starts).group([(info.span[0], PurePath(info.path).name)
                                  for info in captures if info.span is not None],
                                 lambda file: file[0])
    return Pieces(starts, tuple(tuple(name for _, name in each) for each in files),
                  tuple(start for _, start in gaps))


def _unspanned(gaps: list[tuple[float, float]], connections: Iterable[Connection]
               ) -> list[tuple[float, float]]:
    """The (end, start) gaps (seconds, in time order, apart: no file covers them) that no
    connection has packets on both sides of; one pass over the connections, each placed
    by bisection (a day of 1-minute files and its connections stay linear)."""
    ends = [end for end, _ in gaps]
    begins = [start for _, start in gaps]
    crossed = [0] * (len(gaps) + 1)
    for conn in connections:
        low = bisect_left(begins, conn.ts)  # the first gap starting at or after its first
        high = bisect_right(ends, conn.last_ts)  # past the last gap ending by its last
        if low < high:
            crossed[low] += 1
            crossed[high] -= 1
    kept, running = [], 0
    for index, gap in enumerate(gaps):
        running += crossed[index]
        if not running:
            kept.append(gap)
    return kept
