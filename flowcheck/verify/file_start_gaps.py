"""Sequence gaps that open at the first packet of a file of the capture set: a file
missing from the set just before it leaves the same gap as a sniffer's loss.

A tcpdump `-G 2 -C 1 -W 3` folder (`job-105153.pcap0`, `job-105153.pcap1`,
`job-105155.pcap0`, ...: cut by time, and by size within a period) lacking
`job-105153.pcap1`, its period's last file, shows no hole: no ring number is missing
below the period's highest, and the names' times are a period apart. Its data connection
then misses 633,640 bytes from the first packet of `job-105155.pcap0` on, which
capture_loss said "the sniffer lost them, not the network" (review56o, netns r56o). The
gap opening at exactly a file's first packet is what tells: a file given after others
whose first packet is a gap's may follow a file missing from the set. (A gap that opens
at a later packet of the file, the connection's first in it, is not told.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

from flowcheck.frame_names import frame_text
from flowcheck.model import CaptureInfo, Connection


def file_start_gaps(lossy: Sequence[Connection], captures: Sequence[CaptureInfo]
                    ) -> tuple[int, int, str] | None:
    """(how many gaps of `lossy` opened at the first packet of a file of the set that is
    not the set's earliest, the first such gap's frame, that file's name), or None when
    none did or the set is one file. CaptureInfo.span: each file's (first, last) packet
    time, seconds; Connection.gap_times and gap_frames: where each gap opened (the first
    ones only)."""
    spans = [(info.span[0], info.path) for info in captures if info.span is not None]
    if len(spans) < 2:
        return None
    earliest = min(spans)[0]
    starts = {ts: path for ts, path in spans if ts > earliest}
    found = [(frame, starts[ts]) for conn in lossy
             for frame, ts in zip(conn.gap_frames, conn.gap_times, strict=False)
             if ts in starts]
    if not found:
        return None
    frame, path = min(found)
    return len(found), frame, PurePath(path).name


def file_start_words(found: tuple[int, int, str]) -> str:
    """capture_loss's hedge for file_start_gaps' answer: "1 gap of them opened at the
    first packet of a file of the set (frame 1 of NAME): ..." (the set's frames named
    by file: flowcheck.frame_names; without, "(frame 301, the first of NAME)")."""
    count, frame, name = found
    named = frame_text(frame)
    where = named if named.endswith(f" of {name}") else f"{named}, the first of {name}"
    return (f"{count} {'gap' if count == 1 else 'gaps'} of them opened at the first packet "
            f"of a file of the set ({where}): a file missing "
            "from the set just before it (one cut by size or by time and not copied) leaves "
            "the same gap, so these bytes may be in such a file, not lost by the sniffer")
