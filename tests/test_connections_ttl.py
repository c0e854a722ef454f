"""IP TTLs (IPv6 hop limits): the decoder's tcp_ttl column (a tunnelled packet's inner
header's, as tshark's last ip.ttl), each side's first packet's (Connection.orig_ttl,
resp_ttl) and its first RST's (SideEvidence.rst_ttl) on every path of the tracker (the
reference `fast=False`, the bulk path, the short-connection pass, parked between
batches), on generated captures and on the stored trial captures through a router.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tshark_fork
from scapy.all import ICMP, IP, TCP, Ether
from test_connections_acked_unseen import run, short_everywhere  # noqa: F401 (fixture)
from test_connections_util import (
    ACK,
    PSH,
    RST,
    SYN,
    ethernet,
    ipv4,
    ipv6,
    read_batches,
    tcp,
    write_pcap,
)
from test_decode_tunnels import VTEP1, VTEP2, gre, udp, vxlan

from flowcheck.connections.icmp import FRAMES_PER_QUOTE
from flowcheck.decode import decode_batch

ROOT = Path(__file__).resolve().parent.parent
M, A = "10.77.0.1", "10.77.1.2"


def with_ttl(packet: bytes, ttl: int) -> bytes:
    """An IPv4 packet (or IPv6: the hop limit) with its TTL set to ttl."""
    at = 8 if packet[0] >> 4 == 4 else 7
    return packet[:at] + bytes([ttl]) + packet[at + 1:]


def segment(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int,
            ttl: int, data: int = 0) -> bytes:
    return ethernet(with_ttl(ipv4(src, dst, 6, tcp(sport, dport, seq, ack, flags,
                                                   b"d" * data)), ttl))


def tshark_ttls(path: Path) -> list[int]:
    """Per TCP packet, the innermost IP header's TTL or hop limit (tshark's last)."""
    rows = tshark_fork.fields(path, "tcp", "ip.ttl", "ipv6.hlim", options=("-E", "occurrence=l"))
    return [int(next(v for v in row if v)) for row in rows]


def test_decode_keeps_the_innermost_ttl_on_every_layout(tmp_path: Path) -> None:
    plain = segment(M, A, 5001, 10000, 100, 0, SYN, 63)
    options = ethernet(with_ttl(ipv4(M, A, 6, tcp(5001, 10000, 1, 0, ACK),
                                     options=b"\x01" * 4), 127))
    v6 = ethernet(with_ttl(ipv6("fd00::1", "fd00::2", 6, tcp(5002, 10000, 1, 0, SYN)), 255),
                  ethertype=0x86DD)
    tagged = ethernet(with_ttl(ipv4(M, A, 6, tcp(5003, 10000, 1, 0, SYN)), 5), vlans=(0x8100,))
    inner = with_ttl(ipv4(M, A, 6, tcp(5004, 10000, 1, 0, SYN)), 62)
    over_vxlan = ethernet(with_ttl(ipv4(VTEP1, VTEP2, 17, udp(40000, 4789, vxlan(inner))),
                                   10))
    over_gre = ethernet(with_ttl(ipv4(VTEP1, VTEP2, 47, gre(
        with_ttl(ipv4(M, A, 6, tcp(5005, 10000, 1, 0, SYN)), 61), 0x0800)), 20))
    expected = [63, 127, 255, 5, 62, 61]
    packets = [plain, options, v6, tagged, over_vxlan, over_gre]
    path = write_pcap(tmp_path / "ttl.pcap", 1, packets)
    assert tshark_ttls(path) == expected
    (batch,) = read_batches(path, chunk=100)
    decoded = decode_batch(batch)
    assert decoded.tcp_ttl.dtype == np.uint8
    assert decoded.tcp_ttl.tolist() == expected
    # One layout per batch (the one-gather paths alone): the same values.
    for packet, ttl in zip(packets, expected, strict=True):
        one = write_pcap(tmp_path / "one.pcap", 1, [packet])
        (batch,) = read_batches(one, chunk=100)
        assert decode_batch(batch).tcp_ttl.tolist() == [ttl]


def injected_reset_capture(path: Path, connections: int = 40) -> Path:
    """M (TTL 64 at the capture point) opens `connections` connections to A (63: one
    router between); each exchanges 100 B, then the odd ones end with a RST in A's name
    carrying TTL 64 (a device next to the capture point: the router) and a second RST
    from A itself (63), the even ones with M's RST (64)."""
    packets = []
    for i in range(connections):
        port = 5001 + i
        packets += [segment(M, A, port, 10000, 100, 0, SYN, 64),
                    segment(A, M, 10000, port, 900, 101, SYN | ACK, 63),
                    segment(M, A, port, 10000, 101, 901, ACK, 64),
                    segment(M, A, port, 10000, 101, 901, PSH | ACK, 64, data=100),
                    segment(A, M, 10000, port, 901, 201, ACK, 63)]
        if i % 2:
            packets += [segment(A, M, 10000, port, 901, 0, RST, 64),
                        segment(A, M, 10000, port, 901, 0, RST, 63)]
        else:
            packets.append(segment(M, A, port, 10000, 201, 0, RST, 64))
    return write_pcap(path, 1, packets)


