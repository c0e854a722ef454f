"""A connection whose SYN and its resend passed the capture point together, held on the
way (field check 63 run 13: the router's neighbour resolution held the control SYN
while fd77::1 resent it 1 s later by their TSvals; both reached the agent's capture
within 0.03 ms, the SYN-ACK 0.0238 ms after the first; 0.024 ms here). Step 1 read
"handshake ... after 1 resent SYN, answered 0.0238 ms after the first", as if the first
try had been answered at once: the SYN-ACK came sooner than TCP resends a SYN, so the
words say what that can mean and where the answer is (verify.details.handshake_words,
task words58).

The capture is built with scapy as the agent's `tcpdump` saw run 13's handshake
(addresses, hop limits, TSvals 1003 ms apart, the SYN-ACK echoing the first's TSval) and
read by flowcheck's own reader and tracker; a first try unanswered in the capture and
resent 1 s later keeps "answered 1 s after the first"."""

from __future__ import annotations

from pathlib import Path

from scapy.all import TCP, Ether, IPv6, wrpcap

from flowcheck.config import build_config
from flowcheck.model import Connection
from flowcheck.pipeline import read_traffic
from flowcheck.verify.details import handshake_words

M, A = "fd77::1", "fd77:1::2"


def _connection(tmp_path: Path, resend_after: float, *, answered_first: bool = True
                ) -> Connection:
    """SYN (TSval 1000), the SYN-ACK 24 us later echoing it (answered_first), the resend
    (TSval 2003) `resend_after` s after the first SYN and its SYN-ACK, then the ACK: one
    connection. Times in whole microseconds (a pcap's)."""
    def packet(src: str, dst: str, hlim: int, ts: float, **tcp: object) -> Ether:
        p = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / IPv6(
            src=src, dst=dst, hlim=hlim) / TCP(**tcp)
        p.time = 1_000_000.0 + ts
        return p

    syn = dict(sport=5083, dport=10000, seq=100, flags="S", window=64800)
    synack = dict(sport=10000, dport=5083, seq=900, ack=101, flags="SA", window=64260)
    last = max(resend_after, 0.000024) + 0.000010
    packets = [
        packet(M, A, 63, 0.0, options=[("Timestamp", (1000, 0))], **syn),
        *([packet(A, M, 64, 0.000024, options=[("Timestamp", (5000, 1000))], **synack)]
          if answered_first else []),
        packet(M, A, 63, resend_after, options=[("Timestamp", (2003, 0))], **syn),
        packet(A, M, 64, last, options=[("Timestamp", (5001, 2003))], **synack),
        packet(M, A, 63, last + 0.00004, sport=5083, dport=10000, seq=101, ack=901,
               flags="A", options=[("Timestamp", (2003, 5001))]),
    ]
    path = tmp_path / "held.pcap"
    wrpcap(str(path), packets)
    [conn] = read_traffic([str(path)], build_config({})).connections
    return conn


def test_a_resend_captured_with_its_first_try_is_not_said_answered_at_once(
        tmp_path: Path) -> None:
    conn = _connection(tmp_path, 0.00003)
    assert conn.syn_retries == 1
    words = handshake_words(conn)
    assert "answered 0.024 ms after the first" not in words
    assert words.endswith(
        "after 1 resent SYN, the first SYN-ACK 0.024 ms after the first SYN captured, "
        "sooner than TCP resends one: that SYN-ACK was lost on its way, or the tries were "
        "held on the way (a router's neighbour queue) and captured together (the "
        "SYN-ACK's TSecr names the try it answers)"), words


def test_a_resend_a_timeout_later_keeps_its_wait(tmp_path: Path) -> None:
    """The first try unanswered in the capture, its resend 1 s later answered."""
    conn = _connection(tmp_path, 1.0, answered_first=False)
    assert conn.syn_retries == 1
    assert "after 1 resent SYN, answered 1 s after the first" in handshake_words(conn)


STORED = Path(__file__).resolve().parent.parent / "captures" / "trial37-impairments"


def test_a_synack_resent_before_the_syn_resend_is_lost_not_held() -> None:
    """The agent's capture of a media server whose SYN-ACKs the router lost (trial 37's
    data-acks-lost-agent.pcap, port 5049: the SYN, its SYN-ACK 21 us later, the agent's
    SYN-ACK resent 1 s later by its timer, frame 3, the media server's resent SYN 2.03
    s after the first, frame 4): the tries passed the capture point a timeout apart, so
    the held reading is ruled out by the frames (review58c: it was offered)."""
    traffic = read_traffic([str(STORED / "data-acks-lost-agent.pcap")], build_config({}))
    [conn] = [c for c in traffic.connections if c.orig_p == 5049]
    assert conn.syn_retries == 1
    words = handshake_words(conn)
    assert "captured together" not in words, words
    assert words.endswith(
        "the first SYN-ACK 0.021 ms after the first SYN captured, sooner than TCP resends "
        "one: that SYN-ACK was lost on its way (10.77.1.2 resent it, frame 3, before the "
        "resent SYN, frame 4, was captured: the tries passed the capture point a timeout "
        "apart)"), words
