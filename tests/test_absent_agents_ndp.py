"""Trial 28 D2: a configured IPv6 agent that is down. The media server's neighbour
solicitations for it (RFC 4861), repeated, never answered, and no TCP at all read
INCONCLUSIVE, "the sniffer saw none of the job's traffic", while the IPv4 twin with ARP
read FAIL agent_unreachable (trial 23 D4). Neighbour discovery is now read as ARP is."""

from __future__ import annotations

import ipaddress
import socket
import struct
from pathlib import Path

import pytest
from test_connections_util import ethernet, ipv6, read_batches, write_pcap

from flowcheck.config import build_config, load_file
from flowcheck.decode import NON_TCP, TCP, decode_batch
from flowcheck.model import Severity
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sources.batch import LINKTYPE_ETHERNET

STORED = Path(__file__).resolve().parent.parent / "captures" / "lab-trial28-ndp"
MEDIA, DOWN, AGENT = "fd77::1", "fd77::99", "fd77::2"
ICMPV6, ETHERTYPE_IPV6 = 58, 0x86DD


def _solicited_node(address: str) -> str:
    """The solicited-node multicast group of `address` (RFC 4291 2.7.1)."""
    low = ipaddress.IPv6Address(address).packed[-3:]
    return str(ipaddress.IPv6Address(bytes.fromhex("ff0200000000000000000001ff") + low))


def neighbour(kind: int, src: str, target: str, dst: str | None = None) -> bytes:
    """A neighbour solicitation (135) or advertisement (136) from `src` about `target`,
    as an Ethernet frame (the checksum is not checked)."""
    flags = 0x60000000 if kind == 136 else 0  # solicited, override
    message = struct.pack("!BBHI16s", kind, 0, 0, flags,
                          socket.inet_pton(socket.AF_INET6, target))
    return ethernet(ipv6(src, dst or _solicited_node(target), ICMPV6, message), ETHERTYPE_IPV6)


def _analysis(path: Path, **settings: object) -> Analysis:
    config = build_config(settings)
    return analyze(read_traffic([str(path)], config), config)


def _stored(name: str) -> Analysis:
    config = build_config(load_file(STORED / f"{name}.toml"))
    return analyze(read_traffic([str(STORED / f"{name}.pcap")], config), config)


def _codes(analysis: Analysis) -> list[str]:
    return [f.code for f in analysis.findings]


def _capture(tmp_path: Path, packets: list[tuple[float, bytes]]) -> Path:
    return write_pcap(tmp_path / "nd.pcap", LINKTYPE_ETHERNET, [data for _, data in packets],
                      times=[ts for ts, _ in packets])


def test_the_decoder_lists_neighbour_discovery_beside_tcp() -> None:
    """Solicitations and advertisements among TCP, counted as non-TCP as before."""
    [batch] = read_batches(STORED / "v6-agent-down-media.pcap")
    decoded = decode_batch(batch)
    assert decoded.kind.tolist() == [NON_TCP] * 3
    assert decoded.neighbours.position.tolist() == [0, 1, 2]
    assert decoded.neighbours.op.tolist() == [1, 1, 1]
    target = decoded.neighbours.target[0].astype(">u4").tobytes()
    assert str(ipaddress.IPv6Address(target)) == DOWN


def test_neighbour_discovery_in_a_mixed_batch_keeps_its_positions(tmp_path: Path) -> None:
    from test_connections_util import ipv4, tcp
    segment = ethernet(ipv4("10.77.0.1", "10.77.0.2", 6, tcp(5001, 10000, 1, 0, 0x02)))
    path = write_pcap(tmp_path / "mixed.pcap", LINKTYPE_ETHERNET, [
        segment, neighbour(135, MEDIA, DOWN), segment, neighbour(136, AGENT, AGENT, MEDIA)])
    decoded = decode_batch(next(read_batches(path)))
    assert decoded.kind.tolist() == [TCP, NON_TCP, TCP, NON_TCP]
    assert decoded.neighbours.position.tolist() == [1, 3]
    assert decoded.neighbours.op.tolist() == [1, 2]


def test_an_ipv6_agent_down_on_the_lan_is_an_error_with_its_solicitations() -> None:
    """The trial's capture: it read INCONCLUSIVE, no_control_session."""
    analysis = _stored("v6-agent-down-media")
    assert analysis.verdict == "fail"
    assert _codes(analysis) == ["agent_unreachable"]
    [down] = analysis.findings
    assert down.severity == Severity.ERROR and down.frames == [1, 2, 3]
    assert ("it never answered the media server fd77::1's 3 neighbour solicitations"
            in down.message)
    assert "ARP" not in down.message and "ARP" not in down.fix
    assert "With no answer to neighbour discovery" in down.message
    assert "ping it from fd77::1" in down.fix


