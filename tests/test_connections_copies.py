"""Capture copies (flowcheck.connections.copies): a capture that holds every packet twice
(a SPAN session mirroring both switch ports) shows no retransmission, SYN retry or drop
that the capture of each packet once does not; a sender's own resend stays evidence.

The copied captures are rebuilt from the lab's: every packet twice with the same
timestamp (mergecap of a capture with itself) and every packet again 15 us later, in
time order (a SPAN port's lag: the copies of a burst interleave with its packets).
Packet and byte counts stay tshark's (copies included); the fast path stays equal to
the reference for any batch size (a packet and its copy in different batches).
"""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import tshark_fork
from lab_edits import sent_by
from scapy.all import ICMP, IP, TCP, Ether
from stored import shared_analysis
from test_connections_states import A, M, handshake, pkt, run
from test_connections_util import ACK, PSH, RST, SYN, ethernet, ipv6, read_batches, tcp
from test_connections_util import write_pcap as write
from test_tshark_counts import assert_matches_tshark

from flowcheck.config import build_config, load_file
from flowcheck.connections import ConnectionTracker
from flowcheck.model import Connection
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
# Captures that end before an answer could be seen (inconclusive), and real drops.
STOPPED = ["stopped-after-control-syn", "stopped-after-control-syn-ack",
           "stopped-after-callback-syn", "stopped-after-data-syn",
           "stopped-after-data-syn-ack"]
DROPPED = ["control-dropped", "callback-blocked", "data-port-dropped"]
# Refused with an ICMP unreachable (a copied one is no second reject).
REJECTED = ["callback-rejected", "data-port-rejected"]
LAB_CAPTURES = sorted(LAB.glob("*.pcap"))


def doubled(source: Path, out: Path) -> Path:
    """Every packet twice, same timestamp: `mergecap -F pcap -w OUT SOURCE SOURCE`'s
    file byte for byte (a little-endian microsecond pcap: its records merged by time, the
    first file's first on equal times; snap length 262144), made here rather than by a
    mergecap start for each of the 70 cases; test_doubled_is_mergecaps holds it to
    mergecap's."""
    data = source.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1", "a little-endian microsecond pcap"
    records: list[tuple[int, bytes]] = []
    pos = 24
    while pos + 16 <= len(data):
        seconds, micros, caplen = struct.unpack_from("<III", data, pos)
        records.append((seconds * 1_000_000 + micros, data[pos:pos + 16 + caplen]))
        pos += 16 + caplen
    merged, first, second = [], 0, 0
    while first < len(records) or second < len(records):
        if second == len(records) or (first < len(records)
                                      and records[first][0] <= records[second][0]):
            merged.append(records[first][1])
            first += 1
        else:
            merged.append(records[second][1])
            second += 1
    out.write_bytes(data[:16] + struct.pack("<I", 262144) + data[20:24] + b"".join(merged))
    return out


@pytest.mark.parametrize("name", ["concurrent-jobs-late-callback", "snaplen-54"])
def test_doubled_is_mergecaps(tmp_path: Path, name: str) -> None:
    """doubled's file is mergecap's: on a capture whose records are out of time order
    (the merge's order) and one whose snap length is not mergecap's (all 40 lab and
    ndmjob captures these tests double were equal when doubled was made)."""
    source = LAB / f"{name}.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(tmp_path / "mergecap.pcap"),
                    str(source), str(source)], check=True)
    assert (doubled(source, tmp_path / "doubled.pcap").read_bytes()
            == (tmp_path / "mergecap.pcap").read_bytes())


def span(source: Path, out: Path, lag_us: int = 15) -> Path:
    """Every packet again lag_us later, in time order (a little-endian microsecond pcap,
    as the lab writes)."""
    data = source.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1", "a little-endian microsecond pcap"
    records: list[tuple[int, int, bytes]] = []
    pos = 24
    while pos + 16 <= len(data):
        seconds, micros, caplen, wirelen = struct.unpack_from("<IIII", data, pos)
        body = data[pos + 16:pos + 16 + caplen]
        at = seconds * 1_000_000 + micros
        for copy, when in enumerate((at, at + lag_us)):
            records.append((when, 2 * len(records) + copy, struct.pack(
                "<IIII", when // 1_000_000, when % 1_000_000, caplen, wirelen) + body))
        pos += 16 + caplen
    records.sort()
    out.write_bytes(data[:24] + b"".join(record for _, _, record in records))
    return out


COPIERS: list[Callable[[Path, Path], Path]] = [doubled, span]


def analysis_of(capture: Path, name: str) -> Analysis:
    """`capture` analysed with the lab case `name`'s configuration (LAB/NAME.toml). The
    lab case's own analysis is the run's shared one (stored.shared_analysis, the same
    configuration): each of its two copiers' cases made it again."""
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(capture)], config), config)


