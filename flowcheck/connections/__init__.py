"""Connections: TCP connection records (Zeek's conn.log vocabulary) from a capture set.

`track_connections` reads the inputs through flowcheck.sources and feeds the batches to
a ConnectionTracker; the live command feeds its own batches to a tracker directly.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import field
from itertools import chain
from typing import TYPE_CHECKING, BinaryIO

from flowcheck.connections.clock_words import ClockStep, clock_finding, clock_step, written_finding
from flowcheck.connections.duplicates import copies_finding, host_tool_copies, interface_copies
from flowcheck.connections.flows import FlowKey, address_text
from flowcheck.connections.joined_order import joined_finding, joined_pieces
from flowcheck.connections.tracker import ConnectionTracker
from flowcheck.decode.skipped import Skipped
from flowcheck.decode.tunnels import STANDARD_PORTS, TunnelPorts
from flowcheck.doc_files import doc_page
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.findings import make_finding
from flowcheck.frame_names import current, name_frames, naming, traffic_names
from flowcheck.model import ArpLog, CaptureInfo, Connection, Finding, RingGap, SegmentSink
from flowcheck.sources.batch import CHUNK_BYTES, PacketBatch
from flowcheck.sources.linktypes import linktype_name

if TYPE_CHECKING:
    from flowcheck.connections.points import CapturePoints
    from flowcheck.sources.clock_epochs import EpochFrames
    from flowcheck.sources.frame_files import FrameFiles
    from flowcheck.sources.joined_pieces import FilePieces

__all__ = ["ConnectionTracker", "TrackResult", "copies_finding", "finish_tracking",
           "track_connections", "undecodable_finding"]


@fields_dataclass(slots=True)
class TrackResult:
    """What track_connections gives: the capture files read, the connection records and
    the findings of the reading and tracking, with what the later stages need of them."""

    captures: list[CaptureInfo]
    # Ordered by first frame; a Sequence whose short connections' records are made when
    # read (flowcheck.connections.opened_records.Records), or a list.
    connections: Sequence[Connection]
    findings: list[Finding]
    # The time of the capture set's last packet of any kind (ARP, UDP and ICMP too: the
    # sniffer was still running), seconds; None without packets.
    last_packet_ts: float | None = None
    # Holes in a ring buffer's numbering, in time order (flowcheck.sources.ring).
    ring_gaps: list[RingGap] = field(default_factory=list)
    # Time between files given in sequence that no file covers (sources.file_gaps).
    file_gaps: list[RingGap] = field(default_factory=list)
    # The tracker's sink (track_connections' sink_factory made it).
    sink: SegmentSink | None = None
    # Seconds added to a file's times (by its place in `captures`): its capture point's
    # clock set to another's (flowcheck.connections.points).
    shifts: dict[int, float] = field(default_factory=dict)
    # Every capture copy of the set is one host's Windows tool's (pktmon, netsh trace:
    # a packet logged at several places of its stack; duplicates.host_tool_copies).
    host_copies: bool = False
    # Every capture copy of the set is one capture host's several interfaces' (a bridge's
    # or router's, tcpdump -i any on it; duplicates.interface_copies).
    interface_copies: bool = False
    # Copies between two capture points came with another TTL than their originals: the
    # points are a router apart (CapturePoints.offsets' `routed`).
    routed_points: bool = False
    # What the packets the decoder skipped were (flowcheck.decode.skipped).
    skipped: Skipped = field(default_factory=Skipped)
    # Who asked for which address by ARP, and who answered (flowcheck.model.arp).
    arp: ArpLog = field(default_factory=ArpLog)
    # The frame numbers are one sniffer's write order (ClockSteps.one_stream).
    one_stream: bool = False
    # The uids of the connections whose packets were written out of time order, which the
    # tracker took in time order: their frames are no event order (ClockSteps.time_ordered).
    time_ordered: frozenset[str] = frozenset()
    # The clock epoch of each frame, when the capture host's clock stepped back on all
    # its streams at once (flowcheck.sources.clock_epochs); None: no such step.
    clock_epochs: EpochFrames | None = None
    # A set of several files: each frame's file and frame in it (sources.frame_files);
    # None for one file.
    frame_files: FrameFiles | None = None
    # What its capture_clock_stepped tells (clock_words.ClockStep); None: no such finding.
    clock_step: ClockStep | None = None
    # Two files of the set are known to be two capture points' (their packets paired,
    # flowcheck.connections.points).
    linked_files: bool = False
    # Per (sender, receiver) address, the Linux cooked packet types and TTLs of its
    # SYNs, FINs and RSTs, when every file is a Linux cooked capture (cooked_hosts).
    host_marks: dict[tuple[str, str], int] = field(default_factory=dict)
    # Per (source, port, destination, port) with capture copies whose legs are known:
    # whether one is on another leg than its original, another TTL or link-layer address
    # pair (True), or all on their originals' (False) (CaptureCopies.legs_crossed).
    copy_legs: dict[tuple[str, int, str, int], bool] = field(default_factory=dict)


def copy_legs(known: dict[tuple[FlowKey, bool], bool]
              ) -> dict[tuple[str, int, str, int], bool]:
    """CaptureCopies.legs_crossed by (source, port, destination, port), addresses as
    text (one 4-tuple in two tunnels: crossed if either crossed)."""
    found: dict[tuple[str, int, str, int], bool] = {}
    for ((lower, upper, _tunnel), from_lower), crossed in known.items():
        src, dst = (lower, upper) if from_lower else (upper, lower)
        key = (address_text(src[0], src[1]), src[2], address_text(dst[0], dst[1]), dst[2])
        found[key] = found.get(key, False) or crossed
    return found


def undecodable_finding(tracker: ConnectionTracker) -> Finding | None:
    """An info finding when some packets could not be decoded, naming the causes the
    decoder saw (flowcheck.decode.skipped): records cut by the snap length before the TCP
    header ends, a link type flowcheck does not read, else malformed headers."""
    if not tracker.undecodable:
        return None
    skipped = tracker.skipped_tally.skipped
    causes, fixes = [], []
    if skipped.cut:
        causes.append(f"{skipped.cut} cut {skipped.cut_words()} before the TCP header "
                      "ends")
        fixes.append("capture with a larger snap length (tcpdump -s 0)"
                     if not skipped.shortest or skipped.shortest == skipped.snap else
                     "capture whole frames (tcpdump -s 0; no truncation or slicing on the "
                     "mirror session or packet broker)")
    unknown = sum(skipped.unknown_links.values())
    if unknown:
        names = ", ".join(linktype_name(link) for link in sorted(skipped.unknown_links))
        causes.append(f"{unknown} on a link type flowcheck does not read ({names})")
        fixes.append("capture on an interface whose link type flowcheck reads (Ethernet, "
                     f"Linux cooked, raw IP: {doc_page('formats.md')})")
    malformed = tracker.undecodable - skipped.cut - unknown
    if malformed > 0 or not causes:
        causes.append(f"{malformed} with inconsistent lengths or headers")
    return make_finding(
        "capture_undecodable_packets",
        f"{tracker.undecodable} of {tracker.packets} packets could not be decoded "
        f"({'; '.join(causes)}); they are not in any connection",
        "; ".join(fixes) or "check what wrote the capture: its records are malformed",
    )


def track_connections(inputs: Sequence[str | BinaryIO], *, ndmp_port: int = 10000,
                      sink: SegmentSink | None = None,
                      sink_factory: Callable[[], SegmentSink] | None = None,
                      tap: Callable[[bytes], bool] | None = None,
                      progress: bool = False, rto: float = 3.0,
                      arp_watch: Sequence[str] = (),
                      tunnel_ports: TunnelPorts = STANDARD_PORTS,
                      chunk_size: int = CHUNK_BYTES) -> TrackResult:
    """Read a capture set into connections ordered by first frame (uids C1, C2, ...);
    rto, arp_watch, tunnel_ports: ConnectionTracker's. sink: the tracker's; sink_factory:
    a fresh one per reading instead (TrackResult.sink is the last); chunk_size: bytes
    read at a time from each file (iter_batches).

    A set that holds two capture points' packets (flowcheck.connections.points) is read
    again from its start once that shows, every packet then compared with the earlier
    ones and each file's clock set to the first given one's: when the files' first
    packets (HEAD_BYTES of each, read ahead) show it, before any batch; else as soon as
    a batch does. Not with a fixed `sink` (it cannot start again), nor for standard
    input or pipes: there the comparison starts where the second point showed.

    One file whose reading shows pieces of one capture joined out of time order
    (connections.joined_order) is read again, once it was read whole, as its parts
    merged by time (sources.joined_pieces): its capture_clock_stepped then says so.
    """
    from flowcheck.sources import iter_batches

    shifts: dict[int, float] = {}
    known: list[tuple[int, int, float, bool]] | None = None  # by input position, once two points
    # One file joined out of time order: its pieces, and the first reading's continued
    # SYN (joined_finding's words).
    joined: tuple[FilePieces, tuple[int, int]] | None = None
    # The findings made while reading name a set's frames by file (frame_names); the
    # caller's names are put back when the reading returns.
    with naming(current()):
        while True:
            tracker = ConnectionTracker(ndmp_port=ndmp_port, rto=rto, tap=tap,
                                        sink=sink_factory() if sink_factory else sink,
                                        arp_watch=arp_watch, tunnel_ports=tunnel_ports)
            reader = iter_batches(list(inputs), progress=progress, shifts=shifts,
                                  chunk_size=chunk_size,
                                  pieces=None if joined is None else joined[0])
            tracker.clock.ring_ordered = reader.ring_ordered
            name_frames(traffic_names(reader))  # this reading's set (a reading again: anew)
            points = tracker.copies.points
            # Once: read again from the start when two capture points show.
            again = known is None and (sink is None or sink_factory is not None) \
                and reader.reopenable
            if known is not None:
                capture_of = {position: n for n, position in enumerate(reader.input_positions)}
                points.activate([(capture_of[a], capture_of[b], offset, one_ttl)
                                 for a, b, offset, one_ttl in known])
            elif again and len(reader.captures) <= HEAD_FILES:
                tracker.copies.read_heads(reader.heads(HEAD_BYTES), tunnel_ports)
            if not (again and points.wanted):
                with _collection_off():
                    # No reference to a fed batch may stay while the next chunk is read (its
                    # buffer is then free for the read's). The tracker holds the last one
                    # fed for its look-ahead (connections.seams): None, at the end, has it
                    # tracked before the last look at the capture points.
                    for batch in chain(_parts(reader), [None]):
                        if batch is None:
                            tracker.flush()
                        else:
                            tracker.feed(batch)
                        del batch
                        if points.wanted and not points.active:
                            if again:
                                break
                            points.activate()  # a stream: from here on only
            if again and points.wanted:
                shifts, known = _plan(points, reader.input_positions)
                continue
            moved = {index: shift for index, position in enumerate(reader.input_positions)
                     if (shift := shifts.get(position, 0.0))}
            result = finish_tracking(tracker, reader.captures, moved,
                                     None if joined is None else joined_finding(*joined))
            if joined is None and not shifts and tracker.clock.continued and reader.reopenable \
                    and len(reader.captures) == 1 and (sink is None or sink_factory is not None) \
                    and (found := joined_pieces(tracker.clock, result.connections,
                                                reader.spec(0), chunk_size)) is not None:
                joined = found  # read again, as its pieces merged by time
                continue
            result.sink, result.shifts = tracker.sink, moved
            result.clock_epochs = reader.clock_epochs if reader.clock_epochs.starts else None
            result.frame_files = reader.frame_files
            return result


# At most this many records per batch tracked (a read chunk of small packets, many
# connections, is tracked in parts): a batch's decode, flow grouping and short-connection
# arrays follow its records (about 600 bytes each at once: 56 MB for the 94k records of
# bench's short-connections chunk), so the peak follows the connections kept, not the
# records a chunk holds. 16 MiB chunks of full-size segments (about 11,000 records) are
# never cut. Smaller parts cost each batch's fixed work again, and every connection open
# across a cut is parked and taken up again (as costly as a new one: 1,900 of them at
# each cut of bench's short-connections, connections 0.5 ms apart lasting about 1 s):
# 32,768 -> 65,536 records, 2,961 -> 2,711 M instructions and 103 -> 127 MB peak on
# short-connections (16,384: +30% CPU).
BATCH_RECORDS = 1 << 16


def _parts(batches: Iterable[PacketBatch]) -> Iterator[PacketBatch]:
    """The batches, each cut into parts of at most BATCH_RECORDS records, as even as
    they come (views of the batch's arrays and buffer; the tracker's look-ahead,
    connections.seams, then takes each part's seam as a chunk's)."""
    for batch in batches:
        count = -(-len(batch) // BATCH_RECORDS)
        if count <= 1:
            yield batch
        else:
            size = -(-len(batch) // count)
            for start in range(0, len(batch), size):
                yield batch.rows(start, min(len(batch), start + size))
        del batch  # not held while the next chunk is read (track_connections)


# Each file's first bytes read ahead for the offsets between files (at most HEAD_FILES
# files: a ring buffer's many files are one capture point).
HEAD_BYTES = 1 << 20
HEAD_FILES = 8


def _plan(points: CapturePoints, given: list[int],
          ) -> tuple[dict[int, float], list[tuple[int, int, float, bool]]]:
    """For reading the set again once two capture points show: the seconds to add to
    each file's times (iter_batches' shifts, by input position) and the known offsets
    with them taken out ((input position, other, a packet's time in the other minus its
    time in the first)). given: each file's input position, by its place in captures."""
    moved = points.clock_shifts(given)
    known = [(given[a], given[b], offset + moved.get(b, 0.0) - moved.get(a, 0.0), one_ttl)
             for a, b, offset, one_ttl in points.known()]
    return {given[index]: shift for index, shift in moved.items()}, known


