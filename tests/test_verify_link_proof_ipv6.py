"""An IPv6 agent's neighbour advertisement as proof it is up (verify.link_proof), on
field check 53's run 20 (captures/field53-matrix): fd77::2 sent no TCP packet, its
output chain dropping its control SYN-ACKs, and its advertisement (frame 6) answered the
media server's solicitation 8 microseconds before the first SYN: "up at that address".
The same advertisement 100 s earlier, beside a router's advertisement for the address,
or with no MAC the capture can read (raw IP, its link-layer address option removed)
says less; the option removed, the frame's header names the MAC (Ethernet, Linux cooked
v1 and v2: `tcpdump -i any`).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from capture_factory import write_pcap
from scapy.all import Ether, ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6, Packet
from scapy_files import read_packets
from stored import stored_analysis

from flowcheck.model import Finding
from flowcheck.sources.batch import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
)

ROOT = Path(__file__).resolve().parents[1]
NAME = "two-jobs-control-synacks-dropped-by-agent-ipv6"
CAPTURE = ROOT / "captures" / "field53-matrix" / f"{NAME}.pcap.gz"
CONFIG = CAPTURE.with_name(f"{NAME}.toml")
AGENT, ROUTER, ROUTER_MAC = "fd77::2", "fd77::fe", "02:00:00:00:00:fe"
ADVERT = 5  # index of fd77::2's advertisement (frame 6)
UP = "so it is up and at that address on the capture's network"
LINKS = {"ether": LINKTYPE_ETHERNET, "sll": LINKTYPE_LINUX_SLL, "sll2": LINKTYPE_LINUX_SLL2,
         "raw": LINKTYPE_RAW}
OUTGOING = 4  # a Linux cooked capture's packet type: sent by the capturing host


def _frame(packet: Packet, link: str) -> bytes:
    """`packet` (Ethernet) in `link`'s framing, the cooked captures naming its source
    MAC as `tcpdump -i any` does."""
    ip = bytes(packet[IPv6])
    mac = bytes.fromhex(packet[Ether].src.replace(":", "")) + b"\0\0"
    if link == "sll":
        return struct.pack(">HHH8s", OUTGOING, 1, 6, mac) + b"\x86\xdd" + ip
    if link == "sll2":
        return struct.pack(">HHIHBB8s", 0x86DD, 0, 1, 1, OUTGOING, 6, mac) + ip
    return ip if link == "raw" else bytes(packet)


def _analysed(tmp_path: Path, packets: list[Packet], link: str = "ether") -> tuple[Finding, int]:
    """The capture's control_unanswered, `packets` written in `link`'s framing, and the
    frame number of fd77::2's advertisement in it."""
    packets = sorted(packets, key=lambda p: float(p.time))
    path = write_pcap(tmp_path / f"{link}.pcap",
                      [(float(p.time), _frame(p, link)) for p in packets], LINKS[link])
    frame = 1 + next(i for i, p in enumerate(packets)
                     if ICMPv6ND_NA in p and p[IPv6].src == AGENT)
    analysis = stored_analysis(path, config_path=CONFIG)
    [finding] = [f for f in analysis.findings if f.code == "control_unanswered"]
    return finding, frame


def _without_option(packets: list[Packet]) -> list[Packet]:
    """The capture with fd77::2's advertisement stripped of its target link-layer
    address option (an answer to a unicast solicitation carries none, RFC 4861 7.2.4)."""
    advert = packets[ADVERT]
    assert advert[IPv6].src == AGENT and ICMPv6NDOptDstLLAddr in advert
    bare = Ether(src=advert[Ether].src, dst=advert[Ether].dst) / IPv6(
        src=AGENT, dst=advert[IPv6].dst, hlim=255) / ICMPv6ND_NA(
        tgt=AGENT, R=0, S=1, O=1)
    bare.time = advert.time
    return [*packets[:ADVERT], bare, *packets[ADVERT + 1:]]


def _assert_not_said_up(finding: Finding) -> None:
    assert "fd77::2 sent no TCP packet in the whole capture; the capture holds a " \
        "neighbour discovery packet" in finding.message
    assert UP not in finding.message
    assert "is down, is not at that address" in finding.message
    assert finding.fix.startswith("Check that fd77::2 is up")


@pytest.mark.parametrize("link", ["ether", "sll", "sll2"])
def test_the_frame_header_names_the_mac_an_advertisement_leaves_out(
        tmp_path: Path, link: str) -> None:
    finding, frame = _analysed(tmp_path, _without_option(read_packets(CAPTURE)), link)
    assert (f"fd77::2 sent no TCP packet in the whole capture, though it sent a neighbour "
            f"discovery packet from that address (frame {frame}), {UP}") in finding.message
    assert finding.fix.startswith("Allow TCP from fd77::1 to fd77::2 port 10000 (NDMP port)")


def test_no_mac_in_message_or_frame_does_not_say_up(tmp_path: Path) -> None:
    """Raw IP, the option removed: nothing names the sender's MAC, so nothing tells the
    agent's advertisement from another host's with its address."""
    finding, frame = _analysed(tmp_path, _without_option(read_packets(CAPTURE)), "raw")
    assert (f"the capture holds a neighbour discovery packet from that address (frame {frame}, "
            "0.00811 ms before the first SYN), but neither the message nor its frame's header "
            "names the sender's MAC address") in finding.message
    _assert_not_said_up(finding)


def test_an_advertisement_100_s_before_the_syns_does_not_say_up(tmp_path: Path) -> None:
    packets = read_packets(CAPTURE)
    for packet in packets[ADVERT - 1:ADVERT + 1]:  # the solicitation and its answer
        packet.time -= 100
    finding, frame = _analysed(tmp_path, packets)
    assert (f"the capture holds a neighbour discovery packet from that address (frame {frame}), "
            "100 s before the first SYN: more than 30 s from the attempts") \
        in finding.message
    _assert_not_said_up(finding)


@pytest.mark.parametrize("link", ["ether", "sll2"])
def test_a_routers_advertisement_for_the_address_does_not_say_up(
        tmp_path: Path, link: str) -> None:
    """A router advertising fd77::2 from its own address with its own MAC (a proxy's
    advertisement, Override clear: RFC 4861 7.2.8) beside the agent's: two MACs claim
    the address. In the cooked capture, the agent's MAC is its frame header's."""
    packets = read_packets(CAPTURE)
    advert = packets[ADVERT]
    proxy = Ether(src=ROUTER_MAC, dst=advert[Ether].dst) / IPv6(
        src=ROUTER, dst=advert[IPv6].dst, hlim=255) / ICMPv6ND_NA(
        tgt=AGENT, R=1, S=1, O=0) / ICMPv6NDOptDstLLAddr(lladdr=ROUTER_MAC)
    proxy.time = advert.time - 0.5
    if link == "sll2":
        packets = _without_option(packets)
    finding, frame = _analysed(tmp_path, [*packets, proxy], link)
    proxy_frame = 1 + sorted(float(p.time) for p in [*packets, proxy]).index(float(proxy.time))
    assert (f"the capture holds a neighbour discovery packet from that address (frame {frame}, "
            f"0.00811 ms before the first SYN) with the MAC address {advert[Ether].src}, but "
            f"{ROUTER_MAC} (frame {proxy_frame}) claimed that address too") in finding.message
    _assert_not_said_up(finding)