def test_first_and_reset_ttls_on_every_path(tmp_path: Path,
                                            short_everywhere: None) -> None:  # noqa: F811
    path = injected_reset_capture(tmp_path / "rst.pcap")
    reference, _ = run(path, 100_000, fast=False)
    assert len(reference) == 40
    for i, c in enumerate(reference):
        assert (c.orig_ttl, c.resp_ttl) == (64, 63)
        rst = (None, 64) if i % 2 else (64, None)  # the first RST's, not A's own after it
        assert (c.evidence("orig").rst_ttl, c.evidence("resp").rst_ttl) == rst
    for chunk in (1, 3, 7, 20, 100_000):
        fast, _ = run(path, chunk, fast=True)
        assert fast == reference, chunk


def test_a_ttl_of_its_own_skips_a_sides_resets(tmp_path: Path,
                                                short_everywhere: None) -> None:  # noqa: F811
    # Joined mid-stream: A's first packet is a RST in its name (TTL 64, a device next to
    # the capture point), then A's own ACKs (63) go on with M's data: A's own TTL is 63,
    # its RST's 64, on every path (the bulk path takes A's ACKs after the RST in runs).
    packets = [segment(M, A, 5001, 10000, 101 + 100 * i, 901, PSH | ACK, 64, data=100)
               for i in range(3)]
    packets.append(segment(A, M, 10000, 5001, 901, 0, RST, 64))
    for i in range(3, 60):
        packets += [segment(M, A, 5001, 10000, 101 + 100 * i, 901, PSH | ACK, 64, data=100),
                    segment(A, M, 10000, 5001, 901, 201 + 100 * i, ACK, 63)]
    path = write_pcap(tmp_path / "midstream.pcap", 1, packets)
    (c,), _ = run(path, 100_000, fast=False)
    assert (c.orig_ttl, c.resp_ttl, c.evidence("resp").rst_ttl) == (64, 63, 64)
    for chunk in (1, 5, 20, 100_000):
        fast, _ = run(path, chunk, fast=True)
        assert fast == [c], chunk


def test_a_side_that_sent_nothing_has_no_ttl(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "syn.pcap", 1, [segment(M, A, 5001, 10000, 100, 0, SYN, 64)])
    (c,), _ = run(path, 100_000, fast=False)
    assert (c.orig_ttl, c.resp_ttl, c.orig_evidence, c.resp_evidence) == (64, None, None, None)
    assert run(path, 100_000, fast=True)[0] == [c]


@pytest.mark.parametrize("name, ttls, rst", [
    # The router's RST in the agent's name (64) where the agent's packets arrive with 63.
    ("ndmjob-idle/idle-rst-65s-media", (64, 63), (None, 64)),
    # On the agent: the router's RST in the media server's name (64), its packets 63.
    ("ndmjob-idle/idle-rst-agent", (63, 64), (64, None)),
    # The agent's own kernel RST behind the router: 63, as its SYN-ACK.
    ("ndmjob-kill/agent-kill9-router-media", (64, 63), (None, 63)),
])
def test_stored_router_captures_on_every_path(name: str, ttls: tuple[int, int],
                                              rst: tuple[int | None, int | None],
                                              short_everywhere: None) -> None:  # noqa: F811
    path = ROOT / "captures" / f"{name}.pcap.gz"
    reference, _ = run(path, 100_000, fast=False)
    [control] = [c for c in reference if c.resp_p == 10000]
    assert (control.orig_ttl, control.resp_ttl) == ttls
    assert (control.evidence("orig").rst_ttl, control.evidence("resp").rst_ttl) == rst
    # Batches of 20 on the agent's capture (most of this test's time) walked no branch of
    # flowcheck that the other two captures' do not (branch coverage, session 48).
    chunks = (700, 100_000) if name == "ndmjob-idle/idle-rst-agent" else (20, 700, 100_000)
    for chunk in chunks:
        fast, _ = run(path, chunk, fast=True)
        assert fast == reference, chunk


