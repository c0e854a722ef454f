"""Merged Linux cooked captures: SYNs marked leaving their sender and arriving at the host
they were addressed to (flowcheck.connections.syn_ways, flowcheck.verify.arrival).

Field check 53, seed 116 run 9 (captures/field53-matrix/two-jobs-tls-start-data-syns-
dropped-by-agent-merged-sll2): two hosts' `tcpdump -i any` captures merged hold each SYN
twice, marked PACKET_OUTGOING on the media server and PACKET_HOST on the agent at the
same hop limit; `data_unanswered` asked for "a capture on fd77::3", which the file held.
The captures below are built on bytes: a media server M's connection to port 22 of an
agent A (payload both ways), then three control SYNs to A's NDMP port never answered,
each packet copied as the capture points the case puts in the file saw it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from capture_factory import write_pcap
from scapy.layers.inet import TCP
from scapy.layers.inet6 import IPv6
from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.connections import track_connections
from flowcheck.connections.syn_ways import (
    ARRIVED,
    ELSEWHERE,
    OTHER_TTL,
    SENT,
    pack_marks,
    ways,
)
from flowcheck.pipeline import Analysis, analyze, read_traffic

ROOT = Path(__file__).resolve().parents[1]
CASE = (ROOT / "captures" / "field53-matrix"
        / "two-jobs-tls-start-data-syns-dropped-by-agent-merged-sll2.pcapng.gz")
M, A = "fd77::1", "fd77::3"
HOST, OTHERHOST, OUTGOING = 0, 3, 4
# Per packet: (microseconds after it was sent, packet type, hop limit) of each copy.
Copies = Callable[[bool, bool], list[tuple[int, int, int]]]


def _sll2(data: bytes, kind: int) -> bytes:
    return struct.pack(">HHIHBB8s", 0x86DD, 0, 2, 1, kind, 6, b"\x02\0\0\0\0\x01\0\0") + data


def _sll(data: bytes, kind: int) -> bytes:
    return struct.pack(">HHH8sH", kind, 1, 6, b"\x02\0\0\0\0\x01\0\0", 0x86DD) + data


def _capture(path: Path, copies: Copies, link: str = "sll2") -> Path:
    """Write the exchange (module docstring) with each packet's copies as `copies(sent
    by M, a control SYN)` gives them."""
    frame, linktype = (_sll2, 276) if link == "sll2" else (_sll, 113)
    packets: list[tuple[float, bytes]] = []
    now = 1000.0

    def put(src: str, sport: int, dport: int, flags: str, seq: int, ack: int,
            payload: bytes = b"", syn: bool = False) -> None:
        nonlocal now
        dst = A if src == M else M
        for after, kind, hlim in copies(src == M, syn):
            data = bytes(IPv6(src=src, dst=dst, hlim=hlim)
                         / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack)
                         / payload)
            packets.append((now + after * 1e-6, frame(data, kind)))
        now += 0.01

    put(M, 40000, 22, "S", 100, 0)
    put(A, 22, 40000, "SA", 500, 101)
    put(M, 40000, 22, "A", 101, 501)
    put(M, 40000, 22, "PA", 101, 501, b"x" * 100)
    put(A, 22, 40000, "PA", 501, 201, b"y" * 50)
    put(M, 40000, 22, "A", 201, 551)
    for wait in (1.0, 2.0, 4.0):  # the control SYN and its resends
        put(M, 5001, 10000, "S", 9000, 0, syn=True)
        now += wait
    put(M, 40000, 22, "FA", 201, 551)
    put(A, 22, 40000, "FA", 551, 202)
    put(M, 40000, 22, "A", 202, 552)
    packets.sort(key=lambda p: p[0])
    return write_pcap(path, packets, linktype)


def _hosts(_by_m: bool, _syn: bool) -> list[tuple[int, int, int]]:
    """Both hosts' captures merged: outgoing on the sender, host on the receiver."""
    return [(0, OUTGOING, 64), (20, HOST, 64)]


def _router(by_m: bool, syn: bool) -> list[tuple[int, int, int]]:
    """M's capture and a router R's (`-i any`) between M and A merged; R's forward chain
    drops the control SYNs: they arrive at R (host: addressed to R) and never leave."""
    if by_m:
        return [(0, OUTGOING, 64), (20, HOST, 64)] + ([] if syn else [(40, OUTGOING, 63)])
    return [(0, HOST, 64), (20, OUTGOING, 63), (40, HOST, 63)]


def _bridge(by_m: bool, syn: bool) -> list[tuple[int, int, int]]:
    """M's capture and a bridge's (`-i any`) between M and A merged; the bridge drops the
    control SYNs: they arrive at its port marked other-host and never leave."""
    if by_m:
        return [(0, OUTGOING, 64), (20, OTHERHOST, 64)] + ([] if syn else [(40, OUTGOING, 64)])
    return [(0, OTHERHOST, 64), (20, OUTGOING, 64), (40, HOST, 64)]


def _analysed(tmp_path: Path, copies: Copies, link: str = "sll2") -> Analysis:
    capture = _capture(tmp_path / f"{link}.pcap", copies, link)
    config_path = tmp_path / "flowcheck.toml"
    config_path.write_text(f'media_servers = ["{M}"]\nremote_agents = ["{A}"]\n')
    config = build_config(load_file(config_path))
    return analyze(read_traffic([str(capture)], config), config)


def _unanswered(analysis: Analysis) -> tuple[str, str]:
    [finding] = [f for f in analysis.findings if f.code == "control_unanswered"]
    return finding.message, finding.fix


@pytest.mark.parametrize("link", ["sll2", "sll"])
def test_syns_marked_arriving_at_the_agent_are_its_own_firewalls_drop(
        tmp_path: Path, link: str) -> None:
    message, fix = _unanswered(_analysed(tmp_path, _hosts, link))
    assert message.startswith(
        f"The media server {M} sent 3 SYNs to the agent's NDMP port [{A}]:10000 and never got "
        f"an answer: {A}'s own firewall drops them: the SYNs reached {A} (the 3 are in the "
        f"capture 6 times at one hop limit, 64: its Linux cooked headers mark one copy "
        f"outgoing, captured on {M} as it left, and one host, captured on the host it was "
        f"addressed to as it arrived, which is {A} with no router between them")
    assert "where the SYNs arrived and no SYN-ACK left: its input chain drops" in message
    assert "unless it was taken on" not in message
    # The NDMP port stays one port (newuser61 named the range for a data port only).
    assert fix.startswith(f"On {A} itself (the SYNs reached its capture point), before any "
                          "drop rule: accept the connection from fd77::1 to port 10000 in "
                          "its input chain")
    assert f"a capture on {A} shows" not in fix  # the file holds it


def test_a_routers_capture_of_the_syns_arriving_is_no_capture_on_the_agent(
        tmp_path: Path) -> None:
    # R marks the SYNs host at M's hop limit, as the agent would; its forwarding of the
    # other packets one lower (routed_points) shows a router captured.
    message, _fix = _unanswered(_analysed(tmp_path, _router))
    assert "own firewall drops them" not in message
    assert "Linux cooked" not in message
    assert f"something between {M} and {A} drops its SYNs" in message


def test_a_bridges_ports_mark_arrivals_other_host(tmp_path: Path) -> None:
    message, _fix = _unanswered(_analysed(tmp_path, _bridge))
    assert "own firewall drops them" not in message
    assert "Linux cooked" not in message


def _agent_in_only(by_m: bool, _syn: bool) -> list[tuple[int, int, int]]:
    """M's whole capture and A's `tcpdump -Q in` merged: A's packets only as M took them."""
    return [(0, OUTGOING, 64), (20, HOST, 64)] if by_m else [(20, HOST, 64)]


def test_an_agents_capture_of_arrivals_only_cannot_show_no_syn_ack_left(
        tmp_path: Path) -> None:
    # The SYNs reached A's capture point, but one that takes arriving packets only would
    # not hold A's SYN-ACKs: no SYN-ACK of A's is in the set marked leaving it.
    message, fix = _unanswered(_analysed(tmp_path, _agent_in_only))
    assert "own firewall drops them" not in message
    assert "Linux cooked" not in message
    assert not fix.startswith(f"On {A} itself")


def test_the_sides_keep_what_the_marks_show(tmp_path: Path) -> None:
    # The control SYNs', the port-22 connection's SYN's and its SYN-ACK's marks.
    for copies, control, syn, synack in (
            (_hosts, SENT | ARRIVED, SENT | ARRIVED, SENT | ARRIVED),
            # R's forwarding one lower; A's SYN-ACK arrived at R at 64, left it at 63.
            (_router, SENT | ARRIVED, SENT | ARRIVED | OTHER_TTL, SENT | OTHER_TTL),
            # The bridge's egress copy is marked outgoing too: its arrival, other-host.
            (_bridge, SENT | ELSEWHERE, SENT | ELSEWHERE, SENT | ARRIVED | ELSEWHERE)):
        path = _capture(tmp_path / f"{copies.__name__}.pcap", copies)
        by_port = {c.resp_p: c for c in track_connections([str(path)]).connections}
        got = (by_port[10000].orig_syn_ways, by_port[22].orig_syn_ways,
               by_port[22].resp_syn_ways)
        assert got == (control, syn, synack), copies.__name__
        assert by_port[10000].resp_syn_ways == 0  # never answered


def test_one_hosts_capture_keeps_nothing(tmp_path: Path) -> None:
    # No copies: nothing to tell a point by, no memory spent on the marks.
    path = _capture(tmp_path / "one.pcap", lambda by_m, syn: [(0, OUTGOING if by_m else HOST,
                                                                64)])
    assert all(c.orig_syn_ways == 0 for c in track_connections([str(path)]).connections)


def _ways(*copies: tuple[int, int]) -> int:
    """ways() of one direction's SYN copies, (packet type, TTL) each."""
    kinds, ttls = zip(*copies, strict=True)
    [packed] = pack_marks(1, np.zeros(len(copies), np.int64), np.array(kinds, np.int64),
                          np.array(ttls, np.int64)).tolist()
    return ways(packed)


def test_ways_reads_arrival_at_the_ttl_it_left_with() -> None:
    assert _ways((OUTGOING, 64), (HOST, 64)) == SENT | ARRIVED
    # Host one lower than outgoing: a capture beyond a router, whose host it may be.
    assert _ways((OUTGOING, 64), (HOST, 63)) == SENT | OTHER_TTL
    assert _ways((HOST, 64)) == 0  # arriving, never seen leaving
    assert _ways((OUTGOING, 64), (OTHERHOST, 64)) == SENT | ELSEWHERE
    # A router's forwarding after the sender's copy: arrived at the router, left lower.
    assert _ways((OUTGOING, 64), (HOST, 64), (OUTGOING, 63)) == SENT | ARRIVED | OTHER_TTL


def test_field53_run9_data_syns_captured_on_the_agent_blame_its_firewall() -> None:
    analysis = shared_analysis(CASE)
    assert analysis.verdict == "fail"
    [finding] = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert finding.frames[:3] == [478, 2380, 2382]
    # The capture ended at the third SYN (task resentsyn): what it cannot show, said.
    assert (f"got no answer in the capture (3 SYNs over 2.05 s; it ends with the last, "
            "so whether that one or a later resend got through cannot be seen): "
            f"{A}'s own firewall drops them: the SYNs reached {A} (the 3 "
            "are in the capture 6 times at one hop limit, 64: its Linux cooked headers mark one "
            f"copy outgoing, captured on {M} as it left") in finding.message
    assert "unless it was taken on" not in finding.message
    assert finding.fix.startswith(f"On {A} itself (the SYNs reached its capture point)")
    assert "otherwise a capture on" not in finding.fix
    # The data port is drawn from the agent range for each connection (the other job's
    # were 6001-6005): the rule names the range, not the one port (newuser61).
    assert finding.fix.startswith(
        f"On {A} itself (the SYNs reached its capture point), before any drop rule: accept "
        f"the connection from {M} to ports 6001-6100 (the agent range: this connection's "
        "port 6001 is drawn from it anew each time) in its input chain")
