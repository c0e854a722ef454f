"""Which way each direction's SYNs were captured, as a Linux cooked capture tells it.

`tcpdump -i any` writes a Linux cooked header (LINKTYPE_LINUX_SLL2 276, LINUX_SLL 113)
whose packet type is the capture host's own view of the frame (linux/if_packet.h;
flowcheck.decode.legs.cooked_packet_types): PACKET_OUTGOING (4) it sent, PACKET_HOST (0)
addressed to its own link-layer address, PACKET_OTHERHOST (3) addressed to another
host's (a bridge port, a promiscuous interface). Two hosts' such captures merged
(mergecap) hold each packet between them twice: a copy marked outgoing, taken on its
sender, and microseconds later, with the same TTL (hop limit), a copy marked host, taken
on the host the frame was addressed to. A router's `-i any` shows its forwarding the
other way round: arriving (host: the frame was addressed to the router) and then leaving
one TTL lower; a bridge marks the arrivals of frames it forwards other-host, at the
sender's TTL. So the marks a direction's SYNs carry, with their TTLs, tell where a
merged capture's points were (read by flowcheck.verify.arrival).

Kept per direction (flow key, from its lower endpoint) and SYN sequence number (the
side's initial sequence number: a connection that reuses the 4-tuple starts with another,
RFC 9293 3.4.1, RFC 6528) as one int packing the packet types its SYNs showed (the
originator's SYNs, the responder's SYN-ACKs; capture copies included: the copies are
what is told) and their TTLs (`pack_marks`), with the time of the first of them, only
once the capture holds capture copies (a capture of one host has no second mark to read,
and keeps no table of its directions; a SYN read in a batch before the capture's first
copy, a live capture's first packets, is not noted: its connection reads as without
marks) and only for Linux cooked packets: the batch's work is vectorised over its SYNs,
then a Python step per direction and sequence number with SYNs in it, none per packet.
`attach` sets each connection's Connection.orig_syn_ways / resp_syn_ways (bits below)
when the tracker finishes, from the marks of its own SYNs: of its 4-tuple's, those whose
first SYN came nearest its first SYN (SYN-ACK), so a connection reusing a 4-tuple no
longer takes the earlier one's (session 50's second read).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

import numpy as np

from flowcheck.connections.flows import BatchFlows, FlowKey, address_text
from flowcheck.decode import DecodedBatch
from flowcheck.decode.legs import (
    PACKET_HOST,
    PACKET_OTHERHOST,
    PACKET_OUTGOING,
    cooked_packet_types,
)
from flowcheck.sources.batch import PacketBatch

# Connection.orig_syn_ways / resp_syn_ways bits.
# A SYN (SYN-ACK) of the side captured leaving a host (PACKET_OUTGOING): its sender, or a
# bridge forwarding it (whose arrival ELSEWHERE then marks).
SENT = 1
# A SYN captured arriving at the host its frame was addressed to (PACKET_HOST) at the TTL
# it was captured leaving with (the highest of each): no router between those points.
ARRIVED = 2
OTHER_TTL = 4  # the side's SYNs captured at more than one TTL (a router between points)
ELSEWHERE = 8  # a SYN captured arriving at a host it was not addressed to (OTHERHOST)

_SYN = 0x02
_OPEN_CLOSE = 0x07  # FIN, SYN, RST
# marked_openings's answer: (TCP rows, their packet types).
Marked = tuple[np.ndarray, np.ndarray]
_NONE: Marked = (np.zeros(0, np.int64), np.zeros(0, np.int64))


class SynWays:
    """The packet types and TTLs of each direction's SYNs (module docstring), packed in
    one int per direction and initial sequence number (`seen[(flow key, from lower,
    sequence number)]`: (first SYN's time, seconds on the capture clock; `pack_marks`'s
    fields, merged by `merged_marks` when a later batch holds more of its SYNs))."""

    def __init__(self) -> None:
        self.seen: dict[tuple[FlowKey, bool, int], tuple[float, int]] = {}

    def note(self, decoded: DecodedBatch, flows: BatchFlows, marked: Marked) -> None:
        """Note the packet types and TTLs of the batch's SYNs and SYN-ACKs (flows: its
        group_flows; marked: its marked_openings; call only once the capture has shown
        capture copies)."""
        rows, kinds = marked
        syn = (decoded.tcp_flags[rows] & _SYN) != 0
        if not syn.any():
            return
        syns, kinds = rows[syn], kinds[syn]
        side = 2 * flows.flow[syns].astype(np.int64) + flows.from_lower[syns]
        # One group per direction and sequence number: side * 2**32 + seq.
        group = (side << 32) | (decoded.tcp_seq[syns].astype(np.int64) & 0xFFFFFFFF)
        groups, at = np.unique(group, return_inverse=True)
        at = at.reshape(-1)
        ttl = decoded.tcp_ttl[syns].astype(np.int64) & 0xFF
        packed = pack_marks(groups.shape[0], at, kinds, ttl)
        first = np.full(groups.shape[0], np.inf)
        np.minimum.at(first, at, decoded.tcp_ts[syns])
        seen = self.seen
        for one, value, when in zip(groups.tolist(), packed.tolist(), first.tolist(),
                                    strict=True):
            key = (flows.keys[one >> 33], bool((one >> 32) & 1), one & 0xFFFFFFFF)
            before = seen.get(key)
            seen[key] = (when, value) if before is None else \
                (min(before[0], when), merged_marks(before[1], value))

    def attach(self, connections: Iterable) -> None:
        """Set each connection's orig_syn_ways / resp_syn_ways from what its own SYNs
        (SYN-ACKs) showed: of its 4-tuple's directions' marks (a 4-tuple in two tunnels:
        both tunnels'), those whose first SYN came nearest the connection's first SYN
        (Connection.syn_ts; synack_ts); none for a side with no SYN in the capture."""
        if not self.seen:
            return
        seen = self.seen
        # Few addresses, many connections: each address's text made once.
        texts = {end[:2]: address_text(end[0], end[1])
                 for end in {end[:2] for (lower, upper, _), _, _ in seen
                             for end in (lower, upper)}}
        by_text: dict[tuple[str, int, str, int], dict[int, tuple[float, int]]] = {}
        for ((lower, upper, _tunnel), from_lower, seq), (when, value) in seen.items():
            src, dst = (lower, upper) if from_lower else (upper, lower)
            found = by_text.setdefault((texts[src[:2]], src[2], texts[dst[:2]], dst[2]), {})
            before = found.get(seq)
            found[seq] = (when, value) if before is None else \
                (min(before[0], when), merged_marks(before[1], value))
        # Per direction its sequence numbers' marks in time order, so that each connection
        # finds its own by bisection: a 4-tuple reused n times (a client binding one
        # source port) cost n*n comparisons with a scan (4,000 reuses: 4 s of attach). A
        # direction with one sequence number, nearly all, keeps its marks alone.
        timed = {key: next(iter(found.values()))[1] if len(found) == 1 else _by_time(found)
                 for key, found in by_text.items()}
        find = timed.get
        for conn in connections:
            orig_h, orig_p, resp_h, resp_p = conn.orig_h, conn.orig_p, conn.resp_h, conn.resp_p
            orig = _nearest(find((orig_h, orig_p, resp_h, resp_p)), conn.syn_ts)
            if orig is not None:
                conn.orig_syn_ways = ways(orig)
            resp = _nearest(find((resp_h, resp_p, orig_h, orig_p)), conn.synack_ts)
            if resp is not None:
                conn.resp_syn_ways = ways(resp)


def _by_time(found: dict[int, tuple[float, int]]) -> tuple[list[float], list[int]]:
    """(first SYN times, seconds, ascending; their packed marks) of one direction's
    sequence numbers (found: attach's by sequence number)."""
    entries = sorted(found.values())
    return [when for when, _ in entries], [value for _, value in entries]


def _nearest(found: int | tuple[list[float], list[int]] | None, when: float | None
             ) -> int | None:
    """The packed marks of the sequence number whose first SYN came nearest `when` (a
    connection's first SYN or SYN-ACK, seconds; found: a direction's one sequence
    number's marks, or _by_time's lists, bisected); the earlier of two as near; None
    without either."""
    if found is None or when is None:
        return None
    if isinstance(found, int):
        return found
    times, values = found
    at = bisect_left(times, when)
    if at == len(times) or (at and when - times[at - 1] <= times[at] - when):
        at -= 1
    return values[at]


def marked_openings(batch: PacketBatch, decoded: DecodedBatch) -> Marked:
    """(rows: positions in the batch's TCP columns of its SYNs, FINs and RSTs in Linux
    cooked frames whose packet type the header tells, kinds: those packet types, int64,
    0-7): read once per batch for SynWays.note and cooked_hosts.CookedHosts.note; empty
    when the batch holds no Linux cooked frame (DecodedBatch.linux_cooked)."""
    if not decoded.linux_cooked:
        return _NONE
    rows = np.flatnonzero((decoded.tcp_flags & _OPEN_CLOSE) != 0)
    if not rows.size:
        return _NONE
    kinds = cooked_packet_types(batch, decoded.tcp_index[rows])
    told = (kinds >= 0) & (kinds < 8)
    return rows[told], kinds[told].astype(np.int64)


# A direction's packed marks: bits 0-7 the packet types seen (1 << type), then bytes of
# the highest TTL of an outgoing SYN, of a host one, 255 - the lowest TTL and the
# highest: every field merged by max (the types by or).
_OUT_TTL, _HOST_TTL, _LOW_TTL, _HIGH_TTL = 8, 16, 24, 32


def pack_marks(n: int, at: np.ndarray, kinds: np.ndarray, ttl: np.ndarray) -> np.ndarray:
    """Per direction (n of them; `at`: each SYN's direction, 0 to n - 1; kinds: its packet
    type, 0-7; ttl: its TTL or hop limit), its packed marks (int64)."""
    seen = np.zeros(n, np.int64)
    np.bitwise_or.at(seen, at, np.left_shift(1, kinds))
    fields = np.zeros((4, n), np.int64)
    for row, rows, values in ((0, kinds == PACKET_OUTGOING, ttl), (1, kinds == PACKET_HOST, ttl),
                              (2, slice(None), 255 - ttl), (3, slice(None), ttl)):
        np.maximum.at(fields[row], at[rows], values[rows])
    return (seen | (fields[0] << _OUT_TTL) | (fields[1] << _HOST_TTL)
            | (fields[2] << _LOW_TTL) | (fields[3] << _HIGH_TTL))


def merged_marks(a: int, b: int) -> int:
    """Two packed marks of one direction as one."""
    value = (a | b) & 0xFF
    for shift in (_OUT_TTL, _HOST_TTL, _LOW_TTL, _HIGH_TTL):
        value |= max((a >> shift) & 0xFF, (b >> shift) & 0xFF) << shift
    return value


def marked_types(packed: int) -> int:
    """The packet types a direction's (or host pair's) packed marks saw: bit 1 << type."""
    return packed & 0xFF


def single_ttl(packed: int) -> int | None:
    """The one TTL every marked packet of packed had; None when they had several."""
    low, high = 255 - ((packed >> _LOW_TTL) & 0xFF), (packed >> _HIGH_TTL) & 0xFF
    return high if low == high else None


def ways(packed: int) -> int:
    """The SENT / ARRIVED / OTHER_TTL / ELSEWHERE bits of a direction's packed marks."""
    bits = 0
    if packed >> PACKET_OUTGOING & 1:
        bits |= SENT
        if packed >> PACKET_HOST & 1 and \
                (packed >> _OUT_TTL) & 0xFF == (packed >> _HOST_TTL) & 0xFF:
            bits |= ARRIVED
    if 255 - ((packed >> _LOW_TTL) & 0xFF) != (packed >> _HIGH_TTL) & 0xFF:
        bits |= OTHER_TTL
    if packed >> PACKET_OTHERHOST & 1:
        bits |= ELSEWHERE
    return bits
