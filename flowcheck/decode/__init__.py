"""Bulk decode of link, IP and TCP headers: one numpy pass over a whole PacketBatch.

Per-packet Python is what makes a reader slow, so the fixed-offset headers of every
packet in the batch are gathered at once from the batch buffer (`data_off` + offsets
computed per packet). The common layout (Ethernet, IPv4, TCP) is read in one gather;
everything else goes through the general decode, still in bulk: link layer
(decode.link), tags, MPLS and PPP (decode.framing), IP, then tunnels (decode.tunnels),
whose inner packets go through framing and IP again, so a capture that is all VXLAN
stays on numpy. Only rare packets get Python: IPv6 extension chains other than the
jumbogram's hop-by-hop header, and ICMP (the error messages that quote a TCP header).

Lengths are tshark's: the IP length, never beyond the frame; an IP length of 0 is a
segmentation-offload super-frame (TSO, BIG TCP) that runs to the end of the frame, an
IPv6 jumbogram's length is in its hop-by-hop option (RFC 2675).

Classification of each packet (DecodedBatch.kind):
  TCP          decoded; its fields are in the tcp_* arrays. Also an IPv4 datagram
               reassembled from fragments in the batch (at the fragment completing it),
               and a first fragment cut by the snap length (length unknown: 0), as tshark
  NON_TCP      IP but not TCP, or not IP at all (ARP, ...): counted, skipped
  FRAGMENT     any other IP fragment (IPv4, IPv6 fragment header), or a link-layer
               fragment
  UNDECODABLE  unknown link type, inconsistent lengths, or cut by the snap length before
               the TCP header ends
ICMP and ICMPv6 destination-unreachable messages quoting a TCP header count as NON_TCP
and are also listed in DecodedBatch.icmp_quotes, so the tracker attaches them; ARP
packets likewise in DecodedBatch.arp (decode.arp), IPv6 neighbour solicitations and
advertisements in DecodedBatch.neighbours (decode.ndp).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from flowcheck.decode import tunnels
from flowcheck.decode.arp import ArpPackets, decode_arp
from flowcheck.decode.framing import BAD, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, resolve
from flowcheck.decode.framing import FRAGMENT as LINK_FRAGMENT
from flowcheck.decode.gather import Gather
from flowcheck.decode.ip import (
    FRAGMENT,
    NON_TCP,
    TCP,
    UNDECODABLE,
    Layers,
    ip_layer,
)
from flowcheck.decode.ipv6 import IcmpQuote, decode_icmp_quote
from flowcheck.decode.link import locate_network_layer
from flowcheck.decode.ndp import NeighbourPackets, decode_neighbours
from flowcheck.decode.skipped import Skipped, describe_skipped
from flowcheck.sources.batch import LINKTYPE_ETHERNET, PacketBatch

IPPROTO_TCP = 6
IPPROTO_ICMP = 1
IPPROTO_ICMPV6 = 58
MAX_TUNNELS = 4  # tunnels inside tunnels: deeper is crafted
FULL_FRAME = 1518  # the longest Ethernet frame without offload (VLAN tag included)

__all__ = ["TCP", "NON_TCP", "FRAGMENT", "UNDECODABLE", "DecodedBatch", "IcmpQuote",
           "decode_batch"]


@dataclass(slots=True)
class DecodedBatch:
    """Per-packet classification plus the TCP fields of the TCP packets (parallel arrays).

    tcp_index holds the batch positions of the TCP packets, in capture order; every
    tcp_* array is parallel to it. Addresses are four big-endian 32-bit words each
    (IPv4 uses word 0 only, tcp_version tells which).
    """

    kind: np.ndarray  # uint8 per packet of the batch
    tcp_index: np.ndarray  # int64
    tcp_frame: np.ndarray  # int64, 1-based frame number
    tcp_ts: np.ndarray  # float64
    tcp_version: np.ndarray  # uint8: 4 or 6
    tcp_src: np.ndarray  # (m, 4) uint32
    tcp_dst: np.ndarray  # (m, 4) uint32
    tcp_sport: np.ndarray  # int64
    tcp_dport: np.ndarray  # int64
    tcp_seq: np.ndarray  # int64 (uint32 values)
    tcp_ack: np.ndarray  # int64
    tcp_flags: np.ndarray  # int64: FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32
    tcp_window: np.ndarray  # int64
    tcp_checksum: np.ndarray  # int64: the TCP checksum as captured (copies: copy.py)
    tcp_ip_id: np.ndarray  # int64: the IPv4 identification (RFC 791); 0 for IPv6
    # uint8: the IPv4 TTL (RFC 791 3.1) or IPv6 hop limit (RFC 8200 3); a tunnelled
    # packet's inner header's (the outer one is the tunnel endpoint's).
    tcp_ttl: np.ndarray
    tcp_payload_len: np.ndarray  # int64, from the IP lengths (not the captured bytes)
    tcp_payload_off: np.ndarray  # int64 offset in the batch buffer
    tcp_payload_cap: np.ndarray  # int64, payload bytes actually captured
    tcp_tunnel: np.ndarray  # int64: index into `tunnels` (0: not tunnelled)
    # int64: the length of the (innermost) frame as recorded when its IP length says the
    # packet was longer, or (plain Ethernet, IPv4) is 0 in a frame shorter than
    # FULL_FRAME (cut before the capture: flowcheck.connections.cut_recorded); else 0.
    tcp_cut_frame: np.ndarray
    icmp_quotes: list[IcmpQuote] = field(default_factory=list)
    tunnels: list[str] = field(default_factory=lambda: [""])  # names, see decode.tunnels
    arp: ArpPackets = field(default_factory=ArpPackets.empty)  # NON_TCP: decode.arp
    # NON_TCP: IPv6 neighbour discovery, decode.ndp
    neighbours: NeighbourPackets = field(default_factory=NeighbourPackets.empty)
    # What the skipped packets were (decode.skipped); None when none was skipped.
    skipped: Skipped | None = None
    # The ERSPAN II/III packets' GRE sequence numbers (decode.tunnels); None: no such.
    mirror: tunnels.MirrorSequence | None = None
    # Per packet: a fragment of a datagram reassembled in the batch (decode.ip); None
    # when none is (trial 28 D9: the other fragments are ones never put together).
    assembled: np.ndarray | None = None

    @property
    def non_tcp(self) -> int:
        return int(np.count_nonzero(self.kind == NON_TCP))

    @property
    def fragments(self) -> int:
        return int(np.count_nonzero(self.kind == FRAGMENT))

    @property
    def undecodable(self) -> int:
        return int(np.count_nonzero(self.kind == UNDECODABLE))


TCP_HEADER = np.dtype([("sport", ">u2"), ("dport", ">u2"), ("seq", ">u4"), ("ack", ">u4"),
                       ("offset", "u1"), ("flags", "u1"), ("window", ">u2"), ("checksum", ">u2"),
                       ("urgent", ">u2")])
# TCP header fields copied as they are into DecodedBatch.tcp_<name>.
HEADER_COLUMNS = ("sport", "dport", "seq", "ack", "flags", "window", "checksum")


def _header_columns(header: np.ndarray) -> dict[str, np.ndarray]:
    """The tcp_* arrays read straight from TCP_HEADER records, as int64."""
    return {f"tcp_{name}": header[name].astype(np.int64) for name in HEADER_COLUMNS}


# The common case read in one gather: Ethernet, no VLAN tag, IPv4 without options, TCP.
PLAIN_ETHERNET_TCP = np.dtype([
    ("mac", "V12"), ("ethertype", ">u2"), ("first", "u1"), ("tos", "u1"), ("total", ">u2"),
    ("id", ">u2"), ("frag", ">u2"), ("ttl", "u1"), ("proto", "u1"), ("sum", ">u2"),
    ("src", ">u4"), ("dst", ">u4"), ("tcp", TCP_HEADER)])
PLAIN_TCP_AT = 34
# The same inside VXLAN over plain Ethernet and IPv4: an overlay capture, one gather too.
PLAIN_VXLAN = np.dtype([
    ("mac", "V12"), ("ethertype", ">u2"), ("first", "u1"), ("tos", "u1"), ("total", ">u2"),
    ("id", ">u2"), ("frag", ">u2"), ("ttl", "u1"), ("proto", "u1"), ("sum", ">u2"),
    ("src", ">u4"), ("dst", ">u4"), ("sport", ">u2"), ("dport", ">u2"), ("length", ">u2"),
    ("checksum", ">u2"), ("vxlan", "V8"), ("inner", PLAIN_ETHERNET_TCP)])
VXLAN_INNER_AT = 50


def _is_plain(frames: np.ndarray, caplen: np.ndarray) -> np.ndarray:
    """PLAIN_ETHERNET_TCP records that are what they say (caplen: from their start)."""
    doff = frames["tcp"]["offset"] >> 4
    total = frames["total"]
    return ((frames["ethertype"] == 0x0800) & (frames["first"] == 0x45)
            & (frames["proto"] == IPPROTO_TCP) & ((frames["frag"] & 0x3FFF) == 0)
            & (caplen >= PLAIN_TCP_AT + 20) & (doff >= 5) & ((total >= 20) | (total == 0)))


def decode_batch(batch: PacketBatch, *, skipped_flows: bool = False,
                 ports: tunnels.TunnelPorts = tunnels.STANDARD_PORTS) -> DecodedBatch:
    """Classify every packet of the batch and decode the TCP ones, in bulk.

    Packets in the common layout (plain Ethernet, IPv4 without options, TCP, not a
    fragment), alone or inside VXLAN, are decoded from one gather of their first bytes;
    the others go through the general decoder, and the results are merged in capture
    order. skipped_flows: DecodedBatch.skipped counts the skipped IP flows and
    ethertypes too (decode.skipped); ports: the UDP ports read as VXLAN and Geneve.
    """
    n = len(batch)
    linktype = np.asarray(batch.linktype)
    if n == 0 or not (linktype == LINKTYPE_ETHERNET).all():
        return _decode_general(batch, skipped_flows, ports)
    gather = Gather(batch)
    frames = gather.header(np.zeros(n, dtype=np.int64), PLAIN_ETHERNET_TCP)
    plain = _is_plain(frames, gather.caplen)
    if plain.all():
        return _plain(batch, frames, gather, np.arange(n))
    parts = []
    if plain.any():
        rows = np.flatnonzero(plain)
        parts.append((rows, _plain(batch, frames[rows], gather, rows)))
    rest = np.flatnonzero(~plain)
    outer = gather.header(np.zeros(rest.shape[0], dtype=np.int64), PLAIN_VXLAN,
                          None if rest.shape[0] == n else rest)
    total = outer["total"].astype(np.int64)
    vxlan = ((outer["ethertype"] == 0x0800) & (outer["first"] == 0x45) & (outer["proto"] == 17)
             & ((outer["frag"] & 0x3FFF) == 0) & np.isin(outer["dport"], ports.vxlan)
             & ((total == 0) | (total >= 20 + 16 + 14))
             & _is_plain(outer["inner"], gather.caplen[rest] - VXLAN_INNER_AT))
    if vxlan.all():
        parts.append((rest, _plain_vxlan(batch, outer, gather, rest)))
        rest = rest[:0]
    elif vxlan.any():
        rows, outer = rest[vxlan], outer[vxlan]
        parts.append((rows, _plain_vxlan(batch, outer, gather, rows)))
        rest = rest[~vxlan]
    if rest.size:
        parts.append((rest, _decode_general(_subset(batch, rest), skipped_flows, ports)))
    if len(parts) == 1 and parts[0][0].shape[0] == n:
        return parts[0][1]  # one layout for the whole batch: positions are the batch's
    return _merge(batch, parts)


def _plain(batch: PacketBatch, frames: np.ndarray, gather: Gather, rows: np.ndarray,
           at: int = 0, end: np.ndarray | None = None) -> DecodedBatch:
    """Decode of `rows` whose PLAIN_ETHERNET_TCP records start at `at` and whose frames
    end at `end` (default: the wire length)."""
    header = frames["tcp"]
    header_len = (header["offset"] >> 4).astype(np.int64) * 4
    total = frames["total"].astype(np.int64)
    # The IP length, but never beyond the frame (as tshark); length 0 is a segmentation
    # offload super-frame (TSO, IPv4 BIG TCP): the frame's length is the datagram's.
    wire = (gather.wirelen[rows] if end is None else end) - at - 14
    ip_len = np.where(total == 0, wire, np.minimum(total, wire))
    # Cut before the capture: the IP length says more than the frame holds, or nothing
    # (0) in a frame shorter than a full one (never a super-frame: etl2pcapng's cut LSOv2
    # send; flowcheck.connections.cut_recorded).
    cut_frame = np.where((total > wire) | ((total == 0) & (wire + 14 < FULL_FRAME)),
                         wire + 14, 0)
    payload_len = np.maximum(ip_len - 20 - header_len, 0)
    payload_start = at + PLAIN_TCP_AT + header_len
    src = np.zeros((rows.shape[0], 4), dtype=np.uint32)
    dst = np.zeros((rows.shape[0], 4), dtype=np.uint32)
    src[:, 0] = frames["src"]
    dst[:, 0] = frames["dst"]
    return DecodedBatch(
        kind=np.full(rows.shape[0], TCP, dtype=np.uint8),
        tcp_index=np.arange(rows.shape[0]),
        tcp_frame=batch.frame_numbers(rows),
        tcp_ts=np.asarray(batch.ts, dtype=np.float64)[rows],
        tcp_version=np.full(rows.shape[0], 4, dtype=np.uint8),
        tcp_src=src,
        tcp_dst=dst,
        tcp_ip_id=frames["id"].astype(np.int64),
        tcp_ttl=frames["ttl"].copy(),
        **_header_columns(header),
        tcp_payload_len=payload_len,
        tcp_payload_off=gather.start[rows] + payload_start,
        tcp_payload_cap=np.clip(gather.caplen[rows] - payload_start, 0, payload_len),
        tcp_tunnel=np.zeros(rows.shape[0], dtype=np.int64),
        tcp_cut_frame=cut_frame,
    )


def _plain_vxlan(batch: PacketBatch, outer: np.ndarray, gather: Gather,
                 rows: np.ndarray) -> DecodedBatch:
    wire = gather.wirelen[rows]
    total = outer["total"].astype(np.int64)
    end = np.where(total == 0, wire, np.minimum(wire, 14 + total))
    length = outer["length"].astype(np.int64)
    end = np.where(length >= 8, np.minimum(end, 34 + length), end)
    decoded = _plain(batch, outer["inner"], gather, rows, VXLAN_INNER_AT, end)
    # The outer frame cut (a broker slicing the overlay): its length is the cut one.
    cut = total > wire - 14
    decoded.tcp_cut_frame[cut] = wire[cut]
    table = tunnels.TunnelTable()
    m = rows.shape[0]
    src = np.zeros((m, 4), dtype=np.uint32)
    dst = np.zeros((m, 4), dtype=np.uint32)
    src[:, 0] = outer["src"]
    dst[:, 0] = outer["dst"]
    found = tunnels.Found(rows, end, end, np.full(m, tunnels.VXLAN), end)
    decoded.tcp_tunnel = table.add(np.zeros(m, dtype=np.int64), found, np.full(m, 4), src, dst)
    decoded.tunnels = table.names
    return decoded


def _subset(batch: PacketBatch, rows: np.ndarray) -> PacketBatch:
    capture = batch.capture if isinstance(batch.capture, int) else batch.capture[rows]
    interface = None if batch.interface is None else batch.interface[rows]
    identity = None if batch.identity is None else batch.identity[rows]
    return PacketBatch(batch.buf, batch.frame0, batch.ts[rows], batch.data_off[rows],
                       batch.caplen[rows], batch.wirelen[rows], batch.linktype[rows], capture,
                       interface, identity=identity)


def _merge(batch: PacketBatch, parts: list[tuple[np.ndarray, DecodedBatch]]) -> DecodedBatch:
    """Decodes of disjoint subsets of one batch, as one, in capture order. A part is
    (its rows in the batch, its decode, positions counted among those rows)."""
    kind = np.empty(len(batch), dtype=np.uint8)
    names: list[str] = [""]
    number = {"": 0}
    index, tunnel, quotes = [], [], []
    for rows, decoded in parts:
        kind[rows] = decoded.kind
        index.append(rows[decoded.tcp_index])
        # Each part numbered its tunnels on its own: renumber into one table.
        renumber = np.array([number.setdefault(name, len(number)) for name in decoded.tunnels],
                            dtype=np.int64)
        names += [name for name in decoded.tunnels if number[name] >= len(names)]
        tunnel.append(renumber[decoded.tcp_tunnel])
        for quote in decoded.icmp_quotes:
            quote.position = int(rows[quote.position])
            quote.frame = batch.frame_number(quote.position)
            quotes.append(quote)
    merged = np.concatenate(index)
    order = np.argsort(merged, kind="stable")
    skip = ("tcp_index", "tcp_frame", "tcp_tunnel")
    columns = {column.name: np.concatenate([getattr(d, column.name) for _, d in parts])[order]
               for column in fields(DecodedBatch)
               if column.name.startswith("tcp_") and column.name not in skip}
    quotes.sort(key=lambda quote: quote.position)
    # Only the general decode's part skips packets, or reads ERSPAN.
    skipped = next((d.skipped for _, d in parts if d.skipped is not None), None)
    mirror = next((d.mirror.moved(rows, [number[name] for name in d.tunnels])
                   for rows, d in parts if d.mirror is not None), None)
    assembled = None
    for rows, decoded in parts:
        if decoded.assembled is not None:
            assembled = np.zeros(len(batch), dtype=bool) if assembled is None else assembled
            assembled[rows] = decoded.assembled
    return DecodedBatch(kind=kind, tcp_index=merged[order], assembled=assembled,
                        tcp_frame=batch.frame_numbers(merged[order]),
                        tcp_tunnel=np.concatenate(tunnel)[order], icmp_quotes=quotes,
                        tunnels=names, skipped=skipped, mirror=mirror, **columns,
                        arp=ArpPackets.joined([d.arp.at(rows) for rows, d in parts]),
                        neighbours=NeighbourPackets.joined([d.neighbours.at(rows)
                                                            for rows, d in parts]))


def _decode_general(batch: PacketBatch, skipped_flows: bool = False,
                    ports: tunnels.TunnelPorts = tunnels.STANDARD_PORTS) -> DecodedBatch:
    """Any supported link type, encapsulation and IP layout (the fully general decode);
    skipped_flows, ports: decode_batch's."""
    n = len(batch)
    gather = Gather(batch)
    off, link = locate_network_layer(batch, gather)
    layers = Layers(kind=np.full(n, NON_TCP, dtype=np.uint8),
                     version=np.zeros(n, dtype=np.int64), proto=np.full(n, -1, dtype=np.int64),
                     l4=np.zeros(n, dtype=np.int64), end=gather.wirelen.copy(),
                     src=np.zeros((n, 4), dtype=np.uint32), dst=np.zeros((n, 4), dtype=np.uint32),
                     first_fragment=np.zeros(n, dtype=bool), tunnel=np.zeros(n, dtype=np.int64),
                     ip_id=np.zeros(n, dtype=np.int64), ttl=np.zeros(n, dtype=np.uint8),
                     frame_at=np.zeros(n, dtype=np.int64), cut_frame=np.zeros(n, dtype=np.int64),
                     assembled=np.zeros(n, dtype=bool))
    layers.kind[link == BAD] = UNDECODABLE
    layers.kind[link == LINK_FRAGMENT] = FRAGMENT
    arp_rows = np.flatnonzero(link == ETHERTYPE_ARP)
    arp = decode_arp(gather, arp_rows, off[arp_rows])
    table = tunnels.TunnelTable()
    mirror: list[tunnels.MirrorSequence] = []
    rows = np.flatnonzero((link == ETHERTYPE_IPV4) | (link == ETHERTYPE_IPV6))
    for depth in range(MAX_TUNNELS + 1):
        ip_layer(gather, layers, rows, off[rows], link[rows])
        if depth == MAX_TUNNELS:
            break
        candidates = rows[np.isin(layers.proto[rows], tunnels.TUNNEL_PROTOCOLS)
                          & ~layers.first_fragment[rows]]
        if not candidates.size:
            break
        found = tunnels.find(gather, candidates, layers.proto[candidates],
                             layers.l4[candidates], layers.end[candidates], ports)
        if not found.rows.size:
            break
        inner = found.rows
        layers.tunnel[inner] = table.add(layers.tunnel[inner], found, layers.version[inner],
                                         layers.src[inner], layers.dst[inner])
        sequence = tunnels.erspan_sequence(gather, found, layers.l4, layers.tunnel)
        if sequence is not None:  # ERSPAN's sequence numbers
            mirror.append(sequence)
        layers.end[inner] = found.end
        layers.frame_at[inner] = found.off
        layers.proto[inner] = -1
        inner_off, inner_kind = found.off.copy(), found.kind.copy()
        resolve(gather, inner, inner_off, inner_kind)
        # Cut inside the tunnel: a packet that may well be TCP, not decodable.
        layers.kind[inner[inner_kind == BAD]] = UNDECODABLE
        ip = (inner_kind == ETHERTYPE_IPV4) | (inner_kind == ETHERTYPE_IPV6)
        rows, off[inner[ip]], link[inner[ip]] = inner[ip], inner_off[ip], inner_kind[ip]
    icmp_quotes = _icmp_quotes(batch, gather, layers, table)
    decoded = _tcp(batch, gather, layers, icmp_quotes, table)
    decoded.arp = arp
    icmpv6 = np.flatnonzero((layers.proto == IPPROTO_ICMPV6) & (layers.version == 6)
                            & (layers.kind == NON_TCP))
    decoded.neighbours = decode_neighbours(gather, icmpv6, layers.l4[icmpv6],
                                           layers.end[icmpv6], layers.src[icmpv6])
    decoded.mirror = tunnels.MirrorSequence.joined(mirror)
    decoded.skipped = describe_skipped(gather, np.asarray(batch.linktype), layers, table.names,
                                       skipped_flows)
    return decoded


