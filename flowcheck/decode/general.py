"""The general decode, in bulk: every layout the plain paths of flowcheck.decode do not
take. Link layer (decode.link), tags, MPLS and PPP (decode.framing), IP (decode.ip), then
tunnels (decode.tunnels), whose inner packets go through framing and IP again; ICMP
errors quoting TCP (decode.ipv6), ARP (decode.arp) and IPv6 neighbour discovery
(decode.ndp) listed beside the TCP packets.
"""

from __future__ import annotations

import numpy as np

import flowcheck.decode.tunnels as tunnels
from flowcheck.arrays import one_of
from flowcheck.decode.arp import decode_arp
from flowcheck.decode.cut_quote import CutQuote, decode_cut_quote
from flowcheck.decode.decoded import IPPROTO_TCP, TCP_HEADER, DecodedBatch, header_columns
from flowcheck.decode.fragment_carry import FragmentCarry
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
from flowcheck.decode.legs import cooked_packet_types
from flowcheck.decode.link import locate_network_layer
from flowcheck.decode.ndp import decode_neighbours, frame_senders
from flowcheck.decode.skipped import describe_skipped
from flowcheck.sources.batch import PacketBatch

IPPROTO_ICMP = 1
IPPROTO_ICMPV6 = 58
MAX_TUNNELS = 4  # tunnels inside tunnels: deeper is crafted


def decode_general(batch: PacketBatch, skipped_flows: bool = False,
                    ports: tunnels.TunnelPorts = tunnels.STANDARD_PORTS,
                    carry: FragmentCarry | None = None) -> DecodedBatch:
    """Any supported link type, encapsulation and IP layout (the fully general decode);
    skipped_flows, ports, carry: decode_batch's."""
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
        ip_layer(gather, layers, rows, off[rows], link[rows], carry)
        if depth == MAX_TUNNELS:
            break
        candidates = rows[one_of(layers.proto[rows], tunnels.TUNNEL_PROTOCOLS)
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
    icmp_quotes, cut_quotes = _icmp_quotes(batch, gather, layers, table)
    decoded = _tcp(batch, gather, layers, icmp_quotes, table)
    decoded.cut_quotes = cut_quotes
    decoded.arp = arp
    icmpv6 = np.flatnonzero((layers.proto == IPPROTO_ICMPV6) & (layers.version == 6)
                            & (layers.kind == NON_TCP))
    framed = frame_senders(batch, gather, icmpv6, layers.tunnel[icmpv6] == 0)
    decoded.neighbours = decode_neighbours(gather, icmpv6, layers.l4[icmpv6],
                                           layers.end[icmpv6], layers.src[icmpv6], framed,
                                           layers.dst[icmpv6])
    decoded.mirror = tunnels.MirrorSequence.joined(mirror)
    decoded.skipped = describe_skipped(batch, gather, layers, table.names, skipped_flows,
                                       arp)
    return decoded


def _icmp_quotes(batch: PacketBatch, gather: Gather, layers: Layers,
                 table: tunnels.TunnelTable) -> tuple[list[IcmpQuote], list[CutQuote]]:
    """The ICMP errors quoting TCP: those whose quote names the 4-tuple, and the
    unreachables whose quote the snap length cut before it (decode.cut_quote)."""
    quotes: list[IcmpQuote] = []
    cut: list[CutQuote] = []
    rows = np.flatnonzero(((layers.proto == IPPROTO_ICMP) & (layers.version == 4))
                          | ((layers.proto == IPPROTO_ICMPV6) & (layers.version == 6)))
    for row in rows.tolist():
        args = (gather.buf, int(gather.start[row]), int(gather.caplen[row]),
                int(layers.l4[row]), int(layers.version[row]))
        found: IcmpQuote | CutQuote | None = decode_icmp_quote(*args)
        if found is not None:
            quotes.append(found)
        elif gather.caplen[row] < layers.end[row]:
            found = decode_cut_quote(*args)
            if found is not None:
                cut.append(found)
                found.to = _address(layers.dst[row], found.version)
        if found is not None:  # where and when the message came, and from whom
            found.position = row
            found.frame = batch.frame_number(row)
            found.ts = float(batch.ts[row])
            found.tunnel = table.names[int(layers.tunnel[row])]
            found.identity = _icmp_identity(gather, layers, row)
            found.sender = _address(layers.src[row], found.version)
            found.ttl = int(layers.ttl[row])  # an ICMP error's only: rare, no column kept
    every: list[IcmpQuote | CutQuote] = [*quotes, *cut]
    if every:  # the capture host's view of each, in a Linux cooked capture (-1 elsewhere)
        kinds = cooked_packet_types(batch, np.array([q.position for q in every], np.int64))
        for quote, kind in zip(every, kinds.tolist(), strict=True):
            quote.packet_type = kind
    return quotes, cut


def _address(words: np.ndarray, version: int) -> bytes:
    """An address from its column's big-endian 32-bit words (IPv4: the first)."""
    packed = words.astype(">u4").tobytes()
    return packed[:4] if version == 4 else packed


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
        **header_columns(header),
        tcp_payload_len=payload_len,
        tcp_payload_off=gather.start[tcp] + payload_start,
        tcp_payload_cap=payload_cap,
        tcp_tunnel=layers.tunnel[tcp],
        tcp_cut_frame=layers.cut_frame[tcp],
        icmp_quotes=icmp_quotes,
        tunnels=table.names,
        assembled=layers.assembled if layers.assembled.any() else None,
        payload_buf=gather.buf if gather.appended else None,
    )
