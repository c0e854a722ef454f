"""capture_duplicates' count is of the packets compared for copies, not of every packet.

Only TCP packets and ICMP errors quoting TCP are compared (flowcheck.connections.copies,
icmp_copies); ARP, neighbour discovery and UDP are not, though a capture of two
interfaces holds them twice too. Field check 72 (lab matrix seed 135 run 15: IPv6, both
hosts' dumpcap merged keeping both interfaces) read "4 of 26 packets are copies" of 8
TCP packets and 18 neighbour discovery packets, each twice: a reader took the other 22
for packets captured once. The message now counts what was compared ("4 of the 8 TCP
packets compared") and says how many packets were not compared.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, wrpcap
from scapy.layers.inet6 import ICMPv6ND_NS, IPv6

from flowcheck.config import build_config
from flowcheck.pipeline import analyze, read_traffic

M, A = "10.77.0.1", "10.77.0.2"
M_MAC, A_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
COPY_LAG = 10e-6  # each packet's copy, seconds after it (a SPAN session's microseconds)


def _tcp(ip_id: int, src: str, dst: str, sport: int, dport: int, flags: str, seq: int,
         ack: int, payload: bytes = b"") -> Ether:
    """One TCP packet between M and A (IPv4 ID `ip_id`: one of its own, so a copy)."""
    macs = (M_MAC, A_MAC) if src == M else (A_MAC, M_MAC)
    return (Ether(src=macs[0], dst=macs[1]) / IP(src=src, dst=dst, id=ip_id)
            / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack) / payload)


def _capture(path: Path, icmp: bool) -> Path:
    """A pcap of each packet twice, COPY_LAG apart: M's NDMP control connection's
    handshake and a request (4 TCP packets), an ARP request and answer, a UDP datagram and
    an IPv6 neighbour solicitation (4 packets never compared); with `icmp`, also A's ICMP
    port unreachable quoting M's SYN to a closed port (an ICMP error, compared)."""
    packets = [
        Ether(src=M_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, psrc=M, pdst=A, hwsrc=M_MAC),
        Ether(src=A_MAC, dst=M_MAC) / ARP(op=2, psrc=A, pdst=M, hwsrc=A_MAC, hwdst=M_MAC),
        _tcp(101, M, A, 40000, 10000, "S", 1000, 0),
        _tcp(201, A, M, 10000, 40000, "SA", 5000, 1001),
        _tcp(102, M, A, 40000, 10000, "A", 1001, 5001),
        _tcp(103, M, A, 40000, 10000, "PA", 1001, 5001, b"\x80\x00\x00\x18" + bytes(24)),
        Ether(src=M_MAC, dst=A_MAC) / IP(src=M, dst=A, id=104) / UDP(sport=5353, dport=5353)
        / (b"x" * 20),
        Ether(src=M_MAC, dst="33:33:ff:00:00:02")
        / IPv6(src="fe80::1", dst="ff02::1:ff00:2") / ICMPv6ND_NS(tgt="fe80::2"),
    ]
    if icmp:
        syn = IP(src=M, dst=A, id=105) / TCP(sport=40001, dport=5001, flags="S", seq=77)
        packets.append(Ether(src=A_MAC, dst=M_MAC) / IP(src=A, dst=M, id=202)
                       / ICMP(type=3, code=3) / bytes(syn))
    twice = []
    for index, packet in enumerate(packets):
        for lag in (0.0, COPY_LAG):
            copy = packet.copy()
            copy.time = 1_700_000_000 + index * 0.01 + lag
            twice.append(copy)
    wrpcap(str(path), twice)
    return path


@pytest.mark.parametrize("icmp", [False, True])
def test_the_count_is_of_the_packets_compared(tmp_path: Path, icmp: bool) -> None:
    """Every packet twice: the TCP packets' and ICMP error's copies are counted against
    the TCP packets and ICMP errors (tshark's own count of them), and the packets never
    compared (ARP, UDP, neighbour discovery, twice too) are said apart, not folded into a
    denominator that reads them as captured once ("4 of 16 packets are copies")."""
    path = _capture(tmp_path / "twice.pcap", icmp)
    shown = subprocess.run(["tshark", "-r", str(path), "-Y", "tcp or icmp"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    compared = 8 + 2 * icmp
    assert len(shown) == compared  # tshark's TCP packets and ICMP errors
    config = build_config({})
    analysis = analyze(read_traffic([str(path)], config), config)
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    what = "TCP packets and ICMP errors" if icmp else "TCP packets"
    assert copies.message.startswith(
        f"{compared // 2} of the {compared} {what} compared are copies of a packet captured "
        "just before them in the same direction"), copies.message
    assert copies.message.endswith(
        ". The capture's 8 other packets (ARP, neighbour discovery, UDP and any other that "
        "is neither TCP nor an ICMP error quoting TCP) were not compared: copies among them "
        "are not counted."), copies.message
    assert f"of {compared + 8} packets" not in copies.message
