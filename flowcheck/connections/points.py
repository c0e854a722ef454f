"""Capture points: a packet seen at two capture points, whatever their clocks say.

Both hosts' captures of a job given together (two files, or merged into one with
mergecap) hold every packet that passed both capture points twice. When the hosts'
clocks disagree (by 0.3 s, by an hour) or the points are a router apart (a copy some
milliseconds after its original), the second copy is beyond copies.py's 0.5 ms: it
would read as a retransmission, its payload as bytes sent twice.

The rule. A packet is the copy of an earlier equal packet (copies.py's fields: the same
direction of the same connection, IPv4 ID, TCP sequence and acknowledgement numbers,
flags, window, payload length and, for a packet without an IPv4 ID, its TCP header's
other fields and options, TSval included: packet_identity.header_identity) when the two
come from different capture points, as the capture
shows it (different files of the set, or different TTLs: a router between the points
decrements it, a sender's resend has the TTL its original had; not for a RST, as a
firewall's RST in a host's name differs from the host's own by its TTL alone; or any
two, in a file shown to hold two points at one TTL: one_ttl.py), and the copy lies
within OFFSET_TOLERANCE of the two points' known offset. The offset of two points (a
pair of files, or a file with itself) is the median time between a packet and its copy
over their latest OFFSET_SAMPLES pairs (these, copies.py's, and the sampled ones
below); it is known once AGREEING of them lie within OFFSET_TOLERANCE of it (two
files': FEW_AGREEING, when every one does: offsets.py), and it follows the clocks'
drift. Two files' copies seen both ways set bounds instead (Offset.bounds: a copy never
comes before its original, so the offset lies between the early way's most lag and the
late way's least; their middle is the offset, and a copy may lie after its way's bound by
up to twice the longest queue shown yet: a slow link's queue one way is no offset,
newuser68). Among the earlier equal packets (up to copies_points.CANDIDATES) the one nearest
the offset is taken, each at most once.

What tells a copy from a resend. A sender's resend comes a retransmission timeout after
its original (200 ms at least on Linux, 30 ms on FreeBSD, 300 ms on Windows; RFC 6298
says 1 s) or a round trip after it (fast retransmit), and from the capture point that saw
the original: copies come at a constant offset from another point. Most resends are not
equal to their original at all: Linux, Windows and the BSDs give them a new IPv4 ID, and
a later TSval changes the header identity. The limit: a stack that sends IPv4 ID 0 with DF
(RFC 6864) and resends without timestamps or within one tick of its timestamp clock
sends its original again bit for bit; if one point saw only the original and the other
only the resend, at the offset within the tolerance, the resend is taken for a copy. A
step of one point's clock (NTP) leaves the next copies as resends until the offset has
followed it (half of OFFSET_SAMPLES pairs). Two points one file cannot tell apart by
TTL (hosts on one segment merged into one file) are told by their copies alone, on
stronger evidence (one_ttl.py: the file joins `one_ttl.files`, and its equal packets at one
TTL count as another point's). Checksum
offload (a sender's capture holds its packets' TCP checksums unfilled, the NIC fills them
in) changes no identity: the checksum is none of them (packet_identity); TSO/GSO
super-frames (one packet at the sender's point, several wire segments at the other) are
matched by connections.super_frames instead.

Cost. Until two points are known, the capture is only sampled (`sample`,
flowcheck.connections.point_sample): the packets
whose IPv4 ID (the fixed header's identity for a packet without one, packet_identity.
sample_fields: its options may be cut at one point) has its low six bits 0 (the
same 1 in 64 at every point: a copy has its original's ID), a Python dict of the latest
SAMPLE_CAP of them; and each
file's first packets, read ahead, are compared with each other and with the sampled
packets of the other files (`add_heads`): Python work for 1 packet in 64, none of it
growing with the history. Once two points are known (`wanted`), track_connections reads
the set again from its start with them switched on (`activate`; a stream goes on from
where they showed): copies.py keeps `window` seconds of packets across batches instead
of 0.5 ms and hands the equal pairs of its sort to `decide`, numpy per batch, the pairs
only. Both points'
packets within one file an hour apart need an hour of packets kept (at most copies.py's
FAR_TAIL_CAP); given as two files, they are set to one clock instead (track_connections
reads the set again with the offsets taken out of the files' times, `clock_shifts`).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from flowcheck.arrays import changes
from flowcheck.connections.offsets import (
    AGREEING,
    ALIGN_SECONDS,
    NEAR,
    OFFSET_SAMPLES,
    OFFSET_TOLERANCE,
    Offset,
    appended,
)
from flowcheck.connections.one_ttl import OneTtlFiles
from flowcheck.connections.point_sample import RST, Packets, PointSample, oriented

FRAMES_KEPT = 8


class CapturePoints(PointSample):
    """The offsets between capture points (`offsets`) and, once two are known (`active`),
    which of copies.py's equal pairs are copies (`decide`); before that, the sample that
    finds them is PointSample's (flowcheck.connections.point_sample). See the module
    docstring."""

    def __init__(self) -> None:
        self.active = False
        self.offsets: dict[tuple[int, int], Offset] = {}
        # Files holding two capture points' packets at one TTL (one_ttl.py).
        self.one_ttl = OneTtlFiles(OFFSET_SAMPLES, OFFSET_TOLERANCE, AGREEING, NEAR)
        # Sampled packets, latest last: fp -> (ts, source, ttl, connection hash).
        # In insertion order, the oldest evicted first: an OrderedDict, whose popitem from
        # the front is O(1) where a dict's next(iter()) walks the slots its deletions left
        # (review56g: 3.5 of 5.1 CPU-s on 5,000 resent connections past SAMPLE_CAP).
        self._sampled: OrderedDict[int, tuple[float, int, int, int]] = OrderedDict()
        # Each file's first packets: (fp, ts, source), sorted by fp (add_heads).
        self._heads: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._head_source: int | None = None

    @property
    def wanted(self) -> bool:
        """Whether two capture points are known: a known offset between two files, or
        within one file an offset itself beyond NEAR (two points merged into one file;
        not a SPAN session's or a router's copies, microseconds apart, whose one pair
        far apart, a resend bit for bit its original's copy, is no second point: trial
        33 D2)."""
        return any(entry.known and (entry.sources[0] != entry.sources[1] or (
            entry.beyond and entry.offset is not None and abs(entry.offset) > NEAR))
                   for entry in self.offsets.values())

    def activate(self, known: list[tuple[int, int, float, bool]] = ()) -> None:
        """Compare every packet from now on; known: offsets already known (file, other
        file, a packet's time in the other minus its time in the first, whether the file
        holds two points at one TTL: `known`)."""
        self.active = True
        self._sampled.clear()
        self._heads = None
        for first, second, offset, one_ttl in known:
            if first > second:
                first, second, offset = second, first, -offset
            entry = self.offsets.setdefault((first, second), Offset((first, second)))
            entry.add(np.full(AGREEING, offset))
            if one_ttl:
                self.one_ttl.files.add(first)

    @property
    def window(self) -> float:
        """Seconds of packets copies.py keeps across batches: its own 0.5 ms until two
        points are known, then the largest known offset and the tolerance."""
        if not self.active:
            return NEAR
        # A queue one way (Offset.queue): twice the longest yet, as it grows.
        queue = max((2 * entry.queue + OFFSET_TOLERANCE for entry in self.offsets.values()
                     if entry.known and entry.bound is not None), default=0.0)
        return OFFSET_TOLERANCE + self.largest_offset + queue

    @property
    def largest_offset(self) -> float:
        """The largest known offset's size (seconds; 0 while none is known)."""
        return max((abs(entry.offset) for entry in self.offsets.values()
                    if entry.known and entry.offset is not None), default=0.0)

    def at_offset(self, ts: np.ndarray, other_ts: np.ndarray, source: np.ndarray,
                  other_source: np.ndarray, within: float) -> np.ndarray:
        """Per pair of a packet and an earlier one (their times, seconds, and files of
        the set; bool): whether their time difference lies within `within` seconds of
        their two points' known offset (connections.super_frames)."""
        diff, key = oriented(ts, other_ts, source, other_source)
        offset, known = self._current(key)
        return known & (np.abs(diff - offset) <= within)

    # -- once they are --------------------------------------------------------------------

    def decide(self, packets: Packets, near: tuple[np.ndarray, np.ndarray],
               later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
        """copies.py's packets of the batch and of its tail (packets; `taken` is updated),
        its pairs of copies (earlier, later indexes into packets) and the other equal pairs
        (later, earlier: every earlier equal packet of each later one, the later ones not
        copies yet): the indexes of the later packets that are copies of an earlier one
        seen at another capture point (the rule: module docstring). The pairs teach the
        offsets and are counted."""
        first, then = near
        self._learn(*oriented(packets.ts[then], packets.ts[first], packets.source[then],
                               packets.source[first])[::-1])
        packets.taken[first] = True
        self._count(packets, first, then)
        same_ttl = packets.ttl[later] == packets.ttl[earlier]
        usable = ~packets.taken[earlier] & (
            (packets.source[later] != packets.source[earlier])
            | (~same_ttl & (packets.flags[later] & RST == 0))
            | (same_ttl & self.one_ttl.holds(packets.source[later])))
        later, earlier = later[usable], earlier[usable]
        if not later.size:
            return later
        diff, key = oriented(packets.ts[later], packets.ts[earlier], packets.source[later],
                              packets.source[earlier])
        # The earlier packet nearest the offset (nearest in time while none is known).
        offset, _ = self._current(key)
        order = np.lexsort((np.abs(diff - offset), later))
        best = order[changes(later[order])]
        later, earlier, diff, key = later[best], earlier[best], diff[best], key[best]
        self._learn(key, diff)
        offset, known = self._current(key)
        copy = known & (np.abs(diff - offset) <= OFFSET_TOLERANCE)
        if packets.lower is not None:  # both ways' bounds known: a queue only delays
            for code in sorted(set(key.tolist())):
                entry = self.offsets.get((code >> 32, code & 0xFFFFFFFF))
                if entry is None or not entry.known:
                    continue
                at = key == code
                if entry.bound is None:  # the copies near the offset may show both ways
                    entry.add_ways(diff[at][copy[at]], packets.lower[later[at]][copy[at]])
                if entry.bound is not None:
                    copy[at] = entry.fits(diff[at], packets.lower[later[at]])
        # Each earlier packet is the original of one copy at most (the first here).
        chosen = np.flatnonzero(copy)
        order = np.argsort(earlier[chosen], kind="stable")
        chosen = chosen[np.sort(order[changes(earlier[chosen][order])])]
        packets.taken[earlier[chosen]] = True
        self._count(packets, earlier[chosen], later[chosen])
        return later[chosen]

    def _current(self, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The offset (0 while there is none) and whether it is known, per key."""
        offset = np.zeros(key.shape)
        known = np.zeros(key.shape, bool)
        for code in sorted(set(key.tolist())):
            entry = self.offsets.get((code >> 32, code & 0xFFFFFFFF))
            if entry is not None and entry.offset is not None:
                at = key == code
                offset[at] = entry.offset
                known[at] = entry.known
        return offset, known

    def _count(self, packets: Packets, original: np.ndarray, copy: np.ndarray) -> None:
        diff, key = oriented(packets.ts[copy], packets.ts[original], packets.source[copy],
                              packets.source[original])
        same_ttl = packets.ttl[copy] == packets.ttl[original]
        for code in sorted(set(key.tolist())):
            entry = self.offsets[(code >> 32, code & 0xFFFFFFFF)]
            at = key == code
            frames = packets.frame[copy[at]]
            entry.copies += frames.shape[0]
            entry.same_time += int(np.count_nonzero(same_ttl[at] & (diff[at] == 0)))
            entry.count_steady(diff[at][same_ttl[at]])
            entry.routed += int(np.count_nonzero(~same_ttl[at]))
            if packets.lower is not None:
                entry.add_ways(diff[at], packets.lower[copy[at]], copies=True)
            first, last = int(frames.min()), int(packets.frame[original[at]].max())
            entry.first_copy = first if entry.first_copy is None else min(entry.first_copy,
                                                                          first)
            entry.last_original = last if entry.last_original is None else max(
                entry.last_original, last)
            if len(entry.frames) < FRAMES_KEPT:
                entry.frames = sorted(entry.frames + frames[:FRAMES_KEPT].tolist()
                                      )[:FRAMES_KEPT]

    # -- what they show -------------------------------------------------------------------

    def clock_shifts(self, given: list[int]) -> dict[int, float]:
        """Seconds to add to each file's times (by its place in the capture set) so that
        the known offsets between files vanish; empty when none is beyond ALIGN_SECONDS.
        given: each file's position in the inputs; the first given of linked files keeps
        its clock."""
        edges = {entry.sources: entry.offset or 0.0 for entry in self.offsets.values()
                 if entry.sources[0] != entry.sources[1] and entry.known}
        if not any(abs(offset) > ALIGN_SECONDS for offset in edges.values()):
            return {}
        links: dict[int, list[tuple[int, float]]] = {}
        for (first, second), offset in edges.items():
            # The second file's clock reads `offset` more for the same moment.
            links.setdefault(first, []).append((second, -offset))
            links.setdefault(second, []).append((first, offset))
        shifts: dict[int, float] = {}
        for start in sorted(links, key=lambda n: given[n]):
            if start in shifts:
                continue
            shifts[start], todo = 0.0, [start]
            while todo:
                here = todo.pop()
                for there, step in links[here]:
                    if there not in shifts:
                        shifts[there] = shifts[here] + step
                        todo.append(there)
        # Whole microseconds, as the capture_duplicates message gives them: `editcap -t`
        # with those seconds, then mergecap, number and time the frames as flowcheck does
        # (docs/formats.md); a median of an even count is half a microsecond off.
        return {n: round(shift, 6) for n, shift in shifts.items() if round(shift, 6)}

    def known(self) -> list[tuple[int, int, float, bool]]:
        """The known offsets: (file, other file, a packet's time in the other minus its
        time in the first, whether the file holds two points at one TTL: one_ttl.py),
        for `activate` on a new reading of the set."""
        return [(*entry.sources, entry.offset,
                 entry.sources[0] == entry.sources[1] and entry.sources[0] in self.one_ttl.files)
                for entry in self.offsets.values() if entry.known and entry.offset is not None]

    def appended(self) -> bool:
        """Whether a file holds copies of its own packets at about the same times, every
        copy after every original: a second capture appended to the first (mergecap -a),
        its times going back where it begins."""
        return any(appended(entry) for entry in self.offsets.values())
