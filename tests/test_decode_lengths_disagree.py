"""Records whose lengths contradict each other: corrupt, not cut by the snap length.

tcpdump's test capture heapoverflow-tcp_print.pcap (a fuzzed file) holds one record of
64 bytes whose header says 262,144 were on the wire, carrying an IPv4 header whose total
length is 12,336: the frame would run 249,794 bytes past its datagram, far more than
any padding, FCS or trailer. flowcheck read it as a snap-length cut and listed a TCP
connection of 12,256 bytes that no byte of the capture shows (field check; tshark reads
the same tcp.len, and leaves it out of its conversations only because the TCP options
are cut, as it does for a sound snap-length cut). Such a record is undecodable
("inconsistent lengths"), in any layout; the frames cut by the
snap length, cut before the capture (an IP length beyond the frame), offload
super-frames (IP length 0) and frames with a trailer still count as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from capture_factory import link_frame, pcap_bytes
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from flowcheck.cli.main import run

T0 = 1_700_000_000.0
A, B = "10.1.0.1", "10.1.0.2"
A6, B6 = "fd00::1", "fd00::2"
SNAP = 64  # the fuzzed record's; an IPv6 header is 20 bytes longer: SNAP + 20
FUZZED_WIRE = 262_144  # the fuzzed record's original length: tcpdump's largest snap length


def document(tmp_path: Path, records: list[tuple[bytes, int]],
             capsys: pytest.CaptureFixture[str], snap: int = SNAP) -> dict:
    """`flowcheck connections --format json` of a pcap of (frame, wire length) records
    cut at `snap` bytes."""
    path = tmp_path / "records.pcap"
    path.write_bytes(pcap_bytes([(T0 + n, frame[:snap]) for n, (frame, _) in enumerate(records)],
                                snaplen=snap, wirelens=[wire for _, wire in records]))
    assert run(["connections", str(path), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def fuzzed_shape(*, version: int = 4, vlan: bool = False, udp: bool = False) -> bytes:
    """The fuzzed record's shape: an IP length of 12,336 (IPv4 total, IPv6 payload), a
    60-byte TCP header of one unknown 40-byte option, no payload in the frame."""
    upper = (UDP(sport=12336, dport=12336) if udp else
             TCP(sport=12336, dport=12336, flags="AU", dataofs=15, options=[(48, b"0" * 38)]))
    ip = (IP(src=A, dst=B, len=12336, flags="DF") if version == 4 else
          IPv6(src=A6, dst=B6, plen=12336))
    return link_frame(bytes(ip / upper), vlan=[7] if vlan else None, ipv6=version == 6)


def in_vxlan(inner: bytes, wire: int) -> bytes:
    """`inner` in VXLAN whose outer IPv4 and UDP lengths agree with a `wire`-byte frame."""
    outer = IP(src="192.0.2.1", dst="192.0.2.2", len=wire - 14) / UDP(
        sport=50000, dport=4789, len=wire - 34) / VXLAN(vni=5)
    return link_frame(bytes(outer) + inner)


VXLAN_WIRE = 60_000  # an outer IPv4 datagram can say no more than 65,535
SHAPES = {  # name: (the record's bytes, its wire length, snap length)
    "ipv4": (fuzzed_shape(), FUZZED_WIRE, SNAP),
    "ipv4-vlan": (fuzzed_shape(vlan=True), FUZZED_WIRE, SNAP + 4),
    "ipv6": (fuzzed_shape(version=6), FUZZED_WIRE, SNAP + 20),
    "udp": (fuzzed_shape(udp=True), FUZZED_WIRE, SNAP),
    # The inner datagram ends 47,600 bytes before the outer one, which fits the frame.
    "in-vxlan": (in_vxlan(fuzzed_shape(), VXLAN_WIRE), VXLAN_WIRE, SNAP + 50),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_frame_far_longer_than_its_datagram_is_undecodable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], shape: str) -> None:
    frame, wire, snap = SHAPES[shape]
    seen = document(tmp_path, [(frame, wire)], capsys, snap)
    assert seen["connections"] == []
    assert (seen["captures"][0]["undecodable"], seen["captures"][0]["non_tcp"]) == (1, 0)
    (finding,) = [f for f in seen["findings"] if f["code"] == "capture_undecodable_packets"]
    assert "1 with inconsistent lengths or headers" in finding["message"]
    assert "snap length" not in finding["message"]


def segment(payload: int, *, version: int = 4, length: int | None = None,
            options: bool = False) -> bytes:
    """A data segment of `payload` bytes; length: the IP length field (None: right)."""
    tcp = TCP(sport=40000, dport=10000, flags="PA", seq=1,
              options=[("NOP", None), ("NOP", None), ("Timestamp", (1, 2))] if options else [])
    ip = (IP(src=A, dst=B, len=length) if version == 4 else IPv6(src=A6, dst=B6, plen=length))
    return link_frame(bytes(ip / tcp / Raw(b"d" * payload)), ipv6=version == 6)


def whole(frame: bytes) -> tuple[bytes, int]:
    return frame, len(frame)


@pytest.mark.parametrize(("case", "record", "counted"), [
    # tcpdump -s 64: the wire length is the frame's; the TCP timestamps option is cut.
    ("snap-cut", whole(segment(1000)), 1000),
    ("snap-cut-in-options", whole(segment(1000, options=True)), 1000),
    ("snap-cut-ipv6", whole(segment(1000, version=6)), 1000),
    # Padding, an FCS and a packet broker's or F5's trailer after the datagram.
    ("trailer", (segment(1000), len(segment(1000)) + 4 + 300), 1000),
    # A segmentation-offload super-frame (IPv4 total length 0, IPv6 payload length 0:
    # TSO, BIG TCP) runs to the end of the frame, beyond 64 KiB.
    ("tso-ipv4", (segment(0, length=0), 200_054), 200_000),
    ("big-tcp-ipv6", (segment(0, version=6, length=0), 200_074), 200_000),
    # Cut before the capture, its cut length recorded as the wire's (etl2pcapng):
    # the IP length beyond the frame, counted as tshark does, up to the frame's end.
    ("cut-recorded", (segment(1000), 200), 146),
])
def test_frames_whose_lengths_agree_still_count(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str,
        record: tuple[bytes, int], counted: int) -> None:
    seen = document(tmp_path, [record], capsys, SNAP + 20 if "ipv6" in case else SNAP)
    (connection,) = seen["connections"]
    assert connection["orig_bytes"] == counted
    assert seen["captures"][0]["undecodable"] == 0
