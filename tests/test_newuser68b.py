"""Where the capture was taken decides the fix's lead; a Windows agent's return-traffic
drop; the callback missing on the agent's first hop (newuser68 items 2, 4 and 5;
captures/newuser68b and its README).

slow3-agent/-media: the agent's input chain drops only SYNs to 6002 (6001 worked),
captured on the agent and on the media server. win-cbsynack-agent/-media: the agent
(TTL 128) drops its callback's SYN-ACKs, captured on it and on the media server.
router-any-cbdrop: the agent's output chain drops its callback, `tcpdump -i any` on the
router, the agent's first hop.
"""

from __future__ import annotations

import gzip
import struct
import subprocess
from pathlib import Path

import pytest
from capture_factory import link_frame, read_pcap, write_pcap

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

CASES = Path(__file__).resolve().parent.parent / "captures" / "newuser68b"
NAMES = ("slow3-agent", "slow3-media", "win-cbsynack-agent", "win-cbsynack-media",
         "router-any-cbdrop")


def _analysis(path: Path, name: str) -> Analysis:
    config = build_config(load_file(CASES / f"{name}.toml"))
    return analyze(read_traffic([str(path)], config), config)


@pytest.fixture(scope="module")
def results() -> dict[str, Analysis]:
    return {name: _analysis(CASES / f"{name}.pcap.gz", name) for name in NAMES}


def _one(result: Analysis, code: str) -> Finding:
    [finding] = [f for f in result.findings if f.code == code]
    return finding


def _tshark(name: str, fields: list[str], where: str) -> list[str]:
    """tshark's field lines of the case's packets that match `where`."""
    args = ["tshark", "-r", str(CASES / f"{name}.pcap.gz"), "-Y", where, "-T", "fields"]
    for field in fields:
        args += ["-e", field]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return done.stdout.split("\n")[:-1]


def test_tshark_shows_where_each_capture_was_taken() -> None:
    """What the readings stand on: on the agent its packets have TTL 128 and the media
    server's 63 (a router between); on the media server 64 and 127; the SYNs to 6002
    are in the agent's capture, none answered; the callback's SYN-ACKs are in the
    agent's capture with no ACK from it; the router's capture holds the agent's
    packets at 128 arriving and 127 leaving, and nothing to the media range."""
    assert set(_tshark("slow3-agent", ["ip.src", "ip.ttl"], "tcp.port == 10000")) == {
        "10.68.2.2\t128", "10.68.1.1\t63"}
    assert set(_tshark("slow3-media", ["ip.src", "ip.ttl"], "tcp.port == 10000")) == {
        "10.68.1.1\t64", "10.68.2.2\t127"}
    assert len(_tshark("slow3-agent", ["frame.number"],
                       "tcp.dstport == 6002 && tcp.flags.syn == 1")) == 4
    assert _tshark("slow3-agent", ["frame.number"], "tcp.srcport == 6002") == []
    assert len(_tshark("win-cbsynack-agent", ["frame.number"],
                       "tcp.srcport == 5001 && tcp.flags.syn == 1 && tcp.flags.ack == 1")) == 6
    assert _tshark("win-cbsynack-agent", ["frame.number"],
                   "tcp.dstport == 5001 && tcp.flags.syn == 0") == []
    assert set(_tshark("router-any-cbdrop", ["ip.ttl", "sll.pkttype"],
                       "ip.src == 10.68.2.2")) == {"128\t0", "127\t4"}
    assert _tshark("router-any-cbdrop", ["frame.number"],
                   "tcp.port >= 5001 && tcp.port <= 5100 && !(tcp.port == 10000)") == []


