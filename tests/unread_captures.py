"""A stored lab capture's frames wrapped, with scapy, in an encapsulation flowcheck does
not read (field check trial 36: /tmp/trial36/encap.py's layouts): PBB, L2TPv3, GTP-U,
TZSP, MACsec; the whole capture, or one host's packets only (the other's plain)."""

from __future__ import annotations

import struct
from pathlib import Path

from scapy.contrib.gtp import GTP_U_Header
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1AD, Ether
from scapy.packet import Raw
from scapy.utils import PcapReader

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
COLLECTOR, SWITCH = "02:00:00:00:c0:11", "02:00:00:00:aa:01"
OUTER_SRC, OUTER_DST = "192.0.2.1", "198.51.100.9"
FORMS = ("pbb", "l2tpv3", "gtpu", "tzsp", "macsec")
NAMES = {"pbb": "PBB", "l2tpv3": "L2TPv3", "gtpu": "GTP-U", "tzsp": "TZSP",
         "macsec": "MACsec"}


def wrap(form: str, frame: bytes, number: int) -> bytes:
    """One Ethernet frame inside the form's headers (number: a per-packet counter)."""
    outer = Ether(dst=COLLECTOR, src=SWITCH)
    if form == "pbb":  # 802.1ah: B-TAG (88a8), I-TAG (88e7, I-SID), then the customer frame
        return bytes(outer / Dot1AD(vlan=100, type=0x88E7) / Raw(struct.pack("!I", 0x12345)
                                                                 + frame))
    ip = IP(src=OUTER_SRC, dst=OUTER_DST, id=number & 0xFFFF)
    if form == "l2tpv3":  # over IP, protocol 115: a 4-byte session id, then Ethernet
        ip.proto = 115
        return bytes(outer / ip / Raw(struct.pack("!I", 0x1234) + frame))
    if form == "gtpu":  # UDP 2152, the inner IP packet after the GTP-U header
        return bytes(outer / ip / UDP(sport=2152, dport=2152)
                     / GTP_U_Header(teid=0xABCD, gtp_type=255) / Raw(frame[14:]))
    if form == "tzsp":  # UDP 37008: version 1, received, encapsulation Ethernet, end tag
        return bytes(outer / ip / UDP(sport=40000, dport=37008)
                     / Raw(struct.pack("!BBHB", 1, 0, 1, 1) + frame))
    if form == "macsec":  # 802.1AE SecTAG, the payload encrypted (here: scrambled) + ICV
        body = bytes(b ^ 0x5A for b in frame[12:]) + bytes(16)
        return frame[:12] + struct.pack("!HBBI", 0x88E5, 0x2C, 0, number) + body
    raise KeyError(form)


def wrapped(source: Path, out: Path, form: str, only_from: str | None = None) -> Path:
    """The source capture with its frames in the form: every frame, or (only_from, an
    IPv4 address) the frames from that host only, the others plain."""
    records = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)]
    with PcapReader(str(source)) as reader:
        for number, packet in enumerate(reader, 1):
            frame = bytes(packet)
            inside = only_from is None or (IP in packet and packet[IP].src == only_from)
            data = wrap(form, frame, number) if inside else frame
            usec = round(packet.time * 1_000_000)
            records.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000,
                                       len(data), len(data)) + data)
    out.write_bytes(b"".join(records))
    return out


def one_way_with(source: Path, out: Path, keep: str, extra: str,
                 inner: tuple[str, str] = ("172.16.0.1", "172.16.0.2"),
                 after: float = 0.0) -> Path:
    """The source capture with only `keep`'s IPv4 packets (a capture of one direction),
    plus UDP between hosts of no connection (review 25b): extra "udp1701" or "udp4754",
    one packet 192.168.50.5:51000 -> 192.168.50.6 on that port amid the capture; "vpn",
    300 L2TP data frames 198.51.100.7 -> 203.0.113.9 carrying 172.16.0.1 -> 172.16.0.2
    over the capture's span (inner: the addresses they carry; after: s past the span's
    end they start at)."""
    with PcapReader(str(source)) as reader:
        packets = [p for p in reader if IP not in p or p[IP].src == keep]
    start, end = float(packets[0].time), float(packets[-1].time)
    mac = Ether(src="02:00:00:00:09:01", dst="02:00:00:00:09:02")
    added = []
    if extra.startswith("udp"):
        added.append((float(packets[len(packets) // 2].time),
                      mac / IP(src="192.168.50.5", dst="192.168.50.6")
                      / UDP(sport=51000, dport=int(extra[3:])) / Raw(b"x" * 40)))
    else:  # L2TPv2 data, tunnel 1 session 1, PPP IPv4 (RFC 2661 3.1)
        carried = bytes(IP(src=inner[0], dst=inner[1]) / UDP(sport=5353, dport=5353)
                        / Raw(b"y" * 20))
        for i in range(300):
            l2tp = bytes([0x00, 0x02, 0, 1, 0, 1, 0xFF, 0x03, 0x00, 0x21]) + carried
            added.append(((end + after if after else start) + (end - start) * i / 300,
                          mac / IP(src="198.51.100.7", dst="203.0.113.9")
                          / UDP(sport=1701, dport=1701) / Raw(l2tp)))
    frames = sorted([(float(p.time), bytes(p)) for p in packets]
                    + [(t, bytes(p)) for t, p in added], key=lambda tf: tf[0])
    records = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)]
    for ts, data in frames:
        usec = round(ts * 1_000_000)
        records.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000,
                                   len(data), len(data)) + data)
    out.write_bytes(b"".join(records))
    return out
