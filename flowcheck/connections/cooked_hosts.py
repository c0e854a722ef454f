"""Which host a Linux cooked capture was taken on, as its packet types tell it.

`tcpdump -i any` writes a Linux cooked header (LINKTYPE_LINUX_SLL2 276, LINUX_SLL 113)
whose packet type is the capture host's own view of the frame (linux/if_packet.h;
flowcheck.decode.legs.cooked_packet_types): PACKET_OUTGOING (4) it sent, PACKET_HOST (0)
addressed to its own link-layer address, PACKET_OTHERHOST (3) to another host's. So one
capture host's file marks its own packets outgoing, at its initial TTL, and none of them
arriving, and its peers' packets to it host. What else marks a host's packets outgoing
shows itself too: a router's `-i any` holds each packet it forwards arriving (host) and
leaving one TTL lower; a bridge's marks the arrivals other-host; two hosts' captures
merged hold each packet leaving one and arriving at the other (flowcheck.connections.
syn_ways). Read by flowcheck.verify.cooked_host.

Kept per (sender address, receiver address) as one int packing the packet types and
TTLs of the packets that open or close a connection (SYN, FIN or RST: a few a
connection, the bulk of plain segments untouched) in Linux cooked frames, not tunnelled
(a tunnel's header is the outer packet's), syn_ways.pack_marks's fields, for at most
HOST_PAIRS_CAP host pairs (the first seen; a later pair is left out and proves no host).
A batch without a Linux cooked frame costs nothing (DecodedBatch.linux_cooked, from the
general decoder: an all-Ethernet batch never reaches it); with some, the packet types
are read once (syn_ways.marked_openings, shared with syn_ways.SynWays.note) and the work
is vectorised over those packets, then a Python step per host pair in the batch.
Given only when every file of the set is a Linux cooked capture (`marks`): a file of
another link type (an Ethernet capture elsewhere, merged) holds packets no mark tells.
OWN_OPENING marks a pair with a SYN or FIN of its sender's marked outgoing: a RST alone
proves no sender, as a router or firewall makes one itself for the host it stands in for
(`reject with tcp reset`: leaving it at its own initial TTL, never arriving).
OWN_SYN marks a pair with a SYN of its sender's (no ACK: an active open) marked outgoing:
a device answering TCP in another host's name (a SYN proxy's SYN-ACKs, a transparent
proxy's SYN-ACKs and FINs: nft `redirect`, TPROXY) never opens a connection from it.
RejectWays keeps the packet types of the ICMP unreachables about each connection, which
show a refusing host that sent no TCP at all (its reject leaving the capture host:
flowcheck.verify.own_reject).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from flowcheck.connections.flows import address_bytes, address_text
from flowcheck.connections.syn_ways import PACKET_OUTGOING, Marked, merged_marks, pack_marks
from flowcheck.decode import DecodedBatch
from flowcheck.model import CaptureInfo, Connection

if TYPE_CHECKING:
    from flowcheck.decode import IcmpQuote  # decode.ipv6: loaded on first use

_SYN_FIN = 0x03
_SYN_ACK = 0x12
_SYN = 0x02
# Host pairs kept, at most: a pair's marks must be whole to prove anything (one pair
# dropped and then seen again would have lost its earlier marks), so past it a new pair
# is not noted at all and proves no host (its connections read by their TTLs alone);
# the pairs kept go on being noted. As the other per-pair tables (copies_tail.
# RELAY_PAIRS_CAP, relay_copies.EXITS_CAP) but larger: one host's `-i any` may hold a
# busy server's clients before the job's pair, each pair about 250 B.
HOST_PAIRS_CAP = 1 << 14
# Beside pack_marks's fields (bits 0-39): a SYN or FIN of the pair marked outgoing.
OWN_OPENING = 1 << 40
# A SYN without ACK of the pair marked outgoing (module docstring).
OWN_SYN = 1 << 41
_OWN = OWN_OPENING | OWN_SYN
# CaptureInfo.link_types' names of the Linux cooked link types (sources.linktypes).
COOKED_NAMES = frozenset({"LINUX_SLL", "LINUX_SLL2"})

# Host pair marks: (sender address text, receiver address text) -> pack_marks's int.
HostMarks = dict[tuple[str, str], int]


class CookedHosts:
    """The packet types and TTLs of each host pair's opening and closing packets in a
    Linux cooked capture (module docstring), keyed by (IP version, sender address bytes,
    receiver address bytes) until `marks`."""

    def __init__(self) -> None:
        self.seen: dict[tuple[int, bytes, bytes], int] = {}

    def note(self, decoded: DecodedBatch, marked: Marked) -> None:
        """Note the packet types and TTLs of the batch's SYNs, FINs and RSTs (marked: its
        syn_ways.marked_openings). Past HOST_PAIRS_CAP host pairs a new pair is not noted
        (module docstring)."""
        rows, kinds = marked
        plain = decoded.tcp_tunnel[rows] == 0
        rows, kinds = rows[plain], kinds[plain]
        if not rows.size:
            return
        # One row per packet: version, source words, destination words.
        pairs = np.empty((rows.size, 9), np.uint64)
        pairs[:, 0] = decoded.tcp_version[rows]
        pairs[:, 1:5] = decoded.tcp_src[rows]
        pairs[:, 5:9] = decoded.tcp_dst[rows]
        found, at = np.unique(pairs, axis=0, return_inverse=True)
        at = at.reshape(-1)
        ttl = decoded.tcp_ttl[rows].astype(np.int64) & 0xFF
        packed = pack_marks(found.shape[0], at, kinds, ttl)
        own = np.zeros(found.shape[0], np.int64)
        flags = decoded.tcp_flags[rows]
        leaving = kinds == PACKET_OUTGOING
        own[at[((flags & _SYN_FIN) != 0) & leaving]] = OWN_OPENING
        # After OWN_OPENING's rows: an active open's pair gets both bits.
        own[at[((flags & _SYN_ACK) == _SYN) & leaving]] = _OWN
        packed |= own
        seen = self.seen
        for row, value in zip(found.tolist(), packed.tolist(), strict=True):
            key = (row[0], address_bytes(row[0], row[1:5]), address_bytes(row[0], row[5:9]))
            before = seen.get(key)
            if before is None:
                if len(seen) >= HOST_PAIRS_CAP:
                    continue  # a pair not kept whole proves nothing: not kept at all
                seen[key] = value
            else:
                seen[key] = merged_marks(before, value) | ((before | value) & _OWN)

    def marks(self, captures: list[CaptureInfo]) -> HostMarks:
        """Per (sender, receiver) address text, its packed marks; {} unless every file of
        the set is a Linux cooked capture alone (CaptureInfo.link_types)."""
        if not self.seen or not captures or any(
                not info.link_types or not set(info.link_types) <= COOKED_NAMES
                for info in captures):
            return {}
        return {(address_text(version, src), address_text(version, dst)): value
                for (version, src, dst), value in self.seen.items()}


# RejectWays' key: (ICMP sender, quoted SYN's source, its port, destination, its port),
# address text.
_RejectKey = tuple[str, str, int, str, int]


class RejectWays:
    """The Linux cooked packet types of the ICMP unreachables quoting each connection's
    SYNs, capture copies included (the tracker attaches only the originals: a copy's
    mark is what tells two capture hosts' files merged), as bits 1 << packet type per
    ICMP sender and quoted 4-tuple; set on the connections as Connection.icmp_ways
    (`attach`). Only quotes in Linux cooked frames (IcmpQuote.packet_type); a few a
    capture, a Python step each."""

    def __init__(self) -> None:
        self.seen: dict[_RejectKey, int] = {}

    def note(self, quotes: list[IcmpQuote]) -> None:
        """Note the batch's ICMP quotes' packet types (all of them, copies included)."""
        for quote in quotes:
            if not 0 <= quote.packet_type < 8:
                continue
            key = (address_text(quote.version, quote.sender),
                   address_text(quote.version, quote.src), quote.sport,
                   address_text(quote.version, quote.dst), quote.dport)
            self.seen[key] = self.seen.get(key, 0) | 1 << quote.packet_type

    def attach(self, connections: Iterable[Connection]) -> None:
        """Set Connection.icmp_ways on each connection with ICMP unreachables from the
        marks of those quoting its own 4-tuple from its ICMP sender."""
        if not self.seen:
            return
        seen = self.seen
        for conn in connections:
            if conn.icmp_frames and conn.icmp_sender is not None:
                ways = seen.get((conn.icmp_sender, conn.orig_h, conn.orig_p, conn.resp_h,
                                 conn.resp_p))
                if ways:
                    conn.icmp_ways |= ways  # with a cut quote's (connections.icmp_cut)