def test_a_limit_behind_the_agents_own_capture_point_is_looked_for_in_its_firewall(
        results: dict[str, Analysis]) -> None:
    """Taken on the agent, the SYNs to 6002 reached it: the fix leads with the agent's
    own firewall (it led "On the firewalls between 10.68.1.1 and 10.68.2.2"); taken on
    the media server, nothing places the drop and the devices between still lead."""
    agent = _one(results["slow3-agent"], "data_unanswered")
    assert agent.fix.startswith("In 10.68.2.2's own firewall (the SYNs reached its capture "
                                "point), look for a limit on new connections")
    assert "firewalls between" not in agent.fix
    media = _one(results["slow3-media"], "data_unanswered")
    assert media.fix.startswith("On the firewalls between 10.68.1.1 and 10.68.2.2, look for")


def test_both_points_given_together_lead_with_the_agents_firewall() -> None:
    """Both files of the slow3 run given together: the SYNs reached the capture point on
    10.68.2.2 (each in the set twice), so the agent's own firewall leads there too (it
    led "On the firewalls between"; newuser68's slow3-both.out)."""
    config = build_config(load_file(CASES / "slow3-agent.toml"))
    result = analyze(read_traffic([str(CASES / "slow3-media.pcap.gz"),
                                   str(CASES / "slow3-agent.pcap.gz")], config), config)
    found = _one(result, "data_unanswered")
    assert "the SYNs reached the capture point on 10.68.2.2" in found.message
    assert found.fix.startswith("In 10.68.2.2's own firewall (the SYNs reached its capture "
                                "point), look for a limit on new connections")


def test_a_windows_agents_return_drop_taken_on_it(results: dict[str, Analysis]) -> None:
    """Taken on the agent (TTL 128): the message says so and blames its own firewall;
    the fix is on the agent itself, no "any firewall between", Windows' words (hedged)
    before the netfilter commands "on Linux"."""
    found = _one(results["win-cbsynack-agent"], "handshake_incomplete")
    assert ("This capture was taken on 10.68.2.2 (or on its network segment: 10.68.2.2's "
            "packets arrive with TTL 128") in found.message
    assert "10.68.2.2's own firewall drops the SYN-ACKs as they arrive" in found.message
    assert found.fix.startswith("On 10.68.2.2 itself (this capture was taken there or on "
                                "its network segment, as the TTLs show: the SYN-ACKs "
                                "reached it): its TTL starts at 128, Windows' default (a "
                                "hint, not proof)")
    assert "any firewall between" not in found.fix
    for words in ("Windows Defender Firewall with Advanced Security",
                  "third-party endpoint firewall", "event 5152",
                  "Get-NetFirewallRule -Action Block -Enabled True",
                  "netsh advfirewall firewall show rule name=all"):
        assert words in found.fix
    assert found.fix.index("Windows Defender") < found.fix.index("on Linux, in its input "
                                                                  "chain") < found.fix.index(
        "nft insert rule")


def test_a_windows_agents_return_drop_taken_on_the_media_server(
        results: dict[str, Analysis]) -> None:
    """Taken on the media server, the SYN-ACKs are not shown reaching the agent: the
    devices between stay, the Windows words for the agent beside a Linux host's."""
    found = _one(results["win-cbsynack-media"], "handshake_incomplete")
    assert "This capture was taken on" not in found.message
    assert found.fix.startswith("On 10.68.2.2 and on any firewall between the hosts, accept "
                                "the return traffic of established connections ahead of "
                                "any drop: on 10.68.2.2, its TTL starts at 128")
    assert "on a Linux host, in its input chain (nft:" in found.fix


def test_the_callback_missing_on_the_agents_first_hop(results: dict[str, Analysis]) -> None:
    """A router's -i any that the agent's packets reach at TTL 128: only the agent or its
    link, not the media server's firewall nor a device beyond; the filter hedge of a
    capture of nothing but the NDMP port's TCP first, and no separate port-only hint."""
    found = _one(results["router-any-cbdrop"], "step_missing")
    assert ("This capture was taken on a router or bridge between the hosts, its several "
            "interfaces at once (capture_duplicates), which the agent's packets reach with "
            "TTL 128, an initial value: its first hop") in found.message
    assert "unless a capture filter kept only the NDMP port 10000" in found.message
    assert "The capture holds only connections to the NDMP port" not in found.message
    assert found.fix.startswith("If this capture was filtered to the NDMP port (tcpdump "
                                "'port 10000'), capture again without a filter; else read "
                                "the agent 10.68.2.2's log")
    assert "taken on its first hop, holds every SYN that left it" in found.fix
    assert "capture on the agent" not in found.fix


