"""Ethernet/IPv4/TCP frames byte for byte as scapy writes `Ether() / IP(src=, dst=) /
TCP(...) / Raw(...)` with its default fields (IP id 1, TTL 64, no options; checksums
filled in), made with struct. scapy takes about 3 ms a packet to build and write one:
10 s for a generated capture of 3,000 packets. The Ethernet header is still scapy's,
made once per address pair: its MAC addresses come from this host's routing table.
tests/test_scapy_bytes.py checks the bytes against scapy's own.
"""

from __future__ import annotations

import socket
import struct
from functools import cache
from pathlib import Path

from scapy.all import IP, Ether
from test_connections_util import internet_checksum, ipv4, tcp, write_pcap

# scapy's TCP flag letters, as its FlagsField reads a string such as "PA".
FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40,
             "C": 0x80}


@cache
def ether_header(src: str, dst: str) -> bytes:
    """The 14 bytes scapy's Ether() puts before IP(src=src, dst=dst)."""
    return bytes(Ether() / IP(src=src, dst=dst))[:14]


def tcp_frame(src: str, dst: str, sport: int, dport: int, flags: str, seq: int, ack: int,
              window: int = 65535, payload: bytes = b"") -> bytes:
    """bytes(Ether() / IP(src=src, dst=dst) / TCP(sport=, dport=, flags=, seq=, ack=,
    window=) [/ Raw(payload)]): seq and ack taken modulo 2**32 by the caller."""
    bits = 0
    for letter in flags:
        bits |= FLAG_BITS[letter]
    # test_connections_util's headers are scapy's defaults (IP id 1, TTL 64, no options)
    # with the checksums left 0: filled in here as scapy fills them.
    segment = bytearray(tcp(sport, dport, seq, ack, bits, payload, window))
    pseudo = (socket.inet_aton(src) + socket.inet_aton(dst)
              + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(segment)))
    struct.pack_into("!H", segment, 16, internet_checksum(pseudo + segment))
    packet = bytearray(ipv4(src, dst, socket.IPPROTO_TCP, bytes(segment)))
    struct.pack_into("!H", packet, 10, internet_checksum(bytes(packet[:20])))
    return ether_header(src, dst) + bytes(packet)


def write_frames(path: Path, frames: list[bytes], seconds: list[float]) -> Path:
    """A pcap (Ethernet, snap length 65535: wrpcap's header) of frames at these Unix
    times (microseconds rounded, as wrpcap writes a packet's float time)."""
    start = int(seconds[0]) if seconds else 0
    return write_pcap(path, 1, frames, start=float(start),
                      times=[ts - start for ts in seconds])
