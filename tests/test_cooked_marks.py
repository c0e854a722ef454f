"""What a Linux cooked capture's packet types tell: the host one capture was taken on
(flowcheck.connections.cooked_hosts, flowcheck.verify.cooked_host) and where copies were
captured (flowcheck.connections.relay_copies' marks, the capture_duplicates words).

Lab matrix seed 117 (captures/field54-matrix): runs 3 and 11, `tcpdump -i any` on the
media server whose input chain drops the data SYNs, read "unless it was taken on
10.77.0.1 itself" though every packet of 10.77.0.1 is marked outgoing at TTL 64 and none
also arriving; runs 20 and 29, both hosts' `-i any` merged, read "the file marking
neither as coming in or going out" (run 20) and "either the capture point saw them
twice ... or the network delivered them twice" (run 29). The captures below are
tests/test_syn_ways.py's exchange (M's connection to port 22 of A, then three control
SYNs to A's NDMP port never answered) with each packet's copies as each case saw them.
"""

from __future__ import annotations

from pathlib import Path

from capture_factory import write_pcap
from scapy.layers.inet import TCP
from scapy.layers.inet6 import IPv6
from stored import shared_analysis
from test_syn_ways import (
    HOST,
    OTHERHOST,
    OUTGOING,
    A,
    Copies,
    M,
    _analysed,
    _capture,
    _hosts,
    _sll2,
    _unanswered,
)

from flowcheck.config import build_config, load_file
from flowcheck.connections import track_connections
from flowcheck.connections.cooked_hosts import OWN_OPENING, CookedHosts
from flowcheck.model import CaptureInfo
from flowcheck.pipeline import Analysis, analyze, read_traffic

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "captures" / "field54-matrix"


def _on_agent(by_m: bool, _syn: bool) -> list[tuple[int, int, int]]:
    """`tcpdump -i any` on A: M's packets arriving (host), A's own leaving (outgoing)."""
    return [(0, HOST if by_m else OUTGOING, 64)]


def _on_media(by_m: bool, _syn: bool) -> list[tuple[int, int, int]]:
    """`tcpdump -i any` on M."""
    return [(0, OUTGOING if by_m else HOST, 64)]


def _router_only(by_m: bool, syn: bool) -> list[tuple[int, int, int]]:
    """A router's `-i any` between them, alone: each packet arriving (host, addressed to
    the router) and leaving one lower; its forward chain drops the control SYNs."""
    return [(0, HOST, 64)] + ([] if syn else [(20, OUTGOING, 63)])


def _bridge_only(by_m: bool, syn: bool) -> list[tuple[int, int, int]]:
    """A bridge's `-i any` alone: arrivals other-host, leaving at the same TTL."""
    return [(0, OTHERHOST, 64)] + ([] if syn else [(20, OUTGOING, 64)])


def _both_out(by_m: bool, _syn: bool) -> list[tuple[int, int, int]]:
    """Both hosts' `tcpdump -i any -Q out` merged: every packet outgoing, once."""
    return [(0, OUTGOING, 64)]


def _message(folder: Path, copies: Copies, link: str = "sll2") -> tuple[str, str]:
    """control_unanswered's (message, fix) of the exchange copied so, in a folder of its own."""
    folder.mkdir(exist_ok=True)
    return _unanswered(_analysed(folder, copies, link))


def test_marks_prove_the_capture_was_taken_on_the_agent(tmp_path: Path) -> None:
    for link in ("sll2", "sll"):
        message, fix = _message(tmp_path / link, _on_agent, link)
        assert (f"and never got an answer: {A}'s own firewall drops them: this capture was "
                f"taken on {A} (its Linux cooked headers mark each SYN, FIN and RST of {A}'s "
                f"to {M} sent by the capture host (outgoing), at hop limit 64, an initial "
                "value, none of them also captured arriving") in message, link
        assert "unless it was taken on" not in message
        assert fix.startswith(f"On {A} itself (this capture was taken there), before any "
                              "drop rule")
        assert f"If this capture was taken on {A}" not in fix


def test_marks_prove_the_capture_was_taken_on_the_connector(tmp_path: Path) -> None:
    message, fix = _message(tmp_path, _on_media)
    assert (f"which looks the same either way: this capture was taken on {M} (its Linux "
            f"cooked headers mark each SYN, FIN and RST of {M}'s to {A} sent by the capture "
            "host (outgoing)") in message
    assert message.endswith(f"to the capture host), not on {A}.")
    assert f"This capture was taken on {M} (its Linux cooked headers show it): a capture on " \
           f"{A} shows which way they are lost." in fix


