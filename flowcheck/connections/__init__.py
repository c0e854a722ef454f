"""Connections: TCP connection records (Zeek's conn.log vocabulary) from a capture set.

`track_connections` reads the inputs through flowcheck.sources and feeds the batches to
a ConnectionTracker; the live command feeds its own batches to a tracker directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from flowcheck.connections.tracker import ConnectionTracker
from flowcheck.findings import make_finding
from flowcheck.model import CaptureInfo, Connection, Finding, SegmentSink

__all__ = ["ConnectionTracker", "TrackResult", "finish_tracking", "track_connections",
           "undecodable_finding"]


@dataclass(slots=True)
class TrackResult:
    captures: list[CaptureInfo]
    connections: list[Connection]
    findings: list[Finding]


def undecodable_finding(tracker: ConnectionTracker) -> Finding | None:
    """An info finding when some packets could not be decoded (cut, unknown link)."""
    if not tracker.undecodable:
        return None
    return make_finding(
        "capture_undecodable_packets",
        f"{tracker.undecodable} of {tracker.packets} packets could not be decoded "
        "(unknown link type, or cut by the snap length before the TCP header ends); "
        "they are not in any connection",
        "capture with a larger snap length (tcpdump -s 0)",
    )


def track_connections(inputs: Sequence[str | BinaryIO], *, ndmp_port: int = 10000,
                      sink: SegmentSink | None = None,
                      tap: Callable[[bytes], bool] | None = None,
                      progress: bool = False) -> TrackResult:
    """Read a capture set into connections ordered by first frame (uids C1, C2, ...)."""
    from flowcheck.sources import iter_batches

    tracker = ConnectionTracker(ndmp_port=ndmp_port, sink=sink, tap=tap)
    reader = iter_batches(list(inputs), progress=progress)
    for batch in reader:
        tracker.feed(batch)
    return finish_tracking(tracker, reader.captures)


def finish_tracking(tracker: ConnectionTracker, captures: list[CaptureInfo]) -> TrackResult:
    """Close the tracker: its connections and the capture findings (the live command
    calls this on a copy of its running tracker)."""
    from flowcheck.sources import truncation_findings

    connections = tracker.finish()
    tracker.by_capture.fill(captures)
    findings = list(truncation_findings(captures))
    finding = undecodable_finding(tracker)
    if finding is not None:
        findings.append(finding)
    return TrackResult(captures, connections, findings)

