"""Copies seen at two capture points whatever their clocks say (flowcheck.connections.points).

A connection is built with scapy as two hosts' captures would hold it: the agent
10.77.1.2 sends a backup's data to the media server 10.77.0.1 across a router, each
packet captured on its sender's host (TTL 64) and on its receiver's (TTL 63) 0.4 ms to
2.4 ms later, the agent's capture on a clock `offset` seconds ahead. Given as two files
or merged into one, each packet is counted once: no retransmission, no SYN retry, the
copies' bytes left out and the offset said. A sender's real resend stays a resend even
when it is bit for bit its original (IPv4 ID 0, no timestamps: stacks sending ID 0 with
DF, RFC 6864), seen at one point only.
"""

from __future__ import annotations

import socket
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scapy.all import IP, TCP, Ether, Raw, wrpcap
from scapy_bytes import FLAG_BITS, ether_header
from test_connections_util import internet_checksum

from flowcheck.connections import TrackResult, track_connections
from flowcheck.connections.offsets import Offset
from flowcheck.connections.point_sample import Packets
from flowcheck.connections.points import CapturePoints

MEDIA, AGENT = "10.77.0.1", "10.77.1.2"
MPORT, APORT = 5001, 6001
SEGMENT = 1000
START = 1_800_000_000.0
RTO = 0.2  # Linux's minimum retransmission timeout (RFC 6298 says 1 s)


@dataclass
class Sent:
    """One packet on the wire: when its sender sent it, and which capture points saw it."""

    at: float
    from_agent: bool
    flags: str
    seq: int
    ack: int
    payload: bytes = b""
    ip_id: int = 0
    tsval: int | None = None
    seen_by_agent: bool = True
    seen_by_media: bool = True


def backup(segments: int = 40, *, zero_ids: bool = False, lost: int | None = None,
           agent_missed_resend: bool = False, both_zero: bool = False) -> list[Sent]:
    """The agent's data connection to the media server: handshake (the SYN-ACK with IP ID
    0, as Linux sends it), `segments` segments each ACKed, FINs. zero_ids: the agent
    sends IPv4 ID 0 and no timestamps (its resend is its original bit for bit). lost:
    that segment is dropped by the router (seen on the agent's host only) and resent
    RTO later; agent_missed_resend: the agent's sniffer missed the resend; both_zero: the
    media server sends IPv4 ID 0 too (as over IPv6, no packet has an identity)."""
    ids = {True: 100, False: 5000}
    sent: list[Sent] = []
    t = START

    def send(from_agent: bool, flags: str, seq: int, ack: int, payload: bytes = b"",
             **kw: object) -> Sent:
        zero = (zero_ids and from_agent) or (both_zero and not from_agent)
        ip_id = 0 if zero or flags == "SA" else ids[from_agent]
        if ip_id:
            ids[from_agent] += 1
        tsval = None if zero_ids and from_agent else int((t - START) * 1000) + 7
        packet = Sent(t, from_agent, flags, seq, ack, payload, ip_id, tsval, **kw)
        sent.append(packet)
        return packet

    a_seq, m_seq = 1_000_000, 7_000_000
    send(True, "S", a_seq, 0)
    t += 0.0003
    send(False, "SA", m_seq, a_seq + 1)
    t += 0.0003
    send(True, "A", a_seq + 1, m_seq + 1)
    expected = a_seq + 1
    for n in range(segments):
        t += 0.002
        seq = a_seq + 1 + n * SEGMENT
        data = bytes([65 + n % 26]) * SEGMENT
        send(True, "PA", seq, m_seq + 1, data, seen_by_media=n != lost)
        if n == lost:
            resend_at = t + RTO
        else:
            if expected == seq:
                expected = seq + SEGMENT
            t += 0.0003
            send(False, "A", m_seq + 1, expected)
    if lost is not None:
        t, keep = resend_at, t
        seq = a_seq + 1 + lost * SEGMENT
        send(True, "PA", seq, m_seq + 1, bytes([65 + lost % 26]) * SEGMENT,
             seen_by_agent=not agent_missed_resend)
        t += 0.0003
        send(False, "A", m_seq + 1, a_seq + 1 + segments * SEGMENT)
        t = max(t, keep)
    end = a_seq + 1 + segments * SEGMENT
    t += 0.01
    send(True, "FA", end, m_seq + 1)
    t += 0.0003
    send(False, "FA", m_seq + 1, end + 1)
    t += 0.0003
    send(True, "A", end + 1, m_seq + 2)
    return sent


