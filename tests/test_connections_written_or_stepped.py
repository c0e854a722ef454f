"""A clock set back a little, or a 4-tuple reused, is not records written out of order.

Review 2 of "records written out of time order are taken in time order": a clock set
back by less than NTP's step threshold, then a pause, ended its stretch with a jump
forward as records written out of order do, and the fast retransmission after the step
was sorted away (retransmits 1 -> 0); a connection's last ACK written just after the
next connection's SYN on the same 4-tuple was moved across that SYN (tshark's counts
differ). Scenarios built with scapy, counts compared with tshark's.
"""

from __future__ import annotations

from pathlib import Path

from scapy.all import IP, TCP, Ether, Raw, wrpcap
from test_connections_util import read_batches
from test_tshark_counts import assert_matches_tshark

from flowcheck.connections import ConnectionTracker
from flowcheck.model import Connection

A, B, SP, DP = "10.0.0.1", "10.0.0.2", 40000, 5001


def _pkt(t: float, src: str, flags: str, seq: int, ack: int, n: int = 0) -> Ether:
    s, d, sp, dp = (A, B, SP, DP) if src == "A" else (B, A, DP, SP)
    p = Ether() / IP(src=s, dst=d) / TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack,
                                         window=65000)
    if n:
        p = p / Raw(b"x" * n)
    p.time = t
    return p


def _stepped(step_back: float, pause: float) -> list[Ether]:
    """Ten 1000-byte segments captured at the receiver, the third lost upstream, dup
    ACKs; the clock set back by step_back seconds just before the fast retransmission,
    its ACK, a pause, the close."""
    t0, ia, ib = 1000.0, 1000, 5000
    out = [_pkt(t0, "A", "S", ia, 0), _pkt(t0 + 0.0002, "B", "SA", ib, ia + 1),
           _pkt(t0 + 0.0004, "A", "A", ia + 1, ib + 1)]
    t = t0 + 0.001
    for i in range(10):
        if i != 2:
            out.append(_pkt(t, "A", "A", ia + 1 + 1000 * i, ib + 1, 1000))
        if i >= 2:
            out.append(_pkt(t + 0.0001, "B", "A", ib + 1, ia + 2001))
        t += 0.001
    t -= step_back
    out += [_pkt(t, "A", "A", ia + 2001, ib + 1, 1000),
            _pkt(t + 0.0001, "B", "A", ib + 1, ia + 10001)]
    t += pause
    out += [_pkt(t, "A", "FA", ia + 10001, ib + 1), _pkt(t + 0.0001, "B", "FA", ib + 1, ia + 10002),
            _pkt(t + 0.0002, "A", "A", ia + 10002, ib + 2)]
    return out


def _track(path: Path) -> tuple[list[Connection], ConnectionTracker]:
    tracker = ConnectionTracker()
    for batch in read_batches(path):
        tracker.feed(batch)
    return tracker.finish(), tracker


def test_a_clock_set_back_a_little_keeps_its_fast_retransmission(tmp_path: Path) -> None:
    """Before: retransmits 0, history ShADaFf, 'written out of order' told."""
    path = tmp_path / "stepped.pcap"
    wrpcap(str(path), _stepped(0.008, 0.5))
    [connection], tracker = _track(path)
    # The resend fills the gap its loss (before the capture point) left: T, no G.
    assert connection.retransmits == 1 and connection.history == "ShADaTFf"
    assert tracker.clock.near == 0
    assert_matches_tshark(path)


def test_a_clock_set_back_before_a_pause_keeps_one_connection(tmp_path: Path) -> None:
    """Before: the connection split in two (its FIN taken before the data)."""
    path = tmp_path / "stepped.pcap"
    wrpcap(str(path), _stepped(0.05, 0.5))
    connections, _ = _track(path)
    assert len(connections) == 1
    assert_matches_tshark(path, connections)


def test_a_last_ack_written_after_the_next_syn_stays_in_its_connection(
        tmp_path: Path) -> None:
    """The 4-tuple reused: connection 1's last ACK stamped 0.3 ms before connection 2's
    SYN but written after it. Before: 5/3 and 3/2 packets, tshark 4/3 and 4/2."""
    t0, ia, ib, ja, jb = 1000.0, 1000, 5000, 900000, 700000
    out = [_pkt(t0, "A", "S", ia, 0), _pkt(t0 + 0.0002, "B", "SA", ib, ia + 1),
           _pkt(t0 + 0.0004, "A", "A", ia + 1, ib + 1),
           _pkt(t0 + 0.001, "A", "A", ia + 1, ib + 1, 100),
           _pkt(t0 + 0.0011, "B", "A", ib + 1, ia + 101),
           _pkt(t0 + 0.002, "A", "FA", ia + 101, ib + 1),
           _pkt(t0 + 0.0021, "B", "FA", ib + 1, ia + 102),
           _pkt(t0 + 0.0025, "A", "S", ja, 0),
           _pkt(t0 + 0.0022, "A", "A", ia + 102, ib + 2),
           _pkt(t0 + 0.0027, "B", "SA", jb, ja + 1), _pkt(t0 + 0.0029, "A", "A", ja + 1, jb + 1),
           _pkt(t0 + 0.003, "A", "A", ja + 1, jb + 1, 100),
           _pkt(t0 + 0.0031, "B", "A", jb + 1, ja + 101)]
    path = tmp_path / "reused.pcap"
    wrpcap(str(path), out)
    connections, _ = _track(path)
    assert len(connections) == 2
    assert_matches_tshark(path, connections)