def test_solicitations_a_firewall_dropped_name_that_firewall() -> None:
    """D3's capture: the agent's firewall dropped neighbour discovery."""
    analysis = _stored("v6-nd-dropped-by-agent-media")
    [down] = analysis.findings
    assert down.code == "agent_unreachable"
    assert "a firewall on fd77::2 that drops ICMPv6 neighbour solicitations" in down.message
    assert "(types 135 and 136) through its firewall" in down.fix


def test_an_advertisement_for_the_agent_is_an_answer(tmp_path: Path) -> None:
    path = _capture(tmp_path, [(0.0, neighbour(135, MEDIA, DOWN)),
                               (1.0, neighbour(135, MEDIA, DOWN)),
                               (1.001, neighbour(136, "fe80::99", DOWN, MEDIA))])
    analysis = _analysis(path, media_servers=[MEDIA], remote_agents=[DOWN])
    assert "agent_unreachable" not in _codes(analysis)


@pytest.mark.parametrize("sender", ["::", DOWN])
def test_duplicate_address_detection_asks_for_no_neighbour(tmp_path: Path,
                                                           sender: str) -> None:
    """RFC 4862 5.4: a probe from ::; and a solicitation the agent sends itself shows
    it up."""
    path = _capture(tmp_path, [(0.0, neighbour(135, sender, DOWN)),
                               (1.0, neighbour(135, sender, DOWN)),
                               (5.0, neighbour(135, MEDIA, AGENT))])
    analysis = _analysis(path, media_servers=[MEDIA], remote_agents=[DOWN])
    assert "agent_unreachable" not in _codes(analysis)


def test_one_solicitation_at_the_end_of_the_capture_is_no_evidence(tmp_path: Path) -> None:
    path = _capture(tmp_path, [(0.0, neighbour(135, MEDIA, DOWN))])
    analysis = _analysis(path, media_servers=[MEDIA], remote_agents=[DOWN])
    assert "agent_unreachable" not in _codes(analysis)


def test_a_routers_solicitations_are_a_note_in_neighbour_discovery_words(
        tmp_path: Path) -> None:
    lab = Path(__file__).resolve().parent.parent / "captures" / "lab"
    config = build_config({**load_file(lab / "clean-3-resources.toml"),
                           "media_servers": ["10.77.0.1"],
                           "remote_agents": ["10.77.0.2", DOWN]})
    router = _capture(tmp_path, [(0.0, neighbour(135, "fd77::fe", DOWN)),
                                 (1.0, neighbour(135, "fd77::fe", DOWN))])
    analysis = analyze(read_traffic([str(lab / "clean-3-resources.pcap"), str(router)],
                                    config), config)
    [note] = [f for f in analysis.findings if f.code == "agent_not_seen"]
    assert "Neighbour discovery: fd77::fe's 2 neighbour solicitations for fd77::99" \
        in note.message


def test_only_the_configured_agents_solicitations_are_kept() -> None:
    path = STORED / "v6-agent-down-media.pcap"
    assert not read_traffic([str(path)], build_config({})).arp.asked
    watched = read_traffic([str(path)], build_config({"remote_agents": [AGENT, DOWN]}))
    assert list(watched.arp.asked) == [(MEDIA, DOWN)]
    assert watched.arp.asked[(MEDIA, DOWN)].count == 3


@pytest.mark.parametrize("name", ["v6-agent-down-media", "v4-arp"])
def test_without_the_agent_configured_the_capture_is_not_blamed(tmp_path: Path,
                                                               name: str) -> None:
    """No --remote-agent: nothing says which host the requests were for, so the verdict
    stays inconclusive, but no_control_session no longer says the sniffer saw none of the
    job's traffic: the job may have failed before its first SYN (D2's "at the least")."""
    if name == "v4-arp":
        from test_absent_agents import arp
        path = write_pcap(tmp_path / "arp.pcap", LINKTYPE_ETHERNET,
                          [ethernet(arp(1, "10.77.0.1", "10.77.0.6"), 0x0806)] * 3,
                          times=[0.0, 1.0, 2.0])
    else:
        path = STORED / f"{name}.pcap"
    analysis = _analysis(path)
    assert analysis.verdict == "inconclusive"
    [finding] = analysis.findings
    assert finding.code == "no_control_session"
    assert "sniffer saw none" not in finding.message
    assert "no TCP connection at all" in finding.message
    assert "no SYN ever leaves it" in finding.message
    assert "--remote-agent" in finding.fix
    if name != "v4-arp":
        assert "neighbour solicitations of fd77::1 for an address ending in 00:99" \
            in finding.message
