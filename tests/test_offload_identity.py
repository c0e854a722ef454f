"""A packet without an IPv4 ID (Linux's SYN-ACK and RST: ID 0; every IPv6 packet) seen at
two capture points whose sender's capture holds it with the checksum its NIC fills in
unfilled (transmit checksum offload: the pseudo-header's sum) and the other point with
the real one: one packet, not two (flowcheck.connections.packet_identity). Trial 33
`tso`: two SYN-ACKs per connection; an IPv6 transfer's segments retransmitted."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy_files import write_packets
from test_offload_copies import CONFIGS, DATA

from flowcheck.config import build_config, load_file
from flowcheck.connections import track_connections
from flowcheck.model import Connection
from flowcheck.pipeline import read_traffic

scapy_inet = pytest.importorskip("scapy.layers.inet")
from scapy.layers.inet import IP, TCP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402

MEDIA = ("10.0.0.1", "2001:db8::1")
AGENT = ("10.0.0.2", "2001:db8::2")
START = 1_700_000_000.0
HOP = 0.0001  # seconds from one capture point to the other (a router between them)
SYN, RST, PSH, ACK = "S", "R", "P", "A"


def partial_checksum(packet) -> int:
    """The TCP checksum field as a sender with checksum offload leaves it in its own
    capture: the pseudo-header's one's-complement sum, not complemented (RFC 793 3.1,
    RFC 8200 8.1; Linux's CHECKSUM_PARTIAL), the NIC adding the header and payload."""
    ip = packet.getlayer(IP) or packet.getlayer(IPv6)
    length = len(bytes(ip[TCP]))
    if isinstance(ip, IP):
        words = bytes(map(int, ip.src.split("."))) + bytes(map(int, ip.dst.split(".")))
    else:
        import socket
        words = (socket.inet_pton(socket.AF_INET6, ip.src)
                 + socket.inet_pton(socket.AF_INET6, ip.dst))
    total = sum(int.from_bytes(words[i:i + 2], "big") for i in range(0, len(words), 2))
    total += 6 + length
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


class Points:
    """Both hosts' captures (`m`: the media server's, `a`: the agent's), a router
    between: a packet is in its sender's capture with TTL 64 and the checksum unfilled,
    and HOP later in the other's with TTL 63 and the real checksum."""

    def __init__(self) -> None:
        self.m: list = []
        self.a: list = []
        self.now = START
        self.tsval = {"m": 1000, "a": 5000}

    def send(self, sender: str, v6: bool, sport: int, dport: int, flags: str, seq: int,
             ack: int, ip_id: int = 0, data: int = 0) -> None:
        self.now += 0.001
        family = 1 if v6 else 0
        src, dst = (MEDIA, AGENT) if sender == "m" else (AGENT, MEDIA)
        self.tsval[sender] += 1
        options = [("Timestamp", (self.tsval[sender], 0))]
        segment = TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack,
                      window=502, options=options) / (b"x" * data)
        own, other = (self.m, self.a) if sender == "m" else (self.a, self.m)
        for ttl, at, where in ((64, self.now, own), (63, self.now + HOP, other)):
            ip = (IPv6(src=src[family], dst=dst[family], hlim=ttl) if v6
                  else IP(src=src[family], dst=dst[family], ttl=ttl, id=ip_id, flags="DF"))
            packet = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / ip / segment.copy()
            packet = Ether(bytes(packet))  # the real checksums filled in
            if where is own:
                packet[TCP].chksum = partial_checksum(packet)
                packet = Ether(bytes(packet))
            packet.time = at
            where.append(packet)

    def write(self, folder: Path) -> list[str]:
        paths = []
        for name, packets in (("a", self.a), ("m", self.m)):
            path = folder / f"{name}.pcap"
            write_packets(str(path), sorted(packets, key=lambda p: float(p.time)))
            paths.append(str(path))
        return paths


