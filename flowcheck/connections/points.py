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
drift. Among the earlier equal packets (up to copies_points.CANDIDATES) the one nearest
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

Cost. Until two points are known, the capture is only sampled (`sample`): the packets
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

import numpy as np

from flowcheck.arrays import changes, distinct, group_sizes, group_starts
from flowcheck.connections.offsets import (
    AGREEING,
    ALIGN_SECONDS,
    NEAR,
    OFFSET_SAMPLES,
    OFFSET_TOLERANCE,
    Offset,
    appended,
)
from flowcheck.connections.one_ttl import SYN_OR_RST, OneTtlFiles
from flowcheck.fields_dataclass import fields_dataclass

RST = 0x04  # TCP flags
SAMPLE_MASK = 0x3F  # sampled: the IPv4 ID's or header identity's low bits all 0 (1 in 64)
SAMPLE_CAP = 1 << 15  # sampled packets kept: two million packets' reach
FRAMES_KEPT = 8


def sampled(ip_id: np.ndarray, identity: np.ndarray) -> np.ndarray:
    """The rows of a batch's TCP packets that are sampled (the same packets at every
    capture point: the IPv4 ID's low bits, or the fixed header's identity's for a packet
    without one, all 0); ip_id, identity: their IPv4 IDs and the fixed header's identity
    (packet_identity.header_identities without OPTIONS_CUT; 0 where the ID is not)."""
    return (((ip_id | identity) & SAMPLE_MASK) == 0).nonzero()[0]


@fields_dataclass(slots=True)
class Packets:
    """Packets (parallel arrays): times, frames, capture points (their file of the set,
    PacketBatch.capture), TTLs, IPv4 IDs, TCP flags, whether copies.py found each a copy
    of a packet just before it, and whether each was taken as a copy's original already;
    `fp` (fingerprints), `conn` and `lower` where the sample or the heads need them."""

    ts: np.ndarray
    frame: np.ndarray
    source: np.ndarray
    ttl: np.ndarray
    ip_id: np.ndarray
    flags: np.ndarray
    near: np.ndarray
    taken: np.ndarray
    fp: np.ndarray | None = None
    conn: np.ndarray | None = None  # packet_identity.connection_hashes, with fp
    lower: np.ndarray | None = None  # sent by the lower address (BatchFlows.from_lower)