@contextmanager
def _collection_off() -> Iterator[None]:
    """Automatic garbage collection off while reading, and no collection at all then:
    the reading makes no cyclic garbage (tests/test_connections_no_cyclic_garbage.py),
    so a collection could only walk the records that live to the end and find nothing.

    Why: every connection is a few container objects that live to the end, and the
    automatic collector scans them again and again as they age; with many short
    connections that was a quarter of the CPU time (short-connections: 1.3 -> 1.0 s).
    The collections of the young generations every 32 batches that stood in for it
    found nothing either (0 objects, collecting every 4 batches, on the bench's (c)
    200k, ndmjob and mixed-sizes slices) and walked what was read: 0.2 s on 200,000
    connections. Callers that go on get the collector back as it was; one-shot
    commands freeze what was read (flowcheck.exiting.read_once).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def finish_tracking(tracker: ConnectionTracker, captures: list[CaptureInfo],
                    shifts: dict[int, float] | None = None,
                    joined: Finding | None = None) -> TrackResult:
    """Close the tracker: its connections and the capture findings (the live command
    calls this on a copy of its running tracker); shifts: TrackResult.shifts; joined:
    the file joined out of time order read as its pieces (connections.joined_order),
    said in place of the clock's finding."""
    from flowcheck.sources import truncation_findings
    from flowcheck.sources.file_gaps import file_gaps
    from flowcheck.sources.ring import ring_gap_findings, ring_gaps
    from flowcheck.sources.rotation_gaps import rotation_gap_findings, rotation_holes

    connections = tracker.finish()
    tracker.syn_ways.attach(connections)
    tracker.reject_ways.attach(connections)
    tracker.by_capture.fill(captures)
    tracker.cut_recorded.fill(captures)
    tracker.mirror_gaps.fill(captures)
    spans = {captures[index].path: span for index, span in tracker.clock.spans.items()
             if index < len(captures)}
    for capture in captures:
        capture.span = spans.get(capture.path)
    findings = list(truncation_findings(captures, spans))
    appended = tracker.copies.points.appended()
    for finding in (undecodable_finding(tracker),
                    copies_finding(tracker, captures, shifts, connections),
                    joined or clock_finding(tracker.clock, appended),
                    written_finding(tracker.clock)):
        if finding is not None:
            findings.append(finding)
    findings.extend(ring_gap_findings(captures, spans))
    # A file missing from a capture cut by time (tcpdump -G) is a hole as a ring's is.
    rotated = rotation_holes(captures, spans, connections)
    findings.extend(rotation_gap_findings(rotated))
    holes = sorted([*ring_gaps(captures, spans), *(hole[0] for hole in rotated)],
                   key=lambda gap: (gap.start, gap.end))
    last = max((high for _, high in tracker.clock.spans.values()), default=None)
    return TrackResult(captures, connections, findings, last, holes,
                       file_gaps=file_gaps(captures, spans, [hole[0] for hole in rotated]),
                       arp=tracker.arp, skipped=tracker.skipped_tally.skipped,
                       host_copies=bool(host_tool_copies(tracker, captures)),
                       interface_copies=interface_copies(tracker, captures),
                       routed_points=tracker.copies.near_routed > 0 or any(
                           entry.routed for entry in tracker.copies.points.offsets.values()),
                       one_stream=tracker.clock.one_stream,
                       clock_step=ClockStep(joined=True) if joined is not None
                       else clock_step(tracker.clock, appended),
                       linked_files=any(a != b for a, b, _, _ in tracker.copies.points.known()),
                       copy_legs=copy_legs(tracker.copies.legs_crossed),
                       host_marks=tracker.cooked_hosts.marks(captures),
                       time_ordered=frozenset(c.uid for c in tracker.clock.time_ordered
                                              if c is not None))

