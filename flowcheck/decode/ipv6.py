"""The rare packets decoded one at a time: IPv6 extension chains and ICMP error quotes."""

from __future__ import annotations

import numpy as np

from flowcheck.fields_dataclass import fields_dataclass

HOP_BY_HOP, ROUTING, FRAGMENT_HEADER, AUTH_HEADER, DEST_OPTIONS = 0, 43, 44, 51, 60
ICMP_UNREACHABLE = 3
ICMP_FRAGMENTATION_NEEDED = 4  # its code (RFC 792, RFC 1191)
ICMPV6_UNREACHABLE = 1
ICMPV6_PACKET_TOO_BIG = 2  # RFC 4443 3.2
ICMP_TIME_EXCEEDED = 11  # RFC 792: TTL (code 0) or fragment reassembly (code 1) ran out
ICMPV6_TIME_EXCEEDED = 3  # RFC 4443 3.3: hop limit (code 0) or reassembly (code 1)
MAX_EXTENSIONS = 16  # a longer chain is crafted, not real traffic


JUMBO_OPTION = 0xC2  # RFC 2675 Jumbo Payload option, in a hop-by-hop header


@fields_dataclass(slots=True)
class Extensions:
    offset: int  # where the upper-layer header starts, from the packet start
    next_header: int
    fragment: bool  # a fragment other than the first: nothing above IP to read
    first_fragment: bool = False  # offset 0, more to come: the upper header is here
    jumbo: int | None = None  # RFC 2675 Jumbo Payload Length, when the option is present
    frag_at: int = -1  # where a fragment's Fragment header starts (-1: no fragment)
    # That Fragment header's fragment offset (in bytes), M flag and identification.
    frag_offset: int = 0
    frag_more: bool = False
    frag_id: int = 0


@fields_dataclass(slots=True)
class IcmpQuote:
    """An ICMP error (destination unreachable, packet too big, time exceeded) that quotes
    the TCP packet it answers.

    The quoted packet was sent from (src, sport) to (dst, dport): the ICMP message
    belongs to that connection. `code`: the ICMP code (RFC 792 type 3, RFC 4443 type 1);
    `flags`: the quoted TCP flags byte, None when the quote stops before it (RFC 792
    asks for only 8 bytes of the transport header; RFC 1812 4.3.2.3 routers and Linux
    quote as much as fits in 576 bytes, IPv6 in 1280, so the whole header).
    `identity`: what a capture copy of the message has equal to it
    (flowcheck.connections.copies.IcmpCopies): the addresses and IPv4 identification of
    the IP header carrying it and the ICMP message's bytes as captured (type, code,
    checksum, quote).
    """

    version: int
    src: bytes
    sport: int
    dst: bytes
    dport: int
    seq: int
    code: int = 0
    flags: int | None = None
    tunnel: str = ""  # the encapsulation the ICMP message arrived in (flowcheck.decode)
    position: int = 0  # index in the batch
    frame: int = 0
    ts: float = 0.0
    identity: bytes = b""
    sender: bytes = b""
    # The MTU an ICMPv6 packet too big (RFC 4443 3.2) or an ICMP fragmentation needed
    # (RFC 1191: the next-hop MTU, 0 from a router older than it) reports; None for an
    # unreachable. A packet too big is no unreachable: its `code` is 0 and means nothing.
    mtu: int | None = None
    # The IP TTL (IPv6 hop limit) of the header carrying the ICMP message, as captured:
    # the sender's initial TTL less the routers it crossed (flowcheck.verify.own_reject).
    ttl: int = 0
    # The Linux cooked packet type of the frame carrying it (decode.legs.
    # cooked_packet_types: 4 sent by the capture host, 0 addressed to it), -1 in any
    # other link type (connections.cooked_hosts.RejectWays).
    packet_type: int = -1
    # An ICMP time exceeded in transit (RFC 792 type 11, RFC 4443 type 3, code 0; a
    # reassembly timeout, code 1, is not read), not an unreachable: a router on the way
    # dropped the quoted packet when its TTL (hop limit) ran out. It refuses nothing
    # (connections.icmp_attach.told_ttl_exceeded).
    time_exceeded: bool = False

    @property
    def too_big(self) -> bool:
        """Is this an ICMPv6 packet too big (RFC 4443 3.2), not an unreachable?"""
        return self.version == 6 and self.mtu is not None