def frame(packet: Sent, at_sender: bool, routed: bool = True) -> Ether:
    src, dst = (AGENT, MEDIA) if packet.from_agent else (MEDIA, AGENT)
    sport, dport = (APORT, MPORT) if packet.from_agent else (MPORT, APORT)
    options = [] if packet.tsval is None else [("NOP", None), ("NOP", None),
                                               ("Timestamp", (packet.tsval, 0))]
    layer = (Ether() / IP(src=src, dst=dst, id=packet.ip_id, flags="DF",
                          ttl=64 if at_sender or not routed else 63)
             / TCP(sport=sport, dport=dport, seq=packet.seq, ack=packet.ack,
                   flags=packet.flags, window=502, options=options))
    return layer / Raw(packet.payload) if packet.payload else layer


def frame_bytes(packet: Sent, at_sender: bool, routed: bool = True,
                ends: tuple[str, str, int, int] | None = None) -> bytes:
    """bytes(frame(packet, at_sender, routed)), made with struct as scapy_bytes makes its
    frames (scapy took about 3 ms a packet to build and write: most of this file's time);
    ends: (src, dst, sport, dport) instead of the connection's. test_frame_bytes_are_scapys
    holds them to scapy's."""
    src, dst = (AGENT, MEDIA) if packet.from_agent else (MEDIA, AGENT)
    sport, dport = (APORT, MPORT) if packet.from_agent else (MPORT, APORT)
    if ends is not None:
        src, dst, sport, dport = ends
    options = (b"" if packet.tsval is None
               else b"\x01\x01\x08\x0a" + struct.pack("!II", packet.tsval, 0))
    bits = 0
    for letter in packet.flags:
        bits |= FLAG_BITS[letter]
    segment = bytearray(struct.pack("!HHIIBBHHH", sport, dport, packet.seq, packet.ack,
                                    (5 + len(options) // 4) << 4, bits, 502, 0, 0)
                        + options + packet.payload)
    addresses = socket.inet_aton(src) + socket.inet_aton(dst)
    struct.pack_into("!H", segment, 16, internet_checksum(
        addresses + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(segment)) + segment))
    header = bytearray(struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(segment), packet.ip_id,
                                   0x4000, 64 if at_sender or not routed else 63,
                                   socket.IPPROTO_TCP, 0) + addresses)
    struct.pack_into("!H", header, 10, internet_checksum(bytes(header)))
    return ether_header(src, dst) + bytes(header) + bytes(segment)


def timed(data: bytes, at: float) -> Raw:
    """A frame's bytes at a time, for wrpcap(..., linktype=1): the file scapy writes of
    the Ether packet those bytes are (the same writer, header and times)."""
    packet = Raw(data)
    packet.time = at
    return packet


def test_frame_bytes_are_scapys() -> None:
    """frame_bytes gives scapy's bytes of frame(): every packet of the backups the tests
    build (timestamps or none, IPv4 ID 0 or not, a resend), at the sender and after the
    router or on one segment, and a packet between other ends."""
    for sent in (backup(), backup(zero_ids=True, lost=7, both_zero=True)):
        for packet in sent:
            for at_sender, routed in ((True, True), (False, True), (False, False)):
                assert frame_bytes(packet, at_sender, routed) == bytes(
                    frame(packet, at_sender, routed)), (packet, at_sender, routed)
    packet = Sent(START, True, "PA", 50_000, 90_000, b"y" * 100, ip_id=7)
    copy = frame(packet, True)
    copy[IP].src, copy[IP].dst, copy[TCP].sport, copy[TCP].dport = (
        "10.77.9.9", "10.77.0.1", 9000, 4000)
    assert frame_bytes(packet, True, ends=("10.77.9.9", "10.77.0.1", 9000, 4000)) == bytes(copy)