def _icmp_quotes(batch: PacketBatch, gather: Gather, layers: Layers,
                 table: tunnels.TunnelTable) -> list[IcmpQuote]:
    quotes: list[IcmpQuote] = []
    rows = np.flatnonzero(((layers.proto == IPPROTO_ICMP) & (layers.version == 4))
                          | ((layers.proto == IPPROTO_ICMPV6) & (layers.version == 6)))
    for row in rows.tolist():
        quote = decode_icmp_quote(gather.buf, int(gather.start[row]), int(gather.caplen[row]),
                                  int(layers.l4[row]), int(layers.version[row]))
        if quote is not None:
            quote.position = row
            quote.frame = batch.frame_number(row)
            quote.ts = float(batch.ts[row])
            quote.tunnel = table.names[int(layers.tunnel[row])]
            quote.identity = _icmp_identity(gather, layers, row)
            sender = layers.src[row].astype(">u4").tobytes()  # address words, big-endian
            quote.sender = sender[:4] if quote.version == 4 else sender
            quotes.append(quote)
    return quotes


def _icmp_identity(gather: Gather, layers: Layers, row: int) -> bytes:
    """IcmpQuote.identity: the IP addresses (32 bytes, IPv4 in the first 4 of each 16)
    and IPv4 identification (2 bytes, 0 for IPv6) of the packet, then its ICMP message
    up to the IP length, as far as captured."""
    start, l4 = int(gather.start[row]), int(layers.l4[row])
    end = min(int(layers.end[row]), int(gather.caplen[row]))
    return (layers.src[row].tobytes() + layers.dst[row].tobytes()
            + int(layers.ip_id[row]).to_bytes(2, "big")
            + gather.buf[start + l4:start + end].tobytes())


