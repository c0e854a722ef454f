"""Holes in a ring buffer: a numbered capture file missing from the middle of the set.

Ring buffers name their files by number: dumpcap/tshark -b and editcap -c
`PREFIX_NNNNN_YYYYMMDDhhmmss.EXT`, tcpdump -C/-W `NAME`, `NAME1`, ... (or `NAME0`, ...
with -W). A number missing between two that are present is a file that was deleted or
never copied: every packet in it, whole connections included, is not in the capture,
and the sequence-number loss accounting (capture_loss) sees only the connections that
span the hole.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import PurePath

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


def _ring_number(path: str) -> tuple[tuple[str, str, str], int] | None:
    """(pattern key, file number) of a ring file's name, None for another name."""
    pure = PurePath(path)
    name = pure.name.removesuffix(".gz")
    if m := _DUMPCAP.match(name):
        return (str(pure.parent), m["prefix"], m["ext"] or ""), int(m["n"])
    if m := _TCPDUMP.match(name):
        return (str(pure.parent), m["prefix"], ""), int(m["n"] or 0)
    return None


def _holes(captures: Sequence[CaptureInfo]) -> list[tuple[str, str, int, int]]:
    """(path before, path after, first missing number, last missing number) of each
    hole in a ring's numbering, in each ring's order."""
    rings: dict[tuple[str, str, str], dict[int, str]] = defaultdict(dict)
    for info in captures:
        found = _ring_number(info.path)
        if found is not None:
            rings[found[0]][found[1]] = info.path
    holes = []
    for files in rings.values():
        numbers = sorted(files)
        for before, after in zip(numbers, numbers[1:], strict=False):
            if after != before + 1:
                holes.append((files[before], files[after], before + 1, after - 1))
    return holes


def ring_gaps(captures: Sequence[CaptureInfo],
              spans: dict[str, tuple[float, float]]) -> list[RingGap]:
    """Each hole of a ring with its times, in time order: from the last packet of the
    file before it to the first of the file after it (spans: each file's (first, last)
    packet time, seconds); a hole next to a file without packets is left out."""
    return sorted((RingGap(PurePath(before).name, PurePath(after).name,
                           spans[before][1], spans[after][0])
                   for before, after, _, _ in _holes(captures)
                   if before in spans and after in spans),
                  key=lambda gap: (gap.start, gap.end))


def ring_gap_findings(captures: Sequence[CaptureInfo],
                      spans: dict[str, tuple[float, float]]) -> list[Finding]:
    """One capture_ring_gap warning per hole in a ring's numbering.

    spans: each file's (first, last) packet time, seconds; the hole lies between the
    last packet of the file before it and the first of the file after it."""
    findings = []
    for path_before, path_after, low, high in _holes(captures):
        missing = high - low + 1
        first, last = PurePath(path_before).name, PurePath(path_after).name
        when = ""
        if path_before in spans and path_after in spans:
            start, end = spans[path_before][1], spans[path_after][0]
            when = (f", {max(0.0, end - start):.3f} s of traffic between the last packet "
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
            "before it is copied."))
    return findings
