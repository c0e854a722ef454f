"""Trial 28 D5: a path MTU black hole whose proof is in the capture. The router's 18
ICMPv6 "packet too big" (MTU 1280) quoting the stalled data connection reached the
agent's interface, and the agent went on resending 1428 B segments (its own firewall
dropped the messages after the tap): flowcheck never mentioned them and led with "check
that the media server is up". Now the messages are counted on the connection they quote
and named as the cause; a capture where the sender acted on them (the job worked) says
nothing of them. IPv6 words: "hop limit", not "TTL"."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from stored import stored_analysis

from flowcheck.config import build_config, load_file
from flowcheck.connections.icmp import refuses_syn
from flowcheck.decode.ipv6 import decode_icmp_quote
from flowcheck.pipeline import Analysis, read_traffic

STORED = Path(__file__).resolve().parent.parent / "captures" / "lab-trial28-ndp"


def _stored(name: str) -> Analysis:
    return stored_analysis(STORED / f"{name}.pcap")


def _packet_too_big(mtu: int, flags: int) -> bytes:
    """An ICMPv6 packet too big (from its type on) quoting a TCP segment with `flags`."""
    inner = struct.pack("!IHBB16s16s", 0x60000000, 20, 6, 64,
                        socket.inet_pton(socket.AF_INET6, "fd7a::2"),
                        socket.inet_pton(socket.AF_INET6, "fd79::1"))
    segment = struct.pack("!HHIIBBHHH", 6001, 5002, 1000, 0, 0x50, flags, 65535, 0, 0)
    return struct.pack("!BBHI", 2, 0, 0, mtu) + inner + segment


def test_the_decoder_reads_a_packet_too_big_and_its_mtu() -> None:
    import numpy as np
    data = _packet_too_big(1280, 0x10)
    quote = decode_icmp_quote(np.frombuffer(data, np.uint8), 0, len(data), 0, 6)
    assert quote is not None and quote.mtu == 1280
    assert (quote.sport, quote.dport) == (6001, 5002)
    # Quoting a SYN it refuses nothing (RFC 4443 3.2): no refused connection is made.
    syn = _packet_too_big(1280, 0x02)
    quote = decode_icmp_quote(np.frombuffer(syn, np.uint8), 0, len(syn), 0, 6)
    assert quote is not None and not refuses_syn(quote)


def test_the_packets_too_big_are_counted_on_the_connection_they_quote() -> None:
    config = build_config(load_file(STORED / "routed-ptb-blackhole-agent.toml"))
    traffic = read_traffic([str(STORED / "routed-ptb-blackhole-agent.pcap")], config)
    [data] = [c for c in traffic.connections if c.resp_p == 6001]
    assert data.too_big_count == 18 and data.too_big_mtu == 1280
    assert data.too_big_sender == "fd7a::fe" and data.too_big_to == "fd7a::2"
    assert data.too_big_frames[:4] == [32, 33, 34, 35]
    assert not data.icmp_frames  # no unreachable: nothing refused
    assert all(c.as_dict()["icmp_unreachable"] == 0 for c in traffic.connections)


def test_ignored_packets_too_big_are_the_cause_of_the_stall() -> None:
    analysis = _stored("routed-ptb-blackhole-agent")
    [stalled] = [f for f in analysis.findings if f.code == "data_stalled"]
    message = stalled.message
    assert "stopped delivering in a path MTU black hole" in message
    assert ("The capture holds 18 ICMPv6 'packet too big' messages from the router fd7a::fe to "
            "fd7a::2 quoting this connection's segments") in message
    assert "reporting a path MTU of 1280" in message
    assert "fd7a::2 went on resending 1,428 B segments (1,488 B packets)" in message
    # tcpdump on the agent's own interface (Ethernet): only the TTLs place the capture,
    # and they read alike on the agent's segment, so the words are hedged as the
    # own-firewall fix's (CaptureHostProof.taken_there, field check 76).
    assert ("the messages reached fd7a::2 (this capture was taken there or on its network "
            "segment, as the hop limits show)") in message
    assert "check that the media server" not in stalled.fix.lower()
    assert stalled.fix.startswith("Let ICMPv6 'packet too big' (type 2) in on fd7a::2")
    assert 32 in stalled.frames
    assert "TTL" not in message
    [step] = [s for s in analysis.sessions[0].steps if s.status == "failed"]
    assert "path MTU black hole" in step.detail


def test_packets_too_big_a_sender_acted_on_say_nothing() -> None:
    analysis = _stored("routed-ptb-ok-agent")
    assert analysis.verdict == "pass"
    assert not any("too big" in f.message for f in analysis.findings)


def test_an_ipv6_rsts_hop_limit_is_called_so() -> None:
    """The hedge of a RST with an initial value (trial 28 D5's "also")."""
    from flowcheck.model import Connection
    from flowcheck.verify.foreign_reset import undecremented_words
    conn = Connection(uid="C1", orig_h="fd79::1", orig_p=5001, resp_h="fd7a::2",
                      resp_p=10000, ts=0.0, last_ts=0.0, conn_state="REJ", orig_ttl=64)
    words = undecremented_words(conn, 64)
    assert "The RST's hop limit 64" in words and "TTL" not in words


def test_ipv4_fragmentation_needed_reports_its_next_hop_mtu() -> None:
    """IPv4's twin (RFC 1191): counted the same way; it still counts as an unreachable
    too (icmp_unreachable), as before."""
    import numpy as np
    inner = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0x4000, 64, 6, 0,
                        socket.inet_aton("10.77.1.2"), socket.inet_aton("10.77.0.1"))
    segment = struct.pack("!HHIIBBHHH", 6001, 5002, 1000, 0, 0x50, 0x10, 65535, 0, 0)
    data = struct.pack("!BBHHH", 3, 4, 0, 0, 1400) + inner + segment
    quote = decode_icmp_quote(np.frombuffer(data, np.uint8), 0, len(data), 0, 4)
    assert quote is not None and quote.mtu == 1400 and quote.code == 4


def test_an_ipv6_capture_point_is_told_by_hop_limits() -> None:
    from flowcheck.verify.ttl import taken_on_words
    assert taken_on_words(("fd7a::2", 64, 63), "fd79::1") == (
        "or on its network segment: fd7a::2's packets arrive with hop limit 64, an initial "
        "value, and fd79::1's with 63: a router between them")
    assert taken_on_words(("10.77.1.2", 64, 63), "10.77.0.1").startswith(
        "or on its network segment: 10.77.1.2's packets arrive with TTL 64")