def _icmp_echo(src: bytes, dst: bytes) -> bytes:
    """An IPv4 ICMP echo request from src to dst, checksums right."""
    def checksum(data: bytes) -> int:
        total = sum(struct.unpack(f">{len(data) // 2}H", data))
        total = (total >> 16) + (total & 0xFFFF)
        return ~(total + (total >> 16)) & 0xFFFF
    icmp = struct.pack(">BBHHH", 8, 0, 0, 1, 1)
    icmp = icmp[:2] + struct.pack(">H", checksum(icmp)) + icmp[4:]
    head = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 7, 0, 64, 1, 0, src, dst)
    head = head[:10] + struct.pack(">H", checksum(head)) + head[12:]
    return head + icmp


def test_a_capture_holding_more_than_the_ndmp_port_drops_the_filter_hedge(
        tmp_path: Path) -> None:
    """The same router capture with one ICMP echo beside it: no filter kept only the
    NDMP port, so the first-hop reading stands without the hedge, its fix without the
    filter clause."""
    data = gzip.decompress((CASES / "router-any-cbdrop.pcap.gz").read_bytes())
    plain = tmp_path / "plain.pcap"
    plain.write_bytes(data)
    records = read_pcap(plain)
    echo = link_frame(_icmp_echo(bytes([10, 68, 1, 1]), bytes([10, 68, 2, 2])), link="sll2")
    path = write_pcap(tmp_path / "with-icmp.pcap", [*records, (records[-1][0] + 0.001, echo)],
                      276)
    found = _one(_analysis(path, "router-any-cbdrop"), "step_missing")
    assert "its first hop" in found.message
    assert "capture filter" not in found.message
    assert found.fix.startswith("Read the agent 10.68.2.2's log at that time")


def test_the_first_hop_by_the_ttls_alone_keeps_a_bridging_firewall_and_another_route(
        results: dict[str, Analysis]) -> None:
    """The TTLs alone place the router's capture on the agent's first hop (review64n): a
    bridging (layer 2) firewall between the agent and the router keeps the TTL, and with
    no connection the agent opened to the media server in the capture its callback may
    leave by another network card and another first hop (review63e and review64g's
    hedges for a capture placed on the agent by its TTLs). The first hop's reading said
    "nothing between them but the agent's link" and "neither ... a device beyond this
    point is the cause" unhedged."""
    found = _one(results["router-any-cbdrop"], "step_missing")
    assert "nothing between them but the agent's link" not in found.message
    assert ("or the SYN left by another interface of the agent's (its route to 10.68.1.1 "
            "through another network card and another first hop, which this capture does "
            "not see), none reached it") in found.message
    assert found.message.endswith(
        "its link lost it, or a bridging (layer 2) firewall between the agent and this "
        "point, which keeps the TTL, dropped it.")
    assert ("a route that sends it out of another interface of the agent's (`ip route get "
            "10.68.1.1` on the agent names it)") in found.fix
    assert "and in any bridging firewall between the agent and this point" in found.fix