def test_a_routers_or_bridges_or_two_hosts_sent_marks_prove_no_host(tmp_path: Path) -> None:
    # The router marks each packet of M's arriving (host) as well as leaving (one lower);
    # the bridge marks arrivals other-host; two -Q out captures mark A's packets outgoing.
    for copies in (_router_only, _bridge_only, _both_out):
        message, fix = _message(tmp_path / copies.__name__, copies)
        assert "Linux cooked headers mark each SYN" not in message, copies.__name__
        assert "own firewall drops them" not in message, copies.__name__
        assert "taken on" not in fix, copies.__name__
        # Two -Q out captures: the marks say only that the set holds no arrival, so not
        # whether the SYNs reached the agent (field check 63: verify.opening.leaving_only).
        leaving_only = ("This capture's Linux cooked headers mark every SYN, FIN and RST in "
                        "it sent by the host that captured it (outgoing), none arriving "
                        f"(tcpdump -Q out), so not whether the SYNs reached {A}")
        assert (leaving_only in fix) == (copies is _both_out), copies.__name__
        assert "Linux cooked" not in fix.replace(leaving_only, ""), copies.__name__


def test_the_host_pairs_marks_are_kept_for_cooked_files_only(tmp_path: Path) -> None:
    path = _capture(tmp_path / "agent.pcap", _on_agent)
    result = track_connections([str(path)])
    assert set(result.host_marks) == {(M, A), (A, M)}
    assert result.host_marks[(A, M)] & 0xFF == 1 << OUTGOING
    assert result.host_marks[(M, A)] & 0xFF == 1 << HOST
    # An Ethernet file in the set holds packets no mark tells: no proof.
    hosts = CookedHosts()
    hosts.seen = {(6, b"\0" * 16, b"\1" * 16): 1 << OUTGOING}
    assert hosts.marks([CaptureInfo("a.pcap", "pcap", ["LINUX_SLL2"], 1),
                        CaptureInfo("b.pcap", "pcap", ["EN10MB"], 1)]) == {}
    assert len(hosts.marks([CaptureInfo("a.pcap", "pcap", ["LINUX_SLL2"], 1)])) == 1


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _duplicates(analysis: Analysis) -> tuple[str, str]:
    [finding] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    return finding.message, finding.fix


def test_copies_marked_leaving_one_host_and_arriving_at_another(tmp_path: Path) -> None:
    message, fix = _duplicates(_analysed(tmp_path, _hosts))
    assert ("The copies' marks tell where they were captured: the file's Linux cooked "
            "headers mark each original as sent by the host that captured it (outgoing) and "
            "its copy as arriving at the host that captured it, at its original's hop limit: "
            "two "
            "hosts' captures (tcpdump -i any on each) merged into one file") in message
    assert "Either the capture point saw them twice" not in message
    assert fix.startswith("nothing to fix in the network for the copies; to judge one "
                          "capture point alone, analyze its capture alone")


def test_copies_a_millisecond_apart_so_marked_are_no_unmarked_interfaces(
        tmp_path: Path) -> None:
    # Beyond the 0.5 ms of a capture point's own copies: relay copies, marked.
    def later(_by_m: bool, _syn: bool) -> list[tuple[int, int, int]]:
        return [(0, OUTGOING, 64), (1200, HOST, 64)]
    message, _fix = _duplicates(_analysed(tmp_path, later))
    assert "were told by where they were captured, up to 1.2 ms after the original: the " \
           "file's Linux cooked headers mark each original as sent by the host" in message
    assert "marking neither" not in message


def test_own_packets_leaving_then_passing_a_promiscuous_port_are_no_two_hosts(
        tmp_path: Path) -> None:
    # One host's `-i any` with a second interface on a SPAN of its own port: each of its
    # packets leaving (outgoing), then mirrored to it other-host 20 us later, at one TTL.
    # Not two hosts' captures merged (second read of session 50): only an arrival at the
    # host addressed (host) is.
    def spanned(_by_m: bool, _syn: bool) -> list[tuple[int, int, int]]:
        return [(0, OUTGOING, 64), (20, OTHERHOST, 64)]
    message, _fix = _duplicates(_analysed(_folder(tmp_path / "span"), spanned))
    assert "two hosts' captures (tcpdump -i any on each) merged" not in message
    # The same copies arriving at the host addressed are two hosts' (the rule's other side).
    def merged(_by_m: bool, _syn: bool) -> list[tuple[int, int, int]]:
        return [(0, OUTGOING, 64), (20, HOST, 64)]
    message, _fix = _duplicates(_analysed(_folder(tmp_path / "merged"), merged))
    assert "two hosts' captures (tcpdump -i any on each) merged" in message


def test_copies_marked_arriving_then_leaving_one_lower_are_a_routers(tmp_path: Path) -> None:
    def router(_by_m: bool, _syn: bool) -> list[tuple[int, int, int]]:
        return [(0, HOST, 64), (20, OUTGOING, 63)]
    message, fix = _duplicates(_analysed(tmp_path, router))
    assert ("mark each original as arriving at the capture host and its copy as leaving it "
            "by another interface, one hop limit lower: a router's several interfaces "
            "captured at "
            "once (tcpdump -i any on it)") in message
    assert "instead of -i any" in fix


