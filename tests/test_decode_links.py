"""Bulk decode: every link type, VLAN tags, IP options and extension headers, and the
packets that are counted but not tracked (non-TCP, fragments, cut, unknown link).

Each capture is also handed to tshark: our per-connection counts must equal its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_connections_util import (
    ACK,
    PSH,
    SYN,
    ethernet,
    ipv4,
    ipv6,
    null,
    read_batches,
    sll,
    sll2,
    tcp,
    write_pcap,
)
from test_tshark_counts import assert_matches_tshark

from flowcheck.connections import ConnectionTracker
from flowcheck.decode import FRAGMENT, NON_TCP, TCP, UNDECODABLE, decode_batch
from flowcheck.sources.batch import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
)

A, B = "10.1.0.1", "10.1.0.2"
A6, B6 = "fd00::1", "fd00::2"


def v4_exchange() -> list[bytes]:
    """A SYN, a SYN-ACK and 100 bytes of data: IPv4 packets."""
    return [ipv4(A, B, 6, tcp(5001, 10000, 100, 0, SYN)),
            ipv4(B, A, 6, tcp(10000, 5001, 900, 101, SYN | ACK)),
            ipv4(A, B, 6, tcp(5001, 10000, 101, 901, PSH | ACK, b"x" * 100))]


def v6_exchange() -> list[bytes]:
    return [ipv6(A6, B6, 6, tcp(5001, 10000, 100, 0, SYN)),
            ipv6(B6, A6, 6, tcp(10000, 5001, 900, 101, SYN | ACK)),
            ipv6(A6, B6, 6, tcp(5001, 10000, 101, 901, PSH | ACK, b"x" * 100))]


def decode_file(path: Path):
    return [decode_batch(batch) for batch in read_batches(path)]


def tracked(path: Path):
    tracker = ConnectionTracker()
    for batch in read_batches(path):
        tracker.feed(batch)
    return tracker, tracker.finish()


LINKS = {
    "ethernet": (LINKTYPE_ETHERNET, lambda p, v: ethernet(p, 0x0800 if v == 4 else 0x86DD)),
    "vlan": (LINKTYPE_ETHERNET, lambda p, v: ethernet(p, 0x0800 if v == 4 else 0x86DD,
                                                      vlans=(0x8100,))),
    "qinq": (LINKTYPE_ETHERNET, lambda p, v: ethernet(p, 0x0800 if v == 4 else 0x86DD,
                                                      vlans=(0x88A8, 0x8100))),
    "qinq-9100": (LINKTYPE_ETHERNET, lambda p, v: ethernet(p, 0x0800 if v == 4 else 0x86DD,
                                                           vlans=(0x9100, 0x8100))),
    "sll": (LINKTYPE_LINUX_SLL, lambda p, v: sll(p, 0x0800 if v == 4 else 0x86DD)),
    "sll2": (LINKTYPE_LINUX_SLL2, lambda p, v: sll2(p, 0x0800 if v == 4 else 0x86DD)),
    "raw": (LINKTYPE_RAW, lambda p, v: p),
    "null": (LINKTYPE_NULL, lambda p, v: null(p, 2 if v == 4 else 30)),
    "null-big-endian": (LINKTYPE_NULL, lambda p, v: null(p, 2 if v == 4 else 24, little=False)),
    "loop": (LINKTYPE_LOOP, lambda p, v: null(p, 2 if v == 4 else 28, little=False)),
}


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("link", sorted(LINKS))
def test_each_link_type_decodes_and_matches_tshark(tmp_path: Path, link: str,
                                                   version: int) -> None:
    linktype, frame = LINKS[link]
    packets = [frame(p, version) for p in (v4_exchange() if version == 4 else v6_exchange())]
    path = write_pcap(tmp_path / f"{link}.pcap", linktype, packets)
    (decoded,) = decode_file(path)
    assert decoded.kind.tolist() == [TCP] * 3
    assert decoded.tcp_payload_len.tolist() == [0, 0, 100]
    _, (connection,) = tracked(path)
    assert (connection.orig_h, connection.resp_p) == ((A, 10000) if version == 4 else
                                                       (A6, 10000))
    assert (connection.orig_bytes, connection.history) == (100, "ShD")
    assert_matches_tshark(path)


def test_raw_ip_link_types_228_and_229(tmp_path: Path) -> None:
    for linktype, packets in ((LINKTYPE_IPV4, v4_exchange()), (LINKTYPE_IPV6, v6_exchange())):
        path = write_pcap(tmp_path / f"{linktype}.pcap", linktype, packets)
        (decoded,) = decode_file(path)
        assert decoded.kind.tolist() == [TCP] * 3
        assert decoded.tcp_payload_len.tolist() == [0, 0, 100]


def test_ipv4_options_move_the_tcp_header(tmp_path: Path) -> None:
    options = b"\x07\x07\x04" + b"\x00" * 4 + b"\x00"  # record route, padded to 8 bytes
    packet = ipv4(A, B, 6, tcp(5001, 10000, 7, 1, PSH | ACK, b"hello"), options=options)
    path = write_pcap(tmp_path / "options.pcap", LINKTYPE_ETHERNET, [ethernet(packet)])
    (decoded,) = decode_file(path)
    assert decoded.tcp_sport.tolist() == [5001]
    assert decoded.tcp_payload_len.tolist() == [5]
    assert_matches_tshark(path)


def test_ipv6_extension_headers_are_walked(tmp_path: Path) -> None:
    hop_by_hop = (0, bytes([0, 1, 4, 0, 0, 0, 0]))  # 8 bytes: PadN
    destination = (60, bytes([0, 1, 4, 0, 0, 0, 0]))
    atomic_fragment = (44, bytes([0, 0, 0, 0, 0, 0, 1]))  # offset 0, no more fragments
    packet = ipv6(A6, B6, 6, tcp(5001, 10000, 7, 1, PSH | ACK, b"x" * 30),
                  extensions=[hop_by_hop, destination, atomic_fragment])
    path = write_pcap(tmp_path / "ext.pcap", LINKTYPE_ETHERNET, [ethernet(packet, 0x86DD)])
    (decoded,) = decode_file(path)
    assert decoded.kind.tolist() == [TCP]
    assert decoded.tcp_dport.tolist() == [10000]
    assert decoded.tcp_payload_len.tolist() == [30]
    assert_matches_tshark(path)


def test_fragments_non_tcp_and_unknown_links_are_counted(tmp_path: Path) -> None:
    udp = ipv4(A, B, 17, b"\x00\x35\x00\x35\x00\x0c\x00\x00abcd")
    arp = ethernet(b"\x00\x01\x08\x00\x06\x04\x00\x01" + b"\x00" * 20, 0x0806)
    first_fragment = ipv4(A, B, 6, tcp(5001, 10000, 1, 1, ACK, b"y" * 40), frag=0x2000)
    later_fragment = ipv4(B, A, 6, b"z" * 16, frag=0x0005)  # another datagram's
    v6_fragment = ipv6(A6, B6, 6, b"w" * 16, extensions=[(44, bytes([0, 0, 0x29, 0, 0, 0, 1]))])
    packets = [ethernet(udp), arp, ethernet(first_fragment), ethernet(later_fragment),
               ethernet(v6_fragment, 0x86DD), ethernet(v4_exchange()[0])]
    path = write_pcap(tmp_path / "mixed.pcap", LINKTYPE_ETHERNET, packets)
    (decoded,) = decode_file(path)
    assert decoded.kind.tolist() == [NON_TCP, NON_TCP, FRAGMENT, FRAGMENT, FRAGMENT, TCP]
    tracker, connections = tracked(path)
    assert (tracker.non_tcp, tracker.fragments, tracker.undecodable) == (2, 3, 0)
    assert len(connections) == 1
    unknown = write_pcap(tmp_path / "unknown.pcap", 147, [v4_exchange()[0]])
    (decoded,) = decode_file(unknown)
    assert decoded.kind.tolist() == [UNDECODABLE]


def test_ethernet_padding_is_not_payload(tmp_path: Path) -> None:
    ack = ethernet(ipv4(A, B, 6, tcp(5001, 10000, 1, 1, ACK)))
    assert len(ack) == 60  # 54 bytes of headers, 6 of padding
    tiny = ethernet(ipv4(A, B, 6, tcp(5001, 10000, 1, 1, PSH | ACK, b"ab")))
    path = write_pcap(tmp_path / "pad.pcap", LINKTYPE_ETHERNET, [ack, tiny])
    (decoded,) = decode_file(path)
    assert decoded.tcp_payload_len.tolist() == [0, 2]
    assert_matches_tshark(path)


def test_snap_length_cut_keeps_tcp_len_but_not_a_cut_header(tmp_path: Path) -> None:
    data = ethernet(ipv4(A, B, 6, tcp(5001, 10000, 1, 1, PSH | ACK, b"d" * 1000)))
    cut_in_payload = (data, 54 + 10)
    cut_in_tcp_header = (data, 14 + 20 + 12)
    path = write_pcap(tmp_path / "snap.pcap", LINKTYPE_ETHERNET,
                      [data, cut_in_payload, cut_in_tcp_header])
    (decoded,) = decode_file(path)
    assert decoded.kind.tolist() == [TCP, TCP, UNDECODABLE]
    assert decoded.tcp_payload_len.tolist() == [1000, 1000]  # as tshark's tcp.len
    assert decoded.tcp_payload_cap.tolist() == [1000, 10]
    tracker, (connection,) = tracked(path)
    assert connection.orig_bytes == 2000 and connection.retransmits == 1
    assert tracker.undecodable == 1


@pytest.mark.parametrize("link", ["raw", "ethernet"])
def test_icmp_unreachable_is_attached_to_the_quoted_connection(tmp_path: Path,
                                                               link: str) -> None:
    syn = ipv4(A, B, 6, tcp(5001, 10000, 100, 0, SYN))
    unreachable = ipv4(B, A, 1, bytes([3, 3, 0, 0, 0, 0, 0, 0]) + syn[:28])
    syn6 = ipv6(A6, B6, 6, tcp(5002, 10000, 100, 0, SYN))
    unreachable6 = ipv6(B6, A6, 58, bytes([1, 4, 0, 0, 0, 0, 0, 0]) + syn6[:48])
    packets = [syn, unreachable, syn6, unreachable6]
    if link == "ethernet":  # mixes the plain-layout decode with the general one
        packets = [ethernet(p, 0x0800 if p[0] >> 4 == 4 else 0x86DD) for p in packets]
    path = write_pcap(tmp_path / "icmp.pcap", LINKTYPE_RAW if link == "raw" else
                      LINKTYPE_ETHERNET, packets)
    tracker, connections = tracked(path)
    assert [c.icmp_frames for c in connections] == [[2], [4]]
    assert tracker.non_tcp == 2
