"""An agent that never sent a packet all night (new-user trial 23, D6): its control
connections' SYNs go unanswered, the capture holds not one packet from it, but it
holds the way back to the media server from other hosts (a good job's agent). Not "it
may hold one direction only": the host is down, not at that address, or all its traffic
is dropped, the firewall one possibility; said once, the later attempts naming the
first (it read the one-direction reading and the whole fix nine times).

captures/lab/clean-3-resources.pcap (a good job with 10.77.0.2, 0.16 s), then three
attempts of the media server 10.77.0.1 at the silent 10.77.0.5:10000 built by scapy, 20 s
apart, each four SYNs (0, 1, 3, 7 s). An ARP packet from the silent host's address shows
it up only near the attempts and from a MAC no proxy's (verify.link_proof).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from capture_factory import read_pcap
from scapy.all import ARP, IP, TCP, Ether, Packet
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
NAME = "clean-3-resources"
MEDIA, SILENT = "10.77.0.1", "10.77.0.5"
ATTEMPTS = 3


def _syns(start: float, port: int, template: Packet) -> list[Packet]:
    """A connect's four SYNs from the media server's `port` to the silent host's NDMP
    port, resent at 1, 3 and 7 s."""
    out = []
    for delay in (0.0, 1.0, 3.0, 7.0):
        packet = Ether(src=template[Ether].src, dst=template[Ether].dst) / IP(
            src=MEDIA, dst=SILENT, ttl=64) / TCP(sport=port, dport=10000, flags="S",
                                                  seq=1000 + port)
        packet.time = start + delay
        out.append(packet)
    return out


@cache
def _stored() -> tuple[Packet, ...]:
    """The capture's packets, one copy a process (read_packets copies all 669 at each
    call): _capture adds packets of its own and changes none of them."""
    return tuple(read_packets(str(LAB / f"{NAME}.pcap")))


def _capture(tmp_path: Path, extra: list[Packet] | None = None) -> Path:
    packets = list(_stored())
    start = float(packets[-1].time)
    for attempt in range(ATTEMPTS):
        packets += _syns(start + 20.0 * (attempt + 1), 5060 + attempt, packets[0])
    packets += extra or []
    packets.sort(key=lambda p: float(p.time))
    path = tmp_path / "silent.pcap"
    write_packets(str(path), packets)
    return path


def _analyze(path: Path) -> Analysis:
    settings = load_file(LAB / f"{NAME}.toml")
    settings["remote_agents"] = [*settings["remote_agents"], SILENT]  # as the trial did
    config = build_config(settings)
    return analyze(read_traffic([str(path)], config), config)


def _unanswered(analysis: Analysis) -> list[Finding]:
    return [f for f in analysis.findings if f.code == "control_unanswered"]


def test_agent_silent_all_capture_is_host_down_not_one_direction(tmp_path: Path) -> None:
    analysis = _analyze(_capture(tmp_path))
    first, *later = _unanswered(analysis)
    assert len(later) == ATTEMPTS - 1
    sessions = [f.session for f in (first, *later)]
    # Not the one-direction reading: the capture holds 10.77.0.2's packets to 10.77.0.1.
    for finding in (first, *later):
        assert "one direction only" not in finding.message
        assert "SPAN port" not in finding.message
        assert "of both directions" not in finding.fix
    assert f"{SILENT} sent not a single packet in the whole capture" in first.message
    assert "10.77.0.2" in first.message  # the host whose packets show the way back
    assert "down" in first.message and "not at that address" in first.message
    assert "all its traffic is dropped" in first.message
    # Said once with the attempts counted; the firewall rule one possibility.
    assert f"{ATTEMPTS} attempts" in first.message
    assert ", ".join(sessions[:-1]) + f" and {sessions[-1]}" in first.message
    assert first.fix.startswith(f"Check that {SILENT} is up")
    assert f"allow TCP from {MEDIA} to {SILENT}" in first.fix
    # The later attempts are short and name the first.
    for finding in later:
        assert f"as in session {first.session}" in finding.message
        assert len(finding.message) < len(first.message) // 2
        assert finding.fix == (f"Check that {SILENT} is up and is the agent's address (as "
                               f"for session {first.session}: see its control_unanswered).")


def test_silent_to_the_media_server_only_keeps_the_firewall_reading(tmp_path: Path) -> None:
    """A host that sends to another host in the capture is up: no "down" reading, and
    every attempt keeps its own finding."""
    template = read_packets(LAB / f"{NAME}.pcap", 1)[0]
    chat = Ether(src=template[Ether].src, dst=template[Ether].dst) / IP(
        src=SILENT, dst="10.77.0.3", ttl=64) / TCP(sport=40000, dport=22, flags="S")
    chat.time = float(template.time) + 5.0
    analysis = _analyze(_capture(tmp_path, [chat]))
    findings = _unanswered(analysis)
    assert len(findings) == ATTEMPTS
    for finding in findings:
        assert "not a single packet" not in finding.message
        assert "as in session" not in finding.message


def test_a_host_that_answered_arp_is_up_not_down(tmp_path: Path) -> None:
    """An ARP reply from the silent host's address (its only packet) shows it up at that
    address: no "not a single packet", no "down", no "check that it is up"; the
    firewall reading and its rule (field check 53: an IPv6 agent's neighbour
    advertisement beside its control SYN-ACKs dropped by its own output chain read "is
    down, is not at that address")."""
    template = read_packets(LAB / f"{NAME}.pcap", 1)[0]
    reply = Ether(src="02:00:00:00:00:05", dst=template[Ether].src) / ARP(
        op=2, hwsrc="02:00:00:00:00:05", psrc=SILENT, hwdst=template[Ether].src,
        pdst=MEDIA)
    reply.time = float(template.time) + 19.0
    path = _capture(tmp_path, [reply])
    analysis = _analyze(path)
    first, *later = _unanswered(analysis)
    assert len(later) == ATTEMPTS - 1
    frame = 1 + sorted(float(p.time) for p in read_packets(str(path))).index(
        float(reply.time))
    assert (f"{SILENT} sent no TCP packet in the whole capture, though it sent an ARP "
            f"packet from that address (frame {frame}), so it is up and at that address "
            "on the capture's network") in first.message
    assert "not a single packet" not in first.message
    assert "down" not in first.message and "not at that address (" not in first.message
    assert first.fix.startswith(f"Allow TCP from {MEDIA} to {SILENT}")
    for finding in (first, *later):
        assert "is up" not in finding.fix
    for finding in later:
        assert f"{SILENT} sent no TCP packet in the whole capture" in finding.message
        assert finding.fix == ("Something drops the TCP traffic between the hosts (as for "
                               f"session {first.session}: see its control_unanswered).")


HOST_MAC, PROXY_MAC = "02:00:00:00:00:05", "02:00:00:00:00:fe"
ROUTER = "10.77.0.254"


@cache
def _first_syn() -> float:
    """The first attempt's first SYN's time (_capture: 20 s after the good job's end)."""
    return read_pcap(LAB / f"{NAME}.pcap")[-1][0] + 20.0


def _arp(at: float, mac: str, sender: str = SILENT, op: int = 2) -> Packet:
    """An ARP packet from `sender` with `mac` (a reply to the media server, or a
    request for it) at time `at`."""
    template = read_packets(LAB / f"{NAME}.pcap", 1)[0]
    packet = Ether(src=mac, dst=template[Ether].src if op == 2 else "ff:ff:ff:ff:ff:ff") / ARP(
        op=op, hwsrc=mac, psrc=sender, hwdst=template[Ether].src if op == 2 else
        "00:00:00:00:00:00", pdst=MEDIA)
    packet.time = at
    return packet


def _frame(path: Path, packet: Packet) -> int:
    """`packet`'s frame number in the capture at `path` (its time, to the microsecond
    the file keeps, is its own)."""
    at = round(float(packet.time), 6)
    return 1 + [round(ts, 6) for ts, _ in read_pcap(path)].index(at)


def _assert_not_said_up(first: Finding, later: list[Finding]) -> None:
    """The silent host's reading and fix, with no "up" claim, after the ARP's words."""
    assert f"{SILENT} sent no TCP packet in the whole capture; the capture holds an ARP " \
        "packet from that address" in first.message
    assert "so it is up" not in first.message
    assert "down" in first.message and "not at that address" in first.message
    assert first.fix.startswith(f"Check that {SILENT} is up")
    for finding in later:
        assert f"{SILENT} sent no TCP packet in the whole capture" in finding.message
        assert finding.fix.startswith(f"Check that {SILENT} is up")


@pytest.mark.parametrize(("offset", "when"), [
    (-100.0, "100 s before the first SYN"),
    # The last attempt's last SYN: 2 x 20 s and 7 s after the first's first.
    (47.0 + 60.0, "60 s after the last SYN")])
def test_an_arp_far_from_the_attempts_does_not_say_the_host_is_up(
        tmp_path: Path, offset: float, when: str) -> None:
    """An ARP reply more than 30 s (a neighbour's reachable time) from every attempt
    shows the host at that address then, not when the SYNs came: no "up" claim, the
    silent host's reading, and when the ARP came."""
    reply = _arp(_first_syn() + offset, HOST_MAC)
    path = _capture(tmp_path, [reply])
    first, *later = _unanswered(_analyze(path))
    assert (f"the capture holds an ARP packet from that address (frame "
            f"{_frame(path, reply)}), {when}: more than 30 s from the attempts") in first.message
    assert "so it does not show the host up when the SYNs came" in first.message
    _assert_not_said_up(first, later)


def test_an_arp_between_two_attempts_within_the_window_says_up(tmp_path: Path) -> None:
    """10 s after the first attempt's last SYN (7 s after its first), 3 s before the
    second's first: within 30 s of both, the claim is kept for the series."""
    reply = _arp(_first_syn() + 7.0 + 10.0, HOST_MAC)
    first, *_ = _unanswered(_analyze(_capture(tmp_path, [reply])))
    assert "so it is up and at that address on the capture's network" in first.message
    assert first.fix.startswith(f"Allow TCP from {MEDIA} to {SILENT}")


def test_a_proxy_arp_answer_does_not_say_the_host_is_up(tmp_path: Path) -> None:
    """A router answering ARP for the silent address with its own MAC, which also
    claims the router's own address (its request for the media server): one MAC for
    two addresses may be a proxy's answer; no "up" claim."""
    reply = _arp(_first_syn() - 1.0, PROXY_MAC)
    own = _arp(_first_syn() - 5.0, PROXY_MAC, sender=ROUTER, op=1)
    path = _capture(tmp_path, [reply, own])
    first, *later = _unanswered(_analyze(path))
    assert (f"the capture holds an ARP packet from that address (frame {_frame(path, reply)}, "
            f"1 s before the first SYN) with the MAC address {PROXY_MAC}, which claimed "
            f"{ROUTER} (frame {_frame(path, own)}) too: a router or firewall answering ARP "
            "for the hosts behind it (proxy ARP) does so, as does a host with several "
            "addresses, so it may be a proxy's answer") in first.message
    _assert_not_said_up(first, later)


def test_two_macs_claiming_the_address_do_not_say_the_host_is_up(tmp_path: Path) -> None:
    """The host's own ARP reply beside another MAC's for the same address (a proxy
    answering too, or a duplicate address): neither shows the agent up."""
    mine = _arp(_first_syn() - 1.0, HOST_MAC)
    other = _arp(_first_syn() - 0.5, PROXY_MAC)
    path = _capture(tmp_path, [mine, other])
    first, *later = _unanswered(_analyze(path))
    assert (f"the capture holds an ARP packet from that address (frame {_frame(path, other)}, "
            f"500 ms before the first SYN) with the MAC address {PROXY_MAC}, but "
            f"{HOST_MAC} (frame {_frame(path, mine)}) claimed that address too: a router "
            "or firewall answering for the host (proxy ARP, a proxy's advertisement) or a "
            "second host with that address") in first.message
    _assert_not_said_up(first, later)