def test_a_return_drop_placed_by_the_ttls_alone_keeps_a_bridging_firewall(
        results: dict[str, Analysis]) -> None:
    """win-cbsynack-agent is placed on the agent by its TTLs alone (Ethernet, no Linux
    cooked marks): the point may be on its segment, a bridging (layer 2) firewall between
    it and the agent keeping the TTL (review63e's hedge; review64n: the message said
    "10.68.2.2's own firewall drops the SYN-ACKs" with no other device left, the fix the
    agent alone)."""
    found = _one(results["win-cbsynack-agent"], "handshake_incomplete")
    assert found.message.endswith(
        "Were this capture taken on 10.68.2.2's network segment rather than on it (the TTLs "
        "cannot tell), a bridging (layer 2) firewall between this point and 10.68.2.2, which "
        "keeps the TTL, may drop the SYN-ACKs instead.")
    assert found.fix.endswith(
        "The TTLs cannot tell 10.68.2.2 from its network segment: accept that return traffic "
        "also in any bridging (layer 2) firewall between 10.68.2.2 and this capture point.")
    # Taken on the media server nothing places the agent: no such words.
    other = _one(results["win-cbsynack-media"], "handshake_incomplete")
    assert "bridging" not in other.message + other.fix


def test_a_windows_agents_own_outbound_drop_of_the_callback_gets_windows_words(
        results: dict[str, Analysis]) -> None:
    """The agent's packets reach its first hop at TTL 128: the fix that sends the user to
    the agent's own outbound rules gives Windows' words, hedged (verify.windows_host; it
    gave the rules' words and nft's alone), before the connect failing for want of a
    source port."""
    found = _one(results["router-any-cbdrop"], "step_missing")
    assert ("the agent's TTL starts at 128, Windows' default (a hint, not proof): on "
            "Windows, `Get-NetFirewallRule -Direction Outbound -Action Block -Enabled True` "
            "lists Windows Defender Firewall's outbound block rules") in found.fix
    # A connect a rule blocks is audited as a blocked connection (event 5157, subcategory
    # Filtering Platform Connection), not a dropped packet (5152).
    for words in ("third-party endpoint firewall",
                  'auditpol /set /subcategory:"Filtering Platform Connection" /failure:enable',
                  "each connection the Windows Filtering Platform blocks, event 5157",
                  "netsh advfirewall firewall show rule name=all dir=out"):
        assert words in found.fix
    assert "5152" not in found.fix
    assert (found.fix.index("in the agent's own outbound rules")
            < found.fix.index("Get-NetFirewallRule")
            < found.fix.index("Cannot assign requested address"))


def test_a_windows_listeners_own_firewall_gets_windows_words_before_linuxs(
        results: dict[str, Analysis]) -> None:
    """Taken on the agent (TTL 128), the SYNs to 6002 unanswered: the fix for its own
    firewall gives Windows' inbound words, hedged, then the input and output chains "on
    Linux" (it gave the netfilter words alone); the media server's capture places
    nothing on the agent: no such words."""
    found = _one(results["slow3-agent"], "data_unanswered")
    assert ("else: on 10.68.2.2 itself (this capture was taken there or on its network "
            "segment, as the TTLs show): its TTL starts at 128, Windows' default (a hint, "
            "not proof): on Windows, `Get-NetFirewallRule -Direction Inbound -Action Block "
            "-Enabled True` lists Windows Defender Firewall's inbound block rules"
            ) in found.fix
    assert ("; on Linux, before any drop rule, accept the connection from 10.68.1.1 to "
            "ports 6001-6100") in found.fix
    for words in ("third-party endpoint firewall",
                  'auditpol /set /subcategory:"Filtering Platform Connection" /failure:enable',
                  "each connection the Windows Filtering Platform blocks, event 5157",
                  "event 5152", "netsh advfirewall firewall show rule name=all dir=in"):
        assert words in found.fix
    media = _one(results["slow3-media"], "data_unanswered")
    assert "Windows" not in media.fix


