"""Field check 61's lab matrix (captures/field61-matrix, README.md there), seed 124.

Run 22: `tcpdump -i any` (Linux cooked v1) on the media server, its input chain dropping
every packet to the media range but a SYN (the range holds its own control port): the
agent's greeting arrives six times, never acknowledged. control_stalled said "a rule on
fd77::1 or on a firewall between them ... If this capture was taken on fd77::1", though
the capture's marks show it taken there (flowcheck.verify.opening_stall). The same
packets under Ethernet headers (no marks; the TTLs alone leave fd77::1's segment open)
keep the conditional words.

Runs 21 and 26: both hosts' `tcpdump -i any` merged; a few copies share their
original's microsecond timestamp, the arriving copy first in the file (mergecap's order
on a tie). The copies read "Either the capture point saw them twice ... or the network
delivered them twice" (run 21) and "68 of them were told" of 74 (run 26)
(flowcheck.connections.relay_copies.RelayCopies.handed_near). With only such pairs the
file shows no copy in order: they keep their one-host reading.

Run 0: both hosts' Ethernet captures merged, a router between: each copy one hop limit
lower under another MAC pair. The copies read "Either the capture point saw them twice
... or the network delivered them twice" (a MAC pair names no interface, and only named
ones were read within 0.5 ms: RelayCopies.near_macs_routed). With one MAC pair for every
frame the file no longer shows the router: the words as before.
"""

from __future__ import annotations

import struct
from pathlib import Path

from pcap_records import Record, stored_records, write_records
from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

HERE = Path(__file__).resolve().parents[1] / "captures" / "field61-matrix"
STALLED = HERE / "dual-stack-control-acks-dropped-by-media-routed-any-on-media-sll-stopped.pcap.gz"
TWO_JOBS = HERE / "two-ipv6-jobs-data-syns-dropped-by-agent-both-hosts-any-merged-sll2.pcap.gz"
NDMJOB = HERE / ("ndmjob-data-rejected-port-unreachable-by-media-both-hosts-any-merged-sll-"
                 "snap96.pcap.gz")
ROUTED = HERE / "two-ipv6-tls-restores-routed-both-hosts-merged-ether-snap128.pcap.gz"
LINUX_SLL, SLL_LEN, ETHERNET = 113, 16, 1  # link types; SLL v1's header length
PACKET_HOST, PACKET_MULTICAST, PACKET_OUTGOING = 0, 2, 4


def _toml(path: Path) -> Path:
    return path.with_name(path.name[:-len(".pcap.gz")] + ".toml")


def _one(analysis: Analysis, code: str) -> Finding:
    [finding] = [f for f in analysis.findings if f.code == code]
    return finding


def test_a_stall_captured_on_the_receiver_places_the_drop_there() -> None:
    """The marks show the capture taken on fd77::1: the greeting reached it, so its own
    firewall dropped it; the fix names its input chain alone."""
    analysis = shared_analysis(STALLED)
    assert analysis.verdict == "fail"
    stalled = _one(analysis, "control_stalled")
    assert stalled.frames == [5, 7, 8, 10, 12, 13, 18]
    assert ("every later one towards fd77::1 was dropped: a rule on fd77::1 that lets in "
            "SYNs only" in stalled.message)
    assert ("This capture was taken on fd77::1 (its Linux cooked headers mark each SYN, "
            "FIN and RST of fd77::1's to fd77:1::2 sent by the capture host (outgoing)"
            in stalled.message)
    assert ("the packets reached it (a capture sees arriving packets before the host's "
            "firewall), so its own firewall dropped them, not a device between them."
            in stalled.message)
    assert "If this capture was taken on" not in stalled.message
    assert "asymmetric route" not in stalled.message
    assert stalled.fix.startswith("On fd77::1 (its input chain), where this capture was "
                                  "taken and the packets arrived, accept established")
    assert "A capture on both hosts at once" not in stalled.fix


def _as_ethernet(record: Record) -> Record:
    """A Linux cooked v1 frame under an Ethernet header: its link-layer address as the
    source MAC, a fixed destination, its protocol kept; no packet type left."""
    data = record.data
    source = data[6:12]
    frame = b"\x02\x00\x00\x00\x00\x01" + source + data[14:16] + data[SLL_LEN:]
    return Record(record.micros, record.wirelen - SLL_LEN + 14, frame)


def test_a_stall_without_marks_keeps_the_condition(tmp_path: Path) -> None:
    """The same packets under Ethernet headers: the TTLs alone cannot tell fd77::1 from a
    point on its segment, so the words stay conditional and the firewalls between named."""
    kind, records = stored_records(STALLED)
    assert kind == LINUX_SLL
    assert {struct.unpack_from(">H", r.data)[0] for r in records} == {
        PACKET_HOST, PACKET_MULTICAST, PACKET_OUTGOING}
    written = write_records(tmp_path / "stalled-ether.pcap", ETHERNET,
                            [_as_ethernet(r) for r in records])
    config = build_config(load_file(_toml(STALLED)))
    stalled = _one(analyze(read_traffic([str(written)], config), config), "control_stalled")
    assert ("If this capture was taken on fd77::1, the packets reached it" in stalled.message)
    assert "a rule on fd77::1 or on a firewall between them" in stalled.message
    assert "on any firewall between the hosts" in stalled.fix


