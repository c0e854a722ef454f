"""Benchmark capture (c): many short connections, made from real handshakes.

Every short TCP connection (SYN seen, at most `MAX_PACKETS` packets, not NDMP control)
of the lab's stored Backup Exec captures (captures/lab/*.pcap: real sockets, captured
by tcpdump) is a template; `count` copies of them are laid out, each with its own
client port (the TCP checksum corrected for it, RFC 1624), starting `SPACING` seconds apart with the
template's own timing, so that a few dozen are open at any time, and merged in time
order. Only the port changes: handshakes, sequence numbers, payloads, resets and
timing are the lab's.
"""

from __future__ import annotations

import heapq
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "captures" / "lab"
RECORD = struct.Struct("<IIII")
ETH = 14
MAX_PACKETS = 12  # a few packets: handshake, a little data, close or reset
SPACING = 0.0005  # seconds between connection starts
FIRST_PORT = 20000
PORTS = 40_000  # client ports used in turn
NDMP_PORT = 10000


def _records(path: Path):
    data = path.read_bytes()
    if data[:4] != b"\xd4\xc3\xb2\xa1" or struct.unpack_from("<I", data, 20)[0] != 1:
        return  # little-endian microsecond Ethernet pcap only
    pos = 24
    while pos + 16 <= len(data):
        sec, usec, caplen, wirelen = RECORD.unpack_from(data, pos)
        yield sec + usec / 1e6, data[pos + 16:pos + 16 + caplen], wirelen
        pos += 16 + caplen


def _tcp_at(frame: bytes) -> int | None:
    if len(frame) < ETH + 40 or frame[12:14] != b"\x08\x00" or frame[ETH + 9] != 6:
        return None
    return ETH + (frame[ETH] & 0x0F) * 4


def templates() -> list[list[tuple[float, bytes, int, bool]]]:
    """Short connections: [(ts from its start, frame, wirelen, sent by the client)]."""
    found = []
    for path in sorted(SOURCES.glob("*.pcap")):
        flows: dict[tuple, list] = {}
        for ts, frame, wire in _records(path):
            at = _tcp_at(frame)
            if at is None:
                continue
            src, dst = frame[ETH + 12:ETH + 16], frame[ETH + 16:ETH + 20]
            sport, dport = struct.unpack_from("!HH", frame, at)
            a, b = (src, sport), (dst, dport)
            flows.setdefault((min(a, b), max(a, b)), []).append((ts, frame, wire, a))
        for packets in flows.values():
            first = packets[0][1]
            at = _tcp_at(first)
            if len(packets) > MAX_PACKETS or first[at + 13] & 0x12 != 0x02:
                continue  # not opened by a SYN in this capture, or long
            if NDMP_PORT in struct.unpack_from("!HH", first, at):
                continue  # thousands of NDMP jobs between two hosts is not this capture's point
            client = packets[0][3]
            t0 = packets[0][0]
            found.append([(ts - t0, frame, wire, side == client)
                          for ts, frame, wire, side in packets])
    return found


def _replace_word(edited: bytearray, where: int, value: int, checksums: list[int]) -> None:
    """Put a 16-bit value at `where`, keeping the checksums at `checksums` right."""
    old = struct.unpack_from("!H", edited, where)[0]
    struct.pack_into("!H", edited, where, value)
    for checksum_at in checksums:
        if len(edited) >= checksum_at + 2:
            checksum = struct.unpack_from("!H", edited, checksum_at)[0]
            total = (~checksum & 0xFFFF) + (~old & 0xFFFF) + value  # RFC 1624 eqn. 3
            total = (total & 0xFFFF) + (total >> 16)
            total = (total & 0xFFFF) + (total >> 16)
            struct.pack_into("!H", edited, checksum_at, ~total & 0xFFFF)


def _with_port(frame: bytes, from_client: bool, port: int, round_: int = 0) -> bytes:
    """The client's port replaced (source or destination), checksums kept right; from
    the second round of ports on, the client's address too (its second byte XORed
    with the round), so that every connection has its own 4-tuple."""
    at = _tcp_at(frame)
    edited = bytearray(frame)
    _replace_word(edited, at if from_client else at + 2, port, [at + 16])
    if round_:
        where = ETH + (12 if from_client else 16)  # the client's address
        word = struct.unpack_from("!H", edited, where)[0] ^ (round_ & 0xFF)
        _replace_word(edited, where, word, [ETH + 10, at + 16])  # IP and TCP checksums
    return bytes(edited)


def _lane(shape: list, t0: float, n: int):
    for k, (ts, frame, wire, client) in enumerate(shape):
        yield t0 + ts, n, k, frame, wire, client


def build(target: Path, count: int = 20_000) -> int:
    """Write the capture; returns its packet count."""
    shapes = templates()
    if not shapes:
        raise SystemExit(f"no short connection in {SOURCES}")
    start = 1_764_547_200.0  # 2025-12-01
    lanes = [_lane(shapes[n % len(shapes)], start + n * SPACING, n) for n in range(count)]
    written = 0
    with target.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        chunk = []
        for ts, n, _, frame, wire, client in heapq.merge(*lanes):
            frame = _with_port(frame, client, FIRST_PORT + n % PORTS, n // PORTS)
            sec = int(ts)
            chunk.append(RECORD.pack(sec, int((ts - sec) * 1e6), len(frame), wire) + frame)
            written += 1
            if len(chunk) >= 8192:
                out.write(b"".join(chunk))
                chunk = []
        out.write(b"".join(chunk))
    return written


LARGE_COUNT = 200_000


def build_large(target: Path) -> str:
    """(c) ten times over (LARGE_COUNT connections, built the same way): start-up is a
    small part of its run, so its packets/s measure the per-packet cost. Every 40,000
    connections the client ports start again from another client address (a copied
    handshake on a reused 4-tuple would be the same connection again: same ISN)."""
    return f"{build(target, LARGE_COUNT)} packets"
