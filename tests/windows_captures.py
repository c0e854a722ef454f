"""Captures as Windows tools write them, rebuilt from the lab's pcaps (trial 24).

pktmon etl2pcap: each packet once per network-stack component it passed (three here:
TCP/IP, a filter, the NIC; in the order a sent or a received packet passes them), the
appearances `gap_us` apart, each with pktmon's comment "PktGroupId N, PktNumber 1,
Appearance a, ..."; the section header's shb_userappl "PktMon etl2pcap".
netsh trace + etl2pcapng: each packet at the miniport ("eth:12:0") and at a filter over
it ("eth:15:0", described "LWF over IfIndex 12"), 2 us apart, comment "PID=4".
"""

from __future__ import annotations

import struct
from pathlib import Path


def read_pcap(path: Path) -> list[tuple[int, bytes, int]]:
    """(time in microseconds, frame, original length) of a little-endian microsecond
    Ethernet pcap, as the lab writes."""
    data = path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1" and struct.unpack_from("<I", data, 20)[0] == 1
    packets, pos = [], 24
    while pos + 16 <= len(data):
        seconds, micros, caplen, wirelen = struct.unpack_from("<IIII", data, pos)
        packets.append((seconds * 1_000_000 + micros, data[pos + 16:pos + 16 + caplen], wirelen))
        pos += 16 + caplen
    return packets


def _pad(value: bytes) -> bytes:
    return value + b"\0" * (-len(value) % 4)


def _options(options: list[tuple[int, bytes]]) -> bytes:
    if not options:
        return b""
    return b"".join(struct.pack("<HH", code, len(value)) + _pad(value)
                    for code, value in options) + struct.pack("<HH", 0, 0)


def _block(block_type: int, body: bytes) -> bytes:
    body = _pad(body)
    return struct.pack("<II", block_type, 12 + len(body)) + body + struct.pack(
        "<I", 12 + len(body))


def section(application: bytes) -> bytes:
    return _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
                  + _options([(4, application)]))


def interface(name: str | None = None, description: str | None = None,
              tsresol: int | None = None) -> bytes:
    options = [(2, name.encode())] if name else []
    if description:
        options.append((3, description.encode()))
    if tsresol is not None:
        options.append((9, bytes([tsresol])))
    return _block(1, struct.pack("<HHI", 1, 0, 65535) + _options(options))


def packet(iface: int, ticks: int, data: bytes, wirelen: int, comment: str | None = None,
           flags: int | None = None) -> bytes:
    options = [(1, comment.encode())] if comment else []
    if flags is not None:
        options.append((2, struct.pack("<I", flags)))
    return _block(6, struct.pack("<IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data),
                                 wirelen) + _pad(data) + _options(options))


def pktmon(source: Path, out: Path, gap_us: int = 3) -> Path:
    """source as pktmon etl2pcap writes it (module docstring), nanosecond times."""
    packets = read_pcap(source)
    me = packets[0][1][6:12]
    blocks = [section(b"PktMon etl2pcap"), interface(tsresol=9)]
    for group, (at, data, wirelen) in enumerate(packets, 1001):
        sent = data[6:12] == me
        components = (12, 9, 7) if sent else (7, 9, 12)
        for appearance, component in enumerate(components, 1):
            comment = (f"PktGroupId {group}, PktNumber 1, Appearance {appearance}, Direction "
                       f"{'Tx' if sent else 'Rx'} , Type Ethernet , Component {component}, "
                       f"Edge 1, Filter 0, OriginalSize {wirelen}, LoggedSize {len(data)}")
            blocks.append(packet(0, (at + (appearance - 1) * gap_us) * 1000, data, wirelen,
                                 comment))
    out.write_bytes(b"".join(blocks))
    return out


def etl2pcapng(source: Path, out: Path) -> Path:
    """source as netsh trace + etl2pcapng write it (module docstring)."""
    packets = read_pcap(source)
    me = packets[0][1][6:12]
    blocks = [section(b"etl2pcapng 1.11.0"), interface("eth:12:0"),
              interface("eth:15:0", "LWF over IfIndex 12")]
    for at, data, wirelen in packets:
        sent = data[6:12] == me
        for step, iface in enumerate((1, 0) if sent else (0, 1)):
            blocks.append(packet(iface, at + 2 * step, data, wirelen, "PID=4",
                                 2 if sent else 1))
    out.write_bytes(b"".join(blocks))
    return out


def netsh_cut(source: Path, out: Path, sender: bytes, snap: int = 128,
              zero_length: bool = False) -> Path:
    """source as netsh trace capture=yes packettruncatebytes=snap on the host whose IPv4
    address is `sender` (4 bytes), converted by etl2pcapng: that host's large sends are
    cut to snap bytes and their original length recorded as snap too (etl2pcapng cannot
    infer an LSOv2 send's), their IPv4 total length kept, or 0 (zero_length, as LSOv2
    leaves it). One interface, "eth:12:0"."""
    blocks = [section(b"etl2pcapng 1.11.0"), interface("eth:12:0")]
    for at, data, wirelen in read_pcap(source):
        if data[26:30] == sender and len(data) > snap:
            data = data[:snap]
            if zero_length:
                data = data[:16] + b"\0\0" + data[18:]
            wirelen = snap
        blocks.append(packet(0, at, data, wirelen, "PID=4"))
    out.write_bytes(b"".join(blocks))
    return out
