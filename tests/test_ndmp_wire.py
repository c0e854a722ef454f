"""Byte builders for NDMP tests: record marks, headers, XDR bodies (no tests here)."""

from __future__ import annotations

import ipaddress
import struct

REQUEST, REPLY = 0, 1


def u32(value: int) -> bytes:
    return struct.pack(">I", value)


def u64(value: int) -> bytes:
    return struct.pack(">Q", value)


def xdr_string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return u32(len(data)) + data + b"\0" * (-len(data) % 4)


def ip(text: str) -> bytes:
    return u32(int(ipaddress.IPv4Address(text)))


def header(sequence: int, raw_type: int, code: int, reply_sequence: int = 0,
           error: int = 0, time_stamp: int = 1_700_000_000) -> bytes:
    return struct.pack(">IIIIII", sequence, time_stamp, raw_type, code, reply_sequence, error)


def record(message: bytes, fragments: list[int] | None = None) -> bytes:
    """ONC RPC record marking; `fragments` gives the sizes of all but the last fragment."""
    out = b""
    pos = 0
    for size in fragments or []:
        out += u32(size) + message[pos:pos + size]
        pos += size
    rest = message[pos:]
    return out + u32(0x80000000 | len(rest)) + rest


def msg(sequence: int, raw_type: int, code: int, body: bytes = b"", reply_sequence: int = 0,
        error: int = 0) -> bytes:
    return record(header(sequence, raw_type, code, reply_sequence, error) + body)


def v4_tcp_addr(*endpoints: tuple[str, int], env: list[tuple[str, str]] | None = None) -> bytes:
    out = u32(1) + u32(len(endpoints))
    for host, port in endpoints:
        pairs = env or []
        out += ip(host) + u32(port) + u32(len(pairs))
        for name, value in pairs:
            out += xdr_string(name) + xdr_string(value)
    return out


def v3_tcp_addr(host: str, port: int) -> bytes:
    return u32(1) + ip(host) + u32(port)


v2_tcp_addr = v3_tcp_addr  # same bytes: type, ip, port

NOTIFY_CONNECTED = 0x502
CONNECT_OPEN = 0x900


def greeting(version: int = 4) -> bytes:
    return msg(1, REQUEST, NOTIFY_CONNECTED, u32(0) + u32(version) + xdr_string("Hello"))
