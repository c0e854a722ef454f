"""TSO/GSO super-frames whose first wire segment is read in another batch, and within one
merged file whose two capture points' clocks are 5 s apart (flowcheck.connections.
super_frames' look-back). The agent sends its data as super-frames (its own capture:
IPv4 total length 0 for every other one, partial TCP checksums, TTL 64); the media
server's capture holds the wire's 1,448-byte segments (IPv4 IDs counting on from the
super-frame's, TTL 63: a router between). Each byte is sent once, none resent: the
segments must not read as retransmissions of the super-frames' bytes, nor the bytes
count twice, wherever the read chunks end and whatever the merged file's clocks say."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
from test_connections_util import write_pcap
from test_offload_identity import partial_checksum

from flowcheck.connections import track_connections
from flowcheck.model import Connection

pytest.importorskip("scapy.layers.inet")
from scapy.layers.inet import IP, TCP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402

MEDIA, AGENT = "10.0.0.1", "10.0.0.2"
START = 1_700_000_000.0
HOP = 0.0002  # seconds from one capture point to the other (a router between them)
MSS = 1448
SEGMENTS = (5, 8, 3, 8, 6)  # wire segments of each super-frame, over and over
FRAMES = 40  # super-frames sent
SENT = sum(SEGMENTS[k % len(SEGMENTS)] for k in range(FRAMES)) * MSS  # payload bytes


class Points:
    """Both hosts' captures, `a` (the agent, the sender) and `m` (the media server);
    m_shift: seconds added to every time in m's capture (its clock ahead)."""

    def __init__(self, m_shift: float = 0.0) -> None:
        self.a: list = []
        self.m: list = []
        self.now = START
        self.m_shift = m_shift
        self.tsval = {"a": 5000, "m": 1000}

    def _packet(self, src: str, dst: str, ttl: int, ip_id: int, segment: TCP,
                total_zero: bool = False, partial: bool = False) -> bytes:
        packet = Ether(bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                             / IP(src=src, dst=dst, ttl=ttl, id=ip_id, flags="DF")
                             / segment))
        if partial:
            packet[TCP].chksum = partial_checksum(packet)
        raw = bytearray(bytes(packet))
        if total_zero:  # the IPv4 header's total length 0, its checksum made anew
            raw[16:18] = b"\0\0"
            raw[24:26] = b"\0\0"
            total = sum(int.from_bytes(raw[i:i + 2], "big") for i in range(14, 34, 2))
            while total > 0xFFFF:
                total = (total & 0xFFFF) + (total >> 16)
            raw[24:26] = (~total & 0xFFFF).to_bytes(2, "big")
        return bytes(raw)

    def _at(self, where: str, packet: bytes, at: float) -> None:
        (self.m if where == "m" else self.a).append(
            (at + (self.m_shift if where == "m" else 0.0), packet))

    def send(self, sender: str, flags: str, seq: int, ack: int, ip_id: int,
             data: int = 0) -> None:
        """A packet at its sender's point (unfilled checksum) and HOP later at the other."""
        self.now += 0.001
        self.tsval[sender] += 1
        src, dst = (MEDIA, AGENT) if sender == "m" else (AGENT, MEDIA)
        sport, dport = (40002, 10001) if sender == "m" else (10001, 40002)
        segment = TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=502,
                      options=[("Timestamp", (self.tsval[sender], 0))]) / (b"x" * data)
        other = "a" if sender == "m" else "m"
        self._at(sender, self._packet(src, dst, 64, ip_id, segment.copy(), partial=True),
                 self.now)
        self._at(other, self._packet(src, dst, 63, ip_id, segment.copy()), self.now + HOP)

    def super_frame(self, seq: int, ack: int, ip_id: int, count: int,
                    total_zero: bool) -> None:
        """The agent's super-frame of `count` segments: in its capture as one packet, in
        the media server's as the wire segments, MSS bytes each."""
        self.now += 0.001
        self.tsval["a"] += 1
        options = [("Timestamp", (self.tsval["a"], 0))]
        whole = TCP(sport=10001, dport=40002, flags="PA", seq=seq, ack=ack, window=502,
                    options=options) / (b"y" * (count * MSS))
        self._at("a", self._packet(AGENT, MEDIA, 64, ip_id, whole, total_zero=total_zero,
                                   partial=True), self.now)
        for k in range(count):
            piece = TCP(sport=10001, dport=40002, flags="PA" if k == count - 1 else "A",
                        seq=seq + k * MSS, ack=ack, window=502, options=options
                        ) / (b"y" * MSS)
            self._at("m", self._packet(AGENT, MEDIA, 63, ip_id + k, piece),
                     self.now + HOP + k * 0.00002)

    def packets(self) -> tuple[list[tuple[float, bytes]], list[tuple[float, bytes]]]:
        """Each capture's (time, frame), in time order."""
        return sorted(self.a), sorted(self.m)