def _as_cooked(name: str, host: bytes, tmp_path: Path) -> Path:
    """The case's Ethernet frames as a Linux cooked (LINUX_SLL2) capture taken on `host`
    (its IPv4 address): its packets marked outgoing (4), the others to it (0), one
    interface, index 2."""
    plain = tmp_path / f"{name}.pcap"
    plain.write_bytes(gzip.decompress((CASES / f"{name}.pcap.gz").read_bytes()))
    cooked = []
    for ts, frame in read_pcap(plain):
        assert frame[12:14] == b"\x08\x00"  # IPv4, no VLAN tag
        ip = frame[14:]
        kind = 4 if ip[12:16] == host else 0
        header = struct.pack(">HHIHBB8s", 0x0800, 0, 2, 1, kind, 6, frame[6:12] + b"\0\0")
        cooked.append((ts, header + ip))
    return write_pcap(tmp_path / f"{name}-cooked.pcap", cooked, 276)


def test_the_linux_cooked_marks_on_the_listener_give_no_windows_words(
        tmp_path: Path) -> None:
    """slow3-agent as a Linux cooked capture taken on 10.68.2.2 (its marks): the host runs
    Linux whatever its TTL of 128 (review64n's exception, as for the return drop), so its
    own firewall's fix gives the netfilter words alone."""
    path = _as_cooked("slow3-agent", bytes([10, 68, 2, 2]), tmp_path)
    found = _one(_analysis(path, "slow3-agent"), "data_unanswered")
    assert "10.68.2.2's own firewall drops them" in found.message
    assert "else: on 10.68.2.2 itself (" in found.fix
    assert "Windows" not in found.fix
    assert "before any drop rule: accept the connection from 10.68.1.1" in found.fix


def _agents_link(tmp_path: Path, *, cooked: bool) -> Path:
    """router-any-cbdrop's copies on the agent's side of the router (interface index 3:
    the agent's packets at TTL 128, the media server's at 63) as a capture taken on the
    agent: Ethernet (placed by the TTLs alone), or Linux cooked with the agent's packets
    marked outgoing (4) and the media server's to it (0)."""
    plain = tmp_path / "router.pcap"
    plain.write_bytes(gzip.decompress((CASES / "router-any-cbdrop.pcap.gz").read_bytes()))
    frames = []
    for ts, frame in read_pcap(plain):
        if frame[4:8] != struct.pack(">I", 3):
            continue
        ip = frame[20:]
        if not cooked:
            frames.append((ts, link_frame(ip)))
            continue
        kind = 4 if ip[12:16] == bytes([10, 68, 2, 2]) else 0
        frames.append((ts, frame[:10] + bytes([kind]) + frame[11:]))
    return write_pcap(tmp_path / f"agent-{cooked}.pcap", frames, 276 if cooked else 1)


def test_the_callback_unsent_from_a_windows_agent_gets_windows_words(
        tmp_path: Path) -> None:
    """Taken on the agent (its TTL 128, by the TTLs alone): its own outbound rules get
    Windows' words (verify.callback_unreached.unsent_fix gave the rules' words alone);
    the same capture with the agent's Linux cooked marks: none (it runs Linux)."""
    found = _one(_analysis(_agents_link(tmp_path, cooked=False), "router-any-cbdrop"),
                 "step_missing")
    assert "This capture was taken on the agent 10.68.2.2" in found.message
    assert ("taken on the agent, sees its leaving packets only after them, so a SYN they "
            "drop is not in it), and in any bridging firewall between the agent and this "
            "capture point (the TTLs cannot tell the agent from its segment); the agent's "
            "TTL starts at 128, Windows' default (a hint, not proof): on Windows, "
            "`Get-NetFirewallRule -Direction Outbound -Action Block -Enabled True`"
            ) in found.fix
    marked = _one(_analysis(_agents_link(tmp_path, cooked=True), "router-any-cbdrop"),
                  "step_missing")
    assert "This capture was taken on the agent 10.68.2.2" in marked.message
    assert "its Linux cooked headers" in marked.message
    assert "in the agent's own outbound rules" in marked.fix
    assert "Windows" not in marked.fix
