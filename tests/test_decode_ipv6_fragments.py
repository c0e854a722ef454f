"""IPv6 fragments of TCP segments are reassembled as IPv4 ones are (trial 28 D9).

A TCP segment sent as IPv6 fragments (RFC 8200 4.5) whose fragments are all in the same
read chunk is one packet, at the fragment that completes it, with the whole length, as
tshark reassembles it; before, every fragment was counted and skipped, and the data
connection's bytes read as sniffer loss ("the capture missed 99.4% ... the sniffer lost
them"). Built captures, checked against tshark's tcp.streams as the corpus test does.
"""

from __future__ import annotations

import struct
from pathlib import Path

from test_connections_util import ACK, PSH, SYN, ethernet, ipv6, read_batches, tcp, write_pcap
from test_tcpdump_corpus import _parse, _tshark, ours

from flowcheck.config import build_config
from flowcheck.connections import ConnectionTracker
from flowcheck.decode import FRAGMENT, TCP, decode_batch
from flowcheck.model import Connection
from flowcheck.pipeline import read_traffic
from flowcheck.sources import iter_batches
from flowcheck.verify.loss import check_capture_loss

A6, B6 = "fd00::1", "fd00::2"
FRAGMENT_HEADER = 44


def fragments6(src: str, dst: str, segment: bytes, size: int, ident: int,
               before: list[tuple[int, bytes]] = ()) -> list[bytes]:
    """The IPv6 packet carrying TCP `segment` cut into fragments of `size` bytes of its
    fragmentable part (`before`: extension headers in that part, ahead of TCP)."""
    types = [t for t, _ in before] + [6]
    part = b"".join(bytes([types[i + 1]]) + body for i, (_, body) in enumerate(before))
    part += segment
    pieces = []
    for offset in range(0, len(part), size):
        more = 1 if offset + size < len(part) else 0
        header = struct.pack("!BHI", 0, offset | more, ident)
        # ipv6() writes each extension's next-header byte: pass the rest of the header.
        pieces.append(ipv6(src, dst, types[0], part[offset:offset + size],
                           extensions=[(FRAGMENT_HEADER, header)]))
    return pieces


def connections(path: Path) -> list[Connection]:
    tracker = ConnectionTracker()
    for batch in iter_batches([str(path)]):
        tracker.feed(batch)
    return tracker.finish()


def test_ipv6_fragments_of_a_segment_are_one_packet(tmp_path: Path) -> None:
    """A 3000-byte segment in three fragments, the last arriving first, and one in two
    behind a destination options header: one TCP packet each, at the fragment that
    completes it, with the segment's length; the other fragments count as fragments.
    A lone fragment (its other half never captured) stays a fragment."""
    syn = ipv6(A6, B6, 6, tcp(5001, 10000, 0, 0, SYN))
    synack = ipv6(B6, A6, 6, tcp(10000, 5001, 900, 1, SYN | ACK))
    first, middle, last = fragments6(A6, B6, tcp(5001, 10000, 1, 901, PSH | ACK,
                                                 b"f" * 3000), 1232, 7)
    options = (60, bytes([0, 1, 4, 0, 0, 0, 0]))  # PadN: 8 bytes
    head, tail = fragments6(A6, B6, tcp(5001, 10000, 3001, 901, PSH | ACK, b"g" * 1400),
                            1024, 8, before=[options])
    lone = fragments6(A6, B6, tcp(5001, 10000, 4401, 901, PSH | ACK, b"l" * 2000), 1232, 9)[0]
    ack = ipv6(B6, A6, 6, tcp(10000, 5001, 901, 6401, ACK))
    packets = [syn, synack, last, first, middle, head, tail, lone, ack]
    path = write_pcap(tmp_path / "frag6.pcap", 1,
                      [ethernet(p, 0x86DD, pad=False) for p in packets])
    (decoded,) = [decode_batch(batch) for batch in read_batches(path)]
    assert decoded.kind.tolist() == [TCP, TCP, FRAGMENT, FRAGMENT, TCP, FRAGMENT, TCP,
                                     FRAGMENT, TCP]
    assert decoded.tcp_payload_len.tolist() == [0, 0, 3000, 1400, 0]
    (conn,) = connections(path)
    assert conn.orig_bytes == 4400
    assert ours(path) == _parse(_tshark(path))[0].streams


def test_fragments_never_put_together_are_not_called_sniffer_loss(tmp_path: Path) -> None:
    """Fragments flowcheck could not put together (here the middle one is not in the
    file; the same when a datagram's fragments straddle two read chunks) leave a gap the
    receiver acknowledged: capture_loss says the bytes may be in those fragments, not
    only that the sniffer lost them. Fragments of a reassembled packet are not counted
    as such."""
    syn = ipv6(A6, B6, 6, tcp(5001, 10000, 0, 0, SYN))
    synack = ipv6(B6, A6, 6, tcp(10000, 5001, 900, 1, SYN | ACK))
    first, _middle, last = fragments6(A6, B6, tcp(5001, 10000, 1, 901, PSH | ACK,
                                                  b"f" * 3000), 1232, 7)
    head, tail = fragments6(A6, B6, tcp(5001, 10000, 3001, 901, PSH | ACK, b"g" * 1400),
                            1024, 8)
    ack = ipv6(B6, A6, 6, tcp(10000, 5001, 901, 4401, ACK))
    packets = [syn, synack, first, last, head, tail, ack]
    path = write_pcap(tmp_path / "frag6-loose.pcap", 1,
                      [ethernet(p, 0x86DD, pad=False) for p in packets])
    traffic = read_traffic([str(path)], build_config({}))
    [capture] = traffic.captures
    assert (capture.fragments, capture.loose_fragments) == (3, 2)
    [finding] = check_capture_loss(traffic.connections, traffic.captures)
    assert "2 IP fragments flowcheck could not put together" in finding.message, \
        finding.message
    assert "so the sniffer lost them" not in finding.message
