"""The packets that are not TCP, per (source, destination) host pair: what shows that a
capture holds a direction its TCP does not (flowcheck.verify.way_back.came_back).

A capture of SYNs never answered that holds no TCP packet from the responder to the
connector may hold one direction only, or hold both and the responder sent nothing: a
ping reply, a DNS answer, an ARP reply from the responder to the connector tells them
apart (review 56b: control-dropped.pcap with a real ICMP echo reply from the agent added
still read "The capture holds no packet at all from 10.77.0.2 to 10.77.0.1, so it may
hold one direction only"). Counted per batch in one numpy pass over the skipped IP rows,
always, not only when the skipped flows are (decode.skipped): a data connection's answer
is asked of a capture that shows the control connection. No Python runs per packet or
per pair (issue 7): the pairs stay numbers (`Ways`: a batch's distinct pairs as arrays,
gathered, reduced when they grow), and only a pair asked for (`Ways.get`) is put in
words: 300,000 UDP and ICMP packets of some 180,000 pairs (IPv4 pairs sort as one
number each) cost 0.2 CPU-s more to read (1.8 s before), where words per pair cost 1.7 s.

Left out: the outer packets of an encapsulation flowcheck does not read (L2TP, GRE,
GTP-U: decode.unread) and UDP carrying an Ethernet frame (VXLAN or Geneve on a port not
decoded): a tunnel's endpoints' packets, which may carry the very answer unread (an
L2TP packet from the agent to the media server is no proof that no SYN-ACK came back;
verify.unread_frames says what they could hold). The packets
of a tunnel flowcheck reads count under their inner addresses, as TCP does; copies of
one packet count each (a count, not a proof of more).
"""

from __future__ import annotations

import ipaddress
from dataclasses import field

import numpy as np

from flowcheck.decode.arp import ARP_REPLY, ArpPackets
from flowcheck.decode.gather import Gather
from flowcheck.decode.ip import Layers
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.sources.batch import PacketBatch

IPPROTO_ICMP, IPPROTO_UDP, IPPROTO_ICMPV6 = 1, 17, 58
ARP = -2  # the `info` protocol of an ARP reply
MAX_WAYS = 65536  # (source, destination) pairs kept; past it, `Ways.full`
REDUCE_AT = 4 * MAX_WAYS  # rows gathered before they are reduced to one per pair
KEY = 9  # a pair's key: IP version, the source's four 32-bit words, the destination's
# The ICMP (RFC 792) and ICMPv6 (RFC 4443, RFC 4861) types named, with their article.
ICMP_TYPES = {0: "an ICMP echo reply", 3: "an ICMP destination unreachable",
              5: "an ICMP redirect", 8: "an ICMP echo request", 11: "an ICMP time exceeded"}
ICMPV6_TYPES = {1: "an ICMPv6 destination unreachable", 2: "an ICMPv6 packet too big",
                3: "an ICMPv6 time exceeded", 128: "an ICMPv6 echo request",
                129: "an ICMPv6 echo reply", 133: "a router solicitation",
                134: "a router advertisement", 135: "a neighbour solicitation",
                136: "a neighbour advertisement"}


@fields_dataclass(slots=True)
class OtherWay:
    """One (source, destination) pair's packets that are not TCP: how many, and the
    first one's frame number, time (s, the capture's clock) and kind, with its article
    ("an ICMP echo reply", "a UDP datagram from port 53 to port 40000", "an ARP reply")."""

    count: int
    frame: int
    ts: float
    what: str

    def words(self) -> str:
        """"an ICMP echo reply (frame 2)", or with more: "3 packets that are not TCP, the
        first an ICMP echo reply (frame 2)"."""
        if self.count == 1:
            return f"{self.what} ({frame_text(self.frame)})"
        return (f"{self.count} packets that are not TCP, the first {self.what} "
                f"({frame_text(self.frame)})")

    def bare_words(self) -> str:
        """words() without parentheses, to go inside some: "an ICMP echo reply, frame
        2", "3 packets that are not TCP, the first an ICMP echo reply at frame 2"."""
        if self.count == 1:
            return f"{self.what}, {frame_text(self.frame)}"
        return (f"{self.count} packets that are not TCP, the first {self.what} at "
                f"{frame_text(self.frame)}")


