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
from flowcheck.model import CaptureInfo, Finding

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


def ring_gap_findings(captures: Sequence[CaptureInfo],
                      spans: dict[str, tuple[float, float]]) -> list[Finding]:
    """One capture_ring_gap warning per hole in a ring's numbering.

    spans: each file's (first, last) packet time, seconds; the hole lies between the
    last packet of the file before it and the first of the file after it."""
    rings: dict[tuple[str, str, str], dict[int, str]] = defaultdict(dict)
    for info in captures:
        found = _ring_number(info.path)
        if found is not None:
            rings[found[0]][found[1]] = info.path
    findings = []
    for files in rings.values():
        numbers = sorted(files)
        for before, after in zip(numbers, numbers[1:], strict=False):
            if after == before + 1:
                continue
            missing = after - before - 1
            first, last = PurePath(files[before]).name, PurePath(files[after]).name
            when = ""
            if files[before] in spans and files[after] in spans:
                start, end = spans[files[before]][1], spans[files[after]][0]
                when = (f", {max(0.0, end - start):.3f} s of traffic between the last packet "
                        f"of {first} and the first of {last}")
            findings.append(make_finding(
                "capture_ring_gap",
                f"The capture set lacks {missing} ring file{'s' if missing > 1 else ''} "
                f"between {first} and {last} (number"
                f"{f's {before + 1}-{after - 1}' if missing > 1 else f' {before + 1}'} "
                f"missing){when}: every packet in "
                "it is not in the capture. Connections that span the hole show their lost "
                "bytes in capture_loss; connections that opened and closed inside it, and "
                "NDMP messages sent then, are not in the capture at all.",
                "Analyze the whole ring: copy every file of it, and make the ring large "
                "enough (dumpcap -b files:N, tcpdump -W N) that no file is overwritten "
                "before it is copied."))
    return findings
