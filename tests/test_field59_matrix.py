"""Field check 59's lab matrix (captures/field59-matrix, README.md there), seed 122.

Run 6: both hosts' `tcpdump -i any -s 96` (SLL2) merged, the media server's input chain
rejecting an IPv6 callback with ICMPv6 reject-route (code 6), its quotes cut before the
TCP ports: each SYN marked leaving the agent and arriving at fd77::1 at one hop limit,
each reject from fd77::1 marked leaving a capture host. `callback_refused` said "a
firewall on fd77::1, or a bridge (transparent) firewall in front of fd77::1 ...: nothing
in the capture tells them apart (a capture on fd77::1 itself holds its own reject leaving
it)", that capture in the file (flowcheck.verify.own_reject.merged_reject_marked; a cut
quote's mark: flowcheck.connections.icmp_cut). On bytes: the file and its whole-capture
twin (the same run by hand, `matrix one`, quotes whole), and both with the rejects'
leaving copies marked arriving (no capture host shows one leaving: the words before).

Run 13: `tcpdump -i any -Q in` (SLL2) on the media server, its input chain rejecting
ndmjob's data SYNs with ICMP admin-prohibited: the file holds A's packets alone.
`data_unanswered`'s fix said "If this capture was taken on 10.77.0.1, its own firewall
drops the SYNs or its SYN-ACKs", though a capture there of arriving packets alone holds
the SYNs unanswered whatever it sent back (flowcheck.verify.opening.lost_where).

Run 22: both hosts' `tcpdump -i any` (SLL2) merged, a router between, IPv6 alone.
`capture_duplicates` said "same IP ID" and "at a TTL one lower" of packets with no IP ID
and a hop limit (flowcheck.connections.copy_family); given as its two hosts' files under
a directory named "TTL-lab", the words rewrote the names too (review 53d).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from pcap_records import (
    PACKET_HOST,
    PACKET_OUTGOING,
    SLL2_LEN,
    SLL2_TYPE,
    rejects_made_arriving,
    stored_records,
    write_records,
)
from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.connections.cooked_hosts import OWN_OPENING, OWN_SYN
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

HERE = Path(__file__).resolve().parents[1] / "captures" / "field59-matrix"
_STEM = "tls-start-ipv6-callback-rejected-reject-route-by-media-both-hosts-any-merged-sll2"
CUT = HERE / f"{_STEM}-snap96.pcap.gz"
WHOLE = HERE / f"{_STEM}.pcap.gz"
# Each file's callback_refused frames: the two SYNs (A's copies) and M's two rejects.
FRAMES = {CUT: [57, 59, 63, 65], WHOLE: [55, 57, 61, 63]}


def _toml(path: Path) -> Path:
    return path.with_name(path.name[:-len(".pcap.gz")] + ".toml")


def _refused(analysis: Analysis, path: Path) -> Finding:
    assert analysis.verdict == "fail"
    [refused] = [f for f in analysis.findings if f.code == "callback_refused"]
    assert refused.frames == FRAMES[path]
    return refused


@pytest.mark.parametrize("path", [CUT, WHOLE], ids=["snap96", "whole"])
def test_a_merge_holding_the_rejects_leaving_places_the_rule_on_the_host(path: Path) -> None:
    """The SYNs marked arriving at fd77::1 and its reject marked leaving a capture host:
    fd77::1's own firewall, its capture in the file."""
    refused = _refused(shared_analysis(path), path)
    assert ("a firewall on fd77::1 rejects it (the reject comes from fd77::1's own address"
            in refused.message)
    assert ("this capture merges one taken on fd77::1 with one taken on fd77::2 (the 2 SYNs "
            "are in it 4 times at one hop limit, 64: its Linux cooked headers mark one copy "
            "outgoing, captured on fd77::2 as it left, and one host, captured as it arrived at "
            "the host its frame was addressed to; and they mark the reject, from fd77::1's "
            "address at an initial hop limit, sent by the host that captured it; and a SYN or "
            "SYN-ACK of fd77::1's to fd77::2 marked leaving one capture host and arriving at "
            "the other at one initial hop limit: sent by fd77::1 itself, no router between, "
            "so the host the SYNs arrived at is fd77::1)" in refused.message)
    assert "holds the reject leaving it" in refused.message
    assert "nothing in the capture tells them apart" not in refused.message
    assert "the reject rule is in fd77::1's firewall, so the allow rule" in refused.fix
    assert "bridge" not in refused.fix