@fields_dataclass(slots=True)
class WayRows:
    """Pairs as parallel arrays: key (n, KEY) uint64; count, frame (int64); ts (float64,
    s); info (n, 3) int64: the first packet's IP protocol (ARP: an ARP reply), its first
    byte (the ICMP type; -1 not captured) and its first four bytes (UDP's ports)."""

    key: np.ndarray
    count: np.ndarray
    frame: np.ndarray
    ts: np.ndarray
    info: np.ndarray

    @classmethod
    def joined(cls, parts: list[WayRows]) -> WayRows:
        """The parts' rows as one (a pair may be in several)."""
        return cls(*(np.concatenate([getattr(part, name) for part in parts])
                     for name in ("key", "count", "frame", "ts", "info")))

    def reduced(self) -> WayRows:
        """One row per pair, sorted by key: counts summed, the earliest first packet."""
        # By key, then time: each pair's first row is its earliest packet.
        order = np.lexsort((self.ts, *(self.key[:, i] for i in reversed(range(KEY)))))
        key = self.key[order]
        starts = np.flatnonzero(np.concatenate(([True], (key[1:] != key[:-1]).any(axis=1))))
        first = order[starts]
        return WayRows(key[starts], np.add.reduceat(self.count[order], starts),
                       self.frame[first], self.ts[first], self.info[first])


@fields_dataclass(slots=True)
class Ways:
    """The capture's packets that are not TCP by (source, destination) address: rows
    gathered per batch (`parts`), reduced to one per pair when they grow or are read.
    full: past MAX_WAYS pairs, later pairs were left out (a pair missing may then have
    packets)."""

    parts: list[WayRows] = field(default_factory=list)
    full: bool = False
    rows: int = 0  # rows in `parts`
    reduced: bool = True  # parts is one part of one row per pair

    def merge(self, other: Ways) -> None:
        """Add another batch's pairs."""
        self.full = self.full or other.full
        if not other.parts:
            return
        self.parts.extend(other.parts)
        self.rows += other.rows
        self.reduced = False
        if self.rows > REDUCE_AT:
            self._reduce()

    def _reduce(self) -> WayRows | None:
        if not self.parts:
            return None
        if not self.reduced:
            rows = WayRows.joined(self.parts).reduced()
            if rows.count.shape[0] > MAX_WAYS:  # the earliest pairs kept
                keep = np.sort(np.argsort(rows.ts, kind="stable")[:MAX_WAYS])
                rows = WayRows(rows.key[keep], rows.count[keep], rows.frame[keep],
                               rows.ts[keep], rows.info[keep])
                self.full = True
            self.parts, self.rows, self.reduced = [rows], int(rows.count.shape[0]), True
        return self.parts[0]

    def __bool__(self) -> bool:
        return bool(self.parts)

    def uncounted(self, source: str, destination: str) -> bool:
        """Whether the packets from `source` to `destination` that are not TCP may have
        been left out uncounted: none kept, and the pairs past MAX_WAYS were (`full`)."""
        return self.get(source, destination) is None and self.full

    def get(self, source: str, destination: str) -> OtherWay | None:
        """The packets from `source` to `destination` (addresses as text) that are not
        TCP; None when the capture holds none (or, `full`, none was kept)."""
        rows = self._reduce()
        if rows is None:
            return None
        key = np.array([*_words(source), *_words(destination)[1:]], dtype=np.uint64)
        at = np.flatnonzero((rows.key == key).all(axis=1))
        if not at.size:
            return None
        i = int(at[0])
        return OtherWay(int(rows.count[i]), int(rows.frame[i]), float(rows.ts[i]),
                        _what(int(rows.key[i, 0]), *(int(v) for v in rows.info[i])))

    def sent_by(self, source: str) -> OtherWay | None:
        """The packets from `source` (an address as text) to any address that are not
        TCP: their count, and the earliest one's frame, time and kind; None when the
        capture holds none (or, `full`, none was kept)."""
        rows = self._reduce()
        if rows is None:
            return None
        at = np.flatnonzero((rows.key[:, :5] == np.array(_words(source), dtype=np.uint64))
                            .all(axis=1))
        if not at.size:
            return None
        i = int(at[np.argmin(rows.ts[at])])
        return OtherWay(int(rows.count[at].sum()), int(rows.frame[i]), float(rows.ts[i]),
                        _what(int(rows.key[i, 0]), *(int(v) for v in rows.info[i])))


