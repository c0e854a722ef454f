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
from test_connections_states import pkt, run
from test_connections_util import SYN, ethernet, ipv6, read_batches, tcp
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
LAB_CAPTURES = sorted(LAB.glob("*.pcap"))


def doubled(source: Path, out: Path) -> Path:
    """Every packet twice, same timestamp (mergecap of the capture with itself)."""
    subprocess.run(["mergecap", "-w", str(out), str(source), str(source)], check=True)
    return out


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
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(capture)], config), config)


def codes(analysis: Analysis, *severities: str) -> set[str]:
    return {f.code for f in analysis.findings if str(f.severity) in severities}


def evidence(connections: list[Connection]) -> list[tuple]:
    """What each connection says was sent again: retransmits, SYN retries, the number
    of SYN, SYN-ACK, RST and FIN frames."""
    return [(c.retransmits, c.syn_retries, len(c.syn_frames), len(c.synack_frames),
             len(c.rst_frames), len(c.fin_frames), c.history.replace("T", "").replace(
                 "t", "")) for c in connections]


@pytest.mark.parametrize("copier", COPIERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", STOPPED + DROPPED)
def test_copies_change_no_verdict(tmp_path: Path, name: str,
                                  copier: Callable[[Path, Path], Path]) -> None:
    original = analysis_of(LAB / f"{name}.pcap", name)
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
    original = analysis_of(LAB / f"{name}.pcap", name)
    path = copier(LAB / f"{name}.pcap", tmp_path / "copied.pcap")
    copied = analysis_of(path, name)
    assert copied.verdict == original.verdict == "pass"
    assert codes(copied, "error", "warning") == set()
    finding = next(f for f in copied.findings if f.code == "capture_duplicates")
    packets = sum(c.packets for c in copied.traffic.captures)
    assert finding.message.startswith(f"{packets // 2:,} of {packets:,} packets")
    assert finding.frames[:2] == [2, 4]
    before, after = original.traffic.connections, copied.traffic.connections
    assert evidence(after) == evidence(before)
    assert [(c.orig_pkts, c.resp_pkts, c.orig_bytes, c.resp_bytes) for c in after] == [
        (2 * c.orig_pkts, 2 * c.resp_pkts, 2 * c.orig_bytes, 2 * c.resp_bytes) for c in before]
    assert_matches_tshark(path, after)


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
    for chunk in (None, 64, 3):
        assert _track(path, chunk, fast=True) == reference
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
    from test_connections_states import handshake
    from test_connections_util import ACK, PSH

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
