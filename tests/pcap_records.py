"""Stored captures edited record by record, without scapy.

scapy's rdpcap dissects every packet and wrpcap rebuilds it (seconds for a capture of a
few thousand frames, per test); the edits the tests make (keep some frames, move the
timestamps from one frame on) need only the records. `write_records` writes the bytes
scapy's wrpcap wrote for the same packets: its file header (little-endian, microseconds,
snap length 65535) and each record's frame bytes and wire length as read
(test_pcap_records checks it against scapy on stored captures).
"""

from __future__ import annotations

import functools
import gzip
import struct
from dataclasses import dataclass, replace
from pathlib import Path

_MAGIC_MICROS = 0xA1B2C3D4
_SCAPY_SNAPLEN = 65535  # what wrpcap writes, whatever the file read had


@dataclass(frozen=True)
class Record:
    """One pcap record: its time in microseconds since the epoch, its length on the
    wire in bytes, and the frame bytes captured."""

    micros: int
    wirelen: int
    data: bytes


def read_records(path: Path) -> tuple[int, list[Record]]:
    """The link type and the records of a little-endian microsecond pcap file, or of a
    pcapng file of one little-endian interface with microsecond times (editcap's
    output) or nanosecond ones (dumpcap's, cut to microseconds), gzipped or not, in
    file order."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[:4] == b"\x0a\x0d\x0d\x0a":
        return _pcapng_records(path, raw)
    magic, linktype = struct.unpack_from("<I", raw)[0], struct.unpack_from("<I", raw, 20)[0]
    assert magic == _MAGIC_MICROS, f"{path}: not a little-endian microsecond pcap"
    records, offset = [], 24
    while offset + 16 <= len(raw):
        sec, usec, caplen, wirelen = struct.unpack_from("<IIII", raw, offset)
        offset += 16
        records.append(Record(sec * 1_000_000 + usec, wirelen, raw[offset:offset + caplen]))
        offset += caplen
    return linktype, records


@functools.cache
def stored_records(path: Path) -> tuple[int, tuple[Record, ...]]:
    """read_records of a stored capture, read once a process (the records are frozen:
    the tests edit copies)."""
    linktype, records = read_records(path)
    return linktype, tuple(records)


def _pcapng_records(path: Path, raw: bytes) -> tuple[int, list[Record]]:
    assert raw[8:12] == b"\x4d\x3c\x2b\x1a", f"{path}: not a little-endian pcapng"
    linktypes: list[int] = []
    records, offset = [], 0
    while offset + 12 <= len(raw):
        kind, length = struct.unpack_from("<II", raw, offset)
        body = raw[offset + 8:offset + length - 4]
        if kind == 1:  # interface description: microseconds, or dumpcap's nanoseconds
            linktypes.append(struct.unpack_from("<H", body)[0])
            resolution = _option_codes(body[8:]).get(9, b"\x06")[0]
            assert resolution in (6, 9), f"{path}: if_tsresol {resolution}"
            per_micro = 1000 if resolution == 9 else 1
        elif kind == 6:  # enhanced packet
            interface, high, low, caplen, wirelen = struct.unpack_from("<IIIII", body)
            assert interface == 0, f"{path}: more than one interface"
            records.append(Record((high << 32 | low) // per_micro, wirelen,
                                  body[20:20 + caplen]))
        offset += length
    return linktypes[0], records


def _option_codes(options: bytes) -> dict[int, bytes]:
    """A pcapng block's options by code, their values (each padded to 4 bytes)."""
    codes, offset = {}, 0
    while offset + 4 <= len(options):
        code, length = struct.unpack_from("<HH", options, offset)
        codes[code] = options[offset + 4:offset + 4 + length]
        offset += 4 + (length + 3) // 4 * 4
    return codes


def write_records(path: Path, linktype: int, records: list[Record]) -> Path:
    """`records` as a pcap file, as scapy's wrpcap writes them."""
    parts = [struct.pack("<IHHiIII", _MAGIC_MICROS, 2, 4, 0, 0, _SCAPY_SNAPLEN, linktype)]
    for record in records:
        sec, usec = divmod(record.micros, 1_000_000)
        parts.append(struct.pack("<IIII", sec, usec, len(record.data), record.wirelen))
        parts.append(record.data)
    path.write_bytes(b"".join(parts))
    return path


def moved_back(records: list[Record], start: int, micros: int) -> list[Record]:
    """The records with every time from index `start` (0-based) on moved `micros`
    microseconds back (forward when negative), order unchanged."""
    return records[:start] + [replace(r, micros=r.micros - micros) for r in records[start:]]


@dataclass(frozen=True)
class Tcp:
    """The TCP header fields of an Ethernet/IPv4 frame the tests select by: ports, flags
    and the payload bytes captured (scapy's len(packet[TCP].payload): those the snap
    length left, the Ethernet padding after the IP total length not counted)."""

    sport: int
    dport: int
    flags: int
    payload: int


def tcp_of(frame: bytes) -> Tcp | None:
    """The TCP segment of an Ethernet II IPv4 frame (None for any other frame)."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 0x0F) * 4
    total = struct.unpack_from(">H", frame, 16)[0]
    tcp = 14 + ihl
    sport, dport = struct.unpack_from(">HH", frame, tcp)
    offset = (frame[tcp + 12] >> 4) * 4
    payload = min(len(frame) - tcp, total - ihl) - offset
    return Tcp(sport, dport, frame[tcp + 13], max(payload, 0))


LINUX_SLL2, SLL2_LEN, SLL2_TYPE = 276, 20, 10  # the link type; its header's length, type byte
PACKET_HOST, PACKET_OUTGOING = 0, 4  # linux/if_packet.h
_ICMPV6, _UNREACHABLE = 58, 1  # IPv6's next header for ICMPv6; its destination unreachable


def arriving_rejects(frame: bytes) -> bytes:
    """An SLL2 frame with its ICMPv6 destination unreachable marked arriving
    (PACKET_HOST), as if no capture host had sent it; other frames as they are (field
    checks 59 and 63: a reject no capture host shows leaving keeps the bridge named)."""
    ip = frame[SLL2_LEN:]
    if ip[0] >> 4 == 6 and ip[6] == _ICMPV6 and ip[40] == _UNREACHABLE:
        return frame[:SLL2_TYPE] + bytes([PACKET_HOST]) + frame[SLL2_TYPE + 1:]
    return frame


def rejects_made_arriving(capture: Path, out: Path, leaving: int) -> Path:
    """The stored SLL2 `capture` with its ICMPv6 unreachables marked arriving
    (arriving_rejects), written to `out`; asserts `leaving` copies marked leaving changed
    (their wire lengths kept: the snap length's)."""
    kind, records = stored_records(capture)
    assert kind == LINUX_SLL2
    changed = [replace(r, data=arriving_rejects(r.data)) for r in records]
    assert sum(r.data != c.data and r.data[SLL2_TYPE] == PACKET_OUTGOING
               for r, c in zip(records, changed, strict=True)) == leaving
    return write_records(out, LINUX_SLL2, changed)
