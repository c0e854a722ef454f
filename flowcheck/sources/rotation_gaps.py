"""Holes in a capture cut by time: a file of a tcpdump -G rotation missing from the set.

`tcpdump -G 60 -w 'job-%H%M%S.pcap'` opens a new file at the first packet after each
period and names it by strftime at that time; no number tells a missing file, but the
names' times do. The files of one rotation (sources.ring.time_rotated: one folder, one
link type, names differing in their digits alone, spans apart) follow each other a
period or more apart; two neighbours whose names lie two periods or more apart leave room
for a whole file between them. That alone may be a quiet time (tcpdump writes no file
without a packet), so a hole is said only where the packets show the sniffer missed
traffic then: the time from the last packet of the file before to the first of the file
after is a period or more, and a TCP connection with packets on both sides of it misses
bytes there (its receiver's ACKs, or its sender going on, prove them sent): one of its
sequence gaps opened after the stretch, before the next such stretch's end
(Connection.gap_times). Not a job waiting
for a tape with its connections open and idle, even when the sniffer lost a segment of
them before or after the wait (review56o: a `tcpdump -G 2` job whose agent stopped 7 s,
one segment gone from an earlier file, read "lacks 2 files" and step 5 unknown; a real
hole after the wait made the wait a hole too).

Newuser57: a lab job under `tcpdump -G 2` cut in 4 files, the middle 2.7 MB one left
out, read PASS with capture_loss "missed 368 bytes (0.011%)"; a -C ring so cut said
capture_ring_gap.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from pathlib import PurePath

from flowcheck.durations import span_words
from flowcheck.findings import make_finding
from flowcheck.model import CaptureInfo, Connection, Finding, RingGap
from flowcheck.sources.ring import time_rotated_groups

_DIGITS = re.compile(r"\d+")
# Concatenated digits of a strftime name, by length: how to read them as a time.
_LAYOUTS = {6: "HMS", 4: "HM", 14: "YmdHMS", 12: "YmdHM", 10: "epoch"}
_DAY = 86400


def name_seconds(name: str) -> float | None:
    """The time a -G file's name gives, in seconds (`job-102840.pcap` -> 37720.0, seconds
    of the day; `%Y%m%d%H%M%S` -> seconds since the epoch, read as UTC, `%s` as is),
    None for digits of no known layout. Only differences between names of one rotation
    mean anything: the time zone cancels out."""
    return _digits_seconds("".join(_runs(name)))


def _runs(name: str) -> list[str]:
    """The runs of digits of a file's name (`nas01-1028.pcap` -> ["01", "1028"])."""
    return _DIGITS.findall(PurePath(name).name.removesuffix(".gz"))


def group_seconds(paths: Sequence[str]) -> dict[str, float | None]:
    """name_seconds of each of one rotation's files, read past the leading runs of
    digits all names share when what is left starts with a run of 4 digits or more and
    reads as a time in every name: a name's own digits (`nas01-%H%M.pcap`, `host2-%H%M%S`)
    are no part of its time (review56o: `nas01-1028.pcap` read 01:10:28, minutes as
    seconds; `host2-102840.pcap` read nothing). `%H-%M-%S` keeps its hour (a 2-digit run
    follows). Files of one day named `%Y%m%d-%H%M%S` read as seconds of the day then."""
    runs = {path: _runs(path) for path in paths}
    counts = {len(r) for r in runs.values()}
    same = 0
    if len(counts) == 1 and paths:
        first = runs[paths[0]]
        while same < len(first) - 1 and all(r[same] == first[same] for r in runs.values()):
            same += 1
    for drop in range(same, 0, -1):
        if len(runs[paths[0]][drop]) < 4:
            continue
        read = {path: _digits_seconds("".join(r[drop:])) for path, r in runs.items()}
        if all(value is not None for value in read.values()):
            return read
    return {path: name_seconds(path) for path in paths}


def _digits_seconds(digits: str) -> float | None:
    """name_seconds of a name's digits, concatenated. Ten digits are epoch seconds only
    below 2,000,000,000 (before 2033): `%Y%m%d%H` (2026120710) is none."""
    layout = _LAYOUTS.get(len(digits))
    if layout is None:
        return None
    if layout == "epoch":
        return float(digits) if int(digits) < 2_000_000_000 else None
    if layout.startswith("Ymd"):
        year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
        rest = digits[8:]
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return None
        base = calendar.timegm((year, month, day, 0, 0, 0))
    else:
        base, rest = 0, digits
    hours, minutes = int(rest[:2]), int(rest[2:4])
    seconds = int(rest[4:6]) if len(rest) >= 6 else 0
    if hours > 23 or minutes > 59 or seconds > 60:
        return None
    return float(base + hours * 3600 + minutes * 60 + seconds)


