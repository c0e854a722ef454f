"""Bulk decode of link, IP and TCP headers: one numpy pass over a whole PacketBatch.

Per-packet Python is what makes a reader slow, so the fixed-offset headers of every
packet in the batch are gathered at once from the batch buffer (`data_off` + offsets
computed per packet). The common layout (Ethernet, IPv4, TCP) is read in one gather;
everything else goes through the general decode (decode.general), still in bulk: link layer
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
and are also listed in DecodedBatch.icmp_quotes, so the tracker attaches them (those
whose quote the snap length cut before the ports in DecodedBatch.cut_quotes: decode.
cut_quote, tied by connections.icmp_cut); ARP
packets likewise in DecodedBatch.arp (decode.arp), IPv6 neighbour solicitations and
advertisements in DecodedBatch.neighbours (decode.ndp).
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING

import numpy as np

from flowcheck.arrays import one_of
from flowcheck.decode import tunnels
from flowcheck.decode.arp import ArpPackets
from flowcheck.decode.decoded import IPPROTO_TCP, TCP_HEADER, DecodedBatch, header_columns
from flowcheck.decode.fragment_carry import FragmentCarry
from flowcheck.decode.gather import Gather
from flowcheck.decode.ip import FRAGMENT, NON_TCP, TCP, UNDECODABLE
from flowcheck.decode.ndp import NeighbourPackets
from flowcheck.sources.batch import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    PacketBatch,
)

if TYPE_CHECKING:
    from flowcheck.decode.ipv6 import IcmpQuote

FULL_FRAME = 1518  # the longest Ethernet frame without offload (VLAN tag included)

__all__ = ["TCP", "NON_TCP", "FRAGMENT", "UNDECODABLE", "DecodedBatch", "IcmpQuote",
           "decode_batch"]


def __getattr__(name: str) -> object:
    # IcmpQuote is loaded on first use (PEP 562): a capture of plain Ethernet, IPv4 and TCP
    # never needs decode.ipv6 (issue 7, the engine's start-up).
    if name != "IcmpQuote":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from flowcheck.decode.ipv6 import IcmpQuote
    globals()[name] = IcmpQuote  # found directly from now on
    return IcmpQuote


def _decode_general(batch: PacketBatch, skipped_flows: bool, ports: tunnels.TunnelPorts,
                    carry: FragmentCarry | None) -> DecodedBatch:
    """decode.general's decode_general, loaded with the first batch not all plain Ethernet,
    IPv4 and TCP: it and decode.ipv6 are no part of a plain capture's start-up (issue 7)."""
    from flowcheck.decode.general import decode_general
    decoded = decode_general(batch, skipped_flows, ports, carry)
    linktype = np.asarray(batch.linktype)
    decoded.linux_cooked = bool(((linktype == LINKTYPE_LINUX_SLL2)
                                 | (linktype == LINKTYPE_LINUX_SLL)).any())
    return decoded


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
                 ports: tunnels.TunnelPorts = tunnels.STANDARD_PORTS,
                 carry: FragmentCarry | None = None) -> DecodedBatch:
    """Classify every packet of the batch and decode the TCP ones, in bulk.

    Packets in the common layout (plain Ethernet, IPv4 without options, TCP, not a
    fragment), alone or inside VXLAN, are decoded from one gather of their first bytes;
    the others go through the general decoder, and the results are merged in capture
    order. skipped_flows: DecodedBatch.skipped counts the skipped IP flows and
    ethertypes too (decode.skipped); ports: the UDP ports read as VXLAN and Geneve;
    carry: the IPv4 fragments of incomplete datagrams, from the batch before to this
    one's and from this one to the next (decode.fragment_carry; a reader of batches in
    order keeps one).
    """
    if carry is not None:
        carry.start_batch()
    n = len(batch)
    linktype = np.asarray(batch.linktype)
    if n == 0 or not (linktype == LINKTYPE_ETHERNET).all():
        return _decode_general(batch, skipped_flows, ports, carry)
    gather = Gather(batch)
    frames = gather.header(np.zeros(n, dtype=np.int64), PLAIN_ETHERNET_TCP)
    plain = _is_plain(frames, gather.caplen)
    if plain.all():
        return _plain(batch, frames, gather, None)
    parts = []
    if plain.any():
        rows = np.flatnonzero(plain)
        parts.append((rows, _plain(batch, frames[rows], gather, rows)))
    rest = np.flatnonzero(~plain)
    outer = gather.header(np.zeros(rest.shape[0], dtype=np.int64), PLAIN_VXLAN,
                          None if rest.shape[0] == n else rest)
    total = outer["total"].astype(np.int64)
    vxlan = ((outer["ethertype"] == 0x0800) & (outer["first"] == 0x45) & (outer["proto"] == 17)
             & ((outer["frag"] & 0x3FFF) == 0) & one_of(outer["dport"], ports.vxlan)
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
        parts.append((rest, _decode_general(_subset(batch, rest), skipped_flows, ports, carry)))
    if len(parts) == 1 and parts[0][0].shape[0] == n:
        return parts[0][1]  # one layout for the whole batch: positions are the batch's
    return _merge(batch, parts)


def _plain(batch: PacketBatch, frames: np.ndarray, gather: Gather, rows: np.ndarray | None,
           at: int = 0, end: np.ndarray | None = None) -> DecodedBatch:
    """Decode of `rows` whose PLAIN_ETHERNET_TCP records start at `at` and whose frames
    end at `end` (default: the wire length); rows None: every packet of the batch (its
    columns then taken whole: no gather by an index of every row, issue 7)."""
    m = frames.shape[0]
    header = frames["tcp"]
    header_len = (header["offset"] >> 4).astype(np.int64) * 4
    total = frames["total"].astype(np.int64)
    # The IP length, but never beyond the frame (as tshark); length 0 is a segmentation
    # offload super-frame (TSO, IPv4 BIG TCP): the frame's length is the datagram's.
    wire = (_at(gather.wirelen, rows) if end is None else end) - at - 14
    ip_len = np.where(total == 0, wire, np.minimum(total, wire))
    # Cut before the capture: the IP length says more than the frame holds, or nothing
    # (0) in a frame shorter than a full one (never a super-frame: etl2pcapng's cut LSOv2
    # send; flowcheck.connections.cut_recorded).
    cut_frame = np.where((total > wire) | ((total == 0) & (wire + 14 < FULL_FRAME)),
                         wire + 14, 0)
    payload_len = np.maximum(ip_len - 20 - header_len, 0)
    payload_start = at + PLAIN_TCP_AT + header_len
    src = np.zeros((m, 4), dtype=np.uint32)
    dst = np.zeros((m, 4), dtype=np.uint32)
    src[:, 0] = frames["src"]
    dst[:, 0] = frames["dst"]
    index = np.arange(m)
    return DecodedBatch(
        kind=np.full(m, TCP, dtype=np.uint8),
        tcp_index=index,
        tcp_frame=batch.frame_numbers(index if rows is None else rows),
        # A copy when whole: the decode's columns are its own, never the batch's arrays.
        tcp_ts=(np.array(batch.ts, dtype=np.float64) if rows is None
                else np.asarray(batch.ts, dtype=np.float64)[rows]),
        tcp_version=np.full(m, 4, dtype=np.uint8),
        tcp_src=src,
        tcp_dst=dst,
        tcp_ip_id=frames["id"].astype(np.int64),
        tcp_ttl=frames["ttl"].copy(),
        **header_columns(header),
        tcp_payload_len=payload_len,
        tcp_payload_off=_at(gather.start, rows) + payload_start,
        # np.clip's value (payload_len >= 0) without its wrapper (~10 us a batch, issue 7)
        tcp_payload_cap=np.minimum(np.maximum(_at(gather.caplen, rows) - payload_start, 0),
                                   payload_len),
        tcp_tunnel=np.zeros(m, dtype=np.int64),
        tcp_cut_frame=cut_frame,
    )


def _at(column: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    """A batch column's values at rows; rows None: the column itself (the caller makes
    a new array of it)."""
    return column if rows is None else column[rows]


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
    """The batch's packets at rows, each keeping its frame number."""
    capture = batch.capture if isinstance(batch.capture, int) else batch.capture[rows]
    interface = None if batch.interface is None else batch.interface[rows]
    identity = None if batch.identity is None else batch.identity[rows]
    epoch = None if batch.epoch is None else batch.epoch[rows]
    return PacketBatch(batch.buf, batch.frame0, batch.ts[rows], batch.data_off[rows],
                       batch.caplen[rows], batch.wirelen[rows], batch.linktype[rows], capture,
                       interface, frames=batch.frame_numbers(rows), identity=identity,
                       epoch=epoch)


def _merge(batch: PacketBatch, parts: list[tuple[np.ndarray, DecodedBatch]]) -> DecodedBatch:
    """Decodes of disjoint subsets of one batch, as one, in capture order. A part is
    (its rows in the batch, its decode, positions counted among those rows)."""
    kind = np.empty(len(batch), dtype=np.uint8)
    names: list[str] = [""]
    number = {"": 0}
    index, tunnel, quotes, cut = [], [], [], []
    for rows, decoded in parts:
        kind[rows] = decoded.kind
        index.append(rows[decoded.tcp_index])
        # Each part numbered its tunnels on its own: renumber into one table.
        renumber = np.array([number.setdefault(name, len(number)) for name in decoded.tunnels],
                            dtype=np.int64)
        names += [name for name in decoded.tunnels if number[name] >= len(names)]
        tunnel.append(renumber[decoded.tcp_tunnel])
        for found, out in ((decoded.icmp_quotes, quotes), (decoded.cut_quotes, cut)):
            for quote in found:
                quote.position = int(rows[quote.position])
                quote.frame = batch.frame_number(quote.position)
                out.append(quote)
    merged = np.concatenate(index)
    order = np.argsort(merged, kind="stable")
    skip = ("tcp_index", "tcp_frame", "tcp_tunnel")
    columns = {column.name: np.concatenate([getattr(d, column.name) for _, d in parts])[order]
               for column in fields(DecodedBatch)
               if column.name.startswith("tcp_") and column.name not in skip}
    quotes.sort(key=lambda quote: quote.position)
    cut.sort(key=lambda quote: quote.position)
    # Only the general decode's part skips packets, or reads ERSPAN.
    skipped = next((d.skipped for _, d in parts if d.skipped is not None), None)
    mirror = next((d.mirror.moved(rows, [number[name] for name in d.tunnels])
                   for rows, d in parts if d.mirror is not None), None)
    assembled = None
    for rows, decoded in parts:
        if decoded.assembled is not None:
            assembled = np.zeros(len(batch), dtype=bool) if assembled is None else assembled
            assembled[rows] = decoded.assembled
    payload_buf = next((d.payload_buf for _, d in parts if d.payload_buf is not None), None)
    return DecodedBatch(kind=kind, tcp_index=merged[order], assembled=assembled,
                        payload_buf=payload_buf,
                        tcp_frame=batch.frame_numbers(merged[order]),
                        tcp_tunnel=np.concatenate(tunnel)[order], icmp_quotes=quotes,
                        cut_quotes=cut, tunnels=names, skipped=skipped, mirror=mirror, **columns,
                        arp=ArpPackets.joined([d.arp.at(rows) for rows, d in parts]),
                        neighbours=NeighbourPackets.joined([d.neighbours.at(rows)
                                                            for rows, d in parts]))
