"""Bulk decode of link, IP and TCP headers: one numpy pass over a whole PacketBatch.

Per-packet Python is what makes a reader slow, so the fixed-offset headers of every
packet in the batch are gathered at once from the batch buffer (`data_off` + offsets
computed per packet). Only rare packets get Python: IPv6 with extension headers and ICMP
(the error messages that quote a TCP header).

Classification of each packet (DecodedBatch.kind):
  TCP          decoded; its fields are in the tcp_* arrays
  NON_TCP      IP but not TCP, or not IP at all (ARP, ...): counted, skipped
  FRAGMENT     an IP fragment (IPv4 MF/offset, IPv6 fragment header): not reassembled
  UNDECODABLE  unknown link type, or cut by the snap length before the TCP header ends
ICMP and ICMPv6 destination-unreachable messages quoting a TCP header count as NON_TCP
and are also listed in DecodedBatch.icmp_quotes, so the tracker attaches them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from flowcheck.decode.gather import Gather
from flowcheck.decode.ipv6 import IcmpQuote, decode_icmp_quote, walk_ipv6_extensions
from flowcheck.decode.link import locate_network_layer
from flowcheck.sources.batch import LINKTYPE_ETHERNET, PacketBatch

TCP, NON_TCP, FRAGMENT, UNDECODABLE = 0, 1, 2, 3

IPPROTO_TCP = 6
IPPROTO_ICMP = 1
IPPROTO_ICMPV6 = 58
# IPv6 next-header values that are extension headers the walker understands.
IPV6_EXTENSIONS = (0, 43, 44, 51, 60)

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
    tcp_payload_len: np.ndarray  # int64, from the IP lengths (not the captured bytes)
    tcp_payload_off: np.ndarray  # int64 offset in the batch buffer
    tcp_payload_cap: np.ndarray  # int64, payload bytes actually captured
    icmp_quotes: list[IcmpQuote] = field(default_factory=list)

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
                       ("offset", "u1"), ("flags", "u1"), ("window", ">u2"), ("rest", "V4")])
IPV4_HEADER = np.dtype([("first", "u1"), ("tos", "u1"), ("total", ">u2"), ("id", ">u2"),
                        ("frag", ">u2"), ("ttl", "u1"), ("proto", "u1"), ("sum", ">u2"),
                        ("src", ">u4"), ("dst", ">u4")])
IPV6_HEADER = np.dtype([("first", "u1"), ("flow", "V3"), ("length", ">u2"), ("next", "u1"),
                        ("hops", "u1"), ("src", ">u4", (4,)), ("dst", ">u4", (4,))])


# TCP header fields copied as they are into DecodedBatch.tcp_<name>.
HEADER_COLUMNS = ("sport", "dport", "seq", "ack", "flags", "window")


def _header_columns(header: np.ndarray) -> dict[str, np.ndarray]:
    """The tcp_* arrays read straight from TCP_HEADER records, as int64."""
    return {f"tcp_{name}": header[name].astype(np.int64) for name in HEADER_COLUMNS}


# The common case read in one gather: Ethernet, no VLAN tag, IPv4 without options, TCP.
PLAIN_ETHERNET_TCP = np.dtype([
    ("mac", "V12"), ("ethertype", ">u2"), ("first", "u1"), ("tos", "u1"), ("total", ">u2"),
    ("id", ">u2"), ("frag", ">u2"), ("ttl", "u1"), ("proto", "u1"), ("sum", ">u2"),
    ("src", ">u4"), ("dst", ">u4"), ("tcp", TCP_HEADER)])
PLAIN_TCP_AT = 34


def decode_batch(batch: PacketBatch) -> DecodedBatch:
    """Classify every packet of the batch and decode the TCP ones, in bulk.

    Packets in the common layout (plain Ethernet, IPv4 without options, TCP, not a
    fragment) are decoded from one gather of their first 54 bytes; the others go
    through the general decoder, and the two results are merged in capture order.
    """
    n = len(batch)
    linktype = np.asarray(batch.linktype)
    if n == 0 or not (linktype == LINKTYPE_ETHERNET).all():
        return _decode_general(batch)
    gather = Gather(batch)
    frames = gather.header(np.zeros(n, dtype=np.int64), PLAIN_ETHERNET_TCP)
    header = frames["tcp"]
    doff = (header["offset"] >> 4).astype(np.int64)
    total = frames["total"].astype(np.int64)
    plain = ((frames["ethertype"] == 0x0800) & (frames["first"] == 0x45)
             & (frames["proto"] == IPPROTO_TCP) & ((frames["frag"] & 0x3FFF) == 0)
             & (gather.caplen >= PLAIN_TCP_AT + 20) & (doff >= 5) & (total >= 20))
    if plain.all():
        return _plain(batch, frames, gather, np.arange(n), doff, total)
    rows = np.flatnonzero(plain)
    first = _plain(batch, frames[rows], gather, rows, doff[rows], total[rows])
    return _merge(batch, plain, first, _decode_general(_subset(batch, ~plain)))


def _plain(batch: PacketBatch, frames: np.ndarray, gather: Gather, rows: np.ndarray,
           doff: np.ndarray, total: np.ndarray) -> DecodedBatch:
    header = frames["tcp"]
    header_len = doff * 4
    payload_len = np.maximum(total - 20 - header_len, 0)
    payload_start = PLAIN_TCP_AT + header_len
    src = np.zeros((rows.shape[0], 4), dtype=np.uint32)
    dst = np.zeros((rows.shape[0], 4), dtype=np.uint32)
    src[:, 0] = frames["src"]
    dst[:, 0] = frames["dst"]
    kind = np.full(len(batch), TCP, dtype=np.uint8)
    return DecodedBatch(
        kind=kind,
        tcp_index=rows,
        tcp_frame=rows + batch.frame0,
        tcp_ts=np.asarray(batch.ts, dtype=np.float64)[rows],
        tcp_version=np.full(rows.shape[0], 4, dtype=np.uint8),
        tcp_src=src,
        tcp_dst=dst,
        **_header_columns(header),
        tcp_payload_len=payload_len,
        tcp_payload_off=gather.start[rows] + payload_start,
        tcp_payload_cap=np.clip(gather.caplen[rows] - payload_start, 0, payload_len),
    )


def _subset(batch: PacketBatch, mask: np.ndarray) -> PacketBatch:
    capture = batch.capture if isinstance(batch.capture, int) else batch.capture[mask]
    return PacketBatch(batch.buf, batch.frame0, batch.ts[mask], batch.data_off[mask],
                       batch.caplen[mask], batch.wirelen[mask], batch.linktype[mask], capture)


def _merge(batch: PacketBatch, plain: np.ndarray, first: DecodedBatch,
           other: DecodedBatch) -> DecodedBatch:
    """Both decodes of one batch, as one, in capture order: `first` of the packets
    where plain is true, `other` of the rest (their positions counted among the rest)."""
    other_rows = np.flatnonzero(~plain)
    kind = np.full(len(batch), TCP, dtype=np.uint8)
    kind[other_rows] = other.kind
    index = np.concatenate((first.tcp_index, other_rows[other.tcp_index]))
    order = np.argsort(index, kind="stable")
    for quote in other.icmp_quotes:
        quote.position = int(other_rows[quote.position])
        quote.frame = batch.frame0 + quote.position

    def both(name: str) -> np.ndarray:
        return np.concatenate((getattr(first, name), getattr(other, name)))[order]

    # Every tcp_* column, but the positions: those of `other` count among its packets only.
    columns = {column.name: both(column.name) for column in fields(DecodedBatch)
               if column.name.startswith("tcp_") and column.name not in ("tcp_index", "tcp_frame")}
    return DecodedBatch(kind=kind, tcp_index=index[order], tcp_frame=index[order] + batch.frame0,
                        icmp_quotes=other.icmp_quotes, **columns)


def _decode_general(batch: PacketBatch) -> DecodedBatch:
    """Any supported link type and IP layout (the slower, fully general decode)."""
    n = len(batch)
    gather = Gather(batch)
    caplen = gather.caplen
    l3_off, version = locate_network_layer(batch, gather)
    kind = np.full(n, NON_TCP, dtype=np.uint8)
    kind[version < 0] = UNDECODABLE

    l4_off = np.zeros(n, dtype=np.int64)
    proto = np.full(n, -1, dtype=np.int64)
    ip_payload = np.zeros(n, dtype=np.int64)  # bytes after the IP header(s), from lengths
    src = np.zeros((n, 4), dtype=np.uint32)
    dst = np.zeros((n, 4), dtype=np.uint32)

    v4 = np.flatnonzero(version == 4)
    if v4.size:
        base = l3_off[v4]
        short = base + 20 > caplen[v4]
        ip = gather.header(base, IPV4_HEADER, v4)
        first = ip["first"].astype(np.int64)
        ihl = (first & 0x0F) * 4
        total = ip["total"].astype(np.int64)
        frag = ip["frag"].astype(np.int64)
        bad = short | (first >> 4 != 4) | (ihl < 20) | (total < ihl)
        kind[v4[bad]] = UNDECODABLE
        is_fragment = ~bad & (((frag & 0x2000) != 0) | ((frag & 0x1FFF) != 0))
        kind[v4[is_fragment]] = FRAGMENT
        ok = ~bad & ~is_fragment
        rows = v4[ok]
        proto[rows] = ip["proto"][ok]
        l4_off[rows] = base[ok] + ihl[ok]
        ip_payload[rows] = total[ok] - ihl[ok]
        src[rows, 0] = ip["src"][ok]
        dst[rows, 0] = ip["dst"][ok]

    v6 = np.flatnonzero(version == 6)
    if v6.size:
        base = l3_off[v6]
        short = base + 40 > caplen[v6]
        ip = gather.header(base, IPV6_HEADER, v6)
        bad = short | (ip["first"] >> 4 != 6)
        kind[v6[bad]] = UNDECODABLE
        rows = v6[~bad]
        ip = ip[~bad]
        proto[rows] = ip["next"]
        l4_off[rows] = base[~bad] + 40
        ip_payload[rows] = ip["length"]
        src[rows] = ip["src"]
        dst[rows] = ip["dst"]
        # Extension headers are rare: walk their chain in Python, one packet at a time.
        for row in rows[np.isin(proto[rows], IPV6_EXTENSIONS)]:
            walked = walk_ipv6_extensions(gather.buf, int(gather.start[row]),
                                          int(caplen[row]), int(l4_off[row]), int(proto[row]))
            if walked is None:
                kind[row] = UNDECODABLE
                proto[row] = -1
            elif walked.fragment:
                kind[row] = FRAGMENT
                proto[row] = -1
            else:
                ip_payload[row] -= walked.offset - l4_off[row]
                l4_off[row] = walked.offset
                proto[row] = walked.next_header

    icmp_quotes: list[IcmpQuote] = []
    icmp_rows = np.flatnonzero(((proto == IPPROTO_ICMP) & (version == 4))
                               | ((proto == IPPROTO_ICMPV6) & (version == 6)))
    for row in icmp_rows:
        quote = decode_icmp_quote(gather.buf, int(gather.start[row]), int(caplen[row]),
                                  int(l4_off[row]), int(version[row]))
        if quote is not None:
            quote.position = int(row)
            quote.frame = batch.frame0 + int(row)
            quote.ts = float(batch.ts[row])
            icmp_quotes.append(quote)

    candidates = np.flatnonzero(proto == IPPROTO_TCP)
    l4 = l4_off[candidates]
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
    payload_len = np.maximum(ip_payload[tcp] - header_len, 0)
    payload_start = l4 + header_len
    payload_cap = np.clip(caplen[tcp] - payload_start, 0, payload_len)
    return DecodedBatch(
        kind=kind,
        tcp_index=tcp.astype(np.int64),
        tcp_frame=tcp.astype(np.int64) + batch.frame0,
        tcp_ts=np.asarray(batch.ts, dtype=np.float64)[tcp],
        tcp_version=version[tcp].astype(np.uint8),
        tcp_src=src[tcp],
        tcp_dst=dst[tcp],
        **_header_columns(header),
        tcp_payload_len=payload_len,
        tcp_payload_off=gather.start[tcp] + payload_start,
        tcp_payload_cap=payload_cap,
        icmp_quotes=icmp_quotes,
    )