@pytest.mark.parametrize("path", [CUT, WHOLE], ids=["snap96", "whole"])
def test_rejects_no_capture_host_sent_keep_the_bridge(tmp_path: Path, path: Path) -> None:
    """Every copy of the rejects marked arriving: nothing shows one leaving fd77::1, so a
    bridge firewall in front of it stays named beside its own."""
    # The two rejects' leaving copies.
    written = rejects_made_arriving(path, tmp_path / path.name.replace(".pcap.gz", ".pcap"), 2)
    config = build_config(load_file(_toml(path)))
    refused = _refused(analyze(read_traffic([str(written)], config), config), path)
    assert ("a firewall on fd77::1, or a bridge (transparent) firewall in front of fd77::1 "
            "answering in its name, rejects it" in refused.message)
    assert "nothing in the capture tells them apart" in refused.message
    assert "this capture merges" not in refused.message


IN_ONLY = HERE / "ndmjob-data-rejected-admin-prohibited-by-media-any-on-media-in-sll2.pcap.gz"


def test_a_capture_of_one_direction_asks_for_both_on_the_responder() -> None:
    """Nothing from 10.77.0.1 to 10.77.0.2 in the file: whether 10.77.0.1 answered cannot
    be seen, so no conditional drop on it."""
    analysis = shared_analysis(IN_ONLY)
    assert analysis.verdict == "fail"
    [unanswered] = [f for f in analysis.findings if f.code == "data_unanswered"]
    # Frame 9: the agent's DATA_CONNECT reply NDMP_CONNECT_ERR right after the resent SYN
    # (field check 77, verify.fast_connect_error: most likely rejected, as M did).
    assert unanswered.frames == [6, 8, 9]
    assert ("The agent's DATA_CONNECT reply (frame 9) says its connect failed "
            "(NDMP_CONNECT_ERR) 0.135 ms after its last SYN (frame 8)" in unanswered.message)
    assert ("This capture holds no packet from 10.77.0.1 to 10.77.0.2, so not whether "
            "10.77.0.1 answered: a capture of both directions on 10.77.0.1 shows it (there, "
            "SYNs arriving with no SYN-ACK, RST or ICMP leaving are its own firewall's drop)."
            in unanswered.fix)
    assert "If this capture was taken on 10.77.0.1" not in unanswered.fix


ROUTED_V6 = HERE / "ipv6-restore-data-syns-dropped-by-router-both-hosts-any-merged-sll2.pcap.gz"


def test_ipv6_copies_are_said_by_what_ipv6_packets_carry() -> None:
    """IPv6 alone: no IP ID in the copies' identity, their hop limit one lower."""
    analysis = shared_analysis(ROUTED_V6)
    assert analysis.verdict == "fail"
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    assert copies.message.startswith(
        "39 of the 94 TCP packets compared are copies of a packet captured just before "
        "them in the same direction (same TCP header and payload, or the same ICMP "
        "unreachable quoting the same packet, at most 0.5 ms later; a SYN-ACK, RST or bare "
        "ACK (IPv6 has no IP ID), ")
    assert ("arriving at the host that captured it, at a hop limit one lower: two hosts' "
            "captures (tcpdump -i any on each) merged into one file, the sender's and the "
            "receiver's, a router between them where the hop limit is one lower"
            in copies.message)
    assert "IP ID 0" not in copies.message and "same IP ID" not in copies.message
    assert "TTL" not in copies.message + copies.fix


def test_ipv6_copies_keep_the_files_names(tmp_path: Path) -> None:
    """Run 22 given as its two hosts' files, under a directory named "TTL-lab": the copies'
    words name each file as it is ("hop limit" only in the words)."""
    kind, records = stored_records(ROUTED_V6)
    media = ipaddress.IPv6Address("fd77::1").packed

    def on_media(data: bytes) -> bool:  # leaving fd77::1, or arriving at it
        ip = data[SLL2_LEN:]
        return ((ip[8:24] == media and data[SLL2_TYPE] == PACKET_OUTGOING)
                or (ip[24:40] == media and data[SLL2_TYPE] == PACKET_HOST))

    where = tmp_path / "TTL-lab"
    where.mkdir()
    files = [str(write_records(where / name, kind, [r for r in records
                                                    if on_media(r.data) == mine]))
             for name, mine in (("m.pcap", True), ("a.pcap", False))]
    config = build_config(load_file(_toml(ROUTED_V6)))
    analysis = analyze(read_traffic(files, config), config)
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    assert (f"{files[0]} holds 39 copies of packets of {files[1]}: two capture points' "
            "captures of the same traffic, a router apart (the hop limit differs)"
            in copies.message)



ROUTER_REJECT = Path(__file__).resolve().parent / "data" / "review53d" / \
    "router-netdev-reject-merged-sll2.pcap"
ROUTER_ALONE = ROUTER_REJECT.with_name("router-netdev-reject-router-alone-sll2.pcap")