def test_field54_stored_cases() -> None:
    analysis = shared_analysis(CASES / "data-syns-dropped-by-media-input-any-on-media.pcap.gz")
    [finding] = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert "10.77.0.1's own firewall drops them: this capture was taken on 10.77.0.1 (its " \
           "Linux cooked headers mark" in finding.message
    assert "unless it was taken on" not in finding.message
    analysis = shared_analysis(CASES / "data-syns-dropped-by-media-both-hosts-any-merged.pcap.gz")
    message, _fix = _duplicates(analysis)
    assert "two hosts' captures (tcpdump -i any on each) merged into one file" in message


def test_a_routers_own_resets_prove_no_capture_host(tmp_path: Path) -> None:
    # A router's `-i any` whose forward chain rejects M's connections to port 22 with a
    # TCP reset (the RST made by its own stack as A: outgoing at its initial hop limit,
    # never arriving) and drops the control SYNs (arriving, host, never leaving): A's
    # only marked packets are the router's RSTs, which prove no host (review 50b: read
    # "A's own firewall drops them: this capture was taken on A").
    packets: list[tuple[float, bytes]] = []
    now = 1000.0
    for sport in (40000, 40001):
        syn = IPv6(src=M, dst=A, hlim=64) / TCP(sport=sport, dport=22, flags="S", seq=100)
        rst = IPv6(src=A, dst=M, hlim=64) / TCP(sport=22, dport=sport, flags="RA", ack=101)
        packets += [(now, _sll2(bytes(syn), HOST)), (now + 1e-4, _sll2(bytes(rst), OUTGOING))]
        now += 0.5
    for wait in (1.0, 2.0, 4.0):
        syn = IPv6(src=M, dst=A, hlim=64) / TCP(sport=5001, dport=10000, flags="S", seq=9000)
        packets.append((now, _sll2(bytes(syn), HOST)))
        now += wait
    capture = write_pcap(tmp_path / "router.pcap", packets, 276)
    assert track_connections([str(capture)]).host_marks[(A, M)] & OWN_OPENING == 0
    config_path = tmp_path / "flowcheck.toml"
    config_path.write_text(f'media_servers = ["{M}"]\nremote_agents = ["{A}"]\n')
    config = build_config(load_file(config_path))
    message, fix = _unanswered(analyze(read_traffic([str(capture)], config), config))
    assert "own firewall drops them" not in message
    assert "Linux cooked" not in message
    assert f"unless it was taken on {A} itself" in message
    assert not fix.startswith(f"On {A} itself")


def test_a_receivers_packets_after_the_senders_capture_stopped_are_no_copies(
        tmp_path: Path) -> None:
    # Both hosts' `-i any` merged, each packet arriving 1.2 ms after it left (relay
    # copies marked handed on); M's capture stops after 40 packets, A's runs on: A's
    # packets from M after that are the set's only ones, no router's egress copies whose
    # ingress copy the sniffer lost (review 50b: "23 more were captured as such copies
    # leave ... without their copy", their 211 bytes capture_loss).
    packets: list[tuple[float, bytes]] = []
    now, sent = 1000.0, 0

    def put(src: str, sport: int, dport: int, flags: str, seq: int, ack: int,
            payload: bytes = b"") -> None:
        nonlocal now, sent
        data = bytes(IPv6(src=src, dst=A if src == M else M, hlim=64)
                     / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack) / payload)
        if sent < 40:  # M's capture
            packets.append((now + (0 if src == M else 1.2e-3),
                            _sll2(data, OUTGOING if src == M else HOST)))
        packets.append((now + (0 if src == A else 1.2e-3),
                        _sll2(data, OUTGOING if src == A else HOST)))
        sent += 1
        now += 0.01

    put(M, 40000, 22, "S", 100, 0)
    put(A, 22, 40000, "SA", 500, 101)
    put(M, 40000, 22, "A", 101, 501)
    for i in range(40):
        put(M, 40000, 22, "PA", 101 + 10 * i, 501, b"x" * 10)
        put(A, 22, 40000, "A", 501, 111 + 10 * i)
    put(M, 40000, 22, "FA", 501, 501)
    put(A, 22, 40000, "FA", 501, 502)
    put(M, 40000, 22, "A", 502, 502)
    packets.sort(key=lambda p: p[0])
    capture = write_pcap(tmp_path / "merged.pcap", packets, 276)
    config_path = tmp_path / "flowcheck.toml"
    config_path.write_text(f'media_servers = ["{M}"]\nremote_agents = ["{A}"]\n')
    config = build_config(load_file(config_path))
    analysis = analyze(read_traffic([str(capture)], config), config)
    assert "capture_loss" not in {f.code for f in analysis.findings}
    message, _fix = _duplicates(analysis)
    assert message.startswith("40 of the 126 TCP packets compared are copies")
    assert "without their copy" not in message
    assert "two hosts' captures (tcpdump -i any on each) merged into one file" in message
