"""Build the benchmark capture: a real ndmjob backup whose data connection is extended
with N full-size (1514-byte) packets, sequence numbers, ACKs and timestamps consistent.

Layout: the original packets up to the data connection's first FIN, then N generated
data segments (agent -> media server, 1448 bytes of payload each, an ACK from the media
server every 8 segments, 1 Gbit/s pacing), then the original rest with the data
direction's sequence numbers (and the media side's ACK numbers) shifted by the bytes
added and timestamps shifted by the time added.
"""

from __future__ import annotations

import struct
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "captures" / "ndmjob" / "v4-backup.pcap"

RECORD = struct.Struct("<IIII")
ETH, SEQ_AT, ACK_AT = 14, 4, 8
ACK_EVERY = 8


def _records(data: bytes):
    pos = 24
    while pos + 16 <= len(data):
        sec, usec, caplen, wirelen = RECORD.unpack_from(data, pos)
        yield sec + usec / 1e6, data[pos + 16:pos + 16 + caplen], wirelen
        pos += 16 + caplen


def _tcp(frame: bytes) -> tuple[int, int, bytes, bytes, int, int, int, int]:
    """(ip header offset, tcp offset, src ip, dst ip, sport, dport, flags, payload len)."""
    ihl = (frame[ETH] & 0x0F) * 4
    total = struct.unpack_from("!H", frame, ETH + 2)[0]
    tcp_at = ETH + ihl
    sport, dport = struct.unpack_from("!HH", frame, tcp_at)
    doff = (frame[tcp_at + 12] >> 4) * 4
    return (ETH, tcp_at, frame[ETH + 12:ETH + 16], frame[ETH + 16:ETH + 20], sport, dport,
            frame[tcp_at + 13], total - ihl - doff)


def _record(ts: float, frame: bytes, wirelen: int | None = None) -> bytes:
    sec = int(ts)
    usec = min(999_999, int(round((ts - sec) * 1e6)))
    return RECORD.pack(sec, usec, len(frame), wirelen or len(frame)) + frame


def _set_u32(frame: bytearray, at: int, value: int) -> None:
    struct.pack_into("!I", frame, at, value & 0xFFFFFFFF)


def build(source: Path, target: Path, packets: int) -> None:
    data = source.read_bytes()
    records = list(_records(data))
    # The data connection: the flow carrying the most payload.
    payload: dict[tuple, int] = {}
    for _, frame, _ in records:
        _, _, src, dst, sport, dport, _, length = _tcp(frame)
        payload[(src, sport, dst, dport)] = payload.get((src, sport, dst, dport), 0) + length
    sender = max(payload, key=payload.__getitem__)
    receiver = (sender[2], sender[3], sender[0], sender[1])
    template = last_ack_frame = None
    next_seq = ack_seq = 0
    cut = len(records)
    for index, (_, frame, _) in enumerate(records):
        _, tcp_at, src, dst, sport, dport, flags, length = _tcp(frame)
        key = (src, sport, dst, dport)
        if key in (sender, receiver) and flags & 0x01:
            cut = index
            break
        if key == sender and length > 0:
            template = frame
            next_seq = struct.unpack_from("!I", frame, tcp_at + SEQ_AT)[0] + length
            ack_seq = struct.unpack_from("!I", frame, tcp_at + ACK_AT)[0]
        elif key == receiver:
            last_ack_frame = frame
    if template is None or last_ack_frame is None:
        raise SystemExit(f"{source}: no data connection to extend")
    ip_at, tcp_at = _tcp(template)[:2]
    header_len = tcp_at + (template[tcp_at + 12] >> 4) * 4
    segment = 1514 - header_len
    start_ts = records[cut - 1][0]
    spacing = 1514 * 8 / 1e9  # 1 Gbit/s
    added_bytes = segment * packets
    added_time = spacing * (packets + 1)
    full = bytearray(template[:header_len] + b"\xa5" * segment)
    struct.pack_into("!H", full, ip_at + 2, 1514 - ETH)
    ack = bytearray(last_ack_frame)
    with target.open("wb") as out:
        out.write(data[:24])
        out.write(b"".join(_record(ts, frame, wire) for ts, frame, wire in records[:cut]))
        chunk: list[bytes] = []
        for k in range(packets):
            ts = start_ts + spacing * (k + 1)
            _set_u32(full, tcp_at + SEQ_AT, next_seq + k * segment)
            _set_u32(full, tcp_at + ACK_AT, ack_seq)
            chunk.append(_record(ts, bytes(full)))
            if k % ACK_EVERY == ACK_EVERY - 1:
                _set_u32(ack, tcp_at + ACK_AT, next_seq + (k + 1) * segment)
                chunk.append(_record(ts + spacing / 2, bytes(ack)))
            if len(chunk) >= 8192:
                out.write(b"".join(chunk))
                chunk = []
        out.write(b"".join(chunk))
        for ts, frame, wire in records[cut:]:
            edited = bytearray(frame)
            _, at, src, dst, sport, dport, _, _ = _tcp(frame)
            key = (src, sport, dst, dport)
            if key == sender:
                _set_u32(edited, at + SEQ_AT, struct.unpack_from("!I", frame, at + SEQ_AT)[0]
                         + added_bytes)
            elif key == receiver:
                _set_u32(edited, at + ACK_AT, struct.unpack_from("!I", frame, at + ACK_AT)[0]
                         + added_bytes)
            out.write(_record(ts + added_time, bytes(edited), wire))


def write_slice(source: Path, target: Path, packets: int) -> int:
    """The first `packets` records of a pcap, as a pcap; returns how many were written."""
    written = 0
    with source.open("rb") as src, target.open("wb") as out:
        out.write(src.read(24))
        while written < packets:
            head = src.read(16)
            if len(head) < 16:
                break
            caplen = RECORD.unpack(head)[2]
            out.write(head + src.read(caplen))
            written += 1
    return written