def rotation_holes(captures: Sequence[CaptureInfo],
                   spans: dict[str, tuple[float, float]],
                   connections: Sequence[Connection]
                   ) -> list[tuple[RingGap, int, float, float]]:
    """Each hole of a capture cut by time, in time order: (the hole as a RingGap, from
    the last packet of the file before to the first of the file after, seconds since
    the epoch; the number of files of one period that fit between the names; the
    period and the time between the two names, seconds). spans: each file's (first,
    last) packet time (a file without packets has none: its name still counts);
    connections: the TCP connections (their first and last packet times, gaps and
    gap_times: missed_holes). The period is the
    least time between two neighbours' names, so a rotation needs three files or more;
    names of no known layout tell nothing, nor files whose packet times overlap (two
    capture points)."""
    holes = []
    # Few connections miss bytes: the stretches are tested against those alone, found
    # only once a stretch asks (reading every record makes each of them: a capture that
    # is no rotation, or has no stretch, reads none; connections.lazy records).
    lossy: list[Connection] | None = None
    for group in time_rotated_groups(captures):
        named = group_seconds([info.path for info in group])
        if len(group) < 3 or any(t is None for t in named.values()):
            continue
        at = _name_times(group, named, spans)
        files = sorted(group, key=lambda info: at[info.path])
        times = [at[info.path] for info in files]
        steps = [b - a for a, b in zip(times, times[1:], strict=False)]
        period = min(steps)
        kept = [info.path for info in files if info.path in spans]
        if period <= 0 or not _apart([spans[path] for path in kept]):
            continue  # not one sniffer's rotation: two files' times overlap
        # The stretches with room for a file and a period without packets, in time order.
        stretches = []
        for index, step in enumerate(steps):
            before, after = files[index].path, files[index + 1].path
            if before not in spans or after not in spans:
                continue
            start, end = spans[before][1], spans[after][0]
            if step >= 2 * period and end - start >= period - 1:
                stretches.append((before, after, start, end, step))
        if stretches and lossy is None:
            lossy = [conn for conn in connections if conn.missed_bytes > 0]
        for index, (before, after, start, end, step) in enumerate(stretches):
            until = stretches[index + 1][3] if index + 1 < len(stretches) else float("inf")
            assert lossy is not None
            if not any(missed_across(conn, start, end, until) for conn in lossy):
                continue  # a quiet time: no connection went on across it missing bytes
            holes.append((RingGap(PurePath(before).name, PurePath(after).name, start, end,
                                  rotated=True),
                          max(1, int(step // period) - 1), period, step))
    return holes


def missed_across(conn: Connection, start: float, end: float, until: float) -> bool:
    """Whether `conn` went on across a stretch the capture lacks, from `start` to `end`
    (seconds), missing bytes there: it has packets on both sides, and one of its sequence
    gaps opened at or after `end` and before `until` (the end of the next such stretch:
    a gap opened after that is that one's), or it has gaps whose times are not kept
    (gap_times holds the first ones only). A gap opened before the stretch is the
    sniffer's or the network's, not the stretch's. (A connection's first packet after
    the stretch is not kept: a segment the sniffer lost after a quiet time, with no
    stretch after it, still reads as the stretch's.)"""
    if not (conn.ts < start and conn.last_ts > end and conn.missed_bytes > 0):
        return False
    return (len(conn.gap_times) < conn.gaps
            or any(end <= ts < until for ts in conn.gap_times))


def _name_times(group: Sequence[CaptureInfo], named: dict[str, float | None],
                spans: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Each file's name time (seconds) made rising in time order across midnight: the
    files with packets in the order of their first packet; a file without packets
    (tcpdump's first, opened before any packet came) on the day that puts its name
    nearest the others' (review56o: `job-235950.pcap`, empty, before `job-000001.pcap`
    was sorted after it, and a file missing at midnight was not seen)."""
    ordered = sorted((info.path for info in group if info.path in spans),
                     key=lambda path: spans[path][0])
    at = dict(zip(ordered, _unwrapped([named[path] or 0.0 for path in ordered]),
                  strict=True))
    for info in group:
        if info.path in at:
            continue
        value = named[info.path] or 0.0
        days = (-_DAY, 0.0, _DAY) if value < _DAY and at else (0.0,)
        at[info.path] = min((value + day for day in days),
                            key=lambda t: min((abs(t - u) for u in at.values()), default=0.0))
    return at


def _apart(spans: list[tuple[float, float]]) -> bool:
    """No two of the (first, last) packet times overlap."""
    ordered = sorted(spans)
    return all(a[1] < b[0] for a, b in zip(ordered, ordered[1:], strict=False))


def _unwrapped(times: list[float]) -> list[float]:
    """Seconds-of-the-day names in time order made rising across midnight."""
    out, shift = [], 0.0
    for index, value in enumerate(times):
        if index and value + shift < out[-1] and value < _DAY:
            shift += _DAY
        out.append(value + shift)
    return out


def rotation_gap_findings(holes: Sequence[tuple[RingGap, int, float, float]]
                          ) -> list[Finding]:
    """One capture_ring_gap warning per hole of a capture cut by time (rotation_holes)."""
    findings = []
    for gap, missing, period, step in holes:
        findings.append(make_finding(
            "capture_ring_gap",
            f"The capture set lacks {'a file' if missing == 1 else f'{missing} files'} of "
            f"a capture cut by time (tcpdump -G, a period of {span_words(period)}) between "
            f"{gap.before} and {gap.after}: their names lie "
            f"{span_words(step)} apart, room for "
            f"{'a whole file' if missing == 1 else f'{missing} whole files'}, "
            f"{span_words(max(0.0, gap.end - gap.start))} of traffic lies between the last "
            f"packet of {gap.before} and the first of {gap.after}, and a connection that "
            "went on across it misses bytes. Every packet sent then is not in the capture: "
            "connections that span the hole show their lost bytes in capture_loss; "
            "connections that opened and closed inside it, and NDMP messages sent then, "
            "are not in the capture at all.",
            "Analyze every file of the rotation: copy them all (tcpdump -G names each by "
            "the time it started).",
            ts=gap.start))  # dated at the hole's start: the last packet before it
    return findings
