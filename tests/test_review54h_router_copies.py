"""Review 54h: copies a router forwarded, captured at one point (captures/review54h).

A routing loop captured at one point is not a router's two captures.

captures/review54h (README.md there): two routers each taking the other for the next
hop toward 10.54.9.0/24, the media server's control SYNs captured at one bridge port
between them (plain Ethernet), each 63 times within 0.06 ms, one TTL lower at each
capture, the MAC pairs alternating. Field check 61's reading of copies one TTL lower
under another MAC pair (RelayCopies.near_macs_routed) read them "a router's several
interfaces captured at once ..., or two capture points' captures a router apart ...
merged ... Not copies a device duplicated", fix "nothing to fix in the network": the
network itself carried each SYN round and round. A packet under the MAC pair of its
copy two captures before (decode.legs.crossed_again) crossed one link leg twice, which
no router's two captures or two points' merged files show.

A router sending each packet back out the port it came in (two subnets on one segment, a
router-on-a-stick) captured at that one port read "a router's several interfaces
captured at once ..., or two capture points' captures ...", fix "mirror or capture one
port of the router": what this capture was. Now that third place is named, and the fix
keeps one side of the router (one host's MAC address), which each packet crosses once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from stored import shared_analysis

from flowcheck.decode.legs import crossed_again

HERE = Path(__file__).resolve().parents[1] / "captures" / "review54h"
LOOP = HERE / "control-syns-in-routing-loop-one-bridge-port-ether.pcap.gz"
STICK = HERE / "copies-routed-back-out-one-router-port-two-subnets-one-segment-ether.pcap.gz"


def test_a_routing_loop_at_one_point_is_not_read_as_a_routers_two_captures() -> None:
    analysis = shared_analysis(LOOP)
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    assert copies.message.startswith(
        "124 of the 128 TCP packets and ICMP errors compared are copies")
    assert "link headers tell where they were captured" not in copies.message
    assert "Not copies a device duplicated" not in copies.message
    assert "or the network delivered them twice" in copies.message
    assert not copies.fix.startswith("nothing to fix in the network")


def test_crossed_again_needs_the_same_mac_pair_two_captures_apart() -> None:
    """Copies 0 -> 1 -> 2 -> 3 in a chain: under pairs X, Y, X, Y (a loop) each from the
    third is flagged; X, Y, Z (three points a router apart each) none; a pair part of 0
    (no MAC pair read) never."""
    first, then = np.array([0, 1, 2]), np.array([1, 2, 3])
    x, y, z = 5, 7, 9  # low 32 bits: the pair part, named part 0
    assert crossed_again(first, then, np.array([x, y, x, y])).tolist() == [False, True, True]
    assert crossed_again(first, then, np.array([x, y, z, 11])).tolist() == [False] * 3
    assert crossed_again(first, then, np.array([x, y, 0, 0])).tolist() == [False] * 3
    assert crossed_again(np.array([], np.int64), np.array([], np.int64),
                         np.array([x])).tolist() == []


def test_a_router_port_sending_packets_back_out_is_named_and_one_side_kept() -> None:
    analysis = shared_analysis(STICK)
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    assert copies.message.startswith("19 of the 38 TCP packets compared are copies")
    assert ("at a TTL one lower: captured again after a router forwarded it"
            in copies.message)
    assert ("; one port of a router that sends each back out the way it came (a "
            "router-on-a-stick: its VLANs on one trunk, or two subnets on one segment), "
            "captured there; or two capture points' captures a router apart"
            in copies.message)
    assert copies.fix.startswith("nothing to fix in the network for the copies; keep both "
                                 "sides of the router together (what one point saw and the "
                                 "other did not places a loss between them")
    assert ("to judge one side alone, keep the frames to and from one host's MAC address "
            '(tshark -r FILE -Y "eth.addr == MAC" -w ONE.pcap)') in copies.fix
    assert "or mirror or capture one port of the router" not in copies.fix
