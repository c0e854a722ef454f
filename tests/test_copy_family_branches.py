"""capture_duplicates in the words of an IPv6-only capture on the branches no stored case
reaches (flowcheck.connections.copy_family, said by duplicates, point_names and
relay_words): a capture joined with itself, a pcapng of two interfaces at one hop limit a
constant 10 ms apart (clock-like) or one lower (a router's unmarked interfaces), a
router's `tcpdump -i any` missing two ingress copies (orphans), two files a router apart,
a SPAN port holding every packet twice, a network copying one segment.

Each capture is built twice, IPv4 and IPv6, the same packets otherwise. Until tidy54 the
IPv6 words were the IPv4 words rewritten ("same IP ID, TCP header and payload" without
the IP ID, "hop limit" for each "TTL": `ipv6_words`); since, each builder says its
family's words. The reference here is that rewriting: a builder that forgets its family
(a "TTL" written in, IPV4's identity) reads otherwise (review 54a: every branch byte-equal
before and after the change, 9f85d22f).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from capture_factory import write_pcapng
from scapy.all import IP, TCP, Ether, IPv6, Packet, raw, wrpcap
from scapy.layers.l2 import CookedLinuxV2
from scapy_files import write_packets

from flowcheck.connections import track_connections

T0 = 1_700_000_000.0
SIZE = 1000  # bytes a data segment
HOSTS = {4: ("10.0.10.1", "10.0.20.2"), 6: ("2001:db8::1", "2001:db8:1::2")}
Make = Callable[[int], Packet]  # the packet at a TTL / hop limit


def _ip(version: int, src: str, dst: str, hops: int, ident: int) -> Packet:
    if version == 4:
        return IP(src=src, dst=dst, ttl=hops, id=ident, flags="DF")
    return IPv6(src=src, dst=dst, hlim=hops)


def _connection(version: int, spacing: float = 0.002) -> list[tuple[float, Make]]:
    """(seconds from T0, the packet by its hop count) of M's connection to A: the
    handshake, 30 data segments `spacing` apart, A's ACK of them; IPv4 IDs 100 on."""
    m, a = HOSTS[version]
    packets: list[tuple[float, Make]] = []

    def add(at: float, forward: bool, flags: str, seq: int, ack: int, data: bytes = b"") -> None:
        src, dst, sport, dport = (m, a, 40000, 10000) if forward else (a, m, 10000, 40000)
        ident = 100 + len(packets)
        packets.append((at, lambda hops: _ip(version, src, dst, hops, ident) / TCP(
            sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=8192) / data))

    add(0.0, True, "S", 1000, 0)
    add(0.001, False, "SA", 5000, 1001)
    add(0.002, True, "A", 1001, 5001)
    for k in range(30):
        add(0.010 + spacing * k, True, "PA", 1001 + k * SIZE, 5001, bytes([k]) * SIZE)
    add(0.011 + spacing * 30, False, "A", 5001, 1001 + 30 * SIZE)
    return packets


def _ether(packet: Packet, at: float) -> Packet:
    frame = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / packet
    frame.time = T0 + at
    return frame


def _replayed(version: int, tmp: Path) -> list[Path]:
    """The connection (3 s long) captured, then the same file again (`cat a a`)."""
    twice = [_ether(make(64), at) for _ in range(2) for at, make in _connection(version, 0.1)]
    return [write_packets(tmp / "joined.pcap", twice)]


def _span(version: int, tmp: Path) -> list[Path]:
    """Every packet twice, 0.1 ms apart, on one interface (a SPAN of both ports)."""
    return [write_packets(tmp / "span.pcap", [_ether(make(64), at + lag)
                                              for at, make in _connection(version)
                                              for lag in (0.0, 0.0001)])]


def _network(version: int, tmp: Path) -> list[Path]:
    """One data segment of 30 twice, 0.1 ms apart: a network's copy."""
    frames = []
    for index, (at, make) in enumerate(_connection(version)):
        frames.append(_ether(make(64), at))
        if index == 10:
            frames.append(_ether(make(64), at + 0.0001))
    return [write_packets(tmp / "network.pcap", frames)]


