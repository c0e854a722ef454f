"""Finding capture points before they are known: the sample and the files' heads.

CapturePoints (flowcheck.connections.points) decides, once two capture points are known,
which equal packets are one packet seen at both; until then the capture is only
sampled, and this is that part (PointSample, its base). The sampled packets are those
whose IPv4 ID (the fixed header's identity for a packet without one, packet_identity.
sample_fields: its options may be cut at one point) has its low six bits 0 (`sampled`:
the same 1 in 64 at every point, a copy has its original's ID), kept in a Python dict
of the latest SAMPLE_CAP of them (`sample`); and each file's first packets, read ahead,
are compared with each other and with the sampled packets of the other files
(`add_heads`). Their pairs teach the offsets between the points (`_learn`: offsets.
Offset per pair of files) and one_ttl.py's files of two points at one TTL: Python work
for 1 packet in 64, none of it growing with the history.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from flowcheck.arrays import distinct, group_sizes, group_starts
from flowcheck.connections.offsets import NEAR, Offset
from flowcheck.connections.one_ttl import SYN_OR_RST, OneTtlFiles
from flowcheck.fields_dataclass import fields_dataclass

RST = 0x04  # TCP flags
SAMPLE_MASK = 0x3F  # sampled: the IPv4 ID's or header identity's low bits all 0 (1 in 64)
SAMPLE_CAP = 1 << 15  # sampled packets kept: two million packets' reach


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


class PointSample:
    """CapturePoints' learning of the offsets from pairs of equal packets, and its
    sample before two points are known (see the module docstring). The attributes are
    CapturePoints.__init__'s: `offsets` (pair of files -> Offset), `one_ttl`, the sampled
    packets (`_sampled`: fp -> (ts, source, ttl, connection hash), latest last) and the
    files' heads (`_heads`, `_head_source`)."""

    offsets: dict[tuple[int, int], Offset]
    one_ttl: OneTtlFiles
    _sampled: OrderedDict[int, tuple[float, int, int, int]]
    _heads: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    _head_source: int | None

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
            diff, key = oriented(ts[later], ts[earlier], source[later], source[earlier])
            same = source[later] == source[earlier]
            # One file's plain and tunnelled copies are tunnel_copies.py's.
            later, earlier, diff, key, same = (
                part[~same | (conn[later] == conn[earlier])]
                for part in (later, earlier, diff, key, same))
            # Within one file: two points' copies (TTL) apart more than a SPAN session's,
            # the later in time the copy.
            keep = ~same | ((ttl[later] != ttl[earlier]) & (np.abs(diff) > NEAR) & ~rst[later])
            self._learn(key[keep], np.where(same, np.abs(diff), diff)[keep],
                        (heads.ip_id[order][later] != 0)[keep],
                        None if heads.lower is None else heads.lower[order][later][keep])
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
        ways: list[bool] = []
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
                diff, key = oriented(np.array(ts), np.array(old[0]), np.array(source),
                                      np.array(old[1]))
                keys.append(int(key))
                diffs.append(float(diff))
                ways.append(bool(low))
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
                book.popitem(last=False)
        if keys:
            self._learn(np.array(keys, np.int64), np.array(diffs), None,
                        np.array(ways, bool) if packets.lower is not None else None)
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
                diff, key = oriented(packets.ts[rows], ts[at[rows]], packets.source[rows],
                                      source[at[rows]])
                self._learn(key, diff, packets.ip_id[rows] != 0,
                            None if packets.lower is None else packets.lower[rows])

    def _one_ttl_learn(self, way: str, packets: dict[int, dict[int, int]],
                       pairs: dict[int, list[tuple[float, int, bool]]]) -> None:
        """OneTtlFiles.learn; a file shown to hold two points has its offset known."""
        for source, agree in self.one_ttl.learn(way, packets, pairs).items():
            self.offsets.setdefault((source, source), Offset((source, source))).add(
                np.array(agree))

    def _learn(self, key: np.ndarray, diff: np.ndarray,
               identified: np.ndarray | None = None,
               lower: np.ndarray | None = None) -> None:
        """Pairs' time differences by pair of files (key: oriented); identified: per
        pair, whether its packets have an IPv4 ID (None: not told, as none); lower: per
        pair, whether sent by the lower address, for the bounds of both ways
        (Offset.add_ways; None: not told, the pairs teach the median only)."""
        for code in sorted(set(key.tolist())):
            pair = (code >> 32, code & 0xFFFFFFFF)
            entry = self.offsets.get(pair)
            if entry is None:
                entry = self.offsets[pair] = Offset(pair)
            at = key == code
            entry.add(diff[at], 0 if identified is None else int(np.count_nonzero(
                identified[at])))
            if lower is not None:
                entry.add_ways(diff[at], lower[at])


def oriented(ts: np.ndarray, other_ts: np.ndarray, source: np.ndarray,
              other_source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(time difference, key) of a packet and an earlier equal one: its time in the
    higher file minus its time in the lower one; within one file, the later packet's
    minus the earlier's. The key codes the pair of files (lower << 32 | higher)."""
    low = np.minimum(source, other_source).astype(np.int64)
    high = np.maximum(source, other_source).astype(np.int64)
    diff = np.where(source >= other_source, ts - other_ts, other_ts - ts)
    return diff, (low << 32) | high
