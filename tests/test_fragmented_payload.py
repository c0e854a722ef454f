"""TCP payload carried in IPv4 fragments is read whole (field check: encapsulation
invariance, D2), also when a read chunk's end splits a datagram's fragments (D3).

An NDMP control connection whose segments travel in fragmented IPv4 datagrams: a
router fragmenting DF-clear packets at a small MTU, or a tunnel (ERSPAN, VXLAN) over a
1500-byte underlay whose outer datagrams the encapsulating host fragments. flowcheck
reassembled the datagrams' lengths but read their payload from the first fragment only:
the rest of each segment read as cut by the snap length, so the NDMP decoder lost file
history messages and warned `ndmp_partial` on a capture that holds every byte. Built
from a stored capture: its messages and findings must be the plain capture's.
"""

from __future__ import annotations

import functools
import socket
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest
from pcap_records import tcp_of
from stored import shared_analysis
from test_connections_util import (
    MISSED_BYTES,
    ORIG_PKTS,
    internet_checksum,
    read_batches,
    tracked_records,
)

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "captures" / "ndmjob-pathloss" / "fh-pathloss-media"  # file history: big messages
MEDIA = socket.inet_aton("10.77.0.1")
RECORD = struct.Struct("<IIII")
NDMP_PORT = 10000


def _ipv4(src: bytes, dst: bytes, proto: int, payload: bytes, ident: int,
          cut: int = 0) -> bytes:
    """An IPv4 header (DF clear) and `payload`, `cut` bytes of which the capture lacks."""
    header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload) + cut,
                                   ident & 0xFFFF, 0, 64, proto, 0, src, dst))
    struct.pack_into("!H", header, 10, internet_checksum(bytes(header)))
    return bytes(header) + payload


def erspan(frame: bytes, index: int, cut: int = 0) -> bytes:
    """ERSPAN II from switch 10.9.0.1 to the collector 10.9.0.2, DF clear, of a frame
    the snap length cut by `cut` bytes."""
    gre = struct.pack("!HHI", 0x1000, 0x88BE, index)
    span = struct.pack("!HHI", 0x1000, 77, 0)
    return (bytes.fromhex("020000aa0001020000bb0002") + b"\x08\x00"
            + _ipv4(socket.inet_aton("10.9.0.1"), socket.inet_aton("10.9.0.2"), 47,
                    gre + span + frame, index, cut))