def test_copies_of_one_timestamp_marked_the_other_way_are_a_merges() -> None:
    """Run 21: every copy read marked leaving one host and arriving at the other, two of
    them put first in the file at their originals' timestamp: two hosts' captures."""
    analysis = shared_analysis(TWO_JOBS)
    assert analysis.verdict == "fail"
    copies = _one(analysis, "capture_duplicates")
    assert ("The copies' marks tell where they were captured: the file's Linux cooked "
            "headers mark each original as sent by the host that captured it (outgoing) and "
            "its copy as arriving at the host that captured it, at its original's hop "
            "limit: two hosts' captures (tcpdump -i any on each) merged into one file, the "
            "sender's and the receiver's (2 of them were captured, each at the very "
            "timestamp of its original, the arriving copy put first: a merge orders the "
            "packets of one timestamp by file, not as they were sent)." in copies.message)
    assert "network delivered them twice" not in copies.message
    assert copies.fix.startswith("nothing to fix in the network for the copies; to judge "
                                 "one capture point alone")


def test_copies_of_one_timestamp_are_told_with_the_relay_ones() -> None:
    """Run 26: the copies read, near and late, all told as two hosts' captures."""
    copies = _one(shared_analysis(NDMJOB), "capture_duplicates")
    assert ("74 of the 148 TCP packets and ICMP errors compared are copies" in copies.message)
    assert ("Of the 72 of them whose marks were read (not every copy's is), all were told "
            "by where they were captured, 71 within 0.5 ms of the original and 1 later "
            in copies.message)
    assert "(4 of them were captured, each at the very timestamp" in copies.message
    assert "68 of them were told" not in copies.message


def test_copies_of_one_timestamp_alone_keep_their_one_host_reading(tmp_path: Path) -> None:
    """Run 26's four pairs of one timestamp alone (frames 5, 6, 9, 10, 17, 18, 43, 44),
    each an arrival then a departure at one TTL: no copy in order shows two hosts'
    captures, so they read as one host forwarding, as before."""
    kind, records = stored_records(NDMJOB)
    kept = [r for number, r in enumerate(records, 1) if number in (5, 6, 9, 10, 17, 18, 43, 44)]
    written = write_records(tmp_path / "tied.pcap", kind, kept)
    config = build_config(load_file(_toml(NDMJOB)))
    copies = _one(analyze(read_traffic([str(written)], config), config), "capture_duplicates")
    assert copies.message.startswith("4 of the 8 TCP packets compared are copies")
    assert ("mark each original as arriving at the capture host and its copy as leaving it"
            in copies.message)
    assert "two hosts' captures" not in copies.message


def test_copies_a_router_forwarded_under_another_mac_pair_are_two_captures() -> None:
    """Run 0: every copy one hop limit lower under another MAC pair: captured before and
    after the router, not the network's copies."""
    analysis = shared_analysis(ROUTED)
    assert analysis.verdict == "inconclusive"
    copies = _one(analysis, "capture_duplicates")
    assert copies.message.startswith("525 of the 1,050 TCP packets compared are copies")
    assert "The capture's 13 other packets (ARP, neighbour discovery" in copies.message
    assert ("The copies' link headers tell where they were captured: the file holds each "
            "under another MAC address pair than its original, at a hop limit one lower: "
            "captured again after a router forwarded it" in copies.message)
    assert ("or two capture points' captures a router apart (one on each side of it) merged "
            "into one file; the file does not tell which. Not copies a device duplicated: "
            "it sends both at one hop limit." in copies.message)
    assert "network delivered them twice" not in copies.message
    # Two capture points' copies are evidence: kept, one side alone to judge it (newuser63).
    assert copies.fix.startswith("nothing to fix in the network for the copies; keep both "
                                 "sides of the router together (what one point saw")
    assert copies.fix.endswith("or analyze one capture point's packets alone.")


def test_copies_under_one_mac_pair_keep_either_reading(tmp_path: Path) -> None:
    """Run 0 with every frame's MAC pair made one: nothing shows a router rewrote them,
    so the words stay as they were."""
    kind, records = stored_records(ROUTED)
    assert kind == ETHERNET
    pair = records[7].data[:12]  # frame 8's, M's SYN toward the router
    one = [Record(r.micros, r.wirelen, pair + r.data[12:]) for r in records]
    written = write_records(tmp_path / "one-pair.pcap", ETHERNET, one)
    config = build_config(load_file(_toml(ROUTED)))
    copies = _one(analyze(read_traffic([str(written)], config), config), "capture_duplicates")
    assert "link headers tell" not in copies.message
    assert "Either the capture point saw them twice" in copies.message