def captures(tmp_path: Path, sent: list[Sent], offset: float,
             routed: bool = True) -> tuple[Path, Path]:
    """(the media server's capture, the agent's): each packet at its sender's host when
    sent, at its receiver's a path delay later; the agent's clock `offset` ahead.
    routed: a router between them (the receiver's copy has a TTL one lower); else both
    on one segment, every copy with its original's TTL."""
    media, agent = [], []
    for n, packet in enumerate(sent):
        delay = 0.0004 + 0.002 * (n % 3 == 0)  # queueing in the router now and then
        for mine, seen, holder, clock in ((not packet.from_agent, packet.seen_by_media, media,
                                           0.0),
                                          (packet.from_agent, packet.seen_by_agent, agent,
                                           offset)):
            if seen:
                holder.append(timed(frame_bytes(packet, mine, routed),
                                    packet.at + (0.0 if mine else delay) + clock))
    paths = tmp_path / "media.pcap", tmp_path / "agent.pcap"
    for path, packets in zip(paths, (media, agent), strict=True):
        wrpcap(str(path), sorted(packets, key=lambda p: p.time), linktype=1)
    return paths


def merged(tmp_path: Path, *paths: Path) -> Path:
    out = tmp_path / "merged.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(out), *map(str, paths)], check=True)
    return out


def data_connection(result: TrackResult):  # noqa: ANN201 - a Connection
    [conn] = [c for c in result.connections if c.resp_p == MPORT]
    return conn


def duplicates(result: TrackResult) -> str:
    return next(f.message for f in result.findings if f.code == "capture_duplicates")


@pytest.mark.parametrize("offset", [0.0, 0.3, -2.0, 65.0, 3600.0])
def test_two_files_count_each_packet_once(tmp_path: Path, offset: float) -> None:
    sent = backup()
    result = track_connections([str(p) for p in captures(tmp_path, sent, offset)])
    conn = data_connection(result)
    assert (conn.retransmits, conn.syn_retries) == (0, 0)
    assert conn.orig_bytes - conn.orig_copy_bytes == 40 * SEGMENT  # each byte once
    assert conn.orig_pkts + conn.resp_pkts == 2 * len(sent)  # tshark's count: both files
    message = duplicates(result)
    assert f"{len(sent):,} of the {2 * len(sent):,} TCP packets compared are copies" in message
    assert "a router apart (the TTL differs)" in message
    if offset:
        assert f"clock reads {offset:+.3f} s against" in message
        # The agent's file is read on the media server's clock (given first).
        [(index, shift)] = result.shifts.items()
        assert result.captures[index].path.endswith("agent.pcap")
        assert shift == pytest.approx(-offset, abs=0.003)
    else:
        assert "their clocks agree" in message and not result.shifts


@pytest.mark.parametrize("offset", [0.3, 65.0, 3600.0])
def test_one_merged_file_counts_each_packet_once(tmp_path: Path, offset: float) -> None:
    sent = backup()
    result = track_connections([str(merged(tmp_path, *captures(tmp_path, sent, offset)))])
    conn = data_connection(result)
    assert (conn.retransmits, conn.syn_retries) == (0, 0)
    assert conn.orig_bytes - conn.orig_copy_bytes == 40 * SEGMENT
    assert f"copies of its own packets {offset:.3f} s after them" in duplicates(result)


