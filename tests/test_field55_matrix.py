"""Field check 55's lab matrix (captures/field55-matrix, README.md there), seed 118.

Run 1: both hosts' dumpcap captures merged keeping both interfaces (pcapng): every copy
within 0.5 ms, each on the other interface, unmarked; `capture_duplicates` said "Either
the capture point saw them twice ... or the network delivered them twice".
Run 2: a 3-port agent range for 3 resources; the agent closed the control connection
0.2 ms after the third DATA_LISTEN with no reply; `step_missing`'s fix said "hung, or it
could not bind a port in its range".
Run 22: a TLS-from-the-first-byte control connection whose agent's packets the media
server's input drops, `tcpdump -i any` on the media server; `ndmp_undecodable` said
"something on the way drops the packets toward fd77::1".
Run 24: the media server's input rejects the callback with ICMPv6 admin-prohibited,
`tcpdump -i any` on it; `callback_refused` said "a firewall or router filter rejects it",
though the reject's source is the media server itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from capture_factory import write_pcapng
from scapy.layers.inet import TCP
from scapy.layers.inet6 import IPv6
from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.verify.other_stall import stall_note

HERE = Path(__file__).resolve().parents[1] / "captures" / "field55-matrix"
MERGED = HERE / ("restore-callback-syns-dropped-by-media-both-hosts-merged-pcapng-snap128-"
                 "ipv6-tls.pcapng.gz")
CLOSED = HERE / ("restore-range-small-listen-unanswered-agent-closes-stopped-merged-sll2-"
                 "ipv6.pcap.gz")
REJECTED = HERE / "callback-rejected-admin-prohibited-by-media-any-on-media-ipv6.pcap.gz"
STALLED = HERE / ("tls-start-dual-stack-control-acks-dropped-by-media-input-routed-any-on-"
                  "media.pcap.gz")
M, A = "fd77::1", "fd77::2"
ETHER = 1  # LINKTYPE_ETHERNET
# Per packet: (microseconds after it was sent, pcapng interface, hop limit) of each copy.
Copies = Callable[[bool], list[tuple[int, int, int]]]


def _one(analysis: Analysis, code: str) -> Finding:
    [finding] = [f for f in analysis.findings if f.code == code]
    return finding


def _ether(data: bytes) -> bytes:
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x86\xdd" + data


def _analysed(tmp_path: Path, copies: Copies) -> Analysis:
    """A control connection's opening, a little data and its close, then three
    unanswered SYNs to the NDMP port, each packet written as copies(sent by M) gives its
    copies, in a pcapng of two Ethernet interfaces."""
    packets: list[tuple[int, float, bytes]] = []
    now = 1000.0

    def put(src: str, sport: int, dport: int, flags: str, seq: int, ack: int,
            payload: bytes = b"") -> None:
        nonlocal now
        dst = A if src == M else M
        for after, interface, hlim in copies(src == M):
            data = bytes(IPv6(src=src, dst=dst, hlim=hlim)
                         / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack)
                         / payload)
            packets.append((interface, now + after * 1e-6, _ether(data)))
        now += 0.01

    put(M, 40000, 22, "S", 100, 0)
    put(A, 22, 40000, "SA", 500, 101)
    put(M, 40000, 22, "A", 101, 501)
    put(M, 40000, 22, "PA", 101, 501, b"x" * 100)
    put(A, 22, 40000, "PA", 501, 201, b"y" * 50)
    put(M, 40000, 22, "A", 201, 551)
    for wait in (1.0, 2.0, 4.0):
        put(M, 5001, 10000, "S", 9000, 0)
        now += wait
    put(M, 40000, 22, "FA", 201, 551)
    put(A, 22, 40000, "FA", 551, 202)
    put(M, 40000, 22, "A", 202, 552)
    packets.sort(key=lambda p: p[1])
    capture = write_pcapng(tmp_path / "two.pcapng", [ETHER, ETHER], packets)
    config_path = tmp_path / "flowcheck.toml"
    config_path.write_text(f'media_servers = ["{M}"]\nremote_agents = ["{A}"]\n')
    config = build_config(load_file(config_path))
    return analyze(read_traffic([str(capture)], config), config)


def test_copies_on_the_other_unmarked_interface_are_no_networks(tmp_path: Path) -> None:
    # Two hosts' captures merged: each packet on its sender's interface, then on the
    # receiver's 20 us later at the same hop limit. The same bytes are one host's bond
    # and its member captured together (M's packets on the bond first, A's on the
    # member): the words name that too (review 51b).
    def hosts(by_m: bool) -> list[tuple[int, int, int]]:
        return [(0, 0, 64), (20, 1, 64)] if by_m else [(0, 1, 64), (20, 0, 64)]
    copies = _one(_analysed(tmp_path, hosts), "capture_duplicates")
    assert ("copies' interfaces tell where they were captured: the file holds each on "
            "another of its interfaces than its original, at its original's hop limit, marking "
            "neither as coming in or going out: one host's stacked interfaces captured "
            "together (a VLAN or bond interface and the interface under it: dumpcap -i "
            "eth0 -i eth0.100 on it), each packet on each, or one capture of a bridge's "
            "several interfaces at once") in copies.message, copies.message
    assert ("or two capture points' captures merged into one file (or two mirror ports "
            "captured by one dumpcap), each on an interface of its own; the file does not "
            "tell which. Not copies the network delivered twice: a capture point sees those "
            "arrive twice on one interface") in copies.message
    assert "Either the capture point saw them twice" not in copies.message
    # Two capture points' copies are evidence: kept (newuser63).
    assert copies.fix.startswith("nothing to fix in the network for the copies; keep the "
                                 "file's interfaces together (if they are two capture "
                                 "points', what one point saw and the other did not places "
                                 "a loss between them")
    assert "analyze one of the file's interfaces alone" in copies.fix


def test_copies_one_lower_on_the_other_interface_are_a_routers(tmp_path: Path) -> None:
    def routed(by_m: bool) -> list[tuple[int, int, int]]:
        return [(0, 0, 64), (20, 1, 63)] if by_m else [(0, 1, 64), (20, 0, 63)]
    copies = _one(_analysed(tmp_path, routed), "capture_duplicates")
    assert ("at a hop limit one lower, marking neither as coming in or going out: one capture of "
            "a router's several interfaces at once") in copies.message, copies.message
    assert "a router between them where the hop limit is one lower" in copies.message
    assert "stacked interfaces" not in copies.message  # they leave the TTL as it was


def test_copies_on_one_interface_may_still_be_the_networks(tmp_path: Path) -> None:
    # Both copies on the same interface: a SPAN of both ports, or the network's.
    def same(_by_m: bool) -> list[tuple[int, int, int]]:
        return [(0, 0, 64), (20, 0, 64)]
    copies = _one(_analysed(tmp_path, same), "capture_duplicates")
    assert "or the network delivered them twice" in copies.message
    assert "interfaces tell where they were captured" not in copies.message


def test_run1_merged_pcapng_copies_read_by_interface() -> None:
    analysis = shared_analysis(MERGED)
    assert analysis.verdict == "fail"
    assert _one(analysis, "callback_unanswered").frames == [59, 63, 65, 69]
    copies = _one(analysis, "capture_duplicates")
    assert copies.message.startswith("32 of the 64 TCP packets compared are copies")
    # Its 20 neighbour discovery packets, each on both interfaces too, never compared.
    assert copies.message.endswith(". The capture's 20 other packets (ARP, neighbour "
                                   "discovery, UDP and any other that is neither TCP nor "
                                   "an ICMP error quoting TCP) were not compared: copies "
                                   "among them are not counted.")
    assert "the file holds each on another of its interfaces than its original, at its " \
           "original's hop limit" in copies.message
    assert "network delivered them twice" not in copies.message.split("Not copies")[0]


def test_run2_listen_receiver_that_closed_instead_did_not_hang() -> None:
    analysis = shared_analysis(CLOSED)
    assert analysis.verdict == "fail"
    missing = _one(analysis, "step_missing")
    # The agent's 3 ports held by the callback and 2 data connections as the third
    # DATA_LISTEN came: the range the likely cause (task rangesmall).
    assert (
        "the DATA_LISTEN request (frame 891) was never answered by fd77::2, likely because "
        "its agent range 6001-6003 had no port left; the "
        "control connection went on after it (later messages, or its close): fd77::2 "
        "closed the control connection instead (its FIN, frame 895, 0.206 ms after the "
        "request); the capture shows all 3 ports of 6001-6003") in missing.message
    assert "hung" not in missing.fix
    assert missing.fix.startswith("Widen the agent range 6001-6003 (agent range) first")
    assert missing.fix.endswith(
        "If the job still fails with the range widened: see the log of the NDMP service "
        "on fd77::2 at that time: it closed the control "
        "connection rather than answer the request (it could not bind a port in its "
        "range, or gave the session up, and did not report it).")
    [session] = analysis.sessions
    assert session.steps[2].status == "missing"
    assert "closed the control connection instead (its FIN, frame 895" in session.steps[2].detail
    assert [f.code for f in analysis.findings if f.code == "range_too_small"]


def test_run24_admin_prohibited_from_the_media_server_is_its_own_firewall() -> None:
    analysis = shared_analysis(REJECTED)
    assert analysis.verdict == "fail"
    refused = _one(analysis, "callback_refused")
    assert refused.frames == [21, 22, 26, 27]
    assert ("[fd77::1]:5001 answered the SYN with an ICMPv6 unreachable \"communication with "
            "destination administratively prohibited\" (code 1): a firewall on fd77::1 "
            "rejects it (the reject comes from fd77::1's own address, as its own reject rule "
            "sends it") in refused.message, refused.message
    assert "router filter rejects" not in refused.message
    assert ("inbound on the media server, and its return traffic: the reject rule is in "
            "fd77::1's firewall, so the allow rule must come before it there") in refused.fix
    assert "the firewall or filter that sent the reject" not in refused.fix


def test_run22_stall_captured_on_the_host_it_was_lost_toward_is_its_firewalls() -> None:
    analysis = shared_analysis(STALLED)
    assert analysis.verdict == "inconclusive" and not analysis.sessions
    other = _one(analysis, "ndmp_undecodable")
    assert ("fd77::1 resent its bytes 8 times (frames 10 to 40) though fd77:1::2 "
            "acknowledged them (its ACKs are in the capture): fd77:1::2's packets never "
            "reached fd77::1's TCP, though they arrived at fd77::1: this capture was taken on "
            "fd77::1 (its Linux cooked headers mark each SYN, FIN and RST of fd77::1's to "
            "fd77:1::2 sent by the capture host (outgoing), at hop limit 64") in other.message
    assert other.message.endswith("so fd77::1's own firewall drops the packets toward it "
                                  "after the handshake (its input chain).")
    assert "on fd77::1 itself (this capture was taken there), accept established " \
           "connections in its input chain ahead of any drop" in other.fix
    # An accept in another table than the drop's lets nothing through (nftquote's note,
    # given to this fix too in session 61's last read).
    assert ("an accept in one nftables table or chain does not undo a drop in another on "
            "the same hook") in other.fix
    # The same connection without the marks (a capture anywhere on the path): the words
    # cannot place the drop.
    [conn] = analysis.traffic.connections
    plain = stall_note(conn, {})
    assert plain is not None and "something on the way drops the packets toward fd77::1" \
        in plain.words and "any firewall between them" in plain.fix
    marked = stall_note(conn, analysis.traffic.host_marks)
    assert marked is not None and marked.words in other.message
