"""live's default capture filter keeps the tunnels flowcheck decodes (trial 22 D2): on a
VXLAN underlay or an ERSPAN collector port, `tcp or icmp or icmp6` threw the job away
and the report blamed "the wrong interface, a filter"."""

from __future__ import annotations

import pytest
from scapy.layers.inet import GRE, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from flowcheck.bpf import DLT_EN10MB, DLT_LINUX_SLL, filter_results, libpcap
from flowcheck.sources.capture_filter import PLAIN_FILTER, VLAN_FILTER

pytestmark = pytest.mark.skipif(libpcap() is None, reason="libpcap needed")

# Every Ethernet header names its destination: else scapy asks the network for it (an
# IPv6 neighbour solicitation waits a second for each frame built, nine per run of the
# test below) and falls back to broadcast anyway. The filters read no MAC address.
BROADCAST = "ff:ff:ff:ff:ff:ff"
JOB = IP(src="10.77.0.1", dst="10.77.0.2") / TCP(sport=5043, dport=10000, flags="S")
UNDERLAY = IP(src="10.9.0.1", dst="10.9.0.2")
UNDERLAY6 = IPv6(src="fd00::1", dst="fd00::2")

KEPT = {
    "vxlan 4789": UNDERLAY / UDP(sport=50000, dport=4789) / VXLAN(vni=42)
    / Ether(dst=BROADCAST) / JOB,
    "vxlan 8472": UNDERLAY / UDP(sport=50000, dport=8472) / VXLAN(vni=42)
    / Ether(dst=BROADCAST) / JOB,
    "vxlan-gpe 4790": UNDERLAY / UDP(sport=50000, dport=4790) / Raw(b"\x0c" + b"\0" * 7) / JOB,
    "geneve 6081": UNDERLAY / UDP(sport=50000, dport=6081) / Raw(b"\0\0\x65\x58" + b"\0" * 4)
    / Ether(dst=BROADCAST) / JOB,
    "erspan (gre)": UNDERLAY / GRE(proto=0x88BE) / Raw(b"\0" * 8) / Ether(dst=BROADCAST) / JOB,
    "gre over ipv6": UNDERLAY6 / GRE(proto=0x0800) / JOB,
    "ip in ip": IP(src="10.9.0.1", dst="10.9.0.2", proto=4) / JOB,
    "ipv4 in ipv6": IPv6(src="fd00::1", dst="fd00::2", nh=4) / JOB,
    "vxlan over ipv6": UNDERLAY6 / UDP(sport=50000, dport=4789) / VXLAN(vni=42)
    / Ether(dst=BROADCAST) / JOB,
}
DROPPED = {"dns": IP(src="10.0.0.1", dst="10.0.0.53") / UDP(sport=40000, dport=53)}


def _kept(expression: str, layers: dict, tagged: bool = False) -> dict[str, bool]:
    frames = [bytes(Ether(dst=BROADCAST) / (Dot1Q(vlan=18) / packet if tagged else packet))
              for packet in layers.values()]
    kept = filter_results(expression, frames, DLT_EN10MB)
    assert kept is not None
    return dict(zip(layers, kept, strict=True))


def test_the_default_filter_keeps_the_tunnels_flowcheck_decodes() -> None:
    assert _kept(PLAIN_FILTER, KEPT) == dict.fromkeys(KEPT, True)
    assert _kept(VLAN_FILTER, KEPT) == dict.fromkeys(KEPT, True)
    assert _kept(VLAN_FILTER, KEPT, tagged=True) == dict.fromkeys(KEPT, True)


def test_the_default_filter_still_leaves_other_udp_out() -> None:
    assert _kept(VLAN_FILTER, DROPPED) == {"dns": False}
    assert _kept(VLAN_FILTER, DROPPED, tagged=True) == {"dns": False}


def test_the_plain_filter_compiles_for_the_any_interface() -> None:
    frame = b"\0" * 16 + bytes(KEPT["vxlan 4789"])  # a cooked header, then IPv4
    kept = filter_results(PLAIN_FILTER, [b"\0\0\0\1\0\6" + b"\0" * 8 + b"\x08\x00"
                                         + bytes(KEPT["vxlan 4789"])], DLT_LINUX_SLL)
    assert kept == [True], frame


def test_the_ethernet_default_keeps_arp_for_an_agent_that_is_down() -> None:
    """agent_unreachable reads the media server's unanswered ARP requests: `live` on an
    Ethernet interface must keep them, tagged or not (the IPv6 twin, neighbour
    solicitations, is ICMPv6: `icmp6`)."""
    from scapy.layers.l2 import ARP

    arp = {"arp": ARP(psrc="10.77.0.1", pdst="10.77.0.9")}
    assert _kept(VLAN_FILTER, arp) == {"arp": True}
    assert _kept(VLAN_FILTER, arp, tagged=True) == {"arp": True}