@pytest.mark.parametrize("offset", [0.003, 0.3, -2.0, 65.0])
def test_one_merged_file_at_one_ttl_counts_each_packet_once(tmp_path: Path,
                                                            offset: float) -> None:
    """Both hosts on one segment (one TTL), their captures merged by mergecap: nothing in
    the file tells the points apart but the copies' one offset (flowcheck.connections.
    one_ttl). Each packet once, no retransmission (trial 3 of session 33: 3 s apart read
    as control_stalled; 20 ms apart, every byte counted twice, nothing said)."""
    sent = backup()
    result = track_connections([str(merged(tmp_path, *captures(tmp_path, sent, offset,
                                                                routed=False)))])
    conn = data_connection(result)
    assert (conn.retransmits, conn.syn_retries) == (0, 0)
    assert conn.orig_bytes - conn.orig_copy_bytes == 40 * SEGMENT
    assert (f"{len(sent):,} of the {2 * len(sent):,} TCP packets compared are copies"
            in duplicates(result))
    assert "copies of its own packets" in duplicates(result)


def test_one_ttl_merged_with_a_busy_hosts_other_traffic(tmp_path: Path) -> None:
    """The media server's capture also holds ten times as much other traffic, captured at
    its point only: the copies' share is counted within the connections they are in, so
    the two points are still told (counted over the whole file, a job merged into a busy
    media server's capture kept its copies as retransmissions)."""
    sent = backup()
    media, agent = captures(tmp_path, sent, 3.0, routed=False)
    other, t = [], START
    for n in range(10 * 2 * len(sent)):
        t += 0.0001
        packet = Sent(t, n % 2 == 0, "PA", 50_000 + n * 100, 90_000, b"y" * 100, ip_id=n + 1)
        ends = ("10.77.0.1", "10.77.9.9", 4000, 9000) if n % 2 else (
            "10.77.9.9", "10.77.0.1", 9000, 4000)
        other.append(timed(frame_bytes(packet, True, ends=ends), t))
    busy = tmp_path / "busy.pcap"
    wrpcap(str(busy), other, linktype=1)
    result = track_connections([str(merged(tmp_path, media, busy, agent))])
    conn = data_connection(result)
    assert (conn.retransmits, conn.syn_retries) == (0, 0)
    assert conn.orig_bytes - conn.orig_copy_bytes == 40 * SEGMENT
    assert "copies of its own packets 3.000 s after them" in duplicates(result)


@pytest.mark.parametrize("offset", [0.3, -2.0, 65.0])
def test_one_ttl_merged_file_keeps_an_identical_resend(tmp_path: Path, offset: float) -> None:
    """One TTL, merged, the agent's resend its original bit for bit (IPv4 ID 0, no
    timestamps; the original lost after the agent's capture point): the resend's bytes
    count, its own copy left out, as with a router between the points. (Merged, each
    point's packets keep their own clock: at +0.3 s the media server's resend comes
    before the agent's original in the file, and both read as retransmissions; given as
    two files, they are set to one clock and read as one.)"""
    sent = backup(zero_ids=True, lost=7)
    found = []
    for routed in (False, True):
        where = tmp_path / str(routed)
        where.mkdir()
        found.append(data_connection(track_connections(
            [str(merged(where, *captures(where, sent, offset, routed=routed)))])))
    one_ttl, routed_apart = found
    assert one_ttl.retransmits >= 1 and one_ttl.syn_retries == 0
    assert one_ttl.retransmits == routed_apart.retransmits
    assert one_ttl.orig_bytes - one_ttl.orig_copy_bytes == 41 * SEGMENT


def _agents_capture(packets: list, a_seq: int, m_seq: int) -> Callable[[float, Sent], None]:
    """add(at, packet): the packet as the agent's capture holds it, at that time, into
    `packets`; the handshake (IPv4 ID 0) added first, at START."""
    def add(at: float, packet: Sent) -> None:
        packets.append(timed(frame_bytes(packet, True), at))

    add(START, Sent(START, True, "S", a_seq, 0, ip_id=0))
    add(START + 0.0003, Sent(START, False, "SA", m_seq, a_seq + 1, ip_id=0))
    add(START + 0.0006, Sent(START, True, "A", a_seq + 1, m_seq + 1, ip_id=0))
    return add


