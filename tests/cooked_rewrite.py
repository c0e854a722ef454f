"""An Ethernet capture rewritten as `tcpdump -i any` on one of its hosts writes it: each
frame's Ethernet header replaced by a Linux cooked (SLL2, LINKTYPE 276) one whose packet
type is that host's view of it (linux/if_packet.h: PACKET_OUTGOING for the packets it
sent, PACKET_HOST for those addressed to it, PACKET_OTHERHOST for the rest). Only true of
a capture taken on that host (or on its segment with no device between that the rewrite
would have to show): a host's own capture holds the same packets on either link type.

`flat_ttl` sets every IPv4 TTL and IPv6 hop limit to one value (the IPv4 header checksum
made again): the same exchange between two hosts with no router between them, where the
TTLs tell no capture host and only the marks can (tests/test_cooked_depth.py).
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

from pcap_records import Record, read_records, write_records

PACKET_HOST, PACKET_OTHERHOST, PACKET_OUTGOING = 0, 3, 4
_ETHERNET, _LINUX_SLL2 = 1, 276


def _checksum(header: bytes) -> int:
    """The IPv4 header checksum (RFC 791) of header with its checksum field zero."""
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip(payload: bytes, ethertype: int, flat_ttl: int | None) -> tuple[bytes, str, str]:
    """(the IP packet, with its TTL set when flat_ttl, its source and destination text)."""
    if ethertype == 0x0800 and len(payload) >= 20:
        header_len = (payload[0] & 0x0F) * 4
        src, dst = (str(ipaddress.ip_address(payload[12:16])),
                    str(ipaddress.ip_address(payload[16:20])))
        if flat_ttl is not None and len(payload) >= header_len:
            header = bytearray(payload[:header_len])
            header[8], header[10:12] = flat_ttl, b"\0\0"
            header[10:12] = struct.pack("!H", _checksum(bytes(header)))
            payload = bytes(header) + payload[header_len:]
        return payload, src, dst
    if ethertype == 0x86DD and len(payload) >= 40:
        src, dst = (str(ipaddress.ip_address(payload[8:24])),
                    str(ipaddress.ip_address(payload[24:40])))
        if flat_ttl is not None:
            payload = payload[:7] + bytes([flat_ttl]) + payload[8:]
        return payload, src, dst
    return payload, "", ""


def as_cooked(source: Path, target: Path, host: str, flat_ttl: int | None = None) -> Path:
    """Write source (an Ethernet pcap or one-interface pcapng, gzipped or not) to target
    as a Linux cooked capture taken on host (module docstring)."""
    linktype, records = read_records(source)
    assert linktype == _ETHERNET, f"{source}: not an Ethernet capture"
    out: list[Record] = []
    for record in records:
        frame = record.data
        ethertype = struct.unpack_from("!H", frame, 12)[0]
        payload, src, dst = _ip(frame[14:], ethertype, flat_ttl)
        kind = (PACKET_OUTGOING if src == host else PACKET_HOST if dst == host or not src
                else PACKET_OTHERHOST)
        header = struct.pack(">HHIHBB8s", ethertype, 0, 2, 1, kind, 6, frame[6:12] + b"\0\0")
        out.append(Record(record.micros, record.wirelen - 14 + len(header), header + payload))
    return write_records(target, _LINUX_SLL2, out)


def with_ttls(source: Path, target: Path, ttls: dict[str, int]) -> Path:
    """Write source (an Ethernet capture) to target, still Ethernet, with each packet
    from an address in ttls given that TTL (hop limit): the same exchange seen from
    another point on its path."""
    linktype, records = read_records(source)
    assert linktype == _ETHERNET, f"{source}: not an Ethernet capture"
    out: list[Record] = []
    for record in records:
        frame = record.data
        ethertype = struct.unpack_from("!H", frame, 12)[0]
        _, src, _ = _ip(frame[14:], ethertype, None)
        payload, _, _ = _ip(frame[14:], ethertype, ttls.get(src))
        out.append(Record(record.micros, record.wirelen, frame[:14] + payload))
    return write_records(target, linktype, out)
