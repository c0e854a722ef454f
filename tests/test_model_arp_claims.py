"""What ArpLog keeps of the claims of ARP and neighbour discovery packets
(model.arp_claims): per host and time slice, never per packet, and exact for the 30 s
window verify.link_proof asks about; and the MAC an ARP packet claims with, its body's
sender hardware address whatever the frame's header says (decode.arp)."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import numpy as np
import pytest
from capture_factory import write_pcap
from scapy.all import ARP
from test_connections_util import read_batches

from flowcheck.decode import decode_batch
from flowcheck.decode.arp import NO_HARDWARE
from flowcheck.model import ArpLog, arp_claims
from flowcheck.model.arp_claims import WINDOW, Sighting, gaps
from flowcheck.sources.batch import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2
from flowcheck.verify.link_proof import link_proof

AGENT, MEDIA, ROUTER = "10.77.0.5", "10.77.0.1", "10.77.0.254"
AGENT6, ROUTER6 = "fd77::2", "fd77::fe"
HOST_MAC, PROXY_MAC = 0x020000000005, 0x0200000000FE


def _v4(address: str) -> int:
    return int(ipaddress.IPv4Address(address))


def _v6(addresses: list[str]) -> np.ndarray:
    return np.array([np.frombuffer(ipaddress.IPv6Address(a).packed, ">u4")
                     for a in addresses], np.uint32).reshape(-1, 4)


def test_an_arp_storm_keeps_one_entry_per_host_and_slice() -> None:
    """5,000 replies of the agent over 60 s: counted, and kept as at most three slices'
    first and last packets; one MAC, one address."""
    log = ArpLog((AGENT,))
    n = 5000
    times = 1000.0 + np.linspace(0.0, 60.0, n)
    log.add(np.arange(1, n + 1), times, np.full(n, 2), np.full(n, _v4(AGENT)),
            np.full(n, _v4(MEDIA)), np.full(n, HOST_MAC))
    [(key, sighting)] = log.claims.spoke.items()
    assert key == (AGENT, HOST_MAC)
    assert sighting.count == n
    assert len(sighting.slices) <= int(60.0 // WINDOW) + 2
    assert log.claims.claimants == {AGENT: {HOST_MAC: 1}}
    assert log.claims.by_mac == {HOST_MAC: {_v4(AGENT): 1}}


def test_a_slice_keeps_its_first_and_last_packet_for_the_window() -> None:
    """Packets at 1, 12 and 29 s of one slice: the first and the last are kept (59 s is
    within the window of the last only, -20 s of the first only), the middle one
    counted; 60.5 s is beyond all."""
    sighting = Sighting()
    for frame, ts in ((7, 1.0), (9, 12.0), (8, 29.0)):
        sighting.add(frame, ts)
    assert (len(sighting.slices), sighting.count) == (1, 3)
    kept = sighting.kept()
    assert kept == [(7, 1.0), (8, 29.0)]
    times = np.array([ts for _, ts in kept])
    assert gaps(times, [(59.0, 59.0)]).tolist() == [58.0, 30.0]
    assert gaps(times, [(-20.0, -10.0)]).tolist() == [11.0, 39.0]
    assert (gaps(times, [(60.5, 61.0)]) > WINDOW).all()


def test_gaps_to_overlapping_and_separate_spans() -> None:
    """Two overlapping attempts and a later one: 0 inside any, the distance to the
    nearest otherwise."""
    spans = [(10.0, 17.0), (15.0, 22.0), (40.0, 47.0)]
    times = np.array([0.0, 16.0, 21.0, 30.0, 35.0, 50.0])
    assert gaps(times, spans).tolist() == [10.0, 0.0, 0.0, 8.0, 5.0, 3.0]


def test_a_proxy_answering_for_several_addresses_is_seen_by_its_mac() -> None:
    """The router's MAC answers for the agent and asks from its own address: both
    addresses under one MAC (any address, not only the watched ones); a probe from
    0.0.0.0 claims none."""
    log = ArpLog((AGENT,))
    log.add(np.array([3, 4, 5]), np.array([1.0, 2.0, 3.0]), np.array([2, 1, 1]),
            np.array([_v4(AGENT), _v4(ROUTER), 0]), np.array([_v4(MEDIA)] * 2 + [_v4(AGENT)]),
            np.array([PROXY_MAC, PROXY_MAC, HOST_MAC]))
    assert log.claims.by_mac == {PROXY_MAC: {_v4(AGENT): 3, _v4(ROUTER): 4}}
    assert log.claims.claimants == {AGENT: {PROXY_MAC: 3}}


def test_a_proxy_advertisement_claims_the_address_but_is_not_sent_from_it() -> None:
    """A router's advertisement for the agent (from the router's own address, RFC 4861
    7.2.8) claims it with the router's MAC; the agent's own advertisement with no MAC
    known is kept as sent, with no claim."""
    log = ArpLog((AGENT6,))
    log.add_neighbours(np.array([5, 6]), np.array([1.0, 1.5]), np.array([2, 2]),
                       _v6([ROUTER6, AGENT6]), _v6([AGENT6, AGENT6]),
                       np.array([PROXY_MAC, NO_HARDWARE]))
    assert list(log.claims.spoke) == [(AGENT6, NO_HARDWARE)]
    assert log.claims.claimants == {AGENT6: {PROXY_MAC: 5}}
    assert AGENT6 in log.heard


# The frame's header names another MAC than the ARP body's sender (a router's frame).
HEADER_MAC = b"\x02\x00\x00\x00\x00\x01"
FRAMINGS = {
    "ether": (LINKTYPE_ETHERNET, lambda arp: b"\xff" * 6 + HEADER_MAC + b"\x08\x06" + arp),
    "sll": (LINKTYPE_LINUX_SLL,
            lambda arp: struct.pack(">HHH8s", 0, 1, 6, HEADER_MAC + b"\0\0") + b"\x08\x06"
            + arp),
    "sll2": (LINKTYPE_LINUX_SLL2,
             lambda arp: struct.pack(">HHIHBB8s", 0x0806, 0, 1, 1, 0, 6, HEADER_MAC + b"\0\0")
             + arp),
}


@pytest.mark.parametrize("link", sorted(FRAMINGS))
def test_an_arp_packet_claims_with_its_bodys_mac_on_every_link(tmp_path: Path,
                                                               link: str) -> None:
    linktype, frame = FRAMINGS[link]
    arp = bytes(ARP(op=2, hwsrc="02:00:00:00:00:fe", psrc=AGENT, hwdst="02:00:00:00:00:01",
                    pdst=MEDIA))
    path = write_pcap(tmp_path / f"{link}.pcap", [(1.0, frame(arp)), (2.0, frame(arp))],
                      linktype)
    [batch] = read_batches(path)
    decoded = decode_batch(batch)
    assert decoded.arp.sender.tolist() == [_v4(AGENT)] * 2
    assert decoded.arp.hardware.tolist() == [PROXY_MAC] * 2


def test_a_packet_with_its_mac_is_read_before_a_nearer_one_without() -> None:
    """Within the window, an advertisement whose MAC is known is the proof, though one
    with none (an answer to a unicast solicitation, raw IP) came nearer the SYN."""
    log = ArpLog((AGENT6,))
    log.add_neighbours(np.array([5, 6]), np.array([90.0, 99.0]), np.array([2, 2]),
                       _v6([AGENT6, AGENT6]), _v6([AGENT6, AGENT6]),
                       np.array([HOST_MAC, NO_HARDWARE]))
    proof = link_proof(log.claims, AGENT6, [(100.0, 107.0)])
    assert proof is not None and proof.up and proof.frame == 5


def test_a_mac_left_out_past_the_cap_is_no_proof(monkeypatch: pytest.MonkeyPatch) -> None:
    """With more MACs than are kept, a MAC whose other addresses were not kept may be a
    proxy's: no "up" claim; the same MAC kept is one."""
    def replies(log: ArpLog) -> ArpLog:
        """Two other hosts' replies, then the agent's, one batch each."""
        for frame, (mac, address) in enumerate(((0x020000000010, "10.77.0.10"),
                                                 (0x020000000011, "10.77.0.11"),
                                                 (HOST_MAC, AGENT)), start=1):
            log.add(np.array([frame]), np.array([96.0 + frame]), np.array([2]),
                    np.array([_v4(address)]), np.array([_v4(MEDIA)]), np.array([mac]))
        return log

    monkeypatch.setattr(arp_claims, "SENDERS_KEPT", 2)
    log = replies(ArpLog((AGENT,)))
    assert log.claims.senders_full and HOST_MAC not in log.claims.by_mac
    proof = link_proof(log.claims, AGENT, [(100.0, 107.0)])
    assert proof is not None and not proof.up
    assert "more MACs than flowcheck keeps" in proof.words
    monkeypatch.setattr(arp_claims, "SENDERS_KEPT", 3)
    proof = link_proof(replies(ArpLog((AGENT,))).claims, AGENT, [(100.0, 107.0)])
    assert proof is not None and proof.up