def count_ways(batch: PacketBatch, gather: Gather, layers: Layers, rows: np.ndarray,
               ethernet: np.ndarray, arp: ArpPackets) -> Ways:
    """The batch's pairs: IP packets that are not TCP at `rows` (batch positions, in
    order; the encapsulations flowcheck does not read already left out), less those whose
    `ethernet` is set (per row: a UDP payload holding an Ethernet frame), and ARP replies
    (decode.arp: sender address to target address)."""
    ways = Ways()
    rows = rows[~ethernet & (layers.proto[rows] >= 0)]
    if rows.size:
        ways.merge(_ip_ways(batch, gather, layers, rows))
    replies = np.flatnonzero((arp.op == ARP_REPLY) & (arp.sender != 0))
    if replies.size:
        ways.merge(_arp_ways(batch, arp, replies))
    return ways


def _ip_ways(batch: PacketBatch, gather: Gather, layers: Layers, rows: np.ndarray) -> Ways:
    key = np.column_stack((layers.version[rows].astype(np.uint64),
                           layers.src[rows].astype(np.uint64),
                           layers.dst[rows].astype(np.uint64)))
    if (key == key[0]).all():
        first, counts = np.zeros(1, dtype=np.int64), np.array([rows.size])
    elif (key[:, 0] == 4).all():  # one number a pair: np.unique's 1-D sort, not rows'
        _, first, counts = np.unique((key[:, 1] << np.uint64(32)) | key[:, 5],
                                     return_index=True, return_counts=True)
    else:
        _, first, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
    unique = key[first]
    at = rows[first]  # each pair's first packet (np.unique's first occurrence)
    l4, caplen = layers.l4[at], gather.caplen[at]
    info = np.column_stack((layers.proto[at],
                            np.where(l4 + 1 <= caplen, gather.u8(l4, at), -1),
                            np.where(l4 + 4 <= caplen, gather.be(l4, 4, at), -1)))
    return _ways(WayRows(unique, counts.astype(np.int64), batch.frame_numbers(at),
                         np.asarray(batch.ts, dtype=np.float64)[at], info.astype(np.int64)))


def _arp_ways(batch: PacketBatch, arp: ArpPackets, replies: np.ndarray) -> Ways:
    n = replies.shape[0]
    key = np.zeros((n, KEY), dtype=np.uint64)
    key[:, 0], key[:, 1], key[:, 5] = 4, arp.sender[replies], arp.target[replies]
    at = arp.position[replies]
    info = np.column_stack((np.full(n, ARP), np.full(n, -1), np.full(n, -1)))
    return _ways(WayRows(key, np.ones(n, dtype=np.int64), batch.frame_numbers(at),
                         np.asarray(batch.ts, dtype=np.float64)[at],
                         info.astype(np.int64)))


def _ways(rows: WayRows) -> Ways:
    return Ways([rows], rows=int(rows.count.shape[0]), reduced=False)


def _words(address: str) -> list[int]:
    """[IP version, the address's four 32-bit words] (IPv4: its one word, then zeros)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return [4, int(ip), 0, 0, 0]
    raw = ip.packed
    return [6, *(int.from_bytes(raw[i:i + 4], "big") for i in range(0, 16, 4))]


def _what(version: int, proto: int, icmp_type: int, ports: int) -> str:
    """A packet's kind, with its article, from its IP protocol and first header bytes
    (-1: not captured)."""
    if proto == ARP:
        return "an ARP reply"
    if proto == IPPROTO_ICMP and version == 4:
        return ICMP_TYPES.get(icmp_type, "an ICMP packet" if icmp_type < 0 else
                              f"an ICMP packet of type {icmp_type}")
    if proto == IPPROTO_ICMPV6 and version == 6:
        return ICMPV6_TYPES.get(icmp_type, "an ICMPv6 packet" if icmp_type < 0 else
                                f"an ICMPv6 packet of type {icmp_type}")
    if proto == IPPROTO_UDP:
        if ports < 0:
            return "a UDP datagram"
        return f"a UDP datagram from port {ports >> 16} to port {ports & 0xFFFF}"
    return f"an IP protocol {proto} packet"
