"""Writes small capture files of every format and link type for tests, and reads a pcap
file's records back.

The file formats are written here with struct (they are what the sources are tested
on); scapy only builds the packet bytes. Timestamps are floats in seconds.
"""

from __future__ import annotations

import functools
import gzip
import shutil
import struct
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

PCAP_MAGIC_USEC = 0xA1B2C3D4
PCAP_MAGIC_NSEC = 0xA1B23C4D
PCAP_MAGIC_MODIFIED = 0xA1B2CD34

LINKTYPES = {"null": 0, "ether": 1, "raw": 101, "loop": 108, "sll": 113, "sll2": 276}


# --- pcap --------------------------------------------------------------------------


def pcap_bytes(packets: Sequence[tuple[float, bytes]], linktype: int = 1, *,
               nanosecond: bool = False, big_endian: bool = False,
               snaplen: int = 262144, wirelens: Sequence[int] | None = None) -> bytes:
    """A whole pcap file in memory; wirelens overrides the original lengths."""
    order = ">" if big_endian else "<"
    magic = PCAP_MAGIC_NSEC if nanosecond else PCAP_MAGIC_USEC
    parts = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    scale = 1_000_000_000 if nanosecond else 1_000_000
    for number, (ts, data) in enumerate(packets):
        seconds, fraction = _split(ts, scale)
        wirelen = wirelens[number] if wirelens is not None else len(data)
        parts.append(struct.pack(order + "IIII", seconds, fraction, len(data), wirelen))
        parts.append(data)
    return b"".join(parts)


def pcap_variant_bytes(packets: Sequence[tuple[float, bytes]], extra: bytes, *,
                       modified_magic: bool, big_endian: bool = False,
                       snaplen: int = 262144) -> bytes:
    """A pcap variant (pcap_variants.py): each record header followed by `extra` (4 bytes
    for Nokia's, 8 for the modified and RedHat 6.1's, 12 for SuSE 6.3's), under the
    modified magic a1b2cd34 or the standard one."""
    order = ">" if big_endian else "<"
    magic = PCAP_MAGIC_MODIFIED if modified_magic else PCAP_MAGIC_USEC
    parts = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, 1)]
    for ts, data in packets:
        seconds, fraction = _split(ts, 1_000_000)
        parts.append(struct.pack(order + "IIII", seconds, fraction, len(data), len(data)))
        parts += [extra, data]
    return b"".join(parts)


def write_pcap(path: str | Path, packets: Sequence[tuple[float, bytes]], linktype: int = 1, *,
               nanosecond: bool = False, big_endian: bool = False,
               snaplen: int = 262144) -> Path:
    path = Path(path)
    path.write_bytes(pcap_bytes(packets, linktype, nanosecond=nanosecond,
                                big_endian=big_endian, snaplen=snaplen))
    return path


def read_pcap(path: str | Path) -> list[tuple[float, bytes]]:
    """The records of a little-endian microsecond pcap file (tcpdump's on x86, the lab's)
    as write_pcap takes them: (seconds, frame bytes), each time the float nearest its
    decimal seconds.microseconds, so that write_pcap writes the same microseconds back."""
    data = Path(path).read_bytes()
    if struct.unpack_from("<I", data)[0] != PCAP_MAGIC_USEC:
        raise ValueError(f"{path}: not a little-endian microsecond pcap file")
    records, offset = [], 24
    while offset + 16 <= len(data):
        seconds, micros, caplen, _wirelen = struct.unpack_from("<IIII", data, offset)
        frame = data[offset + 16:offset + 16 + caplen]
        records.append((float(f"{seconds}.{micros:06d}"), frame))
        offset += 16 + caplen
    return records


# --- pcapng ------------------------------------------------------------------------


