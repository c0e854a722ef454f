"""Holes in a ring buffer: a numbered capture file missing from the middle of the set.

Ring buffers name their files by number: dumpcap/tshark -b and editcap -c
`PREFIX_NNNNN_YYYYMMDDhhmmss.EXT`, tcpdump -C/-W `NAME`, `NAME1`, ... (or `NAME0`, ...
with -W). A number missing between two that are present is a file that was deleted or
never copied: every packet in it, whole connections included, is not in the capture,
and the sequence-number loss accounting (capture_loss) sees only the connections that
span the hole. A tcpdump -W ring wraps: after NAME(W-1) it writes NAME0 again, so its
files are taken in time order (the file with the earliest packet first), and a number
missing across the wrap is a hole too. A ring whose oldest files are gone (overwritten
by the ring, or not copied) starts late: its head (RingGap.head) is no finding, since a
ring is meant to overwrite, but a session that started before it is told so.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import PurePath

from flowcheck.durations import span_words
from flowcheck.findings import make_finding
from flowcheck.model import CaptureInfo, Finding, RingGap

_DUMPCAP = re.compile(r"^(?P<prefix>.*_)(?P<n>\d{5,})_\d{14}(?P<ext>\..*)?$")
_TCPDUMP = re.compile(r"^(?P<prefix>.*\.(?:pcap|pcapng|cap|dmp))(?P<n>\d*)$")


def dumpcap_ring(name: str) -> tuple[str, str] | None:
    """(prefix, extension) shared by the parts of one dumpcap/tshark -b or editcap -c
    ring, from a part's file name (`ring_00002_20261201120000.pcap[.gz]` -> ("ring_",
    ".pcap")); None for a name without that numbering."""
    if m := _DUMPCAP.match(name.removesuffix(".gz")):
        return m["prefix"], m["ext"] or ""
    return None


def ring_member(path: str) -> tuple[tuple[str, str, str], int] | None:
    """(pattern key, file number) of a ring file's name, None for another name."""
    pure = PurePath(path)
    name = pure.name.removesuffix(".gz")
    if m := _DUMPCAP.match(name):
        return (str(pure.parent), m["prefix"], m["ext"] or ""), int(m["n"])
    if m := _TCPDUMP.match(name):
        return (str(pure.parent), m["prefix"], ""), int(m["n"] or 0)
    return None


def _rings(captures: Sequence[CaptureInfo]) -> list[tuple[bool, dict[int, str]]]:
    """Per ring in the set: (dumpcap-style numbering, {file number: path})."""
    rings: dict[tuple[str, str, str], dict[int, str]] = defaultdict(dict)
    dumpcap: dict[tuple[str, str, str], bool] = {}
    for info in captures:
        found = ring_member(info.path)
        if found is not None:
            rings[found[0]][found[1]] = info.path
            dumpcap[found[0]] = _DUMPCAP.match(PurePath(info.path).name.removesuffix(".gz")) \
                is not None
    return [(dumpcap[key], files) for key, files in rings.items()]


def _time_order(files: dict[int, str], spans: dict[str, tuple[float, float]]
                ) -> tuple[list[int], bool]:
    """The ring's file numbers in time order, and whether it wrapped (a tcpdump -W ring
    that went past its last number: the numbers rise, fall once to the lowest, rise
    again). Without every file's first packet time, in number order. Wrapped only when
    the files' last packets follow that order too: files of one capture whose records
    are out of time order (a pcapng file of two interfaces, each written in turns) may
    start a later file with an earlier packet, but it ends later (review58j:
    lab-pcapng-interfaces' two-nics-data-block-first cut by `editcap -c 238` into
    dumpcap names x_00001_..., x_00002_... read capture_ring_gap "lacks 1 ring file
    between x_00002_... and x_00001_... (number 0 missing)")."""
    numbers = sorted(files)
    if len(numbers) < 2 or not all(files[n] in spans for n in numbers):
        return numbers, False
    first = min(range(len(numbers)), key=lambda index: spans[files[numbers[index]]][0])
    turned = numbers[first:] + numbers[:first]
    starts = [spans[files[n]][0] for n in turned]
    ends = [spans[files[n]][1] for n in turned]
    if first and all(a <= b for a, b in zip(starts, starts[1:], strict=False)) \
            and all(a <= b for a, b in zip(ends, ends[1:], strict=False)):
        return turned, True
    return numbers, False


def _holes(captures: Sequence[CaptureInfo], spans: dict[str, tuple[float, float]] | None = None
           ) -> list[tuple[str, str, int, int]]:
    """(path before, path after, first missing number, last missing number) of each
    hole in a ring's numbering, in each ring's time order (spans: each file's (first,
    last) packet time, for a wrapped ring). Across a wrap the numbers from the lowest
    (tcpdump -W counts from 0) to the one before the file after the wrap are missing;
    numbers above the newest file cannot be told from the ring's size, so they are not."""
    holes = []
    for _, files in _rings(captures):
        numbers, wrapped = _time_order(files, spans or {})
        for before, after in zip(numbers, numbers[1:], strict=False):
            if after == before + 1:
                continue
            if after < before and wrapped:
                if after > 0:
                    holes.append((files[before], files[after], 0, after - 1))
                continue
            holes.append((files[before], files[after], before + 1, after - 1))
    return holes


