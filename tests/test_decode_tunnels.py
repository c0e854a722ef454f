"""Tunnels, MPLS, PPP and the other link types, and segmentation-offload lengths.

Every capture built here is also read by tshark: flowcheck's connections (first frame,
packets, payload bytes) must equal its tcp.streams, as in the corpus test.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import numpy as np
import pytest
from test_connections_util import (
    ACK,
    PSH,
    SYN,
    ethernet,
    ipv4,
    read_batches,
    tcp,
    write_pcap,
)
from test_tcpdump_corpus import _parse, _tshark, ours

from flowcheck.connections import ConnectionTracker
from flowcheck.decode import FRAGMENT, NON_TCP, TCP, UNDECODABLE, decode_batch
from flowcheck.model import Connection
from flowcheck.sources import iter_batches
from flowcheck.sources.batch import PacketBatch

A, B = "10.1.0.1", "10.1.0.2"
A6, B6 = "fd00::1", "fd00::2"
VTEP1, VTEP2, VTEP3 = "192.0.2.1", "192.0.2.2", "192.0.2.3"


def exchange(src: str = A, dst: str = B, sport: int = 5001) -> list[tuple[bytes, bool]]:
    """(IPv4 packet, sent by the originator): SYN, SYN-ACK, 100 bytes, ACK."""
    return [(ipv4(src, dst, 6, tcp(sport, 10000, 100, 0, SYN)), True),
            (ipv4(dst, src, 6, tcp(10000, sport, 900, 101, SYN | ACK)), False),
            (ipv4(src, dst, 6, tcp(sport, 10000, 101, 901, PSH | ACK, b"x" * 100)), True),
            (ipv4(dst, src, 6, tcp(10000, sport, 901, 201, ACK)), False)]


def ipv6_zero_length(next_header: int, payload: bytes) -> bytes:
    """An IPv6 packet whose payload length field is 0 (jumbogram, BIG TCP)."""
    return struct.pack("!IHBB16s16s", 0x60000000, 0, next_header, 64,
                       socket.inet_pton(socket.AF_INET6, A6),
                       socket.inet_pton(socket.AF_INET6, B6)) + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def vxlan(inner: bytes, vni: int = 42) -> bytes:
    return struct.pack("!II", 0x08000000, vni << 8) + ethernet(inner, pad=False)


def geneve(inner: bytes, vni: int = 7) -> bytes:
    option = struct.pack("!HBB", 0x0102, 0x80, 1) + b"\x00" * 4  # one 8-byte option
    return struct.pack("!BBHI", 2, 0, 0x6558, vni << 8) + option + ethernet(inner, pad=False)


def gre(payload: bytes, protocol: int, key: int | None = None, seq: int | None = None) -> bytes:
    flags = (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
    header = struct.pack("!HH", flags, protocol)
    if key is not None:
        header += struct.pack("!I", key)
    if seq is not None:
        header += struct.pack("!I", seq)
    return header + payload


def erspan2(inner: bytes, session: int = 5) -> bytes:
    header = struct.pack("!HHI", 0x1000 | 100, session, 0)  # version 1 (type II), VLAN 100
    return gre(header + ethernet(inner, pad=False), 0x88BE, seq=1)


def erspan3(inner: bytes, session: int = 5) -> bytes:
    header = struct.pack("!HHII", 0x2000 | 100, session, 0, 0)  # version 2, no subheader
    return gre(header + ethernet(inner, pad=False), 0x22EB, seq=1)


def mpls(inner: bytes, labels: tuple[int, ...] = (16, 17)) -> bytes:
    stack = b""
    for i, label in enumerate(labels):
        bottom = 0x100 if i == len(labels) - 1 else 0
        stack += struct.pack("!I", (label << 12) | bottom | 64)
    return stack + inner


# name -> (link type, wrap(IPv4 packet, from originator) -> frame, expected tunnel)
def _outer(tunnel: bytes, forward: bool, proto: int) -> bytes:
    src, dst = (VTEP1, VTEP2) if forward else (VTEP2, VTEP1)
    return ethernet(ipv4(src, dst, proto, tunnel), pad=False)


def _outer6(tunnel: bytes, forward: bool, next_header: int) -> bytes:
    src, dst = ("fd00::a", "fd00::b") if forward else ("fd00::b", "fd00::a")
    header = struct.pack("!IHBB16s16s", 0x60000000, len(tunnel), next_header, 64,
                         socket.inet_pton(socket.AF_INET6, src),
                         socket.inet_pton(socket.AF_INET6, dst))
    return ethernet(header + tunnel, 0x86DD, pad=False)


def _pptp(packet: bytes) -> bytes:
    ppp = b"\xff\x03\x00\x21" + packet
    return struct.pack("!HHHHI", 0x3001, 0x880B, len(ppp), 7, 1) + ppp  # K, S, version 1


ENCAPSULATIONS = {
    "vxlan": (1, lambda p, f: _outer(udp(49152 + f, 4789, vxlan(p, 42 if f else 43)), f, 17),
              f"vxlan {VTEP1} {VTEP2}"),
    "vxlan-ipv6-underlay": (1, lambda p, f: _outer6(udp(40000, 4789, vxlan(p)), f, 17),
                            "vxlan fd00::a fd00::b"),
    "vxlan-gpe": (1, lambda p, f: _outer(udp(40000, 4790, struct.pack("!II", 0x0C000001, 9 << 8)
                                             + p), f, 17), f"vxlan-gpe {VTEP1} {VTEP2}"),
    "ipip-over-ipv6": (1, lambda p, f: _outer6(p, f, 4), "ipip fd00::a fd00::b"),
    "pptp": (1, lambda p, f: _outer(_pptp(p), f, 47), f"pptp {VTEP1} {VTEP2}"),
    "geneve": (1, lambda p, f: _outer(udp(50000, 6081, geneve(p)), f, 17),
               f"geneve {VTEP1} {VTEP2}"),
    "gre": (1, lambda p, f: _outer(gre(p, 0x0800), f, 47), f"gre {VTEP1} {VTEP2}"),
    "gre-key-bridging": (1, lambda p, f: _outer(gre(ethernet(p, pad=False), 0x6558, key=9),
                                                f, 47), f"gre {VTEP1} {VTEP2}"),
    "gre-mpls": (1, lambda p, f: _outer(gre(mpls(p), 0x8847), f, 47), f"gre {VTEP1} {VTEP2}"),
    "erspan1": (1, lambda p, f: _outer(gre(ethernet(p, pad=False), 0x88BE), f, 47),
                f"erspan1 {VTEP1} {VTEP2}"),
    "erspan2": (1, lambda p, f: _outer(erspan2(p), f, 47), f"erspan2 {VTEP1} {VTEP2}"),
    "erspan3": (1, lambda p, f: _outer(erspan3(p), f, 47), f"erspan3 {VTEP1} {VTEP2}"),
    "ipip": (1, lambda p, f: _outer(p, f, 4), f"ipip {VTEP1} {VTEP2}"),
    "mpls": (1, lambda p, f: ethernet(mpls(p), 0x8847), None),
    "mpls-multicast": (1, lambda p, f: ethernet(mpls(p, (20,)), 0x8848), None),
    "pppoe": (1, lambda p, f: ethernet(struct.pack("!BBHHH", 0x11, 0, 7, len(p) + 2, 0x21) + p,
                                       0x8864), None),
    "snap": (1, lambda p, f: b"\x02" * 12 + struct.pack("!H", len(p) + 8)
             + bytes.fromhex("aaaa030000000800") + p, None),
    "ppp": (9, lambda p, f: b"\xff\x03\x00\x21" + p, None),
    "ppp-mpls": (9, lambda p, f: b"\xff\x03\x02\x81" + mpls(p), None),
    "ppp-hdlc": (50, lambda p, f: b"\xff\x03\x00\x21" + p, None),
    "cisco-hdlc": (104, lambda p, f: b"\x0f\x00\x08\x00" + p, None),
    "juniper-ethernet": (178, lambda p, f: b"MGC\x80\x00\x04\x01\x02\x03\x04"
                         + ethernet(p, pad=False), None),
    "ipoib": (242, lambda p, f: b"\x00" * 40 + b"\x08\x00\x00\x00" + p, None),
    "pktap": (258, lambda p, f: struct.pack("<III", 108, 1, 1) + b"\x00" * 96
              + ethernet(p, pad=False), None),
    "nflog": (239, lambda p, f: b"\x02\x00\x00\x05" + struct.pack("<HH", 8, 1) + b"\x08\x00\x03\x00"
              + struct.pack("<HH", 4 + len(p), 9) + p + b"\x00" * (-len(p) % 4), None),
    # Linux cooked captures of a GRE tunnel device and a PPP device (`-i any`).
    "sll-ipgre-device": (113, lambda p, f: struct.pack("!HHH8sH", 0, 778, 4, b"\x0a" * 8,
                                                     0x0800) + p, None),
    "sll2-ppp-device": (276, lambda p, f: struct.pack("!HHIHBB8s", 0x0800, 0, 3, 512, 0, 0,
                                                    b"\x00" * 8) + p, None),
    "arcnet-linux": (129, lambda p, f: b"\x01\x02\x00\x00\xd4\x00\x00\x00" + p, None),
}


def build(tmp_path: Path, name: str) -> tuple[Path, str | None]:
    linktype, wrap, tunnel = ENCAPSULATIONS[name]
    frames = [wrap(packet, forward) for packet, forward in exchange()]
    return write_pcap(tmp_path / f"{name}.pcap", linktype, frames), tunnel


def connections(path: Path) -> list[Connection]:
    tracker = ConnectionTracker()
    for batch in iter_batches([str(path)]):
        tracker.feed(batch)
    return tracker.finish()


@pytest.mark.parametrize("name", sorted(ENCAPSULATIONS))
def test_encapsulation_is_read_as_tshark_reads_it(tmp_path: Path, name: str) -> None:
    path, tunnel = build(tmp_path, name)
    (connection,) = connections(path)
    assert (connection.orig_h, connection.resp_h, connection.resp_p) == (A, B, 10000)
    assert (connection.orig_pkts, connection.resp_pkts, connection.orig_bytes) == (2, 2, 100)
    assert connection.history == "ShDa"
    assert connection.tunnel == tunnel
    assert connection.as_dict()["tunnel"] == tunnel
    assert ours(path) == _parse(_tshark(path))[0].streams


def test_one_inner_connection_in_two_tunnels_is_two_connections(tmp_path: Path) -> None:
    frames = []
    for far in (VTEP2, VTEP3):
        for packet, forward in exchange():
            src, dst = (VTEP1, far) if forward else (far, VTEP1)
            frames.append(ethernet(ipv4(src, dst, 17, udp(40000, 4789, vxlan(packet))),
                                   pad=False))
    path = write_pcap(tmp_path / "two.pcap", 1, frames)
    found = connections(path)
    assert [c.tunnel for c in found] == [f"vxlan {VTEP1} {VTEP2}", f"vxlan {VTEP1} {VTEP3}"]
    assert [c.orig_pkts + c.resp_pkts for c in found] == [4, 4]
    # tshark keys tcp.stream on the inner 4-tuple alone: one stream of 8 packets, 200 bytes.
    assert _parse(_tshark(path))[0].streams == [(1, 8, 200)]


def test_linux_vxlan_port_and_nested_tunnels(tmp_path: Path) -> None:
    frames = []
    for packet, forward in exchange():
        src, dst = (VTEP1, VTEP2) if forward else (VTEP2, VTEP1)
        inner = ipv4(src, dst, 17, udp(40000, 8472, vxlan(packet)))
        frames.append(ethernet(ipv4("198.51.100.9", "198.51.100.1", 47, erspan2(inner)),
                               pad=False))
    (connection,) = connections(write_pcap(tmp_path / "nested.pcap", 1, frames))
    assert connection.tunnel == (f"erspan2 198.51.100.1 198.51.100.9 / vxlan {VTEP1} {VTEP2}")
    assert connection.orig_bytes == 100


def test_tunnelled_icmp_unreachable_reaches_the_tunnelled_connection(tmp_path: Path) -> None:
    syn = ipv4(A, B, 6, tcp(5001, 10000, 100, 0, SYN))
    icmp = ipv4(B, A, 1, struct.pack("!BBHI", 3, 3, 0, 0) + syn[:28])
    frames = [ethernet(ipv4(VTEP1, VTEP2, 17, udp(40000, 4789, vxlan(syn))), pad=False),
              ethernet(ipv4(VTEP2, VTEP1, 17, udp(40000, 4789, vxlan(icmp))), pad=False)]
    (connection,) = connections(write_pcap(tmp_path / "icmp.pcap", 1, frames))
    assert connection.icmp_frames == [2]


def test_segmentation_offload_lengths(tmp_path: Path) -> None:
    """IPv4 total length 0 (TSO, BIG TCP), the IPv6 jumbo option, and an IP length
    beyond the frame: payload as tshark counts it. A super-frame cut by the snap length
    still counts its wire length."""
    data = b"d" * 70000
    tso = ethernet(ipv4(A, B, 6, tcp(5001, 10000, 1, 1, PSH | ACK, data), total=0))
    segment = tcp(5001, 10000, 1, 1, PSH | ACK, data)
    # RFC 2675: payload length 0, the length in a hop-by-hop Jumbo Payload option.
    jumbo = ipv6_zero_length(0, struct.pack("!BBBBI", 6, 0, 0xC2, 4, 8 + len(segment))
                             + segment)
    # 820 bytes said, a 60-byte frame: the 6 bytes of padding are all there is (tshark).
    too_long = ethernet(ipv4(A, B, 6, tcp(6001, 10000, 1, 1, ACK), total=820))
    path = write_pcap(tmp_path / "tso.pcap", 1,
                      [tso, (tso, 128), ethernet(jumbo, 0x86DD), too_long])
    (decoded,) = [decode_batch(batch) for batch in read_batches(path)]
    assert decoded.kind.tolist() == [TCP] * 4
    assert decoded.tcp_payload_len.tolist() == [70000, 70000, 70000, 6]
    assert decoded.tcp_payload_cap.tolist() == [70000, 128 - 54, 70000, 6]
    assert ours(path) == _parse(_tshark(path))[0].streams


def test_inconsistent_lengths_stay_undecodable(tmp_path: Path) -> None:
    """A jumbo option with a non-zero payload length (RFC 2675 forbids it), and an
    IPv4 total length 0 on a frame that ends with the IP header: counted undecodable."""
    segment = tcp(5001, 10000, 1, 1, ACK)
    bad_jumbo = ipv6_zero_length(0, struct.pack("!BBBBI", 6, 0, 0xC2, 4, 70000) + segment)
    bad_jumbo = bad_jumbo[:4] + struct.pack("!H", 8 + len(segment)) + bad_jumbo[6:]
    short = ethernet(ipv4(A, B, 6, b"", total=0), pad=False)
    path = write_pcap(tmp_path / "bad.pcap", 1, [ethernet(bad_jumbo, 0x86DD), short])
    (decoded,) = [decode_batch(batch) for batch in read_batches(path)]
    assert decoded.kind.tolist() == [UNDECODABLE, UNDECODABLE]


def test_ipv6_big_tcp_without_jumbo_option(tmp_path: Path) -> None:
    """Linux BIG TCP over IPv6 now leaves the jumbo option out: payload length 0, the
    segment runs to the end of the frame (tshark 4.0 reads no TCP there)."""
    packet = ipv6_zero_length(6, tcp(5001, 10000, 1, 1, PSH | ACK, b"b" * 70000))
    (connection,) = connections(write_pcap(tmp_path / "big6.pcap", 1,
                                           [ethernet(packet, 0x86DD, pad=False)]))
    assert connection.orig_bytes == 70000


def test_link_layer_fragments_and_non_ip(tmp_path: Path) -> None:
    """ARCNET (BSD) split packets are fragments; SLL netlink and ARP over PPP are not IP."""
    packet = exchange()[0][0]
    arcnet = write_pcap(tmp_path / "arc.pcap", 7, [b"\x01\x02\xd4\x00\x00\x01" + packet,
                                                   b"\x01\x02\xd4\x03\x00\x01" + packet])
    (decoded,) = [decode_batch(batch) for batch in read_batches(arcnet)]
    assert decoded.kind.tolist() == [TCP, FRAGMENT]
    netlink = struct.pack("!HHH8sH", 4, 824, 0, b"\x00" * 8, 0) + packet
    sll = write_pcap(tmp_path / "nl.pcap", 113, [netlink])
    (decoded,) = [decode_batch(batch) for batch in read_batches(sll)]
    assert decoded.kind.tolist() == [NON_TCP]


def test_layouts_mixed_in_one_batch(tmp_path: Path) -> None:
    """Plain Ethernet, plain VXLAN (the one-gather layouts) and VXLAN the general decode
    reads (a VLAN tag inside; another VTEP pair) in one batch: each its own connection,
    tunnels numbered once across the parts."""
    frames = []
    for packet, forward in exchange():
        src, dst = (VTEP1, VTEP2) if forward else (VTEP2, VTEP1)
        frames.append(ethernet(packet))
        frames.append(ethernet(ipv4(src, dst, 17, udp(40000, 4789, vxlan(packet))), pad=False))
        tagged = struct.pack("!II", 0x08000000, 42 << 8) + ethernet(packet, vlans=(0x8100,),
                                                                     pad=False)
        src, dst = (VTEP1, VTEP3) if forward else (VTEP3, VTEP1)
        frames.append(ethernet(ipv4(src, dst, 17, udp(40000, 4789, tagged)), pad=False))
    path = write_pcap(tmp_path / "mixed.pcap", 1, frames)
    found = connections(path)
    assert [c.tunnel for c in found] == [None, f"vxlan {VTEP1} {VTEP2}",
                                         f"vxlan {VTEP1} {VTEP3}"]
    assert [(c.orig_pkts, c.resp_pkts, c.orig_bytes) for c in found] == [(2, 2, 100)] * 3
    assert [c.first_frame for c in found] == [1, 2, 3]


def fragments(datagram: bytes, size: int) -> list[bytes]:
    """An IPv4 datagram (20-byte header) cut into fragments of `size` payload bytes."""
    header, payload = datagram[:20], datagram[20:]
    pieces = []
    for offset in range(0, len(payload), size):
        part = payload[offset:offset + size]
        more = 0x2000 if offset + size < len(payload) else 0
        piece = bytearray(header + part)
        struct.pack_into("!HHH", piece, 2, 20 + len(part), 7, more | offset // 8)
        pieces.append(bytes(piece))
    return pieces


def test_fragmented_datagrams_are_reassembled_as_tshark_does(tmp_path: Path) -> None:
    """A TCP segment in three fragments (the last one arriving first), and an ERSPAN
    frame whose outer datagram was fragmented on the way to the collector: one packet
    each, at the frame that completes the datagram, with the whole length. A lone first
    fragment cut by the snap length is a packet of unknown (0) length, captured whole a
    fragment waiting for the rest; the other fragments count as fragments."""
    big = ipv4(A, B, 6, tcp(5001, 10000, 1, 1, PSH | ACK, b"f" * 3000))
    first, middle, last = fragments(big, 1480)
    mirrored = ipv4(B, A, 6, tcp(10000, 7001, 1, 1, PSH | ACK, b"m" * 1400))
    outer = ipv4(VTEP1, VTEP2, 47, erspan2(mirrored))
    outer_pieces = fragments(outer, 1024)
    lone = fragments(ipv4(A, B, 6, tcp(6001, 10000, 1, 1, PSH | ACK, b"l" * 2000)), 1480)[0]
    frames = [ethernet(p, pad=False) for p in (last, first, middle, *outer_pieces, lone)]
    frames.append((ethernet(lone, pad=False), 80))
    path = write_pcap(tmp_path / "frag.pcap", 1, frames)
    (decoded,) = [decode_batch(batch) for batch in read_batches(path)]
    assert decoded.kind.tolist() == [FRAGMENT, FRAGMENT, TCP, FRAGMENT, TCP, FRAGMENT, TCP]
    assert decoded.tcp_payload_len.tolist() == [3000, 1400, 0]
    found = connections(path)
    assert [(c.first_frame, c.orig_bytes + c.resp_bytes, c.tunnel) for c in found] == [
        (3, 3000, None), (5, 1400, f"erspan2 {VTEP1} {VTEP2}"), (7, 0, None)]
    assert ours(path) == _parse(_tshark(path))[0].streams


def test_damaged_encapsulations_never_break_the_decoder() -> None:
    """Every encapsulation above, with random bytes changed and cut at random lengths
    (seeded): every packet is classified, lengths stay sane, nothing raises."""
    rng = np.random.default_rng(8)
    for name, (linktype, wrap, _) in sorted(ENCAPSULATIONS.items()):
        packets = []
        for packet, forward in exchange() * 40:
            frame = bytearray(wrap(packet, forward))
            for _ in range(int(rng.integers(1, 6))):
                frame[int(rng.integers(0, len(frame)))] = int(rng.integers(0, 256))
            packets.append(bytes(frame[:int(rng.integers(1, len(frame) + 1))]))
        sizes = np.array([len(p) for p in packets], dtype=np.int32)
        batch = PacketBatch(b"".join(packets), 1, np.arange(len(packets), dtype=np.float64),
                            np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64),
                            sizes, sizes + rng.integers(0, 3, len(packets)).astype(np.int32) * 900,
                            np.full(len(packets), linktype, dtype=np.int32))
        decoded = decode_batch(batch)
        assert decoded.kind.shape[0] == len(packets), name
        assert set(decoded.kind.tolist()) <= {TCP, NON_TCP, FRAGMENT, UNDECODABLE}, name
        assert (decoded.tcp_payload_cap >= 0).all(), name
        assert (decoded.tcp_payload_cap <= decoded.tcp_payload_len).all(), name


def _bench_builders():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_encap", Path(__file__).resolve().parent.parent / "bench" / "build_encap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("variant", ["vxlan", "tso"])
def test_ndmp_analysis_is_the_same_through_vxlan_and_offload(tmp_path: Path,
                                                            variant: str) -> None:
    """A real backup's capture (ndmjob), inside VXLAN or as the sending host's offload
    super-frames (bench/build_encap.py): the same sessions, findings and verdict, the
    same connection bytes; only the tunnel field (and, offloaded, packet counts) differ."""
    from flowcheck.config import build_config, load_file
    from flowcheck.pipeline import analyze, read_traffic

    ndmjob = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
    config = build_config(load_file(ndmjob / "flowcheck.toml"))
    source = ndmjob / "v4-three-resources.pcap"
    target = tmp_path / f"{variant}.pcap"
    getattr(_bench_builders(), f"build_{variant}")(source, target)
    plain, wrapped = (analyze(read_traffic([str(path)], config), config)
                      for path in (source, target))
    assert wrapped.verdict == plain.verdict

    def findings(analysis):  # noqa: ANN001, ANN202
        # Frame numbers change when segments are coalesced into super-frames.
        return [{k: v for k, v in f.as_dict().items() if k != "frames" or variant == "vxlan"}
                for f in analysis.findings]

    assert findings(wrapped) == findings(plain)
    if variant == "vxlan":
        assert [s.as_dict() for s in wrapped.sessions] == [s.as_dict() for s in plain.sessions]
    else:
        assert [(s.id, s.control_uid) for s in wrapped.sessions] == [
            (s.id, s.control_uid) for s in plain.sessions]
    assert [(c.uid, c.orig_bytes, c.resp_bytes, c.conn_state)
            for c in wrapped.traffic.connections] == [
        (c.uid, c.orig_bytes, c.resp_bytes, c.conn_state) for c in plain.traffic.connections]
    tunnels = {c.tunnel for c in wrapped.traffic.connections}
    assert tunnels == ({"vxlan 192.0.2.1 192.0.2.2"} if variant == "vxlan" else {None})


def test_a_batch_of_one_ipv4_tunnel_is_named_as_the_general_path_names_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Both directions of one VXLAN tunnel (the underlay capture of two VTEPs) are named
    once, without per-row keys, and exactly as a batch with a second tunnel names them."""
    from flowcheck.decode import tunnels

    def words(*addresses: str) -> np.ndarray:
        rows = np.zeros((len(addresses), 4), np.uint32)
        rows[:, 0] = [struct.unpack("!I", socket.inet_aton(a))[0] for a in addresses]
        return rows

    def add(table: tunnels.TunnelTable, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        m = src.shape[0]
        rows = np.arange(m)
        found = tunnels.Found(rows, rows, rows, np.full(m, tunnels.VXLAN), rows)
        return table.add(np.zeros(m, np.int64), found, np.full(m, 4), src, dst)

    src, dst = words(VTEP1, VTEP2, VTEP2, VTEP1), words(VTEP2, VTEP1, VTEP1, VTEP2)
    general = tunnels.TunnelTable()
    mixed = add(general, words(VTEP1, VTEP2, VTEP2, VTEP1, VTEP3),
                words(VTEP2, VTEP1, VTEP1, VTEP2, VTEP1))
    with monkeypatch.context() as patch:
        patch.setattr(tunnels, "_descending", None)  # the general path would call it
        one = tunnels.TunnelTable()
        numbers = add(one, src, dst)
    assert one.names == ["", f"vxlan {VTEP1} {VTEP2}"]
    assert [one.names[k] for k in numbers] == [general.names[k] for k in mixed[:4]]
    assert general.names[mixed[4]] == f"vxlan {VTEP1} {VTEP3}"