def _interfaces(hops: int) -> Callable[[int, Path], list[Path]]:
    """A pcapng of two interfaces, neither marking in or out: each packet on the first,
    again on the second 10 ms later at `hops` (64: its original's; 63: one lower)."""
    def build(version: int, tmp: Path) -> list[Path]:
        blocks = []
        for at, make in _connection(version):
            blocks += [(0, T0 + at, raw(_ether(make(64), at))),
                       (1, T0 + at + 0.010, raw(_ether(make(hops), at)))]
        return [write_pcapng(tmp / "two.pcapng", [1, 1], sorted(blocks, key=lambda b: b[1]))]
    return build


def _orphans(version: int, tmp: Path) -> list[Path]:
    """`tcpdump -i any` (SLL2) on a router: 40 segments in on ifindex 2 (64) and out on 5
    (outgoing, 63) 5 ms later, the ingress copies of segments 30 and 31 not captured."""
    m, a = HOSTS[version]
    frames = []
    for k in range(40):
        for ifindex, kind, hops, later in ((2, 0, 64, 0.0), (5, 4, 63, 0.005)):
            if k in (30, 31) and ifindex == 2:
                continue
            frame = CookedLinuxV2(
                proto=0x0800 if version == 4 else 0x86DD, ifindex=ifindex, pkttype=kind,
                lladdrtype=1, lladdrlen=6, src=b"\x02\x00\x00\x00\x00\x01\x00\x00",
            ) / _ip(version, m, a, hops, 100 + k) / TCP(
                sport=40000, dport=10000, flags="PA", seq=1001 + k * SIZE, ack=5001,
                window=8192) / (bytes([k]) * SIZE)
            frame.time = T0 + 0.001 * k + later
            frames.append(frame)
    frames.sort(key=lambda frame: float(frame.time))
    wrpcap(str(tmp / "router-any.pcap"), frames, linktype=276)
    return [tmp / "router-any.pcap"]


def _points(version: int, tmp: Path) -> list[Path]:
    """Two files of the connection, the second a router apart (one hop lower), its
    clock 0.3 s ahead."""
    return [write_packets(tmp / "near.pcap", [_ether(make(64), at)
                                              for at, make in _connection(version)]),
            write_packets(tmp / "far.pcap", [_ether(make(63), at + 0.3)
                                             for at, make in _connection(version)])]


def _words(paths: list[Path]) -> str:
    (found,) = [finding for finding in track_connections([str(p) for p in paths]).findings
                if finding.code == "capture_duplicates"]
    return f"{found.message}\nfix: {found.fix}"


def _said_of_ipv6(text: str) -> str:
    """text's IPv4 words as an IPv6-only capture's words read (the rewriting the IPv6 words
    were made by until tidy54, connections.copy_family.ipv6_words)."""
    text = text.replace("same IP ID, TCP header and payload", "same TCP header and payload")
    text = text.replace("a SYN-ACK, RST or bare ACK with IP ID 0 or over IPv6",
                        "a SYN-ACK, RST or bare ACK (IPv6 has no IP ID)")
    return re.sub(r"\bTTL(s?)\b", lambda m: "hop limit" + m.group(1), text)


# (build, what the IPv6 words of that branch say: the branch reached)
CASES = {
    "replayed": (_replayed, "before the capture's clock stepped back (same TCP header and "
                            "payload, stamped at most 0.5 ms apart)"),
    "clock_like": (_interfaces(64), "another of the file's interfaces, each with its "
                                    "original's hop limit, every one 10 ms after it"),
    "unmarked_routed": (_interfaces(63), "its hop limit one lower (routed), the file marking "
                                         "neither as coming in or going out"),
    "orphans": (_orphans, "2 more were captured as such copies leave (by that interface, with "
                          "that hop limit) without their copy from the interface they came in"),
    "routed_points": (_points, "two capture points' captures of the same traffic, a router "
                               "apart (the hop limit differs)"),
    "span": (_span, "with their own link headers or hop limits, which flowcheck counts once"),
    "network": (_network, "in the same direction (same TCP header and payload, at most 0.5 ms "
                          "later): the capture holds some packets twice"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ipv6_words_are_the_ipv4_words_said_of_ipv6(tmp_path: Path, case: str) -> None:
    build, said = CASES[case]
    (tmp_path / "4").mkdir()
    (tmp_path / "6").mkdir()
    ipv4 = _words(build(4, tmp_path / "4")).replace(str(tmp_path / "4"), str(tmp_path / "6"))
    ipv6 = _words(build(6, tmp_path / "6"))
    assert said in ipv6
    assert "TTL" not in ipv6 and "IP ID," not in ipv6
    assert ipv6 == _said_of_ipv6(ipv4)
