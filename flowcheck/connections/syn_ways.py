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

Kept per direction (flow key, from its lower endpoint) as the set of (packet type, TTL)
codes its SYNs (SYN without ACK, capture copies included: the copies are what is told)
showed, only once the capture holds capture copies (a capture of one host has no second
mark to read) and only for Linux cooked packets: the batch's work is a vectorised mask
of its SYNs and a Python step per distinct (direction, type, TTL) of them, none per
packet. `attach` sets each connection's Connection.orig_syn_ways / resp_syn_ways (bits
below) when the tracker finishes; connections that reuse a 4-tuple share its marks.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from flowcheck.connections.flows import BatchFlows, FlowKey, address_text
from flowcheck.decode import DecodedBatch
from flowcheck.decode.legs import cooked_packet_types
from flowcheck.sources.batch import PacketBatch

# Connection.orig_syn_ways / resp_syn_ways bits.
SENT = 1  # a SYN of the side captured leaving its sender (PACKET_OUTGOING)
# A SYN captured arriving at the host its frame was addressed to (PACKET_HOST) with the
# TTL of a copy captured leaving its sender: no router between those two capture points.
ARRIVED = 2
OTHER_TTL = 4  # the side's SYNs captured at more than one TTL (a router between points)
ELSEWHERE = 8  # a SYN captured arriving at a host it was not addressed to (OTHERHOST)

PACKET_HOST, PACKET_OTHERHOST, PACKET_OUTGOING = 0, 3, 4  # linux/if_packet.h
_SYN, _ACK = 0x02, 0x10


class SynWays:
    """The (packet type, TTL) codes of each direction's SYNs (module docstring):
    `seen[(flow key, from lower)]` a set of type * 256 + TTL."""

    def __init__(self) -> None:
        self.seen: dict[tuple[FlowKey, bool], set[int]] = {}

    def note(self, batch: PacketBatch, decoded: DecodedBatch, flows: BatchFlows) -> None:
        """Note the packet types and TTLs of the batch's SYNs (flows: its group_flows;
        call only once the capture has shown capture copies)."""
        syns = np.flatnonzero((decoded.tcp_flags & (_SYN | _ACK)) == _SYN)
        if not syns.size:
            return
        kinds = cooked_packet_types(batch, decoded.tcp_index[syns])
        told = kinds >= 0
        if not told.any():
            return
        syns = syns[told]
        side = 2 * flows.flow[syns].astype(np.int64) + flows.from_lower[syns]
        codes = ((side << 16) | (kinds[told].astype(np.int64) << 8)
                 | (decoded.tcp_ttl[syns].astype(np.int64) & 0xFF))
        for code in np.unique(codes).tolist():
            key = (flows.keys[code >> 17], bool((code >> 16) & 1))
            self.seen.setdefault(key, set()).add(code & 0xFFFF)

    def attach(self, connections: Iterable) -> None:
        """Set each connection's orig_syn_ways / resp_syn_ways from what its 4-tuple's
        directions showed (a 4-tuple in two tunnels: both tunnels' marks)."""
        if not self.seen:
            return
        by_text: dict[tuple[str, int, str, int], set[int]] = {}
        for ((lower, upper, _tunnel), from_lower), codes in self.seen.items():
            src, dst = (lower, upper) if from_lower else (upper, lower)
            key = (address_text(src[0], src[1]), src[2], address_text(dst[0], dst[1]),
                   dst[2])
            by_text.setdefault(key, set()).update(codes)
        for conn in connections:
            orig = by_text.get((conn.orig_h, conn.orig_p, conn.resp_h, conn.resp_p))
            resp = by_text.get((conn.resp_h, conn.resp_p, conn.orig_h, conn.orig_p))
            if orig:
                conn.orig_syn_ways = ways(orig)
            if resp:
                conn.resp_syn_ways = ways(resp)


def ways(codes: set[int]) -> int:
    """The SENT / ARRIVED / OTHER_TTL / ELSEWHERE bits of a direction's SYN codes
    (packet type * 256 + TTL)."""
    sent = {code & 0xFF for code in codes if code >> 8 == PACKET_OUTGOING}
    bits = SENT if sent else 0
    if any(code >> 8 == PACKET_HOST and code & 0xFF in sent for code in codes):
        bits |= ARRIVED
    if len({code & 0xFF for code in codes}) > 1:
        bits |= OTHER_TTL
    if any(code >> 8 == PACKET_OTHERHOST for code in codes):
        bits |= ELSEWHERE
    return bits
