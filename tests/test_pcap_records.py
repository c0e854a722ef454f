"""tests/pcap_records against scapy, whose rdpcap/wrpcap it stands in for in the tests
that edit stored captures (test_clock_step_three_way, test_verify_stall_remains)."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from pcap_records import moved_back, read_records, tcp_of, write_records
from scapy.all import TCP, rdpcap, wrpcap

STORED = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-threeway"


@pytest.fixture(params=["pcap", "pcapng"])
def capture(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A stored three-way capture (gzipped pcap), or editcap's pcapng of it cut to 96
    bytes a packet (wire lengths longer than the frames)."""
    stored = STORED / "C-v2-3way-bridge.pcap.gz"
    if request.param == "pcap":
        return stored
    cut = tmp_path / "cut.pcapng"
    subprocess.run(["editcap", "-s", "96", str(stored), str(cut)], check=True,
                   capture_output=True)
    return cut


def test_records_write_what_scapy_writes(tmp_path: Path, capture: Path) -> None:
    linktype, records = read_records(capture)
    packets = rdpcap(str(capture))
    kept = write_records(tmp_path / "ours.pcap", linktype, records[3:-3])
    wrpcap(str(tmp_path / "scapy.pcap"), packets[3:-3])
    assert kept.read_bytes() == (tmp_path / "scapy.pcap").read_bytes()
    for packet in packets[20:]:
        packet.time = Decimal(packet.time) - Decimal("0.05")
    moved = write_records(tmp_path / "moved.pcap", linktype, moved_back(records, 20, 50_000))
    wrpcap(str(tmp_path / "scapy-moved.pcap"), packets)
    assert moved.read_bytes() == (tmp_path / "scapy-moved.pcap").read_bytes()


def test_tcp_fields_are_scapys(capture: Path) -> None:
    ours = [tcp_of(r.data) for r in read_records(capture)[1]]
    theirs = [(p[TCP].sport, p[TCP].dport, int(p[TCP].flags) & 0xFF,
               len(p[TCP].payload)) if TCP in p else None for p in rdpcap(str(capture))]
    assert any(theirs)
    assert [t and (t.sport, t.dport, t.flags, t.payload) for t in ours] == theirs