def test_a_router_rejecting_in_the_responders_name_keeps_it_unplaced() -> None:
    """A router's nftables netdev ingress reject, its capture merged with the media
    server's (tests/data/review53d/README.md): the marks of run 6, sent by the router from
    10.2.0.2's address at TTL 64. Nothing of 10.2.0.2's own shows a point on it, so the
    words place no capture there and keep the firewall unplaced: 10.2.0.2's or a router's
    rejecting in its name, not a bridge's, which the marks rule out (field check 63:
    own_reject.merged_reject_sent; the router it is)."""
    config = build_config({"ndmp_port": 10000, "media_servers": ["10.1.0.2"],
                           "remote_agents": ["10.2.0.2"]})
    analysis = analyze(read_traffic([str(ROUTER_REJECT)], config), config)
    assert analysis.verdict == "fail"
    [refused] = [f for f in analysis.findings if f.code == "control_refused"]
    assert refused.frames == [1, 3]
    assert "this capture merges one taken on" not in refused.message
    assert ("a firewall on 10.2.0.2, or a router in front of 10.2.0.2 rejecting in its "
            "name, rejects it" in refused.message)
    assert "nothing in the capture tells them apart" not in refused.message
    assert "the reject rule is in 10.2.0.2's firewall, so" not in refused.fix
    assert ("the reject rule is in 10.2.0.2's firewall or in a router in front of 10.2.0.2 "
            "that rejects in its name" in refused.fix)


def test_a_routers_own_capture_of_its_reject_in_the_responders_name_is_unplaced() -> None:
    """The router's `tcpdump -i any` alone (review 53d's recipe, tests/data/review53d):
    the SYN marked arriving addressed to it at TTL 64, its netdev ingress reject from
    10.2.0.2's address marked leaving at TTL 64, nothing of 10.2.0.2's own: the marks of a
    capture on 10.2.0.2, which own_reject.rejects_marked read "this capture was taken on
    10.2.0.2". Nothing shows the capture host sends 10.2.0.2's TCP: the words unplaced."""
    config = build_config({"ndmp_port": 10000, "media_servers": ["10.1.0.2"],
                           "remote_agents": ["10.2.0.2"]})
    analysis = analyze(read_traffic([str(ROUTER_ALONE)], config), config)
    [refused] = [f for f in analysis.findings if f.code == "control_refused"]
    assert refused.frames == [1, 2]
    assert "this capture was taken on" not in refused.message
    # Its admin-prohibited reject came from 10.2.0.2's address, sent by a router's filter:
    # the words do not say a router's filter answers from its own address.
    assert "not a router's filter" not in refused.message
    assert ("a router's filter answers from its own address unless it rejects in "
            "10.2.0.2's name (an nftables netdev ingress reject, a DNAT router's forward "
            "chain)" in refused.message)
    assert ("a firewall on 10.2.0.2, or a router in front of 10.2.0.2 rejecting in its "
            "name, rejects it" in refused.message)
    assert ("a capture on 10.2.0.2 marks them so, and so does one on a router that "
            "rejects in 10.2.0.2's name" in refused.message)
    assert "the reject rule is in 10.2.0.2's firewall, so" not in refused.fix


ROUTER_PROXY = Path(__file__).resolve().parent / "data" / "review53e" / \
    "router-redirect-proxy-and-netdev-reject-sll2.pcap"


def test_a_routers_transparent_proxy_in_the_responders_name_places_nothing() -> None:
    """The router's `tcpdump -i any` alone, its transparent proxy (nft `redirect`)
    answering 10.1.0.3's connection to 10.2.0.2:80 and its netdev ingress rejecting the
    control SYN, both in 10.2.0.2's name (tests/data/review53e): the proxy's SYN-ACK and
    FIN from 10.2.0.2's address leave the router at TTL 64, never arriving, which
    cooked_host.sent_as took for 10.2.0.2's own TCP ("this capture was taken on
    10.2.0.2"). Only a SYN without ACK (10.2.0.2 opening a connection) shows its sender
    holds the address: the words unplaced."""
    config = build_config({"ndmp_port": 10000, "media_servers": ["10.1.0.2"],
                           "remote_agents": ["10.2.0.2"]})
    traffic = read_traffic([str(ROUTER_PROXY)], config)
    proxied = traffic.host_marks[("10.2.0.2", "10.1.0.3")]
    assert proxied & OWN_OPENING and not proxied & OWN_SYN  # its SYN-ACK and FIN
    analysis = analyze(traffic, config)
    [refused] = [f for f in analysis.findings if f.code == "control_refused"]
    assert refused.frames == [11, 12]
    assert "this capture was taken on" not in refused.message
    assert ("a firewall on 10.2.0.2, or a router in front of 10.2.0.2 rejecting in its "
            "name, rejects it" in refused.message)
    assert ("a capture on 10.2.0.2 marks them so, and so does one on a router that "
            "rejects in 10.2.0.2's name" in refused.message)
    assert "the reject rule is in 10.2.0.2's firewall, so" not in refused.fix