def refused_nine_times(path: Path, syns: bool, snap: int | None = None, *,
                       ninth_copied: bool = False) -> Path:
    """M's SYN to A:10000 sent nine times a second apart (one attempt: the same sequence
    number, the next IPv4 ID), each answered 1 ms later by A's ICMP administratively
    prohibited, the first eight at TTL 64 and the ninth at 63: one more reject than
    connections.icmp.FRAMES_PER_QUOTE keeps. syns: the SYNs captured (else only the
    rejects: a connection made of the quotes); snap: the rejects cut to snap bytes.
    ninth_copied: the ninth at TTL 64 too, then captured again 50 us later one hop on
    (TTL 63, IPv4 header checksum anew: a router's own `tcpdump -i any` holds it
    arriving, then forwarded): a capture copy of one reject (connections.icmp_copies:
    the same identity within COPY_WINDOW), past the FRAMES_PER_QUOTE frames kept."""
    packets: list[bytes | tuple[bytes, int]] = []
    times = []
    for i in range(FRAMES_PER_QUOTE + 1):
        syn = IP(src=M, dst=A, id=1000 + i, ttl=64) / TCP(sport=5001, dport=10000,
                                                           flags="S", seq=100)
        ninth = i == FRAMES_PER_QUOTE
        reject = (IP(src=A, dst=M, id=2000 + i, ttl=63 if ninth and not ninth_copied else 64)
                  / ICMP(type=3, code=13) / syn)
        if syns:
            packets.append(bytes(Ether() / syn))
            times.append(float(i))
        copies = [reject]
        if ninth and ninth_copied:
            forwarded = reject.copy()
            forwarded.ttl = 63
            del forwarded.chksum
            copies.append(forwarded)
        for n, one in enumerate(copies):
            packets.append(bytes(Ether() / one) if snap is None
                           else (bytes(Ether() / one), snap))
            times.append(i + 0.001 + n * 0.00005)
    return write_pcap(path, 1, packets, times=times)


@pytest.mark.parametrize("syns, snap", [
    (True, None),  # the rejects tied by their quotes (connections.icmp_attach)
    (False, None),  # a connection made of the quotes (connections.icmp.QuotedAttempts)
    (True, 14 + 20 + 8 + 20),  # quotes cut before the ports (connections.icmp_cut)
], ids=["tracked", "quoted", "cut"])
def test_a_reject_past_the_kept_frames_at_another_ttl(tmp_path: Path, syns: bool,
                                                      snap: int | None,
                                                      short_everywhere: None  # noqa: F811
                                                      ) -> None:
    # Rejects at two TTLs leave icmp_ttl None (none of them speaks for all), the ninth,
    # past the frames kept, too, on every path (the one-at-a-time reference, the bulk
    # path, the short pass, parked between batches). Before, add_icmp stopped at
    # FRAMES_PER_QUOTE before comparing: 64 where QuotedAttempts said None.
    path = refused_nine_times(tmp_path / "refused.pcap", syns, snap)
    reference, _ = run(path, 100_000, fast=False)
    (c,) = reference
    assert (c.resp_h, c.resp_p, c.icmp_code, c.icmp_sender) == (A, 10000, 13, A)
    assert len(c.icmp_frames) == FRAMES_PER_QUOTE and c.icmp_ttl is None
    assert c.orig_pkts == (FRAMES_PER_QUOTE + 1 if syns else 0)
    for chunk in (1, 3, 7, 100_000):
        fast, _ = run(path, chunk, fast=True)
        assert fast == reference, chunk


@pytest.mark.parametrize("syns, snap", [
    (True, None),  # connections.icmp_attach
    (False, None),  # connections.icmp.QuotedAttempts
    (True, 14 + 20 + 8 + 20),  # connections.icmp_cut
], ids=["tracked", "quoted", "cut"])
def test_a_copy_of_a_reject_past_the_kept_frames_is_not_a_second_ttl(
        tmp_path: Path, syns: bool, snap: int | None,
        short_everywhere: None  # noqa: F811
) -> None:
    # add_icmp compares every reject's TTL, past the frames kept too (review 53a): a
    # capture copy of one reject at a decremented TTL is no reject of its own (dropped
    # before add_icmp on every path), so it neither clears icmp_ttl nor counts as a SYN
    # retry of a connection made of the quotes.
    path = refused_nine_times(tmp_path / "copied.pcap", syns, snap, ninth_copied=True)
    reference, _ = run(path, 100_000, fast=False)
    (c,) = reference
    assert (c.icmp_code, c.icmp_sender, c.icmp_to, c.icmp_ttl) == (13, A, M, 64)
    assert len(c.icmp_frames) == FRAMES_PER_QUOTE
    assert c.syn_retries == FRAMES_PER_QUOTE
    for chunk in (1, 3, 7, 100_000):
        fast, _ = run(path, chunk, fast=True)
        assert fast == reference, chunk