def walk_ipv6_extensions(buf: np.ndarray, start: int, caplen: int, offset: int,
                         next_header: int) -> Extensions | None:
    """Follow the extension chain from `offset`; None when the chain is cut or absurd."""
    first_fragment = False
    jumbo = None
    frag_at, frag_id = -1, 0
    for _ in range(MAX_EXTENSIONS):
        if next_header not in (HOP_BY_HOP, ROUTING, FRAGMENT_HEADER, AUTH_HEADER, DEST_OPTIONS):
            return Extensions(offset, next_header, False, first_fragment, jumbo, frag_at,
                              0, first_fragment, frag_id)
        if offset + 8 > caplen:
            return None
        header = bytes(buf[start + offset:start + offset + 8])
        following = header[0]
        if next_header == FRAGMENT_HEADER:
            frag = int.from_bytes(header[2:4], "big")
            if frag & 0xFFF8:  # offset != 0
                return Extensions(offset, following, fragment=True, frag_at=offset,
                                  frag_offset=frag & 0xFFF8, frag_more=bool(frag & 0x1),
                                  frag_id=int.from_bytes(header[4:8], "big"))
            # The first fragment (more to come) carries the upper header; an atomic
            # fragment (RFC 6946) is the whole packet: keep walking either way.
            if frag & 0x1:
                first_fragment, frag_at = True, offset
                frag_id = int.from_bytes(header[4:8], "big")
            length = 8
        elif next_header == AUTH_HEADER:
            length = (header[1] + 2) * 4
        else:
            length = (header[1] + 1) * 8
            if next_header == HOP_BY_HOP:
                jumbo = _jumbo(buf, start + offset, min(length, caplen - offset))
        offset += length
        next_header = following
    return None


def _jumbo(buf: np.ndarray, at: int, length: int) -> int | None:
    """The Jumbo Payload Length among a hop-by-hop header's options, if there."""
    options = bytes(buf[at + 2:at + length])
    i = 0
    while i < len(options):
        if options[i] == 0:  # Pad1
            i += 1
            continue
        if i + 2 > len(options):
            return None
        if options[i] == JUMBO_OPTION and options[i + 1] == 4 and i + 6 <= len(options):
            return int.from_bytes(options[i + 2:i + 6], "big")
        i += 2 + options[i + 1]
    return None


def decode_icmp_quote(buf: np.ndarray, start: int, caplen: int, offset: int,
                      version: int) -> IcmpQuote | None:
    """The quoted TCP 4-tuple of an ICMP/ICMPv6 destination unreachable, ICMPv6 packet
    too big (trial 28 D5) or ICMP/ICMPv6 time exceeded (IcmpQuote.time_exceeded; review
    54h), else None; IcmpQuote.mtu for a packet too big or an ICMP fragmentation
    needed."""
    data = bytes(buf[start:start + caplen])
    if offset + 8 > len(data):
        return None
    icmp_type = data[offset]
    inner = offset + 8
    if version == 4:
        if icmp_type not in (ICMP_UNREACHABLE, ICMP_TIME_EXCEEDED) \
                or inner + 20 > len(data) or data[inner] >> 4 != 4:
            return None
        ihl = (data[inner] & 0x0F) * 4
        if data[inner + 9] != 6 or ihl < 20:
            return None
        src, dst = data[inner + 12:inner + 16], data[inner + 16:inner + 20]
        l4 = inner + ihl
    else:
        if icmp_type not in (ICMPV6_UNREACHABLE, ICMPV6_PACKET_TOO_BIG,
                             ICMPV6_TIME_EXCEEDED) \
                or inner + 40 > len(data) or data[inner] >> 4 != 6:
            return None
        src, dst = data[inner + 8:inner + 24], data[inner + 24:inner + 40]
        array = np.frombuffer(data, dtype=np.uint8)
        walked = walk_ipv6_extensions(array, 0, len(data), inner + 40, data[inner + 6])
        if walked is None or walked.fragment or walked.next_header != 6:
            return None
        l4 = walked.offset
    # RFC 792 quotes at least 8 bytes of the transport header: ports and sequence number.
    if l4 + 8 > len(data):
        return None
    exceeded = icmp_type == (ICMP_TIME_EXCEEDED if version == 4 else ICMPV6_TIME_EXCEEDED)
    if exceeded and data[offset + 1] != 0:
        return None  # a reassembly timeout (code 1): no TTL ran out, and no reject
    mtu = None
    if version == 6 and icmp_type == ICMPV6_PACKET_TOO_BIG:
        mtu = int.from_bytes(data[offset + 4:offset + 8], "big")
    elif version == 4 and icmp_type == ICMP_UNREACHABLE \
            and data[offset + 1] == ICMP_FRAGMENTATION_NEEDED:
        mtu = int.from_bytes(data[offset + 6:offset + 8], "big")
    return IcmpQuote(
        mtu=mtu,
        version=version,
        src=bytes(src),
        sport=int.from_bytes(data[l4:l4 + 2], "big"),
        dst=bytes(dst),
        dport=int.from_bytes(data[l4 + 2:l4 + 4], "big"),
        seq=int.from_bytes(data[l4 + 4:l4 + 8], "big"),
        code=data[offset + 1],
        flags=data[l4 + 13] if l4 + 14 <= len(data) else None,
        time_exceeded=exceeded,
    )