class CapturePoints:
    """The offsets between capture points (`offsets`) and, once two are known (`active`),
    which of copies.py's equal pairs are copies (`decide`). See the module docstring."""

    def __init__(self) -> None:
        self.active = False
        self.offsets: dict[tuple[int, int], Offset] = {}
        # Files holding two capture points' packets at one TTL (one_ttl.py).
        self.one_ttl = OneTtlFiles(OFFSET_SAMPLES, OFFSET_TOLERANCE, AGREEING, NEAR)
        # Sampled packets, latest last: fp -> (ts, source, ttl, connection hash).
        self._sampled: dict[int, tuple[float, int, int, int]] = {}
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
        return OFFSET_TOLERANCE + self.largest_offset if self.active else NEAR

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
        diff, key = _oriented(ts, other_ts, source, other_source)
        offset, known = self._current(key)
        return known & (np.abs(diff - offset) <= within)

    # -- before two points are known ------------------------------------------------------

    def add_heads(self, heads: Packets) -> None:
        """Each file's first packets (fp set), read ahead: their pairs give the offsets of
        files that begin together; they are kept for the sampled packets of the other
        files to find theirs (`sample`)."""
        assert heads.fp is not None
        order = np.argsort(heads.fp, kind="stable")
        fp, ts, source, ttl, rst = (heads.fp[order], heads.ts[order], heads.source[order],
                                    heads.ttl[order], (heads.flags[order] & RST) != 0)
        conn = heads.conn[order] if heads.conn is not None else np.zeros(fp.shape, np.uint64)
        self._heads = (fp, ts, source)
        pairs: dict[int, list[tuple[float, int, bool]]] = {}  # one_ttl.py's, by file
        # The one file the heads hold packets of, if one: its own packets pair with none.
        self._head_source = int(source[0]) if source.size and (source == source[0]).all() \
            else None
        for step in (1, 2):  # a packet seen at two points, rarely three
            later, earlier = np.arange(step, fp.shape[0]), np.arange(fp.shape[0] - step)
            equal = fp[later] == fp[earlier]
            later, earlier = later[equal], earlier[equal]
            diff, key = _oriented(ts[later], ts[earlier], source[later], source[earlier])
            same = source[later] == source[earlier]
            # One file's plain and tunnelled copies are tunnel_copies.py's.
            later, earlier, diff, key, same = (
                part[~same | (conn[later] == conn[earlier])]
                for part in (later, earlier, diff, key, same))
            # Within one file: two points' copies (TTL) apart more than a SPAN session's,
            # the later in time the copy.
            keep = ~same | ((ttl[later] != ttl[earlier]) & (np.abs(diff) > NEAR) & ~rst[later])
            self._learn(key[keep], np.where(same, np.abs(diff), diff)[keep],
                        (heads.ip_id[order][later] != 0)[keep])
            if heads.conn is not None and heads.lower is not None:
                one = np.flatnonzero(same & (ttl[later] == ttl[earlier]) & (np.abs(diff) > NEAR)
                                     & (heads.flags[order][later] & SYN_OR_RST == 0))
                rows = order[later[one]]
                for file, pair in zip(source[later[one]].tolist(), zip(
                        np.abs(diff[one]).tolist(), heads.conn[rows].tolist(),
                        heads.lower[rows].tolist(), strict=True), strict=True):
                    pairs.setdefault(file, []).append(pair)
        if heads.conn is not None:
            compared: dict[int, dict[int, int]] = {}
            for file in distinct(heads.source).tolist():
                ordered = np.sort(heads.conn[heads.source == file])
                starts = group_starts(ordered)  # np.unique would import numpy.ma
                compared[file] = dict(zip(ordered[starts].tolist(),
                                          group_sizes(starts, ordered.shape[0]).tolist(),
                                          strict=True))
            self._one_ttl_learn("head", compared, pairs)

    def sample(self, packets: Packets) -> None:
        """The sampled packets of a batch (`sampled`, fp set), in capture order: their
        pairs with earlier sampled packets, and with the heads of other files, teach the
        offsets."""
        assert packets.fp is not None
        keys: list[int] = []
        diffs: list[float] = []
        book = self._sampled
        # file -> connection -> packets compared since one_ttl.py last counted them
        counted: dict[int, dict[int, int]] = {}
        conn = packets.conn.tolist() if packets.conn is not None else [0] * len(packets.ts)
        lower = packets.lower.tolist() if packets.lower is not None else [False] * len(conn)
        for fp, ts, source, ttl, flags, near, connection, low in zip(
                packets.fp.tolist(), packets.ts.tolist(), packets.source.tolist(),
                packets.ttl.tolist(), packets.flags.tolist(), packets.near.tolist(),
                conn, lower, strict=True):
            per_file = counted.setdefault(source, {})
            per_file[connection] = per_file.get(connection, 0) + 1
            old = book.pop(fp, None)
            if old is not None and old[1] == source and old[3] != connection:
                old = None  # one file's plain and tunnelled copies: tunnel_copies.py's
            if old is not None and (near or old[1] != source
                                    or (old[2] != ttl and not flags & RST)):
                diff, key = _oriented(np.array(ts), np.array(old[0]), np.array(source),
                                      np.array(old[1]))
                keys.append(int(key))
                diffs.append(float(diff))
            elif (old is not None and ts - old[0] > NEAR and not flags & SYN_OR_RST
                  and packets.conn is not None):
                # The same file and TTL: one_ttl.py's, judged at this packet with the
                # packets compared up to it, whatever the batches (judged at a batch's
                # end, a pair was one of fewer packets in a small batch than a large).
                self._one_ttl_learn("sample", counted, {source: [
                    (ts - old[0], connection, bool(low))]})
                counted = {}
            book[fp] = (ts, source, ttl, connection)  # the latest: the likeliest original
            if len(book) > SAMPLE_CAP:
                del book[next(iter(book))]
        if keys:
            self._learn(np.array(keys, np.int64), np.array(diffs))
        if packets.conn is not None and counted:
            self._one_ttl_learn("sample", counted, {})
        if self._heads is not None:
            self._match_heads(packets)

    def _match_heads(self, packets: Packets) -> None:
        """Pairs of packets with another file's head (add_heads)."""
        assert self._heads is not None and packets.fp is not None
        fp, ts, source = self._heads
        if not fp.shape[0]:
            return
        if self._head_source is not None and (packets.source == self._head_source).all():
            return  # a packet pairs with another file's head only: none here
        for step in range(2):  # the head may hold the packet for two files
            at = np.searchsorted(fp, packets.fp) + step
            at[at >= fp.shape[0]] = 0
            rows = np.flatnonzero((fp[at] == packets.fp) & (source[at] != packets.source))
            if rows.size:
                diff, key = _oriented(packets.ts[rows], ts[at[rows]], packets.source[rows],
                                      source[at[rows]])
                self._learn(key, diff, packets.ip_id[rows] != 0)

    def _one_ttl_learn(self, way: str, packets: dict[int, dict[int, int]],
                       pairs: dict[int, list[tuple[float, int, bool]]]) -> None:
        """OneTtlFiles.learn; a file shown to hold two points has its offset known."""
        for source, agree in self.one_ttl.learn(way, packets, pairs).items():
            self.offsets.setdefault((source, source), Offset((source, source))).add(
                np.array(agree))

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
        self._learn(*_oriented(packets.ts[then], packets.ts[first], packets.source[then],
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
        diff, key = _oriented(packets.ts[later], packets.ts[earlier], packets.source[later],
                              packets.source[earlier])
        # The earlier packet nearest the offset (nearest in time while none is known).
        offset, _ = self._current(key)
        order = np.lexsort((np.abs(diff - offset), later))
        best = order[changes(later[order])]
        later, earlier, diff, key = later[best], earlier[best], diff[best], key[best]
        self._learn(key, diff)
        offset, known = self._current(key)
        copy = known & (np.abs(diff - offset) <= OFFSET_TOLERANCE)
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

    def _learn(self, key: np.ndarray, diff: np.ndarray,
               identified: np.ndarray | None = None) -> None:
        """Pairs' time differences by pair of files (key: _oriented); identified: per
        pair, whether its packets have an IPv4 ID (None: not told, as none)."""
        for code in sorted(set(key.tolist())):
            pair = (code >> 32, code & 0xFFFFFFFF)
            entry = self.offsets.get(pair)
            if entry is None:
                entry = self.offsets[pair] = Offset(pair)
            at = key == code
            entry.add(diff[at], 0 if identified is None else int(np.count_nonzero(
                identified[at])))

    def _count(self, packets: Packets, original: np.ndarray, copy: np.ndarray) -> None:
        diff, key = _oriented(packets.ts[copy], packets.ts[original], packets.source[copy],
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


def _oriented(ts: np.ndarray, other_ts: np.ndarray, source: np.ndarray,
              other_source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(time difference, key) of a packet and an earlier equal one: its time in the
    higher file minus its time in the lower one; within one file, the later packet's
    minus the earlier's. The key codes the pair of files (lower << 32 | higher)."""
    low = np.minimum(source, other_source).astype(np.int64)
    high = np.maximum(source, other_source).astype(np.int64)
    diff = np.where(source >= other_source, ts - other_ts, other_ts - ts)
    return diff, (low << 32) | high
