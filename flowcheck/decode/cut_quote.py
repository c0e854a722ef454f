"""ICMP destination unreachables whose quote the snap length cut before the TCP ports.

An ICMP error quotes the packet it answers (RFC 792: its IP header and at least 8 bytes
of its transport header; RFC 4443 and RFC 1812 4.3.2.3: as much as fits), and that
quote's 4-tuple names the connection (flowcheck.decode.ipv6.IcmpQuote). A short snap
length cuts the quote: `tcpdump -y LINUX_SLL2 -s 96` keeps 96 - 20 (SLL2) - 40 (IPv6)
- 8 (ICMPv6) = 28 bytes of a quoted IPv6 header (the source address, not the
destination nor the ports: field check 46); `-s 68` over SLL2 or a VLAN tag keeps an
IPv4 quote's header but not all its ports. Such a message still says who was refused (it
goes to the quoted packet's sender, RFC 792 / RFC 4443 2.4), by whom (its source) and
when, and what the quote kept: flowcheck.connections.icmp_cut ties it to a connection by
those when that is unambiguous.

CutQuote: what the quote kept, each field None when cut. Only destination unreachables
(ICMP type 3 other than fragmentation needed, ICMPv6 type 1) of a packet cut by the snap
length (captured length short of the IP length), whose quote is not of another protocol
than TCP as far as kept.
"""

from __future__ import annotations

import numpy as np

from flowcheck.decode.ipv6 import ICMP_FRAGMENTATION_NEEDED as _FRAGMENTATION_NEEDED
from flowcheck.decode.ipv6 import ICMP_UNREACHABLE as _ICMP_UNREACHABLE
from flowcheck.decode.ipv6 import ICMPV6_UNREACHABLE as _ICMPV6_UNREACHABLE
from flowcheck.fields_dataclass import fields_dataclass

_TCP = 6  # IP protocol number

# IPv6 extension headers (RFC 8200 4): a quote whose next header is one of them may
# still be of TCP.
_EXTENSIONS = (0, 43, 44, 51, 60)


@fields_dataclass(slots=True)
class CutQuote:
    """An ICMP (version 4) or ICMPv6 (6) destination unreachable whose quote was cut.

    `kept`: bytes of the quoted packet captured (0 up to the IP header and the first
    bytes of the TCP header). The quoted packet's fields as kept, None when cut: `src`,
    `dst` (address bytes), `proto` (IPv4 protocol, IPv6 next header), `length` (IPv4
    total length, IPv6 payload length, bytes), `ident` (IPv4 identification), `sport`,
    `dport`; `header` the quoted IP header's length (IPv4: its IHL, IPv6: 40; None when
    an IPv6 extension header follows). `sender` / `to`: the ICMP message's own IP source
    and destination (address bytes); `tunnel`, `position`, `frame`, `ts`, `identity`:
    as IcmpQuote's (what a capture copy of the message has equal to it).
    """

    version: int
    code: int
    kept: int
    src: bytes | None = None
    dst: bytes | None = None
    proto: int | None = None
    length: int | None = None
    ident: int | None = None
    header: int | None = None
    sport: int | None = None
    dport: int | None = None
    sender: bytes = b""
    to: bytes = b""
    tunnel: str = ""
    position: int = 0
    frame: int = 0
    ts: float = 0.0
    identity: bytes = b""
    ttl: int = 0
    # As IcmpQuote.packet_type: the Linux cooked packet type of its frame, -1 in any other
    # link type (connections.icmp_cut adds it to Connection.icmp_ways when tied).
    packet_type: int = -1


def decode_cut_quote(buf: np.ndarray, start: int, caplen: int, offset: int,
                     version: int) -> CutQuote | None:
    """The cut quote of an ICMP / ICMPv6 destination unreachable starting at `offset`
    (its ICMP header) in a packet of `caplen` captured bytes at `start` of buf, else None
    (another message, the ICMP header itself cut, or a quote of another protocol or IP
    version). The caller asks only for a packet the snap length cut whose quote
    decode.ipv6.decode_icmp_quote could not read."""
    data = bytes(buf[start:start + caplen])
    if offset + 8 > len(data):
        return None
    icmp_type, code = data[offset], data[offset + 1]
    if version == 4 and (icmp_type != _ICMP_UNREACHABLE or code == _FRAGMENTATION_NEEDED):
        return None
    if version == 6 and icmp_type != _ICMPV6_UNREACHABLE:
        return None
    quote = data[offset + 8:]
    if quote and quote[0] >> 4 != version:
        return None
    cut = CutQuote(version=version, code=code, kept=len(quote))
    fields = _ipv4_fields(quote, cut) if version == 4 else _ipv6_fields(quote, cut)
    return cut if fields else None


def _ipv4_fields(quote: bytes, cut: CutQuote) -> bool:
    """Fill cut's fields from an IPv4 quote (RFC 791 3.1); False when it is not TCP."""
    if len(quote) >= 1:
        cut.header = (quote[0] & 0x0F) * 4
        if cut.header < 20:
            return False
    if len(quote) >= 4:
        cut.length = int.from_bytes(quote[2:4], "big")
    if len(quote) >= 6:
        cut.ident = int.from_bytes(quote[4:6], "big")
    if len(quote) >= 10:
        cut.proto = quote[9]
        if cut.proto != _TCP:
            return False
    if len(quote) >= 16:
        cut.src = quote[12:16]
    if len(quote) >= 20:
        cut.dst = quote[16:20]
    _ports(quote, cut.header, cut)
    return True


def _ipv6_fields(quote: bytes, cut: CutQuote) -> bool:
    """Fill cut's fields from an IPv6 quote (RFC 8200 3); False when it is not TCP."""
    if len(quote) >= 6:
        cut.length = int.from_bytes(quote[4:6], "big")
    if len(quote) >= 7:
        cut.proto = quote[6]
        if cut.proto not in (_TCP, *_EXTENSIONS):
            return False
        cut.header = 40 if cut.proto == _TCP else None
    if len(quote) >= 24:
        cut.src = quote[8:24]
    if len(quote) >= 40:
        cut.dst = quote[24:40]
    _ports(quote, cut.header, cut)
    return True


def _ports(quote: bytes, header: int | None, cut: CutQuote) -> None:
    """The quoted TCP ports as far as kept after an IP header of `header` bytes."""
    if header is None:
        return
    if len(quote) >= header + 2:
        cut.sport = int.from_bytes(quote[header:header + 2], "big")
    if len(quote) >= header + 4:
        cut.dport = int.from_bytes(quote[header + 2:header + 4], "big")
