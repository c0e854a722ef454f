"""Time between the files of a capture set that none of them covers.

Files given in sequence (`flowcheck analyze a.pcap b.pcap`, one sniffer stopped and
started again, or two hosts' captures that do not overlap) leave the time from the last
packet of one to the first of the next uncaptured: a packet sent then is in no file,
which is not the sniffer losing it while it ran (review56e: a callback's and a data
connection's handshakes in the gap between two files read "the sniffer lost them").
The files of one ring buffer follow each other without a pause (the sniffer rotates
them, and wrap from the highest number to 0), so the time between two of its files is no
gap here; a file missing from its numbering is a hole (flowcheck.sources.ring,
capture_ring_gap). Nor is the time between two neighbouring files of one rotation by
time of three files or more (tcpdump -G, named by strftime: sources.ring.time_rotated),
unless sources.rotation_gaps found a hole there: one sniffer ran throughout, and a
handshake missing then is its loss (gwords: a -G job's callback handshake cut out read
"if no sniffer ran then ..."). Two such files alone are not exempt: no period can be
read from two names, so a missing file between them cannot be ruled out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePath

from flowcheck.model import CaptureInfo, RingGap
from flowcheck.sources.ring import ring_member, time_rotated, time_rotated_groups


def file_gaps(captures: Sequence[CaptureInfo], spans: Mapping[str, tuple[float, float]],
              rotation_holes: Sequence[RingGap] = ()) -> list[RingGap]:
    """Each span of time between two files of the set that no file covers, in time order
    (RingGap with ring=False: `before` the file whose last packet starts it, `after` the
    one whose first packet ends it; seconds since the epoch). spans: each file's (first,
    last) packet time, seconds (a file without packets has none and is left out). None
    between two files of one ring, nor for a single file."""
    files = sorted((spans[c.path][0], spans[c.path][1], c.path)
                   for c in captures if c.path in spans)
    rotation = _rotations(captures)
    holes = {(gap.before, gap.after) for gap in rotation_holes}
    gaps = []
    covered_to, last_path = float("-inf"), ""
    for first, last, path in files:
        one_rotation = (rotation.get(last_path, -1) == rotation.get(path, -2)
                        and (PurePath(last_path).name, PurePath(path).name) not in holes)
        if last_path and first > covered_to and not _one_ring(last_path, path) \
                and not one_rotation:
            gaps.append(RingGap(PurePath(last_path).name, PurePath(path).name,
                                covered_to, first, ring=False))
        if last > covered_to:
            covered_to, last_path = last, path
    return gaps


def _one_ring(before: str, after: str) -> bool:
    """Are the two files parts of one ring buffer (its numbering)? Whatever their numbers:
    a ring that wrapped (tcpdump -C -W 3: ring.pcap2, then ring.pcap0) goes on without a
    pause, and a number missing between them is a hole, capture_ring_gap's
    (sources.ring.ring_gaps; review56j: a wrapped ring's pcap2 -> pcap0 read "nothing of
    that time is in the set" for a handshake its sniffer lost)."""
    one, two = ring_member(before), ring_member(after)
    return one is not None and two is not None and one[0] == two[0]


def _rotations(captures: Sequence[CaptureInfo]) -> dict[str, int]:
    """{path: its rotation's index} for the files of each rotation by time of three files
    or more (sources.ring.time_rotated; with fewer, rotation_holes reads no period)."""
    parts = time_rotated(captures)
    return {info.path: index
            for index, group in enumerate(time_rotated_groups(captures))
            if len(group) >= 3 and all(info.path in parts for info in group)
            for info in group}