def write(path: Path, packets: list[tuple[float, bytes]]) -> Path:
    """A pcap of these (time, frame) in the order given."""
    return write_pcap(path, 1, [frame for _, frame in packets], start=0.0,
                      times=[at for at, _ in packets])


@cache
def transfer(m_shift: float = 0.0) -> Points:
    """The media server connects to the agent, which sends SENT bytes as FRAMES
    super-frames, each acknowledged (built once per m_shift: scapy is slow)."""
    p = Points(m_shift)
    p.send("m", "S", 700, 0, 300)
    p.send("a", "SA", 3000, 701, 0)
    p.send("m", "A", 701, 3001, 301)
    seq, ip_id = 3001, 900
    for k in range(FRAMES):
        count = SEGMENTS[k % len(SEGMENTS)]
        p.super_frame(seq, 701, ip_id, count, total_zero=k % 2 == 0)
        seq += count * MSS
        ip_id += count
        p.send("m", "A", 701, seq, 302 + k)
    p.send("a", "FA", seq, 701, ip_id)
    p.send("m", "FA", 701, seq + 1, 302 + FRAMES)
    p.send("a", "A", seq + 1, 702, ip_id + 1)
    return p


def data_connection(paths: list[Path], chunk_size: int) -> Connection:
    [data] = [c for c in track_connections([str(p) for p in paths],
                                           chunk_size=chunk_size).connections
              if c.resp_p == 10001]
    return data


def assert_sent_once(data: Connection) -> None:
    assert data.retransmits == 0
    assert data.resp_bytes - data.resp_copy_bytes == SENT


@pytest.mark.parametrize("chunk_size", [1 << 12, 3 << 12, 1 << 14, 8 << 20])
def test_a_super_frame_and_its_segments_in_two_batches_count_once(
        tmp_path: Path, chunk_size: int) -> None:
    """Both captures given as two files, read in small chunks: batch boundaries fall
    between super-frames and their segments (a batch covers at most one chunk)."""
    a, m = transfer().packets()
    paths = [write(tmp_path / "a.pcap", a), write(tmp_path / "m.pcap", m)]
    assert_sent_once(data_connection(paths, chunk_size))


@pytest.mark.parametrize("m_shift", [5.0, -5.0])
@pytest.mark.parametrize("chunk_size", [1 << 14, 8 << 20])
def test_a_merged_file_with_clocks_5_s_apart_counts_each_byte_once(
        tmp_path: Path, m_shift: float, chunk_size: int) -> None:
    """Both captures merged into one file (mergecap), the media server's clock 5 s ahead
    of the agent's or behind it: the points are told apart by TTL and their offset is
    learned from the packets both saw; a super-frame's first segment lies 5 s from it."""
    a, m = transfer(m_shift).packets()
    path = write(tmp_path / "merged.pcap", sorted(a + m))
    assert_sent_once(data_connection([path], chunk_size))


def test_each_capture_holds_each_byte_once() -> None:
    """The agent's payload bytes in each capture alone are SENT (the tests above compare
    with it)."""
    a, m = transfer().packets()
    for packets in (a, m):  # Ethernet, IPv4 and TCP with the timestamp option: 66 bytes
        assert sum(len(frame) - 66 for _, frame in packets
                   if Ether(frame)[IP].src == AGENT) == SENT


def look_back_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """After each batch: the look-back's packets (0 without one) and the most of one
    direction's (super_frames.SuperFrames._keep watched)."""
    from flowcheck.connections import super_frames

    sizes: list[tuple[int, int]] = []
    keep = super_frames.SuperFrames._keep

    def watched(self: super_frames.SuperFrames, *args: object) -> None:
        keep(self, *args)
        back = self._back
        if back is None:
            sizes.append((0, 0))
        else:
            _, counts = np.unique(2 * back.key_of + back.from_lower, return_counts=True)
            sizes.append((back.ts.shape[0], int(counts.max())))

    monkeypatch.setattr(super_frames.SuperFrames, "_keep", watched)
    return sizes


def test_the_look_back_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The look-back keeps each direction's latest LOOKBACK_DIRECTION unpaired packets,
    LOOKBACK_CAP in all: set low, it stays within them (without, it holds more: the
    segments after each super-frame's first find no partner) and still carries each
    super-frame across the seam to its first segment."""
    from flowcheck.connections import super_frames

    a, m = transfer().packets()
    paths = [write(tmp_path / "a.pcap", a), write(tmp_path / "m.pcap", m)]
    free = look_back_sizes(monkeypatch)
    data_connection(paths, 1 << 12)
    monkeypatch.setattr(super_frames, "LOOKBACK_DIRECTION", 8)
    monkeypatch.setattr(super_frames, "LOOKBACK_CAP", 12)
    bounded = look_back_sizes(monkeypatch)
    assert_sent_once(data_connection(paths, 1 << 12))
    assert max(total for total, _ in free) > 12
    assert max(total for total, _ in bounded) <= 12
    assert max(most for _, most in bounded) <= 8