def test_identical_resends_at_one_timeout_are_no_second_point(tmp_path: Path) -> None:
    """One capture point; every segment resent bit for bit (IPv4 ID 0, no timestamps)
    one retransmission timeout after it: pairs at one TTL, one offset and a third of the
    packets, but all sent one way (a second capture point's copies go both ways of a
    connection: one_ttl.py). Every resend stays one."""
    t, packets = START, []
    a_seq, m_seq = 1_000_000, 7_000_000
    add = _agents_capture(packets, a_seq, m_seq)
    for n in range(30):
        t += 0.25
        segment = Sent(t, True, "PA", a_seq + 1 + n * SEGMENT, m_seq + 1, b"x" * SEGMENT)
        add(t, segment)
        add(t + RTO, segment)
        add(t + RTO + 0.0003, Sent(t, False, "A", m_seq + 1, a_seq + 1 + (n + 1) * SEGMENT,
                                   ip_id=100 + n))
    path = tmp_path / "agent.pcap"
    wrpcap(str(path), packets, linktype=1)
    result = track_connections([str(path)])
    assert data_connection(result).retransmits == 30
    assert not any(f.code == "capture_duplicates" for f in result.findings)


def test_a_few_identical_resends_across_two_files_of_one_point(tmp_path: Path) -> None:
    """One capture point's capture in two files (a ring's consecutive files): the last 4
    segments before the split resent bit for bit (IPv4 ID 0, no timestamps) one
    retransmission timeout later, after it. Four pairs between the two files at one
    offset, every one agreeing: fewer than AGREEING, and a few pairs make two files'
    offset known only when their packets have IPv4 IDs (points.FEW_AGREEING, for a job
    of a few SYNs seen at two points). Four resends, no second point."""
    t, packets = START, []
    a_seq, m_seq = 1_000_000, 7_000_000
    add = _agents_capture(packets, a_seq, m_seq)
    segments = [Sent(t, True, "PA", a_seq + 1 + n * SEGMENT, m_seq + 1, b"x" * SEGMENT)
                for n in range(10)]
    for n, segment in enumerate(segments):
        add(t + 0.001 + n * 0.002, segment)
        if n < 6:
            add(t + 0.0013 + n * 0.002, Sent(t, False, "A", m_seq + 1,
                                             a_seq + 1 + (n + 1) * SEGMENT, ip_id=100 + n))
    for n, segment in enumerate(segments[6:], 6):
        add(t + 0.001 + n * 0.002 + RTO, segment)
    split = t + 0.1
    first, second = tmp_path / "ring_00001.pcap", tmp_path / "ring_00002.pcap"
    wrpcap(str(first), [p for p in packets if p.time < split], linktype=1)
    wrpcap(str(second), [p for p in packets if p.time >= split], linktype=1)
    result = track_connections([str(first), str(second)])
    assert data_connection(result).retransmits == 4
    assert not any(f.code == "capture_duplicates" for f in result.findings)


@pytest.mark.parametrize("offset", [0.3, RTO, -2.0, 65.0])
@pytest.mark.parametrize("agent_missed_resend", [False, True])
@pytest.mark.parametrize("both_zero", [False, True])
def test_a_resend_identical_to_its_original_stays_a_resend(
        tmp_path: Path, offset: float, agent_missed_resend: bool, both_zero: bool) -> None:
    """IPv4 ID 0 and no timestamps: the resend is its original bit for bit. The router
    dropped the original (only the agent's capture holds it); the resend is in both, or
    (the agent's sniffer missed it) only in the media server's: one resend either way,
    whatever the clocks; never a copy of the original. With no IPv4 ID on either side
    the offset is learnt from the copies' agreeing times alone."""
    sent = backup(zero_ids=True, lost=7, agent_missed_resend=agent_missed_resend,
                  both_zero=both_zero)
    result = track_connections([str(p) for p in captures(tmp_path, sent, offset)])
    conn = data_connection(result)
    assert conn.retransmits == 1 and conn.syn_retries == 0
    assert conn.orig_bytes - conn.orig_copy_bytes == 41 * SEGMENT  # the resend counts
    assert f"clock reads {offset:+.3f} s against" in duplicates(result)


