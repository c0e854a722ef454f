"""Connections made from ICMP unreachables quoting SYNs the capture does not hold.

flowcheck.connections.icmp: a quote of a SYN (RFC 792 type 3, RFC 4443 type 1) whose
4-tuple no captured connection has makes a connection of zero packets; each further
quote of it is a retried SYN. A quote of another segment, one cut before the flags, or
"fragmentation needed" makes none; a quote of a captured connection is its evidence, as
before. The fast path and the per-packet path give the same records, uids in
first-frame order (tests/test_tshark_counts.py checks the stored captures).
"""

from __future__ import annotations

import struct
from pathlib import Path

from capture_factory import write_pcap
from test_connections_util import ACK, FIN, SYN, ethernet, ipv4, ipv6, tcp
from test_decode_tunnels import VTEP1, VTEP2, udp, vxlan

from flowcheck.connections import ConnectionTracker
from flowcheck.model import Connection
from flowcheck.sources import iter_batches

A, B = "10.1.0.1", "10.1.0.2"
A6, B6 = "fd00::1", "fd00::2"


def icmp_quote(sport: int, flags: int, code: int = 13, src: str = A, dst: str = B) -> bytes:
    """B's ICMP destination unreachable (type 3) to A quoting A's TCP segment, as Linux
    quotes it: the whole IP and TCP header."""
    quoted = ipv4(src, dst, 6, tcp(sport, 10000, 1000, 0, flags))
    return ipv4(dst, src, 1, struct.pack("!BBHI", 3, code, 0, 0) + quoted)


def icmp6_quote(sport: int, code: int = 1) -> bytes:
    """B6's ICMPv6 destination unreachable (type 1) to A6 quoting A6's SYN."""
    quoted = ipv6(A6, B6, 6, tcp(sport, 10000, 1000, 0, SYN))
    return ipv6(B6, A6, 58, struct.pack("!BBHI", 1, code, 0, 0) + quoted)


def track(path: Path, fast: bool) -> list[Connection]:
    tracker = ConnectionTracker(fast=fast)
    for batch in iter_batches([str(path)]):
        tracker.feed(batch)
    return tracker.finish()


def both_paths(path: Path) -> list[Connection]:
    fast = track(path, fast=True)
    assert fast == track(path, fast=False)
    return fast


def test_quotes_of_syns_make_connections(tmp_path: Path) -> None:
    in_tunnel = ipv4(VTEP2, VTEP1, 17, udp(49152, 4789, vxlan(icmp_quote(5001, SYN))))
    frames = [
        ethernet(icmp_quote(5001, SYN)),  # 1: a SYN refused
        ethernet(icmp_quote(5001, SYN)),  # 2: its retry, same port: the same attempt
        ethernet(icmp_quote(5002, SYN, code=3)),  # 3: another attempt, port unreachable
        ethernet(icmp_quote(5003, ACK)),  # 4: a segment of a connection opened unseen
        ethernet(icmp_quote(5004, SYN, code=4)),  # 5: fragmentation needed: path MTU
        ethernet(icmp_quote(5005, SYN | ACK)),  # 6: a SYN-ACK: its sender answered
        ethernet(icmp6_quote(5006), ethertype=0x86DD),  # 7: ICMPv6, prohibited
        ethernet(in_tunnel, pad=False),  # 8: the 5001 reject inside a VXLAN tunnel
        ethernet(ipv4(A, B, 6, tcp(5007, 10000, 1000, 0, SYN))),  # 9: a captured SYN
        ethernet(icmp_quote(5007, SYN)),  # 10: its reject: its evidence, as before
    ]
    path = write_pcap(tmp_path / "quotes.pcap", [(1.0 + i, f) for i, f in enumerate(frames)])
    conns = both_paths(path)
    got = [(c.uid, c.orig_h, c.orig_p, c.resp_h, c.resp_p, c.tunnel is not None,
            c.orig_pkts, c.resp_pkts, c.history, c.conn_state, c.syn_retries,
            c.icmp_frames, c.icmp_code, c.first_frame, c.last_frame) for c in conns]
    assert got == [
        ("C1", A, 5001, B, 10000, False, 0, 0, "", "S0", 1, [1, 2], 13, 1, 2),
        ("C2", A, 5002, B, 10000, False, 0, 0, "", "S0", 0, [3], 3, 3, 3),
        ("C3", A6, 5006, B6, 10000, False, 0, 0, "", "S0", 0, [7], 1, 7, 7),
        ("C4", A, 5001, B, 10000, True, 0, 0, "", "S0", 0, [8], 13, 8, 8),
        ("C5", A, 5007, B, 10000, False, 1, 0, "S", "S0", 0, [10], 13, 9, 9),
    ]
    assert (conns[0].ts, conns[0].last_ts, conns[0].duration) == (1.0, 2.0, 1.0)
    assert conns[3].tunnel is not None and conns[3].tunnel.startswith("vxlan")
    assert conns[0].as_dict()["icmp_unreachable"] == 2


def test_uids_follow_first_frame_beside_short_connections(tmp_path: Path) -> None:
    """A quote amid many short connections in one batch (the fast path takes those in
    bulk, flowcheck.connections.short) is numbered in frame order with them, on both
    paths."""
    frames: list[bytes] = []
    for n in range(300):
        port = 20000 + n
        frames += [ethernet(ipv4(A, B, 6, tcp(port, 80, 100, 0, SYN))),
                   ethernet(ipv4(B, A, 6, tcp(80, port, 900, 101, SYN | ACK))),
                   ethernet(ipv4(A, B, 6, tcp(port, 80, 101, 901, ACK | FIN))),
                   ethernet(ipv4(B, A, 6, tcp(80, port, 901, 102, ACK | FIN)))]
        if n == 150:
            frames.append(ethernet(icmp_quote(5001, SYN)))
    path = write_pcap(tmp_path / "short.pcap",
                      [(1.0 + i / 1000, f) for i, f in enumerate(frames)])
    conns = both_paths(path)
    assert [c.uid for c in conns] == [f"C{n}" for n in range(1, 302)]
    assert (conns[151].orig_p, conns[151].first_frame, conns[151].orig_pkts) == (5001, 605, 0)


def test_a_connection_captured_after_its_quote_keeps_its_own_record(tmp_path: Path) -> None:
    """A capture merged out of order: the quote comes first, then the connection's own
    packets; that connection holds the story, no second record of zero packets."""
    frames = [ethernet(icmp_quote(5001, SYN)),
              ethernet(ipv4(A, B, 6, tcp(5001, 10000, 1000, 0, SYN)))]
    path = write_pcap(tmp_path / "late.pcap", [(1.0, frames[0]), (0.5, frames[1])])
    [conn] = both_paths(path)
    assert (conn.orig_pkts, conn.history) == (1, "S")
