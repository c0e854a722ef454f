"""Benchmark captures for the encapsulated cases, made from an Ethernet pcap (for example
the one bench/build.py builds):

    build_vxlan(source, target)  every frame inside VXLAN (UDP 4789) between two VTEPs,
                                 as a capture on a hypervisor's underlay interface
    build_tso(source, target)    the data segments coalesced into segmentation-offload
                                 super-frames (IPv4 total length 0, up to 44 segments,
                                 ~64 KB), as a capture on the sending media server

Both keep every connection's packets in order and its payload bytes, so flowcheck's
connection records are comparable with those of the source (TSO: fewer packets). Each
returns the number of packets written.

    python bench/build_encap.py vxlan|tso SOURCE TARGET
"""

from __future__ import annotations

import socket
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

RECORD = struct.Struct("<IIII")
ETH = 14
VTEPS = (socket.inet_aton("192.0.2.1"), socket.inet_aton("192.0.2.2"))
OUTER_MACS = bytes.fromhex("020000000b02" "020000000b01")
FLUSH = 8192  # records per write


def _records(path: Path) -> Iterator[tuple[int, int, bytes, int]]:
    """(seconds, microseconds, frame, wire length) of each record of a pcap."""
    with path.open("rb") as src:
        header = src.read(24)
        if header[:4] != b"\xd4\xc3\xb2\xa1":
            raise SystemExit(f"{path}: a little-endian microsecond pcap is expected")
        while True:
            head = src.read(16)
            if len(head) < 16:
                return
            sec, usec, caplen, wirelen = RECORD.unpack(head)
            yield sec, usec, src.read(caplen), wirelen


def _write(target: Path, source: Path, records: Iterator[tuple[int, int, bytes, int]]) -> int:
    count = 0
    with source.open("rb") as src:
        header = src.read(24)
    with target.open("wb") as out:
        out.write(header[:16] + struct.pack("<I", 262144) + header[20:24])
        chunk: list[bytes] = []
        for sec, usec, frame, wirelen in records:
            chunk.append(RECORD.pack(sec, usec, len(frame), wirelen) + frame)
            count += 1
            if len(chunk) >= FLUSH:
                out.write(b"".join(chunk))
                chunk = []
        out.write(b"".join(chunk))
    return count


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _vxlan(frame: bytes, wirelen: int, ident: int) -> tuple[bytes, int]:
    # The VTEP pair follows the inner direction, as two hypervisors would send it.
    forward = frame[ETH + 12:ETH + 16] <= frame[ETH + 16:ETH + 20]
    src, dst = VTEPS if forward else VTEPS[::-1]
    inner_len = wirelen  # the whole inner frame travels, whatever the snap length kept
    udp = struct.pack("!HHHH", 49152 + (ident & 0x3FFF), 4789, 8 + 8 + inner_len, 0)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 16 + inner_len, ident & 0xFFFF,
                               0x4000, 64, 17, 0, src, dst))
    struct.pack_into("!H", ip, 10, _checksum(bytes(ip)))
    outer = OUTER_MACS + b"\x08\x00" + bytes(ip) + udp + struct.pack("!II", 0x08000000,
                                                                     5001 << 8)
    return outer + frame, len(outer) + wirelen


def build_vxlan(source: Path, target: Path) -> int:
    """Write `source` with every frame inside VXLAN to `target`; returns packets written."""
    def wrapped() -> Iterator[tuple[int, int, bytes, int]]:
        for ident, (sec, usec, frame, wirelen) in enumerate(_records(source)):
            outer, outer_len = _vxlan(frame, wirelen, ident)
            yield sec, usec, outer, outer_len
    return _write(target, source, wrapped())


def _segment(frame: bytes) -> tuple[bytes, int, int, int] | None:
    """(flow-direction key, seq, header length, payload length) of an IPv4 TCP data
    segment captured whole, else None."""
    if len(frame) < ETH + 40 or frame[12:14] != b"\x08\x00" or frame[ETH + 9] != 6:
        return None
    ihl = (frame[ETH] & 0x0F) * 4
    total = struct.unpack_from("!H", frame, ETH + 2)[0]
    tcp_at = ETH + ihl
    header_len = tcp_at + (frame[tcp_at + 12] >> 4) * 4
    payload = total - (header_len - ETH)
    flags = frame[tcp_at + 13]
    if payload <= 0 or flags & 0x07 or len(frame) < header_len + payload:
        return None
    key = frame[ETH + 12:ETH + 20] + frame[tcp_at:tcp_at + 4]
    return key, struct.unpack_from("!I", frame, tcp_at + 4)[0], header_len, payload


def build_tso(source: Path, target: Path, per_frame: int = 44) -> int:
    """Write `source` to `target` with runs of consecutive data segments of one direction
    (other packets in between are delayed behind the run) coalesced into super-frames of
    up to `per_frame` segments: IPv4 total length 0, the first segment's headers, the
    payloads concatenated. Returns packets written."""
    def coalesced() -> Iterator[tuple[int, int, bytes, int]]:
        run: list[tuple[int, int, bytes]] = []
        held: list[tuple[int, int, bytes, int]] = []
        expect: tuple[bytes, int] | None = None

        def flush() -> Iterator[tuple[int, int, bytes, int]]:
            if run:
                sec, usec, first = run[0]
                header_len = _segment(first)[2]  # type: ignore[index]
                frame = bytearray(first[:header_len])
                struct.pack_into("!H", frame, ETH + 2, 0)  # TSO: total length 0
                struct.pack_into("!H", frame, ETH + 10, 0)  # the NIC fills the checksum
                frame += b"".join(f[_segment(f)[2]:] for _, _, f in run)  # type: ignore[index]
                yield sec, usec, bytes(frame), len(frame)
            yield from held
            run.clear()
            held.clear()

        for sec, usec, frame, wirelen in _records(source):
            found = _segment(frame) if wirelen == len(frame) else None
            if found is not None:
                key, seq, _, payload = found
                if run and (expect != (key, seq) or len(run) >= per_frame):
                    yield from flush()
                run.append((sec, usec, frame[:found[2] + payload]))  # no padding
                expect = (key, (seq + payload) & 0xFFFFFFFF)
            elif run:
                held.append((sec, usec, frame, wirelen))
            else:
                yield sec, usec, frame, wirelen
        yield from flush()
    return _write(target, source, coalesced())


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("vxlan", "tso"):
        raise SystemExit(__doc__)
    builder = build_vxlan if sys.argv[1] == "vxlan" else build_tso
    print(builder(Path(sys.argv[2]), Path(sys.argv[3])), "packets")