def test_one_file_alone_with_an_identical_resend(tmp_path: Path) -> None:
    """One capture point: its own resend is never a copy, nothing is said of points."""
    sent = backup(zero_ids=True, lost=7)
    media, agent = captures(tmp_path, sent, 0.0)
    result = track_connections([str(agent)])
    assert data_connection(result).retransmits == 1
    assert not any(f.code == "capture_duplicates" for f in result.findings)


@pytest.mark.parametrize("lost", [None, 7])
def test_sent_once_leaves_the_copies_out(tmp_path: Path, lost: int | None) -> None:
    """Connection.sent_once: each side's payload from two capture points, the second
    point's copies left out and a real resend kept, is what the sender's own capture
    alone holds of it."""
    media, agent = captures(tmp_path, backup(lost=lost), 0.3)
    both = data_connection(track_connections([str(media), str(agent)]))
    alone = data_connection(track_connections([str(agent)]))
    assert both.orig_copy_bytes and both.orig_bytes > both.sent_once("orig")
    assert (both.sent_once("orig"), both.sent_once("resp")) == (alone.orig_bytes,
                                                                alone.resp_bytes)


def _points_known_at(offset: float) -> CapturePoints:
    """Capture points 0 and 1 with a known offset (seconds), compared from now on."""
    points = CapturePoints()
    points.activate([(0, 1, offset, False)])
    return points


def _packets(ts: list[float], source: list[int]) -> Packets:
    """Equal packets at these times (s) and capture points, one TTL, none taken."""
    n = len(ts)
    return Packets(np.array(ts), np.arange(1, n + 1), np.array(source, np.int32),
                   np.full(n, 64, np.int16), np.full(n, 7), np.full(n, 0x10),
                   np.zeros(n, bool), np.zeros(n, bool))


_NONE = np.zeros(0, np.int64)


@pytest.mark.parametrize("pairs", [([], []), ([1], [0])], ids=["no pair", "beyond"])
def test_decide_with_no_copy_among_the_candidates(pairs: tuple[list[int], list[int]]
                                                  ) -> None:
    """No equal pair, or one far from the points' offset (trial 33 D2: a SYN-ACK resent
    1 s later, bit for bit): no copy, nothing taken (it raised IndexError)."""
    points = _points_known_at(0.3)
    packets = _packets([10.0, 11.2], [0, 1])
    later, earlier = (np.array(p, np.int64) for p in pairs)
    assert points.decide(packets, (_NONE, _NONE), later, earlier).tolist() == []
    assert not packets.taken.any()


def test_decide_with_one_candidate_and_with_two_for_one_original() -> None:
    """One pair at the offset: a copy, its original taken. Two later packets with the
    same original: the one nearer the offset is its copy, the other none."""
    points = _points_known_at(0.3)
    packets = _packets([10.0, 10.3], [0, 1])
    assert points.decide(packets, (_NONE, _NONE), np.array([1]), np.array([0])
                         ).tolist() == [1]
    assert packets.taken.tolist() == [True, False]
    packets = _packets([10.0, 10.299, 10.302], [0, 1, 1])
    assert points.decide(packets, (_NONE, _NONE), np.array([1, 2]), np.array([0, 0])
                         ).tolist() == [1]


def test_one_far_pair_within_one_file_asks_for_no_second_reading() -> None:
    """One file's copies microseconds apart (a router's `tcpdump -i any`: in and out)
    and one pair a second apart (trial 33 D2: a SYN-ACK resent bit for bit): one
    capture point, nothing for points.py to compare (the set was read twice). Two
    points merged into one file have their copies' offset itself beyond copies.py's
    0.5 ms."""
    points = CapturePoints()
    router = points.offsets[(0, 0)] = Offset((0, 0))
    router.add(np.array([1.015] + [2e-6] * 10))
    assert router.known and router.beyond == 1
    assert not points.wanted
    merged = points.offsets[(1, 1)] = Offset((1, 1))
    merged.add(np.full(10, 0.0014))
    assert points.wanted
