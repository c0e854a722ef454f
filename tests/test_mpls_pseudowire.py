"""Ethernet over MPLS with the control word (RFC 4448: EoMPLS, VPLS), as captured on an
MPLS core link carrying the backup network's VLAN (field check: encapsulation
invariance, D5): flowcheck read the label stack's payload as IP only, so every frame of
such a capture was skipped and a clean job was `no_control_session`, inconclusive, where
tshark reads the pseudowire. Built from a stored lab capture: the plain capture's
verdict, findings and connections, and tshark's streams.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from test_tcpdump_corpus import _parse, _tshark, ours

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
RECORD = struct.Struct("<IIII")
CORE_MACS = bytes.fromhex("020000cc0002" "020000cc0001")


def pseudowire(source: Path, target: Path, control_word: bool = True) -> Path:
    """Each frame of a little-endian microsecond Ethernet pcap behind two labels (a
    transport label and the pseudowire's) and, with control_word, a zero control word."""
    data = source.read_bytes()
    out = [data[:24]]
    at = 24
    stack = struct.pack("!II", (16 << 12) | 64, (17 << 12) | 0x100 | 64)
    head = CORE_MACS + b"\x88\x47" + stack + (b"\x00" * 4 if control_word else b"")
    while at + 16 <= len(data):
        sec, usec, caplen, wirelen = RECORD.unpack_from(data, at)
        frame = head + data[at + 16:at + 16 + caplen]
        at += 16 + caplen
        out.append(RECORD.pack(sec, usec, len(frame), wirelen + len(head)) + frame)
    target.write_bytes(b"".join(out))
    return target


def _analyze(name: str, path: Path) -> Analysis:
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def _summary(analysis: Analysis) -> tuple:
    return (analysis.verdict, sorted(f.code for f in analysis.findings),
            [(c.orig_h, c.orig_p, c.resp_h, c.resp_p, c.orig_pkts, c.resp_pkts, c.orig_bytes,
              c.resp_bytes, c.history, c.role, c.session) for c in analysis.traffic.connections])


@pytest.mark.parametrize("name", ["clean-3-resources", "callback-rejected"])
def test_ethernet_pseudowire_with_control_word_is_read(tmp_path: Path, name: str) -> None:
    path = pseudowire(LAB / f"{name}.pcap", tmp_path / "pw.pcap")
    assert _summary(_analyze(name, path)) == _summary(_analyze(name, LAB / f"{name}.pcap"))
    assert ours(path) == _parse(_tshark(path))[0].streams


def test_without_control_word_stays_unread(tmp_path: Path) -> None:
    """A pseudowire without the control word starts with a MAC address: neither IP nor
    a control word, so nothing is guessed (tshark guesses by its manufacturer table)."""
    name = "callback-rejected"
    path = pseudowire(LAB / f"{name}.pcap", tmp_path / "pw.pcap", control_word=False)
    assert _analyze(name, path).traffic.connections == []