def fragments(frame: bytes, mtu: int) -> list[bytes]:
    """An Ethernet frame's IPv4 datagram split at `mtu` (the frame itself if it fits)."""
    ip = frame[14:]
    if frame[12:14] != b"\x08\x00" or len(ip) <= mtu:
        return [frame]
    ihl = (ip[0] & 15) * 4
    total = struct.unpack_from("!H", ip, 2)[0]
    data = ip[ihl:total]
    step = (mtu - ihl) // 8 * 8
    out = []
    for at in range(0, len(data), step):
        piece = data[at:at + step]
        head = bytearray(ip[:ihl])
        more = 0x2000 if at + step < len(data) else 0
        struct.pack_into("!HHH", head, 2, ihl + len(piece), struct.unpack_from("!H", ip, 4)[0],
                         more | at // 8)
        struct.pack_into("!H", head, 10, 0)
        struct.pack_into("!H", head, 10, internet_checksum(bytes(head)))
        out.append(frame[:14] + bytes(head) + piece)
    return out


def build(tmp_path: Path, how: str, port: int | None = None) -> Path:
    """The case's capture with each frame fragmented: "ip" at a 576-byte MTU, "erspan"
    wrapped in ERSPAN then fragmented at 1500 (1 us between fragments); port: only the
    frames of TCP connections on that port."""
    target = tmp_path / f"{how}.pcap"
    target.write_bytes(_fragmented(how, port))
    return target


@functools.cache  # a pure function of the stored capture: ERSPAN whole is built twice
def _fragmented(how: str, port: int | None) -> bytes:
    """build's file, as bytes."""
    with tempfile.TemporaryDirectory() as folder:
        plain = Path(folder) / "plain.pcap"
        subprocess.run(["editcap", "-F", "pcap", str(CASE) + ".pcap.gz", str(plain)],
                       check=True)
        data = plain.read_bytes()
    out = [data[:16] + struct.pack("<I", 262144) + data[20:24]]
    at, index = 24, 0
    last = 0  # microseconds of the record written last: the file stays in time order
    while at + 16 <= len(data):
        sec, usec, caplen, wirelen = RECORD.unpack_from(data, at)
        frame = data[at + 16:at + 16 + caplen]
        at += 16 + caplen
        if port is not None and ((tcp := tcp_of(frame)) is None
                                 or port not in (tcp.sport, tcp.dport)):
            continue
        index += 1
        wrapped = erspan(frame, index, wirelen - caplen) if how == "erspan" else frame
        if caplen < wirelen:  # cut by the snap length: not fragmented, as captured
            last = max(sec * 1_000_000 + usec, last + 1)
            out.append(RECORD.pack(last // 1_000_000, last % 1_000_000, len(wrapped),
                                   wirelen - caplen + len(wrapped)) + wrapped)
            continue
        for piece in fragments(wrapped, 1500 if how == "erspan" else 576):
            # 1 us after the fragment before, never before it: a packet sent 1 us after
            # the last would be stamped ahead of its fragments (written out of time order).
            last = max(sec * 1_000_000 + usec, last + 1)
            out.append(RECORD.pack(last // 1_000_000, last % 1_000_000, len(piece), len(piece))
                       + piece)
    return b"".join(out)


def _analyze(path: Path) -> Analysis:
    config = build_config(load_file(CASE.with_suffix(".toml")))
    return analyze(read_traffic([str(path)], config), config)


def _messages(analysis: Analysis) -> list[tuple]:
    return [(stream.uid, m.direction, m.sequence, m.name, m.partial)
            for stream in analysis.traffic.streams for m in stream.messages]


@pytest.mark.parametrize("how", ["ip", "erspan"])
def test_ndmp_messages_in_fragmented_datagrams_are_read_whole(tmp_path: Path, how: str) -> None:
    # The stored case's analysis (its sidecar, CASE.toml, as _analyze's): the run's one
    # (stored.shared_analysis), read only; it was made here for each case.
    plain = shared_analysis(CASE.with_suffix(".pcap.gz"))
    fragmented = _analyze(build(tmp_path, how))
    assert fragmented.traffic.captures[0].fragments > 0  # the datagrams were fragmented
    assert _messages(fragmented) == _messages(plain)
    assert sorted(f.code for f in fragmented.findings) == sorted(f.code for f in plain.findings)
    assert fragmented.verdict == plain.verdict


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_a_datagram_split_between_two_batches_is_put_together(tmp_path: Path,
                                                              chunk: int) -> None:
    """A read chunk's end between the fragments of a datagram (field check D3): its
    segment is read, as when the fragments are in one batch (it was a gap, missed bytes
    and `capture_loss` at every such chunk boundary of a fragmented tunnel).

    One packet per batch splits every datagram: the NDMP control connection's frames
    only there, the fragmented ones (the data connection's are cut by the snap length,
    never fragmented; 2,100 one-packet batches through both paths took 20 s)."""
    path = build(tmp_path, "erspan", NDMP_PORT if chunk == 1 else None)
    whole = tracked_records(path, 1 << 20)
    assert not any(record[MISSED_BYTES] for record in whole)
    # The file's records outnumber its TCP packets: there are fragments to put together.
    records = sum(len(batch.ts) for batch in read_batches(path, 1 << 20))
    assert sum(record[ORIG_PKTS] + record[ORIG_PKTS + 1] for record in whole) < records
    assert tracked_records(path, chunk) == whole
    # The reference path in seven-packet batches (1.1 CPU-s) walked no arc of flowcheck
    # that the other reads here do not (branch coverage over the three cases, session
    # 53: 3,893 arcs either way); in one-packet batches, every datagram split, it stays.
    if chunk != 7:
        assert tracked_records(path, chunk, fast=False) == whole