def ring_parts(captures: Sequence[CaptureInfo]) -> set[str]:
    """The paths of the set's files that are parts of a ring of two or more files in the
    set (one capture, cut into files: none of them is a capture of its own)."""
    return {path for _, files in _rings(captures) if len(files) > 1
            for path in files.values()}


_DIGITS = re.compile(r"\d+")


def time_rotated_groups(captures: Sequence[CaptureInfo]) -> list[list[CaptureInfo]]:
    """The set's files grouped by directory, link types and name with its digits masked
    (`cap-101441.pcap`, `cap-101451.pcap`: one group), in the set's order; groups of one
    file included. time_rotated tells which groups are one capture cut by time."""
    groups: dict[tuple[str, str, tuple[str, ...]], list[CaptureInfo]] = defaultdict(list)
    for info in captures:
        pure = PurePath(info.path)
        groups[(str(pure.parent), _DIGITS.sub("#", pure.name),
                tuple(info.link_types))].append(info)
    return list(groups.values())


def time_rotated(captures: Sequence[CaptureInfo]) -> set[str]:
    """The paths of the set's files cut from one capture by time, not by number
    (`tcpdump -G 60 -w 'cap-%H%M%S.pcap'`, an hourly rotation): two or more files of one
    directory and link types whose names differ in their digits alone
    (`cap-101441.pcap`, `cap-101451.pcap`), no two of whose spans (CaptureInfo.span)
    overlap. Not two capture points' files of the same time (`host1.pcap`, `host2.pcap`:
    their spans overlap); a file without packets (no span) goes with its group. (Two
    captures of one link type named so and apart in time look the same: the names are
    all that tells.)"""
    parts: set[str] = set()
    for group in time_rotated_groups(captures):
        # A file without packets (tcpdump -G's first file often: it opens the file before
        # the first packet's period) has no span and overlaps nothing: it neither makes
        # nor breaks the rotation (gwords' lab test failed whenever tcpdump wrote one).
        spans = sorted(info.span for info in group if info.span is not None)
        if len(spans) < 2:
            continue
        if all(before[1] < after[0] for before, after in zip(spans, spans[1:], strict=False)):
            parts.update(info.path for info in group)
    return parts


def ring_head(captures: Sequence[CaptureInfo],
              spans: dict[str, tuple[float, float]]) -> RingGap | None:
    """The ring files older than the set's oldest one, when the set shows it lacks them:
    a tcpdump -W ring that wrapped (its next file after the newest was overwritten), or
    a ring whose lowest number is above the first one its tool writes (dumpcap counts
    from 00001, tcpdump from NAME / NAME0). `start` is -inf, `end` the oldest file's
    first packet (seconds)."""
    heads = []
    for dumpcap, files in _rings(captures):
        numbers, wrapped = _time_order(files, spans)
        oldest = files[numbers[0]]
        # A lone NAME.pcap2 may be just a name; a lone dumpcap part is one of a ring.
        late = numbers[0] > (1 if dumpcap else 0) and (dumpcap or len(numbers) > 1)
        if (wrapped or late) and oldest in spans:
            heads.append(RingGap("", PurePath(oldest).name, float("-inf"), spans[oldest][0]))
    return min(heads, key=lambda gap: gap.end, default=None)


def ring_gaps(captures: Sequence[CaptureInfo],
              spans: dict[str, tuple[float, float]]) -> list[RingGap]:
    """Each hole of a ring with its times, in time order: from the last packet of the
    file before it to the first of the file after it (spans: each file's (first, last)
    packet time, seconds); a hole next to a file without packets is left out. First, the
    ring's head (ring_head) when its oldest files are gone."""
    head = ring_head(captures, spans)
    return sorted([*([head] if head else []),
                   *(RingGap(PurePath(before).name, PurePath(after).name,
                             spans[before][1], spans[after][0])
                     for before, after, _, _ in _holes(captures, spans)
                     if before in spans and after in spans)],
                  key=lambda gap: (gap.start, gap.end))


def ring_gap_findings(captures: Sequence[CaptureInfo],
                      spans: dict[str, tuple[float, float]]) -> list[Finding]:
    """One capture_ring_gap warning per hole in a ring's numbering.

    spans: each file's (first, last) packet time, seconds; the hole lies between the
    last packet of the file before it and the first of the file after it."""
    findings = []
    for path_before, path_after, low, high in _holes(captures, spans):
        missing = high - low + 1
        first, last = PurePath(path_before).name, PurePath(path_after).name
        when = ""
        if path_before in spans and path_after in spans:
            start, end = spans[path_before][1], spans[path_after][0]
            when = (f", {span_words(max(0.0, end - start))} of traffic between the last packet "
                    f"of {first} and the first of {last}")
        findings.append(make_finding(
            "capture_ring_gap",
            f"The capture set lacks {missing} ring file{'s' if missing > 1 else ''} "
            f"between {first} and {last} (number"
            f"{f's {low}-{high}' if missing > 1 else f' {low}'} "
            f"missing){when}: every packet in "
            "it is not in the capture. Connections that span the hole show their lost "
            "bytes in capture_loss; connections that opened and closed inside it, and "
            "NDMP messages sent then, are not in the capture at all.",
            "Analyze the whole ring: copy every file of it, and make the ring large "
            "enough (dumpcap -b files:N, tcpdump -W N) that no file is overwritten "
            "before it is copied.",
            # Dated at the hole's start: the last packet before it.
            ts=spans[path_before][1] if path_before in spans else None))
    return findings
