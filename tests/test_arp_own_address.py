"""ARP about a host's own address is no host resolving its peer (verify.capture_contents).

A capture of ARP alone read "a host resolving a neighbour's address ... when the neighbour
never answers no SYN ever leaves it, so the job may have failed before it started", with
the fix "Give the agent's address with --remote-agent". An ARP probe (sender IP 0.0.0.0,
RFC 5227 2.1.1) and an ARP announcement or gratuitous ARP (sender IP = target IP, RFC 5227
2.3) are a host checking or claiming an address of its own, which no one answers when it
is free: the IPv4 side of an IPv6 duplicate address detection probe (field check 79, seed
142 run 26; review 64o). Real requests for another address keep their words.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from test_connections_util import ethernet, tshark_fields, write_pcap

from flowcheck.config import Config
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

ETHERTYPE_ARP = 0x0806
MAC = b"\x02\x00\x00\x00\x00\x05"


def arp(sender: str, target: str, op: int = 1) -> bytes:
    """An Ethernet ARP frame (RFC 826) for IPv4: who has `target`, tell `sender`."""
    return ethernet(struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, MAC,
                                socket.inet_aton(sender), bytes(6),
                                socket.inet_aton(target)), ETHERTYPE_ARP)


def no_control_session(path: Path) -> Finding:
    analysis = analyze(read_traffic([str(path)], Config()), Config())
    assert analysis.verdict == "inconclusive"
    [finding] = [f for f in analysis.findings if f.code == "no_control_session"]
    return finding


def test_arp_probes_and_announcements_are_not_read_as_resolving_a_peer(
        tmp_path: Path) -> None:
    """3 probes for 10.77.0.5 from 0.0.0.0, then 2 announcements of it (as a DHCP
    client's or NetworkManager's address conflict detection sends them): named so, with
    the sniffer's usual causes and fix, never the words and fix of a host that could not
    resolve the agent."""
    frames = [arp("0.0.0.0", "10.77.0.5")] * 3 + [arp("10.77.0.5", "10.77.0.5")] * 2
    path = write_pcap(tmp_path / "acd.pcap", 1, frames, step=1.0)
    # tshark reads them as RFC 5227's probes and announcements.
    assert tshark_fields(path, "arp.isprobe", "arp.isannouncement") == [
        ["1", ""]] * 3 + [["", "1"]] * 2
    finding = no_control_session(path)
    assert ("5 of its 5 packets are ARP, not IP (each about an address of the sender's "
            "own: a probe from 0.0.0.0 or an announcement, RFC 5227, a host checking or "
            "claiming an address before it uses it, not resolving a peer's) (the sniffer "
            "saw none of the job's traffic: ") in finding.message
    assert "resolving a neighbour's address" not in finding.message
    assert "may have failed before it started" not in finding.message
    assert "--remote-agent" not in finding.fix


def test_requests_for_another_address_still_read_as_resolving_a_peer(
        tmp_path: Path) -> None:
    """A request for the agent's address among the probes: a host resolving a neighbour,
    whose unanswered requests may be why no SYN left it."""
    frames = [arp("0.0.0.0", "10.77.0.5"), arp("10.77.0.5", "10.77.0.5"),
              arp("10.77.0.5", "10.77.0.2"), arp("10.77.0.5", "10.77.0.2")]
    finding = no_control_session(write_pcap(tmp_path / "mixed.pcap", 1, frames, step=1.0))
    assert ("4 of its 4 packets are ARP, not IP: a host resolving a neighbour's address"
            in finding.message)
    assert "--remote-agent" in finding.fix