def two_points(folder: Path) -> list[str]:
    """An IPv4 control connection (the agent's SYN-ACK and the RST of a refused
    connection with ID 0, the rest with IDs: they give the points' offset) and an IPv6
    data connection (no ID at all) sending 6,000 bytes from the agent."""
    p = Points()
    p.send("m", False, 40000, 10000, SYN, 100, 0, ip_id=100)
    p.send("a", False, 10000, 40000, SYN + ACK, 900, 101)
    p.send("m", False, 40000, 10000, ACK, 101, 901, ip_id=101)
    for k in range(12):
        p.send("m", False, 40000, 10000, PSH + ACK, 101 + 100 * k, 901, ip_id=102 + k,
               data=100)
        p.send("a", False, 10000, 40000, ACK, 901, 201 + 100 * k, ip_id=500 + k)
    p.send("m", False, 40001, 6001, SYN, 300, 0, ip_id=200)
    p.send("a", False, 6001, 40001, RST + ACK, 0, 301)
    p.send("m", True, 40002, 10001, SYN, 700, 0)
    p.send("a", True, 10001, 40002, SYN + ACK, 3000, 701)
    p.send("m", True, 40002, 10001, ACK, 701, 3001)
    for k in range(6):
        p.send("a", True, 10001, 40002, PSH + ACK, 3001 + 1000 * k, 701, data=1000)
        p.send("m", True, 40002, 10001, ACK, 701, 4001 + 1000 * k)
    return p.write(folder)


def by_port(connections: list[Connection], port: int) -> Connection:
    [connection] = [c for c in connections if c.resp_p == port]
    return connection


def test_packets_without_an_id_offloaded_at_their_sender_count_once(tmp_path: Path) -> None:
    connections = track_connections(two_points(tmp_path)).connections
    control, refused, data = (by_port(connections, port) for port in (10000, 6001, 10001))
    assert len(control.synack_frames) == 1
    assert len(data.synack_frames) == 1
    assert data.retransmits == 0
    assert data.resp_bytes - data.resp_copy_bytes == 6000
    assert data.resp_pkts == 2 * 7  # each packet counted at both points, as tshark does
    assert refused.conn_state == "REJ"
    assert control.retransmits == 0


def test_the_trial33_pair_has_one_synack_per_connection() -> None:
    """Trial 33 `tso` (tests/data/trial33-offload): the first 11 ms of a backup at both
    hosts: each connection's SYN-ACK (ID 0, unfilled at its sender) once."""
    name = "clean-3-resources.tso-none"
    config = build_config(load_file(DATA / CONFIGS[name]))
    paths = [str(DATA / f"{name}.{p}.first-data.pcap.gz") for p in ("a", "m")]
    connections = read_traffic(paths, config).connections
    assert len(connections) == 3
    for connection in connections:
        assert len(connection.synack_frames) == 1, connection


def test_header_identity_leaves_the_checksum_out_and_takes_the_options(
        tmp_path: Path) -> None:
    """The same IPv6 segment with its checksum unfilled, filled, and cut by a 96-byte
    snap length after its options: one identity; with a later TSval, or a SACK block
    more, another (a resend, the next duplicate ACK). A packet with an IPv4 ID: 0."""
    import struct

    from test_connections_util import ethernet, ipv4, ipv6, read_batches, tcp, write_pcap

    from flowcheck.connections.packet_identity import (
        batch_bytes,
        captured_ends,
        header_identity,
    )
    from flowcheck.decode import decode_batch

    def segment(tsval: int, checksum: int, sack: bytes = b"") -> bytes:
        options = b"\x01\x01\x08\x0a" + struct.pack("!II", tsval, 9) + sack
        raw = tcp(10001, 40002, 3001, 701, 0x18, b"y" * 1000, options=options)
        raw = raw[:16] + struct.pack("!H", checksum) + raw[18:]
        return ethernet(ipv6("2001:db8::2", "2001:db8::1", 6, raw), 0x86DD)

    sack = b"\x01\x01\x05\x0a" + struct.pack("!II", 5001, 6001)
    v4 = ethernet(ipv4("10.0.0.2", "10.0.0.1", 6, tcp(10001, 40002, 1, 1, 0x10)))
    packets = [segment(7, 0x1234), segment(7, 0xBEEF), (segment(7, 0x4321), 96),
               segment(8, 0x1234), segment(7, 0x1234, sack), v4]
    path = write_pcap(tmp_path / "t.pcap", 1, packets)
    [batch] = read_batches(path)
    d = decode_batch(batch)
    identity = header_identity(d, batch_bytes(batch, d), captured_ends(batch, d)).tolist()
    assert identity[0] == identity[1] == identity[2]
    assert len({identity[0], identity[3], identity[4]}) == 3
    assert identity[5] == 0
