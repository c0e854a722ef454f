"""tests/scapy_files against scapy, whose rdpcap and wrpcap it stands in for in the tests
that edit stored captures: the same packets read (bytes, times, wire lengths), copies
a test may change without changing the next test's, and the same file written."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from scapy.all import IP, TCP, UDP, Ether, rdpcap, wrpcap
from scapy_files import read_packets, write_packets

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
STORED = [CAPTURES / "lab" / "clean-3-resources.pcap",
          CAPTURES / "lab" / "data-port-dropped.pcap",
          CAPTURES / "lab-trial28-addresses" / "dualstack-v6ctl-v4data.pcap.gz"]


def _records(packets: list) -> list[tuple[bytes, object, object]]:
    return [(bytes(p), p.time, p.wirelen) for p in packets]


@pytest.mark.parametrize("capture", STORED, ids=[p.name for p in STORED])
def test_the_packets_read_are_rdpcaps_and_each_read_its_own(capture: Path) -> None:
    expected = _records(list(rdpcap(str(capture))))
    first = read_packets(capture)
    assert _records(first) == expected
    first[0].time += 100  # a test's edit of its copy
    first[0][Ether].src = "02:00:00:00:00:99"
    assert _records(read_packets(str(capture))) == expected  # read again: from the kept
    assert _records(read_packets(capture, 5)) == expected[:5]


def test_a_test_s_own_file_is_read_again_when_written_again(tmp_path: Path) -> None:
    packets = read_packets(STORED[0], 10)
    path = tmp_path / "own.pcap"
    wrpcap(str(path), packets[:5])
    assert len(read_packets(path)) == 5
    wrpcap(str(path), packets[5:])
    assert _records(read_packets(path)) == _records(packets[5:])


def test_the_file_written_is_wrpcaps(tmp_path: Path) -> None:
    packets = read_packets(STORED[0])
    edited = [p.copy() for p in packets[:40]]
    for packet in edited[10:]:
        packet.time = packet.time + Decimal("0.123456")  # moved, as the clock tests do
    reset = edited[-1].copy()
    reset[TCP].remove_payload()
    reset[TCP].flags = "R"
    del reset[IP].len, reset[IP].chksum, reset[TCP].chksum
    later = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
             / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=5353, dport=5353))
    later.time = float(packets[-1].time) + 5.0
    v6 = rdpcap(str(STORED[2]))[:20]
    for written in (packets[:100], [*edited, reset, later], later, list(v6)):
        wrpcap(str(tmp_path / "scapy.pcap"), written)
        path = write_packets(tmp_path / "fast.pcap", written)
        assert path.read_bytes() == (tmp_path / "scapy.pcap").read_bytes()


def test_a_packet_of_many_is_refused(tmp_path: Path) -> None:
    # wrpcap writes one record per port here; write_packets would write one packet.
    with pytest.raises(ValueError, match="not one packet"):
        write_packets(tmp_path / "x.pcap", [IP(dst="10.0.0.1") / TCP(dport=[80, 443])])
