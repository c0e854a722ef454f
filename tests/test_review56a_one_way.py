"""Review 56a: a second read of field check 62's two rules (captures/review56a, README.md).

Cooked marks all one way (verify.capture_contents._one_way): `tcpdump -i any` WITHOUT -Q
in netns r56a-a, which heard only r56a-b's broadcast ARP requests for an address nobody
holds (3 packets, each PACKET_BROADCAST), or sent only UDP broadcasts nobody answers (4,
each PACKET_OUTGOING), read "so it holds one direction only (tcpdump -Q in)" (-Q out)
with the fix "Capture both directions": the marks show what arrived or left while it
ran, not that a direction was filtered. UDP to 127.0.0.1 and its port unreachables,
captured once each on lo and marked PACKET_HOST though the host sent them too, read
"-Q in" as well (decode.legs.cooked_loopback now leaves loopback packets unmarked).

A direction the capture lacks said by its receiver's ACKs (verify.carried): an ACK counts
a FIN as one byte. r56a-b sent 100000 B to r56a-a:6005 with its FIN on the last data
segment (TCP_CORK, then shutdown), r56a-a acknowledged both with one ACK (relative ACK
100002, frame 7) and reset the connection (SO_LINGER 0, frame 8); `tcpdump -i any -Q out`
in r56a-a: Connection.acked_unseen_split reads (100001, False), no FIN provable.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import shared_analysis

from flowcheck.config import Config, build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.verify.carried import _way_words

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "captures" / "review56a"
DATA = ROOT / "tests" / "data" / "review56a"
FIN_WITH_DATA = DATA / "fin-with-last-data-acked-once-out-sll2.pcap.gz"
CONFIG = HERE / "arp-broadcast-of-another-any-without-Q-sll2.toml"


def _no_session(name: str) -> Finding:
    analysis = shared_analysis(HERE / name)
    assert analysis.verdict == "inconclusive"
    [found] = [f for f in analysis.findings if f.code == "no_control_session"]
    return found


@pytest.mark.parametrize(("name", "words"), [
    ("arp-broadcast-of-another-any-without-Q-sll2.pcap.gz",
     "its Linux cooked headers mark every one of its 3 packets arriving at the capture "
     "host: it was taken of one direction (tcpdump -Q in), without the packets that the "
     "host sends, a connection's SYN among them, or the host sent nothing while it ran; "
     "or it missed the job: the wrong interface, a filter, or stopped before the job "
     "started)."),
    ("udp-broadcast-sent-any-without-Q-sll2.pcap.gz",
     "its Linux cooked headers mark every one of its 4 packets sent by the capture host "
     "(outgoing): it was taken of one direction (tcpdump -Q out), without the packets "
     "that arrive at the host, a connection's SYN among them, or nothing arrived at the "
     "host while it ran; or it missed the job: "),
], ids=["arp-in", "udp-out"])
def test_marks_all_one_way_without_Q_do_not_claim_one_direction(name: str, words: str) -> None:
    """Taken without -Q: the marks allow a quiet direction, not only a -Q capture."""
    found = _no_session(name)
    assert words in found.message
    assert "one direction only" not in found.message
    assert found.fix.startswith("If it was taken with tcpdump -Q, capture both directions "
                                "(without -Q) where it was taken, or on the media server's "
                                "or the agent's interface toward the other, while the job "
                                "starts. Check --ndmp-port")


def test_loopback_packets_marked_arriving_say_no_direction() -> None:
    """A host's packets to itself: sent and arriving at once, no one way (SLL2)."""
    found = _no_session("udp-to-loopback-any-without-Q-sll2.pcap.gz")
    assert "one direction" not in found.message
    assert ("(the sniffer saw none of the job's traffic: the wrong interface, a filter, or "
            "stopped before the job started)." in found.message)
    assert "capture both directions" not in found.fix


@pytest.mark.parametrize(("name", "one_way"), [
    ("udp-to-loopback-any-without-Q-sll.pcap.gz", False),
    ("arp-broadcast-of-another-any-without-Q-sll.pcap.gz", True)])
def test_cooked_v1_loopback_is_read_from_its_arphrd(name: str, one_way: bool) -> None:
    """SLL v1 (`-y LINUX_SLL`): the ARPHRD type at bytes 2-3; Ethernet's (1) still counts."""
    config = build_config(load_file(CONFIG))
    findings = analyze(read_traffic([str(DATA / name)], config), config).findings
    [found] = [f for f in findings if f.code == "no_control_session"]
    assert ("3 packets arriving at the capture host: it was taken of one direction "
            "(tcpdump -Q in)" in found.message) is one_way
    assert ("one direction" in found.message) is one_way


def test_acknowledged_bytes_of_an_unseen_side_may_hold_its_fin() -> None:
    """100000 B and a FIN, acknowledged by one ACK: "100001 B", said with the FIN's hedge."""
    [conn] = read_traffic([str(FIN_WITH_DATA)], Config()).connections
    assert (conn.orig_h, conn.resp_h, conn.resp_p) == ("10.56.1.2", "10.56.1.1", 6005)
    assert conn.orig_bytes == conn.resp_bytes == 0
    assert conn.acked_unseen_split("orig") == (100001, False)
    assert _way_words(conn, 0, "media server -> agent", "orig") == (
        "100,001 B media server -> agent (or 100,000 B and a FIN), acknowledged by the agent "
        "(the capture holds no packet of that direction)")