def _tcp(batch: PacketBatch, gather: Gather, layers: Layers, icmp_quotes: list[IcmpQuote],
         table: tunnels.TunnelTable) -> DecodedBatch:
    caplen, kind = gather.caplen, layers.kind
    candidates = np.flatnonzero(layers.proto == IPPROTO_TCP)
    l4 = layers.l4[candidates]
    # The 20-byte fixed TCP header must be captured; options may be cut.
    complete = l4 + 20 <= caplen[candidates]
    header = gather.header(l4, TCP_HEADER, candidates)
    doff = (header["offset"] >> 4).astype(np.int64)
    complete &= doff >= 5
    kind[candidates[~complete]] = UNDECODABLE
    tcp = candidates[complete]
    kind[tcp] = TCP
    l4 = l4[complete]
    header = header[complete]
    header_len = doff[complete] * 4
    payload_start = l4 + header_len
    payload_len = np.maximum(layers.end[tcp] - payload_start, 0)
    # A first fragment's segment length is unknown without reassembly (tshark: no tcp.len).
    payload_len[layers.first_fragment[tcp]] = 0
    payload_cap = np.clip(caplen[tcp] - payload_start, 0, payload_len)
    return DecodedBatch(
        kind=kind,
        tcp_index=tcp.astype(np.int64),
        tcp_frame=batch.frame_numbers(tcp),
        tcp_ts=np.asarray(batch.ts, dtype=np.float64)[tcp],
        tcp_version=layers.version[tcp].astype(np.uint8),
        tcp_src=layers.src[tcp],
        tcp_dst=layers.dst[tcp],
        tcp_ip_id=layers.ip_id[tcp],
        tcp_ttl=layers.ttl[tcp],
        **_header_columns(header),
        tcp_payload_len=payload_len,
        tcp_payload_off=gather.start[tcp] + payload_start,
        tcp_payload_cap=payload_cap,
        tcp_tunnel=layers.tunnel[tcp],
        tcp_cut_frame=layers.cut_frame[tcp],
        icmp_quotes=icmp_quotes,
        tunnels=table.names,
        assembled=layers.assembled if layers.assembled.any() else None,
    )