def codes(analysis: Analysis, *severities: str) -> set[str]:
    return {f.code for f in analysis.findings if str(f.severity) in severities}


def evidence(connections: list[Connection]) -> list[tuple]:
    """What each connection says was sent again: retransmits, SYN retries, the number
    of SYN, SYN-ACK, RST, FIN and ICMP unreachable frames."""
    return [(c.retransmits, c.syn_retries, len(c.syn_frames), len(c.synack_frames),
             len(c.rst_frames), len(c.fin_frames), len(c.icmp_frames),
             c.history.replace("T", "").replace("t", "")) for c in connections]


@pytest.mark.parametrize("copier", COPIERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", STOPPED + DROPPED + REJECTED)
def test_copies_change_no_verdict(tmp_path: Path, name: str,
                                  copier: Callable[[Path, Path], Path]) -> None:
    original = shared_analysis(LAB / f"{name}.pcap")  # read only
    copied = analysis_of(copier(LAB / f"{name}.pcap", tmp_path / "copied.pcap"), name)
    assert copied.verdict == original.verdict
    assert codes(copied, "error", "warning") == codes(original, "error", "warning")
    assert "capture_duplicates" in codes(copied, "info")
    assert evidence(copied.traffic.connections) == evidence(original.traffic.connections)
    if name in DROPPED:  # a real resend (new IP ID and TSval, a second later) still counts
        assert copied.verdict == "fail"
        assert any(c.syn_retries for c in copied.traffic.connections)


@pytest.mark.parametrize("copier", COPIERS, ids=lambda f: f.__name__)
def test_clean_job_copied_passes_with_its_own_retransmits(
        tmp_path: Path, copier: Callable[[Path, Path], Path]) -> None:
    name = "clean-3-resources"
    original = shared_analysis(LAB / f"{name}.pcap")  # read only
    path = copier(LAB / f"{name}.pcap", tmp_path / "copied.pcap")
    copied = analysis_of(path, name)
    assert copied.verdict == original.verdict == "pass"
    assert codes(copied, "error", "warning") == set()
    finding = next(f for f in copied.findings if f.code == "capture_duplicates")
    packets = sum(c.packets for c in copied.traffic.captures)
    assert finding.message.startswith(f"{packets // 2:,} of the {packets:,} TCP packets compared")
    assert finding.frames[:2] == [2, 4]
    before, after = original.traffic.connections, copied.traffic.connections
    assert evidence(after) == evidence(before)
    assert [(c.orig_pkts, c.resp_pkts, c.orig_bytes, c.resp_bytes) for c in after] == [
        (2 * c.orig_pkts, 2 * c.resp_pkts, 2 * c.orig_bytes, 2 * c.resp_bytes) for c in before]
    assert_matches_tshark(path, after)
    # The copies' payload is known per connection; the steps about the job's data count
    # each byte once (trial 11 D7: two hosts' captures given together).
    assert [(c.orig_copy_bytes, c.resp_copy_bytes) for c in after] == [
        (c.orig_bytes, c.resp_bytes) for c in before]
    for one, two in zip(original.sessions, copied.sessions, strict=True):
        flows = [s.detail for s in one.steps if s.name.endswith("data flows")]
        copied_flows = [s.detail for s in two.steps if s.name.endswith("data flows")]
        assert flows and len(copied_flows) == len(flows)
        for detail, copied_detail in zip(flows, copied_flows, strict=True):
            # The clean close (verify.clean_close) ends both, the copies' words before it.
            close = "; all 3 data connections closed cleanly (a FIN each way, each " \
                    "acknowledged, and every byte)"
            assert detail.endswith(close) and copied_detail.endswith(close)
            assert copied_detail.startswith(detail.removesuffix(close)
                                            + "; each byte counted once (")
    # Copies may be the capture point's or the network's (trial 11 D6): both are said.
    assert "or the network delivered them twice" in finding.message
    assert "editcap -D" in finding.fix and "duplicating packets" in finding.fix


SMALL_CAPTURE = 100_000  # bytes: the lab's short captures (most end before a job's data)


def _track(path: Path, chunk: int | None, fast: bool) -> list[Connection]:
    tracker = ConnectionTracker(fast=fast)
    for batch in read_batches(path, chunk=chunk or 100_000):
        tracker.feed(batch)
    return tracker.finish()


@pytest.mark.parametrize("copier", COPIERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("capture", LAB_CAPTURES, ids=lambda p: p.stem)
def test_fast_path_equals_reference_on_copied_captures(
        tmp_path: Path, capture: Path, copier: Callable[[Path, Path], Path]) -> None:
    path = copier(capture, tmp_path / "copied.pcap")
    reference = _track(path, None, fast=False)
    for chunk in (None, 64):
        assert _track(path, chunk, fast=True) == reference
    # Batches of a few packets cost a hundred times a whole read (each batch's fixed
    # work): each capture under SMALL_CAPTURE bytes gets them under one of the copiers,
    # each copier on half of those. The larger ones carry a job's data: split so, they
    # walk no branch the small ones' splits do not (branch coverage of flowcheck over
    # every case of this test, session 48: 4,265 arcs with or without their splits,
    # which were 90% of the test's time). snaplen-54 is under SMALL_CAPTURE bytes with a
    # job's data (485 records cut at 54 bytes: its splits made the test's slowest case):
    # without its splits the test walks the same 9,041 arcs (session 49).
    if (capture.stat().st_size >= SMALL_CAPTURE or capture.stem == "snaplen-54"
            or LAB_CAPTURES.index(capture) % len(COPIERS) != COPIERS.index(copier)):
        return
    assert _track(path, 3, fast=True) == reference
    # Split anywhere, the copies are the same: a copy finds its original in the batch
    # before (packet by packet, every copy is in a batch of its own).
    assert _track(path, 1, fast=False) == reference


# The rule on hand-made packets: what a copy has equal, and when.

def _with_ip_id(frame: bytes, ip_id: int) -> bytes:
    return frame[:18] + struct.pack("!H", ip_id) + frame[20:]


def test_same_syn_15_us_later_is_a_copy(tmp_path: Path) -> None:
    syn = pkt(True, SYN, 100)
    write(tmp_path / "t.pcap", 1, [syn, syn], step=15e-6)
    (c,) = _track(tmp_path / "t.pcap", None, fast=True)
    assert (c.orig_pkts, c.syn_retries, c.syn_frames) == (2, 0, [1])
    assert _track(tmp_path / "t.pcap", 1, fast=False) == [c]


def test_same_syn_a_second_later_is_a_retry(tmp_path: Path) -> None:
    # Linux resends a SYN-ACK with IP ID 0 and, without timestamps, the same bytes: the
    # time alone tells the resend from a copy.
    syn = pkt(True, SYN, 100)
    path = write(tmp_path / "t.pcap", 1, [syn, syn], step=1.0)
    (c,) = _track(path, None, fast=True)
    assert (c.syn_retries, c.syn_frames) == (1, [1, 2])


def test_syn_with_the_next_ip_id_is_a_retry_even_at_once(tmp_path: Path) -> None:
    syn = pkt(True, SYN, 100)
    path = write(tmp_path / "t.pcap", 1, [syn, _with_ip_id(syn, 2)], step=15e-6)
    (c,) = _track(path, None, fast=True)
    assert (c.syn_retries, c.syn_frames) == (1, [1, 2])


def test_ipv6_copy_has_the_same_tcp_header(tmp_path: Path) -> None:
    def syn(timestamp: int) -> bytes:
        option = b"\x01\x01\x08\x0a" + struct.pack("!II", timestamp, 0)
        segment = tcp(5001, 10000, 100, 0, SYN, options=option)
        # The checksum field as a sender fills it: it covers the timestamp option.
        segment = segment[:16] + struct.pack("!H", timestamp & 0xFFFF) + segment[18:]
        return ethernet(ipv6("2001:db8::1", "2001:db8::2", 6, segment), 0x86DD)

    path = write(tmp_path / "t.pcap", 1, [syn(7), syn(7), syn(8)], step=15e-6)
    (c,) = _track(path, None, fast=True)
    assert (c.orig_pkts, c.syn_retries, c.syn_frames) == (3, 1, [1, 3])


def test_copies_of_a_burst_interleaved_are_not_retransmissions(tmp_path: Path) -> None:
    data = [pkt(True, PSH | ACK, 101 + 100 * i, 901, data=100) for i in range(6)]
    ids = [_with_ip_id(p, 10 + i) for i, p in enumerate(data)]
    burst = [ids[0], ids[1], ids[2], ids[0], ids[3], ids[1], ids[2], ids[4], ids[3],
             ids[5], ids[4], ids[5]]
    packets = handshake() + burst
    connections = run(tmp_path, packets)
    write(tmp_path / "t.pcap", 1, packets, step=2e-6)
    for chunk in (1000, 2):
        (c,) = _track(tmp_path / "t.pcap", chunk, fast=True)
        assert (c.retransmits, c.orig_pkts, c.orig_bytes) == (0, 14, 1200)
        assert "T" not in c.history
    # 1 ms apart, the same packets again are retransmissions (the first copy of each).
    assert connections[0].retransmits == 6


# Packets without an identity of their own (IPv4 ID 0, as Linux sends SYN-ACKs and RSTs;
# IPv6): equal answers microseconds apart are real unless the capture duplicates.

NDMJOB = LAB.parent / "ndmjob"
SYNACK_PAIRS = NDMJOB / "v4-control-synack-dropped-at-media.pcap"


def _copies(path: Path, chunk: int | None = None, fast: bool = True
            ) -> tuple[list[Connection], int, list[int]]:
    tracker = ConnectionTracker(fast=fast)
    for batch in read_batches(path, chunk=chunk or 100_000):
        tracker.feed(batch)
    return tracker.finish(), tracker.copies.count, tracker.copies.frames


def test_real_synack_pairs_of_one_interface_are_not_copies() -> None:
    # tcpdump on one veth: at 1, 7, 11 and 19 s the agent's SYN-ACK timer's resend and
    # its answer to the resent SYN, 20 us apart, equal to the bit (IP ID 0, same TSval).
    connections, count, _ = _copies(SYNACK_PAIRS)
    (c,) = connections
    assert count == 0
    assert c.resp_pkts == 13  # tshark: tcp.flags.syn==1 && tcp.flags.ack==1
    # All 13 (EVIDENCE_CAP is 20: trial 15 read 8 of 10 SYNs in a finding's frames).
    assert len(c.synack_frames) == 13 and c.synack_frames[:8] == [2, 4, 5, 7, 9, 11, 13, 15]
    for chunk, fast in ((None, False), (3, True), (1, False)):
        assert _copies(SYNACK_PAIRS, chunk, fast) == (connections, 0, [])
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    analysis = analyze(read_traffic([str(SYNACK_PAIRS)], config), config)
    assert "capture_duplicates" not in codes(analysis, "info")


def test_span_of_synack_pairs_finds_every_copy(tmp_path: Path) -> None:
    # A capture that duplicates (the SYN's copy is the first) makes its ID-0 SYN-ACKs
    # copies too; an answer sent twice 20 us apart there reads as one (the limit).
    path = span(SYNACK_PAIRS, tmp_path / "span.pcap")
    connections, count, frames = _copies(path)
    assert count == 22 + 4
    assert frames[:2] == [2, 4]
    # The original's SYN-ACK frames 2, 4 and 7 (5, 20 us after 4, read as a copy).
    assert connections[0].synack_frames[:3] == [3, 7, 13]
    assert _copies(path, 1, fast=False) == (connections, count, frames)


def test_equal_id_0_syn_acks_20_us_apart_are_two(tmp_path: Path) -> None:
    synack = _with_ip_id(pkt(False, SYN | ACK, 900, 101), 0)
    path = write(tmp_path / "t.pcap", 1, [pkt(True, SYN, 100), synack, synack], step=20e-6)
    (c,), count, _ = _copies(path)
    assert (count, c.synack_frames, c.resp_pkts) == (0, [2, 3], 2)


def test_equal_id_0_rsts_are_two(tmp_path: Path) -> None:
    # A RST for each segment of a burst sent to a closed socket (seq = the segments' ACK).
    data = [_with_ip_id(pkt(False, PSH | ACK, 901 + 100 * i, 101, data=100), 7 + i)
            for i in range(2)]
    rst = _with_ip_id(pkt(True, RST, 101), 0)
    path = write(tmp_path / "t.pcap", 1, handshake() + [data[0], rst, data[1], rst],
                 step=20e-6)
    (c,), count, _ = _copies(path)
    assert (count, len(c.rst_frames)) == (0, 2)


def test_ipv6_syn_acks_20_us_apart_are_two(tmp_path: Path) -> None:
    def v6(sport: int, dport: int, seq: int, ack: int, flags: int) -> bytes:
        return ethernet(ipv6("2001:db8::1" if sport == 5001 else "2001:db8::2",
                             "2001:db8::2" if sport == 5001 else "2001:db8::1", 6,
                             tcp(sport, dport, seq, ack, flags)), 0x86DD)

    synack = v6(10000, 5001, 900, 101, SYN | ACK)
    path = write(tmp_path / "t.pcap", 1, [v6(5001, 10000, 100, 0, SYN), synack, synack],
                 step=20e-6)
    (c,), count, _ = _copies(path)
    assert (count, c.synack_frames) == (0, [2, 3])


@pytest.mark.parametrize("chunk", [1, 2, 1000])
def test_id_0_copies_count_from_the_first_identified_copy(tmp_path: Path, chunk: int) -> None:
    # Decided in capture order, the same for any batching: a SYN-ACK pair before the
    # first copy of an identified packet (the ACK, IP ID 1) stays two SYN-ACKs ...
    synack = _with_ip_id(pkt(False, SYN | ACK, 900, 101), 0)
    ack = pkt(True, ACK, 101, 901)
    path = write(tmp_path / "t.pcap", 1, [pkt(True, SYN, 100), synack, synack, ack, ack],
                 step=15e-6)
    (c,), count, frames = _copies(path, chunk)
    assert (count, frames, c.synack_frames) == (1, [5], [2, 3])
    # ... and after a SYN's copy, the second is a copy.
    syn = pkt(True, SYN, 100)
    path = write(tmp_path / "t.pcap", 1, [syn, syn, synack, synack], step=15e-6)
    (c,), count, frames = _copies(path, chunk)
    assert (count, frames, c.synack_frames, c.syn_frames) == (2, [2, 4], [3], [1])


# ICMP unreachables captured twice: one reject, not two (nor one more SYN retry of a
# connection known only from its quotes).

FIREWALL = LAB.parent / "ndmjob-firewall"
REJECT = "v3-control-reject-icmp"  # the agent's firewall rejects the SYN and its retry


def _icmp_fields(path: Path) -> list[list[str]]:
    """Per ICMP frame, as tshark reads it: frame number, the outer and quoted IP IDs,
    ICMP type, code and checksum, the quoted SYN's sequence number and TSval."""
    return tshark_fork.fields(path, "icmp", "frame.number", "ip.id", "icmp.type", "icmp.code",
                              "icmp.checksum", "tcp.seq_raw", "tcp.options.timestamp.tsval")


@pytest.mark.parametrize("copier", COPIERS, ids=lambda f: f.__name__)
def test_icmp_copies_of_quoted_syns_are_no_syn_retries(
        tmp_path: Path, copier: Callable[[Path, Path], Path]) -> None:
    """tcpdump -Q in on the media server (only what the agent sent: its firewall's two
    rejects, of the SYN and of its retry), each captured twice. Was: four quotes, three
    SYN retries ("sent 4 SYNs"); now the two rejects, the copies in capture_duplicates."""
    one_way = sent_by(tmp_path, FIREWALL / f"{REJECT}.pcap", "10.77.0.2")
    path = copier(one_way, tmp_path / "copied.pcap")
    rows = _icmp_fields(path)
    # tshark: frames 2 and 4 are 1 and 3 again; 1 and 3 quote two SYNs (IP ID, TSval).
    assert [row[0] for row in rows] == ["1", "2", "3", "4"]
    assert rows[1][1:] == rows[0][1:] and rows[3][1:] == rows[2][1:]
    assert rows[0][1].split(",")[1] != rows[2][1].split(",")[1] and rows[0][-1] != rows[2][-1]
    config = build_config(load_file(FIREWALL / f"{REJECT}.toml"))
    original = analyze(read_traffic([str(one_way)], config), config)
    copied = analyze(read_traffic([str(path)], config), config)
    [c] = copied.traffic.connections
    assert (c.syn_retries, c.icmp_frames, c.first_frame, c.last_frame) == (1, [1, 3], 1, 3)
    assert evidence([c]) == evidence(original.traffic.connections)
    [refused] = [f for f in copied.findings if f.code == "control_refused"]
    assert refused.frames == [1, 3] and "frames 1, 3 quote" in refused.message
    [duplicates] = [f for f in copied.findings if f.code == "capture_duplicates"]
    assert duplicates.frames == [2, 4] and duplicates.message.startswith(
        "2 of the 4 TCP packets and ICMP errors compared")
    assert codes(copied, "error", "warning") == codes(original, "error", "warning")
    assert copied.verdict == original.verdict == "fail"
    tracked = _copies(path)
    assert (tracked[0][0].icmp_frames, tracked[1:]) == ([1, 3], (2, [2, 4]))
    for chunk, fast in ((1, False), (1, True), (None, False)):
        assert _copies(path, chunk, fast) == tracked


def _reject(quoted_id: int, outer_id: int = 40000) -> bytes:
    """The agent's ICMP administratively prohibited (code 13) quoting the media server's
    SYN from port 5091 that had IP ID quoted_id."""
    syn = IP(src=M, dst=A, id=quoted_id) / TCP(sport=5091, dport=10000, flags="S", seq=7)
    return bytes(Ether() / IP(src=A, dst=M, id=outer_id) / ICMP(type=3, code=13) / syn)


@pytest.mark.parametrize(("second", "step", "copies"), [
    (_reject(1), 15e-6, 1),  # the same message 15 us later: a copy
    (_reject(1), 1.0, 0),  # a second later: sent again (outside COPY_WINDOW)
    (_reject(2), 15e-6, 0),  # the reject of another SYN (its own IP ID)
    (_reject(1, outer_id=40001), 15e-6, 0),  # another message (its own IP ID)
], ids=["copy", "a-second-later", "another-syn", "another-message"])
def test_icmp_copy_is_the_same_message_at_once(tmp_path: Path, second: bytes, step: float,
                                               copies: int) -> None:
    path = write(tmp_path / "t.pcap", 1, [_reject(1), second], step=step)
    (c,), count, frames = _copies(path)
    assert (count, frames) == (copies, [2] * copies)
    assert (c.syn_retries, c.icmp_frames) == (1 - copies, [1, 2][:2 - copies])


@pytest.mark.parametrize("chunk", [1, 2, 1000])
def test_icmp_copy_shows_the_capture_duplicates(tmp_path: Path, chunk: int) -> None:
    """An ICMP copy is one of a packet with an identity (its quote's): an ID-0 SYN-ACK
    pair after it is a copy too; before it, two SYN-ACKs."""
    synack = _with_ip_id(pkt(False, SYN | ACK, 900, 101), 0)
    syn = pkt(True, SYN, 100)
    path = write(tmp_path / "t.pcap", 1, [_reject(1), _reject(1), syn, synack, synack],
                 step=15e-6)
    connections, count, frames = _copies(path, chunk)
    assert (count, frames) == (2, [2, 5])
    assert [c.synack_frames for c in connections if c.orig_p == 5001] == [[4]]
    path = write(tmp_path / "t.pcap", 1, [syn, synack, synack, _reject(1), _reject(1)],
                 step=15e-6)
    connections, count, frames = _copies(path, chunk)
    assert (count, frames) == (1, [5])
    assert [c.synack_frames for c in connections if c.orig_p == 5001] == [[2, 3]]


@pytest.mark.parametrize("copier", COPIERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", ["callback-rejected", "data-port-dropped"])
def test_step_details_count_each_byte_once(tmp_path: Path, name: str,
                                           copier: Callable[[Path, Path], Path]) -> None:
    """A SPAN of both ports (every packet twice): the control and callback steps' bytes
    each way are the plain capture's, as the data step's are (field check: encapsulation
    invariance, D4: the control step said twice the bytes the job sent)."""
    original = shared_analysis(LAB / f"{name}.pcap")  # read only
    copied = analysis_of(copier(LAB / f"{name}.pcap", tmp_path / "copied.pcap"), name)

    def details(analysis: Analysis) -> list[str]:
        return [part for session in analysis.sessions for step in session.steps
                if step.step in (1, 2) for part in step.detail.split("; ") if " B " in part]

    assert details(copied) == details(original)
    assert any(" B media server -> agent" in detail for detail in details(copied))
