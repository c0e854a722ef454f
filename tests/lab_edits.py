"""Edits of the lab's stored captures for tests: cut one, end its control connection
with a FIN exchange or a RST, add a later packet. scapy builds the packets."""

from __future__ import annotations

import struct
import subprocess
from decimal import Decimal
from pathlib import Path

from scapy.all import IP, TCP, Packet
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def lab_packets(name: str, cut: int | None = None) -> list[Packet]:
    """The first `cut` frames of captures/lab/NAME.pcap (all of them if None)."""
    return read_packets(LAB / f"{name}.pcap", cut)


def lab_records(name: str) -> list[tuple[float, bytes]]:
    """captures/lab/NAME.pcap's records as (seconds, frame bytes), read without scapy
    (the lab writes little-endian microsecond pcap)."""
    data = (LAB / f"{name}.pcap").read_bytes()
    assert struct.unpack_from("<I", data)[0] == 0xA1B2C3D4
    packets, off = [], 24
    while off + 16 <= len(data):
        sec, usec, caplen, _wirelen = struct.unpack_from("<4I", data, off)
        packets.append((sec + usec / 1e6, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return packets


def next_seq(packets: list[Packet], sport: int, dport: int) -> int:
    """The sequence number after the last byte (or SYN/FIN) sent sport -> dport."""
    return max(p[TCP].seq + len(p[TCP].payload) + (1 if p[TCP].flags & 0x03 else 0)
               for p in packets if TCP in p and (p[TCP].sport, p[TCP].dport) == (sport, dport))


def segment(template: Packet, flags: str, seq: int, ack: int, ts: Decimal) -> Packet:
    """A copy of template (same addresses and ports) without payload."""
    packet = template.copy()
    packet[TCP].remove_payload()
    packet[TCP].flags, packet[TCP].seq, packet[TCP].ack = flags, seq, ack
    del packet[IP].len, packet[IP].chksum, packet[TCP].chksum
    packet.time = ts
    return packet


def last_from(packets: list[Packet], sport: int, dport: int) -> Packet:
    return [p for p in packets if TCP in p and (p[TCP].sport, p[TCP].dport) == (sport, dport)][-1]


def fin_close(packets: list[Packet], closer_port: int, other_port: int,
              ts: Decimal) -> list[Packet]:
    """The connection between the two ports closed at ts: the closer's FIN, the other
    side's FIN, the closer's ACK."""
    mine, theirs = last_from(packets, closer_port, other_port), last_from(
        packets, other_port, closer_port)
    my_seq, their_seq = next_seq(packets, closer_port, other_port), next_seq(
        packets, other_port, closer_port)
    return [segment(mine, "FA", my_seq, their_seq, ts),
            segment(theirs, "FA", their_seq, my_seq + 1, ts + Decimal("0.0002")),
            segment(mine, "A", my_seq + 1, their_seq + 1, ts + Decimal("0.0004"))]


def write(tmp_path: Path, name: str, packets: list[Packet]) -> Path:
    path = tmp_path / f"{name}.pcap"
    return write_packets(path, packets)


def analyze_lab(path: Path, name: str, profile: str | None = None) -> Analysis:
    """Analyze path with captures/lab/NAME.toml (and another profile, if given)."""
    settings = load_file(LAB / f"{name}.toml")
    if profile is not None:
        settings = {**settings, "profile": profile}
    config = build_config(settings)
    return analyze(read_traffic([str(path)], config), config)


def sent_by(tmp_path: Path, capture: Path, sender: str) -> Path:
    """The packets of `capture` that `sender` sent (tcpdump 'src host SENDER'): a capture
    of one direction, as a SPAN port that sees one way takes it."""
    out = tmp_path / f"{capture.stem}-from-{sender}.pcap"
    subprocess.run(["tcpdump", "-r", str(capture), "-w", str(out), f"src host {sender}"],
                   check=True, capture_output=True)
    return out