def _block(order: str, block_type: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack(order + "II", block_type, length) + body + struct.pack(order + "I", length)


def _option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def shb(order: str = "<") -> bytes:
    body = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    return _block(order, 0x0A0D0D0A, body)


def idb(linktype: int, order: str = "<", *, snaplen: int = 262144, tsresol: int = 6,
        tsoffset: int = 0) -> bytes:
    """tsresol: the raw if_tsresol byte (6 = microseconds, 9 = ns, 0x80|n = 2^-n)."""
    options = b""
    if tsresol != 6:
        options += _option(order, 9, bytes([tsresol]))
    if tsoffset:
        options += _option(order, 14, struct.pack(order + "q", tsoffset))
    if options:
        options += _option(order, 0, b"")
    return _block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + options)


def ticks_per_second(tsresol: int) -> int:
    return 1 << (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol


def epb(interface: int, ts: float, data: bytes, order: str = "<", *, tsresol: int = 6,
        tsoffset: int = 0, wirelen: int | None = None) -> bytes:
    ticks = _ticks(ts - tsoffset, ticks_per_second(tsresol))
    body = struct.pack(order + "5I", interface, ticks >> 32, ticks & 0xFFFFFFFF, len(data),
                       len(data) if wirelen is None else wirelen) + data
    return _block(order, 6, body)


def spb(data: bytes, order: str = "<", *, wirelen: int | None = None) -> bytes:
    return _block(order, 3, struct.pack(order + "I", len(data) if wirelen is None else wirelen)
                  + data)


def opb(interface: int, ts: float, data: bytes, order: str = "<") -> bytes:
    ticks = _ticks(ts, 1_000_000)
    body = struct.pack(order + "HH4I", interface, 0, ticks >> 32, ticks & 0xFFFFFFFF,
                       len(data), len(data)) + data
    return _block(order, 2, body)


def custom_block(order: str = "<") -> bytes:
    """A Name Resolution Block and an Interface Statistics Block: readers skip both."""
    nrb = _block(order, 4, struct.pack(order + "HH", 0, 0))
    isb = _block(order, 5, struct.pack(order + "III", 0, 0, 0))
    return nrb + isb


def isb(interface: int, ended: float, order: str = "<", *, ifdrop: int | None = None,
        osdrop: int | None = None, tsresol: int = 6) -> bytes:
    """An Interface Statistics Block as dumpcap writes when it stops: its timestamp and
    isb_endtime `ended`, and the drop counters given."""
    ticks = _ticks(ended, ticks_per_second(tsresol))
    stamp = struct.pack(order + "II", ticks >> 32, ticks & 0xFFFFFFFF)
    options = _option(order, 3, stamp)
    if ifdrop is not None:
        options += _option(order, 5, struct.pack(order + "Q", ifdrop))
    if osdrop is not None:
        options += _option(order, 7, struct.pack(order + "Q", osdrop))
    options += _option(order, 0, b"")
    return _block(order, 5, struct.pack(order + "I", interface) + stamp + options)


def pcapng_bytes(interfaces: Sequence[int], packets: Sequence[tuple[int, float, bytes]], *,
                 big_endian: bool = False, use_spb: bool = False, tsresol: int = 6,
                 tsoffset: int = 0, extra_blocks: bool = True) -> bytes:
    """One section; with use_spb every packet goes in a Simple Packet Block (iface 0)."""
    order = ">" if big_endian else "<"
    parts = [shb(order)]
    parts += [idb(linktype, order, tsresol=tsresol, tsoffset=tsoffset) for linktype in interfaces]
    if extra_blocks:
        parts.append(custom_block(order))
    for interface, ts, data in packets:
        if use_spb:
            parts.append(spb(data, order))
        else:
            parts.append(epb(interface, ts, data, order, tsresol=tsresol, tsoffset=tsoffset))
    return b"".join(parts)


def write_pcapng(path: str | Path, interfaces: Sequence[int],
                 packets: Sequence[tuple[int, float, bytes]], *, big_endian: bool = False,
                 use_spb: bool = False, tsresol: int = 6, tsoffset: int = 0) -> Path:
    path = Path(path)
    path.write_bytes(pcapng_bytes(interfaces, packets, big_endian=big_endian, use_spb=use_spb,
                                  tsresol=tsresol, tsoffset=tsoffset))
    return path


# --- gzip --------------------------------------------------------------------------


def gzip_file(path: str | Path, target: str | Path | None = None) -> Path:
    """Compress path to target (default: path + '.gz'), leaving path in place."""
    path = Path(path)
    target = Path(target) if target is not None else path.with_name(path.name + ".gz")
    with open(path, "rb") as source, gzip.open(target, "wb") as sink:
        shutil.copyfileobj(source, sink)
    return target


def write_pcap_gz(path: str | Path, packets: Sequence[tuple[float, bytes]], linktype: int = 1,
                  **options: object) -> Path:
    path = Path(path)
    path.write_bytes(gzip.compress(pcap_bytes(packets, linktype, **options)))  # type: ignore[arg-type]
    return path


def write_pcapng_gz(path: str | Path, interfaces: Sequence[int],
                    packets: Sequence[tuple[int, float, bytes]], **options: object) -> Path:
    path = Path(path)
    path.write_bytes(gzip.compress(pcapng_bytes(interfaces, packets, **options)))  # type: ignore[arg-type]
    return path


# --- packets -----------------------------------------------------------------------


def tcp_packet(src: str, dst: str, sport: int, dport: int, flags: str = "A", seq: int = 0,
               ack: int = 0, payload: bytes = b"", *, link: str = "ether",
               vlan: Sequence[int] | None = None, window: int = 65535) -> bytes:
    """The bytes of one TCP packet (IPv4 or IPv6 by address) on the given link type."""
    return _tcp_packet(src, dst, sport, dport, flags, seq, ack, bytes(payload), link,
                       None if vlan is None else tuple(vlan), window)


@functools.lru_cache(maxsize=4096)
def _tcp_packet(src: str, dst: str, sport: int, dport: int, flags: str, seq: int, ack: int,
                payload: bytes, link: str, vlan: tuple[int, ...] | None,
                window: int) -> bytes:
    """tcp_packet's bytes, built once per distinct packet: scapy takes about 1 ms a packet
    (a test's 3,000 copies of one packet took 3 s), and bytes are immutable."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6

    ip_layer = IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)
    packet = ip_layer / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack,
                            window=window) / payload
    return link_frame(bytes(packet), link=link, vlan=vlan, ipv6=":" in src)


def link_frame(ip_bytes: bytes, *, link: str = "ether", vlan: Sequence[int] | None = None,
               ipv6: bool = False) -> bytes:
    """Wrap IP bytes in a link-layer header of the named type (see LINKTYPES)."""
    ethertype = 0x86DD if ipv6 else 0x0800
    if link == "raw":
        return ip_bytes
    if link in ("null", "loop"):
        family = (30 if ipv6 else 2)  # AF_INET6 on BSD-like systems, AF_INET
        order = "<" if link == "null" else ">"
        return struct.pack(order + "I", family) + ip_bytes
    tags = b"".join(struct.pack(">HH", 0x8100, vid & 0x0FFF) for vid in (vlan or []))
    if link == "ether":
        header = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"
        return header + tags + struct.pack(">H", ethertype) + ip_bytes
    if link == "sll":
        header = struct.pack(">HHH8s", 0, 1, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00")
        return header + struct.pack(">H", ethertype) + ip_bytes
    if link == "sll2":
        header = struct.pack(">HHIHBB8s", ethertype, 0, 1, 1, 0, 6,
                             b"\x02\x00\x00\x00\x00\x01\x00\x00")
        return header + ip_bytes
    raise ValueError(f"unknown link {link!r}; one of {sorted(LINKTYPES)}")


def _split(ts: float, scale: int) -> tuple[int, int]:
    ticks = _ticks(ts, scale)
    return ticks // scale, ticks % scale


def _ticks(ts: float, scale: int) -> int:
    # Through the shortest decimal repr: 1700000000.000001 means 1 us, not 954 ns.
    return int(Decimal(repr(float(ts))) * scale)
