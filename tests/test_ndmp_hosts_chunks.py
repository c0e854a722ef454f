"""A session's connections read the same whatever the read chunk's size, other hosts'
short connections around them (flowcheck.connections.ndmp_hosts).

Trial 25 D4's capture (loss30-agent-silent-halt-after: the media server gave up on an
agent silent for 5 s, the agent's CONNECT_ERROR halt 8 ms after its FINs) with 40 short
connections of two other hosts laid over it: read in one 16 MiB chunk, the session's
callback connection (8 packets) went through the short-connection pass with them, which
keeps no packet times, and the reading was the agent's halt (data_halted_abnormally,
control_reset) instead of control_closed's give-up; read in 4 KiB chunks (too few flows
a batch for the pass) it was control_closed, as the capture alone reads. The reference
is the capture's stored reading.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.connections import track_connections
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.report.json_doc import analysis_document

CAPTURES = Path(__file__).resolve().parent.parent / "captures" / "trial25-cause"
CAPTURE = CAPTURES / "loss30-agent-silent-halt-after.pcap"  # little-endian us Ethernet pcap
CONFIG = CAPTURES / "loss30-agent-silent-halt-after.toml"
EXPECTED = CAPTURES / "loss30-agent-silent-halt-after.expected.json"
RECORD = struct.Struct("<IIII")
OTHERS = 40  # short connections of other hosts: more than SHORT_STEP_FLOWS a step
CLIENT, SERVER = bytes([10, 99, 0, 1]), bytes([10, 99, 0, 2])  # no NDMP host's


def _frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int,
           flags: int, payload: bytes = b"") -> bytes:
    """An Ethernet/IPv4/TCP frame (checksums 0: offloaded, as captures show them)."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 1, 0x4000,
                     64, 6, 0, src, dst)
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp + payload


def _short_connection(port: int) -> list[bytes]:
    """A whole connection in 10 packets: handshake, two requests answered, both FINs."""
    c, s = 1000, 5000  # initial sequence numbers
    out, to_s, to_c = [], (CLIENT, SERVER, port, 80), (SERVER, CLIENT, 80, port)
    out.append(_frame(*to_s, c, 0, 0x02))
    out.append(_frame(*to_c, s, c + 1, 0x12))
    out.append(_frame(*to_s, c + 1, s + 1, 0x10))
    for n in range(2):
        out.append(_frame(*to_s, c + 1 + 10 * n, s + 1, 0x18, b"x" * 10))
        out.append(_frame(*to_c, s + 1, c + 11 + 10 * n, 0x10))
    out.append(_frame(*to_s, c + 21, s + 1, 0x11))
    out.append(_frame(*to_c, s + 1, c + 22, 0x11))
    out.append(_frame(*to_s, c + 22, s + 2, 0x10))
    return out


def _laid_over(path: Path) -> bytes:
    """The stored capture with OTHERS short connections merged in time order across it."""
    data = CAPTURE.read_bytes()
    records, pos = [], 24
    while pos + 16 <= len(data):
        sec, usec, caplen, _ = RECORD.unpack_from(data, pos)
        records.append((sec * 1_000_000 + usec, data[pos:pos + 16 + caplen]))
        pos += 16 + caplen
    first, last = records[0][0], records[-1][0]
    step = (last - first) // OTHERS
    for n in range(OTHERS):
        for k, frame in enumerate(_short_connection(40000 + n)):
            at = first + n * step + 1000 * k + 1  # 1 ms apart
            header = RECORD.pack(at // 1_000_000, at % 1_000_000, len(frame), len(frame))
            records.append((at, header + frame))
    records.sort(key=lambda item: item[0])  # stable: the capture's own order kept
    path.write_bytes(data[:24] + b"".join(record for _, record in records))
    return path.read_bytes()


def _document(path: Path, monkeypatch: pytest.MonkeyPatch, chunk_size: int) -> dict:
    """`analyze --format json` of path read in chunk_size bytes, its file description
    and config left out."""
    monkeypatch.setitem(track_connections.__kwdefaults__, "chunk_size", chunk_size)
    try:
        config = build_config(load_file(CONFIG))
        doc = analysis_document(analyze(read_traffic([str(path)], config), config))
    finally:
        monkeypatch.undo()
    doc = json.loads(json.dumps(doc, default=str))
    for name in ("captures", "capture_summary", "flowcheck", "config"):
        doc.pop(name, None)
    return doc


def test_session_reads_the_same_in_any_chunk(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "laid-over.pcap"
    _laid_over(path)
    whole = _document(path, monkeypatch, 16 << 20)
    small = _document(path, monkeypatch, 4096)
    assert whole == small
    expected = json.loads(EXPECTED.read_text())
    codes: dict[str, int] = {}
    for finding in whole["findings"]:
        codes[finding["code"]] = codes.get(finding["code"], 0) + 1
    assert codes == expected["findings"]
    assert whole["verdict"] == expected["verdict"]
