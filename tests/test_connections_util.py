"""Byte-exact packet builders and a pcap writer for the decode/connections tests.

Built with struct rather than scapy so a test controls every length field, the
Ethernet padding and the snap length. Checksums are left zero: neither tshark (by
default) nor flowcheck checks them. The self-tests below hold the builders to tshark.
"""

from __future__ import annotations

import gzip
import socket
import struct
from pathlib import Path

import numpy as np
import tshark_fork

from flowcheck.connections import ConnectionTracker
from flowcheck.sources.batch import PacketBatch

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def internet_checksum(data: bytes) -> int:
    """RFC 1071: the ones' complement of the ones' complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"",
        window: int = 65535, options: bytes = b"") -> bytes:
    options += b"\x01" * (-len(options) % 4)
    offset = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                       offset << 4, flags, window, 0, 0) + options + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, options: bytes = b"",
         frag: int = 0, total: int | None = None) -> bytes:
    options += b"\x00" * (-len(options) % 4)
    ihl = (20 + len(options)) // 4
    length = total if total is not None else 20 + len(options) + len(payload)
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, length, 1, frag, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst)) + options + payload


def ipv6(src: str, dst: str, next_header: int, payload: bytes,
         extensions: list[tuple[int, bytes]] = ()) -> bytes:
    """extensions: (this header's type, its bytes after the next-header byte)."""
    chain = b""
    types = [t for t, _ in extensions] + [next_header]
    for index, (_, body) in enumerate(extensions):
        chain += bytes([types[index + 1]]) + body
    first = types[0]
    return struct.pack("!IHBB16s16s", 0x60000000, len(chain) + len(payload), first, 64,
                       socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + chain + payload


def ethernet(l3: bytes, ethertype: int = 0x0800, vlans: tuple[int, ...] = (),
             pad: bool = True) -> bytes:
    header = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"
    for tpid in vlans:
        header += struct.pack("!HH", tpid, 100)
    frame = header + struct.pack("!H", ethertype) + l3
    if pad and len(frame) < 60:
        frame += b"\xee" * (60 - len(frame))  # padding that is not payload
    return frame


def sll(l3: bytes, ethertype: int = 0x0800) -> bytes:
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02\x00\x00\x00\x00\x01\x00\x00", ethertype) + l3


def sll2(l3: bytes, ethertype: int = 0x0800) -> bytes:
    return struct.pack("!HHIHBB8s", ethertype, 0, 2, 1, 0, 6,
                       b"\x02\x00\x00\x00\x00\x01\x00\x00") + l3


def null(l3: bytes, family: int = 2, little: bool = True) -> bytes:
    return struct.pack("<I" if little else ">I", family) + l3


def write_pcap(path: Path, linktype: int, packets: list[bytes | tuple[bytes, int]],
               start: float = 1_700_000_000.0, step: float = 0.001,
               times: list[float] | None = None) -> Path:
    """Write a pcap; a packet given as (bytes, snaplen) is cut to snaplen. times: each
    packet's seconds after start (else `step` apart)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for index, item in enumerate(packets):
        data, snap = (item, len(item)) if isinstance(item, bytes) else item
        ts = start + (index * step if times is None else times[index])
        seconds = int(ts)
        micros = int(round((ts - seconds) * 1e6))
        out.append(struct.pack("<IIII", seconds, micros, min(snap, len(data)), len(data)))
        out.append(data[:snap])
    path.write_bytes(b"".join(out))
    return path


def read_batches(path: Path, chunk: int = 1000, linktype: int | None = None):
    """A throwaway pcap reader (flowcheck.sources is tested on its own); .gz inflated."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    # pcap only: a pcapng file (mergecap's default) would read as no packet at all, and
    # a test comparing two empty results would pass.
    assert data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4",
                        b"\xa1\xb2\x3c\x4d"), f"{path}: not a pcap file"
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = data[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    link = struct.unpack_from(endian + "I", data, 20)[0] & 0xFFFF
    records: list[tuple[float, int, int, int]] = []
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack_from(endian + "IIII", data, pos)
        if pos + 16 + caplen > len(data):
            break
        records.append((sec + frac / (1e9 if nano else 1e6), pos + 16, caplen, wirelen))
        pos += 16 + caplen
    for first in range(0, len(records), chunk):
        part = records[first:first + chunk]
        yield PacketBatch(
            buf=data, frame0=first + 1,
            ts=np.array([r[0] for r in part], dtype=np.float64),
            data_off=np.array([r[1] for r in part], dtype=np.int64),
            caplen=np.array([r[2] for r in part], dtype=np.int32),
            wirelen=np.array([r[3] for r in part], dtype=np.int32),
            linktype=np.full(len(part), linktype if linktype is not None else link, np.int32))


def tshark_fields(path: Path, *fields: str) -> list[list[str]]:
    return tshark_fork.fields(path, "", *fields,
                              options=("-o", "tcp.desegment_tcp_streams:FALSE"))


def test_builders_agree_with_tshark(tmp_path: Path) -> None:
    packet = ethernet(ipv4("10.0.0.1", "10.0.0.2", 6,
                           tcp(5000, 10000, 7, 9, PSH | ACK, b"abc", options=b"\x02\x04\x05\xb4")))
    rows = tshark_fields(write_pcap(tmp_path / "one.pcap", 1, [packet]),
                         "ip.src", "tcp.srcport", "tcp.dstport", "tcp.len", "tcp.hdr_len")
    assert rows == [["10.0.0.1", "5000", "10000", "3", "24"]]


ORIG_PKTS = 6  # where tracked_records puts a connection's originator's packets
MISSED_BYTES = 13  # where tracked_records puts a connection's missed bytes


def tracked_records(path: Path, chunk: int, fast: bool = True) -> list[tuple]:
    """Each connection the tracker builds from path read in batches of `chunk` packets, as
    a tuple of what two readings of the same packets must agree on: its 4-tuple, first and
    last frames, packets and bytes each way, history, state, gaps, missed bytes,
    retransmissions and ICMP errors."""
    tracker = ConnectionTracker(fast=fast)
    for batch in read_batches(path, chunk=chunk):
        tracker.feed(batch)
    return [(c.orig_h, c.orig_p, c.resp_h, c.resp_p, c.first_frame, c.last_frame, c.orig_pkts,
             c.resp_pkts, c.orig_bytes, c.resp_bytes, c.history, c.conn_state, c.gaps,
             c.missed_bytes, c.retransmits, len(c.icmp_frames)) for c in tracker.finish()]
