"""Connections: TCP connection records (Zeek's conn.log vocabulary) from a capture set.

`track_connections` reads the inputs through flowcheck.sources and feeds the batches to
a ConnectionTracker; the live command feeds its own batches to a tracker directly.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

from flowcheck.connections.clock import clock_finding
from flowcheck.connections.tracker import ConnectionTracker
from flowcheck.findings import make_finding
from flowcheck.model import CaptureInfo, Connection, Finding, RingGap, SegmentSink

__all__ = ["ConnectionTracker", "TrackResult", "copies_finding", "finish_tracking",
           "track_connections", "undecodable_finding"]


@dataclass(slots=True)
class TrackResult:
    captures: list[CaptureInfo]
    connections: list[Connection]
    findings: list[Finding]
    # The time of the capture set's last packet of any kind (ARP, UDP and ICMP too: the
    # sniffer was still running), seconds; None without packets.
    last_packet_ts: float | None = None
    # Holes in a ring buffer's numbering, in time order (flowcheck.sources.ring).
    ring_gaps: list[RingGap] = field(default_factory=list)


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


def copies_finding(tracker: ConnectionTracker) -> Finding | None:
    """An info finding when the capture holds packets twice (flowcheck.connections.copies:
    a SPAN session mirroring both ports), with the count and the first copies' frames.
    None when no copy was found (answers without identity alone are never copies)."""
    from flowcheck.connections.copies import COPY_WINDOW

    copies = tracker.copies
    if not copies.count:
        return None
    return make_finding(
        "capture_duplicates",
        f"{copies.count:,} of {tracker.packets:,} packets are copies of a packet captured "
        f"just before them in the same direction (same IP ID, TCP header and payload, or "
        f"the same ICMP unreachable quoting the same packet, at most {COPY_WINDOW * 1e3:g} "
        "ms later; a SYN-ACK, RST or bare ACK with IP ID 0 or over IPv6, which a sender can "
        "send twice that fast, only after a copy of a packet with an identity of its own): "
        "the capture holds packets twice. Either the capture point saw them twice (a SPAN "
        "session mirroring both switch ports of the conversation, tcpdump -i any across a "
        "bridge, or the captures of two capture points given together), or the network "
        "delivered them twice (a router, firewall or link duplicating packets: the "
        "receivers then answer the copies with duplicate ACKs or D-SACKs, RFC 2883, and a "
        "capture on a host's own interface holds them too). The copies are counted as "
        "packets (as tshark counts them) but not as retransmissions, SYN retries or "
        "rejects: they are no evidence of a drop or a refusal",
        "if the capture point duplicates: mirror one port of the conversation (or one "
        "direction of each port), analyze one capture point's files at a time, or drop the "
        "copies with editcap -D; if the network does (the copies are in a capture on the "
        "receiving host itself): find the device duplicating packets between the hosts (a "
        "duplicating rule, a bridging loop, a misconfigured bond or port mirror back into "
        "the network); TCP delivers each byte once all the same",
        frames=copies.frames)


def track_connections(inputs: Sequence[str | BinaryIO], *, ndmp_port: int = 10000,
                      sink: SegmentSink | None = None,
                      tap: Callable[[bytes], bool] | None = None,
                      progress: bool = False, rto: float = 3.0) -> TrackResult:
    """Read a capture set into connections ordered by first frame (uids C1, C2, ...);
    rto: ConnectionTracker's."""
    from flowcheck.sources import iter_batches

    tracker = ConnectionTracker(ndmp_port=ndmp_port, sink=sink, tap=tap, rto=rto)
    reader = iter_batches(list(inputs), progress=progress)
    with _young_collections_only() as collect:
        for number, batch in enumerate(reader, 1):
            tracker.feed(batch)
            if number % COLLECT_EVERY == 0:
                collect()
    return finish_tracking(tracker, reader.captures)


# Batches (8 MB of capture each) between two collections of the young generations.
COLLECT_EVERY = 32


@contextmanager
def _young_collections_only() -> Iterator[Callable[[], object]]:
    """Automatic garbage collection off while reading; the caller collects the young
    generations now and then, so cyclic garbage stays bounded (the tracker makes none).

    Why: every connection is a few container objects that live to the end, and the
    automatic collector scans them again and again as they age; with many short
    connections that was a quarter of the CPU time (short-connections: 1.3 -> 1.0 s).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield lambda: gc.collect(1)
    finally:
        if enabled:
            gc.enable()


def finish_tracking(tracker: ConnectionTracker, captures: list[CaptureInfo]) -> TrackResult:
    """Close the tracker: its connections and the capture findings (the live command
    calls this on a copy of its running tracker)."""
    from flowcheck.sources import truncation_findings
    from flowcheck.sources.ring import ring_gap_findings, ring_gaps

    connections = tracker.finish()
    tracker.by_capture.fill(captures)
    findings = list(truncation_findings(captures))
    for finding in (undecodable_finding(tracker), copies_finding(tracker),
                    clock_finding(tracker.clock)):
        if finding is not None:
            findings.append(finding)
    spans = {captures[index].path: span for index, span in tracker.clock.spans.items()
             if index < len(captures)}
    findings.extend(ring_gap_findings(captures, spans))
    last = max((high for _, high in tracker.clock.spans.values()), default=None)
    return TrackResult(captures, connections, findings, last, ring_gaps(captures, spans))

