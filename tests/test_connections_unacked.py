"""orig_unacked / resp_unacked: the payload bytes a side sent (seen in the capture) that
the other side never ACKed in the capture (a control connection whose late segments
are retransmitted and never ACKed: a firewall silently dropped an idle session).

Checked against tshark (per stream and direction: the highest tcp.seq_raw + tcp.len,
a FIN taking none and a SYN one, minus the other direction's highest tcp.ack_raw) on
every capture under captures/, on a generated capture whose last data segment is
retransmitted and never ACKed through each path of the tracker (the reference
`fast=False`, the bulk path, the short-connection pass), and on the lab's captures by
name: one direction captured gives 0 (unknown, not unacknowledged), as do connections
closed normally on both sides.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from scapy_bytes import tcp_frame, write_frames
from test_connections_acked_unseen import ours as sides
from test_connections_acked_unseen import run, short_everywhere  # noqa: F401 (fixture)
from test_tshark_counts import CAPTURES, ROOT, track
from tshark_tcp import tcp_fields

from flowcheck.model import Connection

LAB = ROOT / "captures" / "lab"
M, A = "10.77.0.1", "10.77.0.2"
Side = tuple[str, int]


def signed32(value: int) -> int:
    return ((value + 0x80000000) & 0xFFFFFFFF) - 0x80000000


class Unwrapped:
    """The highest of a sequence of 32-bit numbers, each unwrapped against the one
    before by a signed 32-bit step (RFC 9293 3.4: the space wraps)."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.top: int | None = None

    def add(self, raw: int) -> int:
        self.last = raw if self.last is None else self.last + signed32(raw - self.last)
        self.top = self.last if self.top is None else max(self.top, self.last)
        return self.last


def tshark_unacked(path: Path) -> list[dict[Side, int]]:
    """Per tcp.stream, in order: {side: payload bytes its peer never ACKed} for each side
    that sent something taking a sequence number (a SYN counts its one, a FIN none) and
    whose peer ACKed it after that: the side's highest sequence end minus the peer's
    highest ACK, never negative (both unwrapped from the side's first number)."""
    out = tshark_fields(path)
    ends: dict[int, dict[Side, Unwrapped]] = defaultdict(lambda: defaultdict(Unwrapped))
    acks: dict[int, dict[Side, Unwrapped]] = defaultdict(lambda: defaultdict(Unwrapped))
    for line in out.splitlines():
        stream, src4, src6, sport, dst4, dst6, dport, flags, length, seq, ack = (
            line.split("\t"))
        if not stream or "," in src4 or "," in sport:
            continue  # not TCP, or ICMP quoting TCP
        n, bits, size = int(stream), int(flags, 16), int(length or 0)
        src, dst = (src4 or src6, int(sport)), (dst4 or dst6, int(dport))
        if bits & 0x10 and dst in ends[n]:  # ACKs before the peer's first segment: no base
            peer_acks = acks[n][dst]
            if peer_acks.last is None:
                peer_acks.last = ends[n][dst].last  # unwrap against the peer's numbers
            peer_acks.add(int(ack))
        if bits & 0x02:  # SYN: it takes one number, its data the next
            ends[n][src].add(int(seq) + 1 + size)
        elif size or bits & 0x01:
            ends[n][src].add(int(seq) + size)
    result = []
    for n in sorted(set(ends) | set(acks)):
        unacked = {}
        for side, end in ends[n].items():
            acked = acks[n].get(side)
            if acked is not None and acked.top is not None and end.top is not None:
                unacked[side] = max(0, end.top - acked.top)
        result.append(unacked)
    return result


def tshark_fields(path: Path) -> str:
    return tcp_fields(path, ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst",
                             "ipv6.dst", "tcp.dstport", "tcp.flags", "tcp.len", "tcp.seq_raw",
                             "tcp.ack_raw"], own=True)


def ours(connections: list[Connection]) -> list[dict[Side, int]]:
    return sides(connections, "unacked")


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_unacked_equals_tshark(path: Path) -> None:
    expected = [{side: value for side, value in stream.items() if value}
                for stream in tshark_unacked(path)]
    assert ours(track(path)) == expected
    assert ours(track(path, fast=False)) == expected


# -- the last segment retransmitted, never ACKed -------------------------------------

EXCHANGES = 1_000  # request, reply, ACK: enough packets for the bulk path
REQUEST, REPLY, LATE = 100, 200, 300  # payload bytes
RETRIES = 5


def unacked_capture(path: Path, silent: str) -> Path:
    """A control connection M:5033 -> A:10000 (isns near the 32-bit wrap): EXCHANGES
    requests from M, each answered by A and ACKed by M; then `silent` ("orig": M, "resp":
    A) sends LATE bytes more, retransmitted RETRIES times, and its peer never ACKs them.
    The frames scapy's Ether()/IP()/TCP() write (scapy_bytes: 3,000 of them in scapy
    took 10 s)."""
    seqs = {M: 0xFFFF_0000, A: 0xFFFF_F000}

    def segment(src: str, flags: str, size: int = 0, advance: bool = True) -> bytes:
        dst = A if src == M else M
        sport, dport = (5033, 10000) if src == M else (10000, 5033)
        frame = tcp_frame(src, dst, sport, dport, flags, seqs[src] & 0xFFFFFFFF,
                          seqs[dst] & 0xFFFFFFFF if "A" in flags else 0,
                          payload=b"x" * size)
        if advance:
            seqs[src] += size + (1 if "S" in flags else 0)
        return frame

    frames = [segment(M, "S"), segment(A, "SA"), segment(M, "A")]
    for _ in range(EXCHANGES):
        frames += [segment(M, "PA", REQUEST), segment(A, "PA", REPLY), segment(M, "A")]
    frames += [segment(M if silent == "orig" else A, "PA", LATE, advance=False)] * (1 + RETRIES)
    times = [1_700_000_000 + k * 0.001 + (1.0 if k >= len(frames) - RETRIES else 0)
             for k in range(len(frames))]
    return write_frames(path, frames, times)


@pytest.mark.parametrize("silent", ["orig", "resp"])
def test_late_segment_never_acked_counts_on_every_path(tmp_path: Path, silent: str,
                                                      short_everywhere: None) -> None:  # noqa: F811
    path = unacked_capture(tmp_path / "late.pcap", silent)
    side = (M, 5033) if silent == "orig" else (A, 10000)
    assert tshark_unacked(path) == [{side: LATE, (A, 10000) if silent == "orig" else
                                     (M, 5033): 0}]
    reference, _ = run(path, 100_000, fast=False)
    (c,) = reference
    assert (c.orig_unacked, c.resp_unacked) == ((LATE, 0) if silent == "orig" else (0, LATE))
    assert (c.retransmits, c.missed_bytes) == (RETRIES, 0)
    # Short pass: small batches, the connection parked between them.
    short, one_at_a_time = run(path, 20, fast=True)
    assert (short, one_at_a_time) == (reference, 0)
    # Bulk path: large batches; the handshake and the retransmissions one at a time.
    for chunk in (700, 100_000):
        bulk, one_at_a_time = run(path, chunk, fast=True)
        assert bulk == reference
        assert one_at_a_time < (c.orig_pkts + c.resp_pkts) // 50


# -- the lab's captures --------------------------------------------------------------

@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("name", ["one-direction-out.pcap", "one-direction-in.pcap",
                                  "one-direction-out-data-dropped.pcap",
                                  "one-direction-in-callback-blocked.pcap"])
def test_one_direction_gives_nothing_unacked(name: str, fast: bool) -> None:
    """The peer's ACKs are not in the capture: unknown, not unacknowledged."""
    connections = track(LAB / name, fast)
    assert any(c.orig_bytes or c.resp_bytes for c in connections)
    assert all((c.orig_unacked, c.resp_unacked) == (0, 0) for c in connections)


@pytest.mark.parametrize("name", ["clean-3-resources.pcap", "concurrent-jobs.pcap",
                                  "restore-2-resources.pcap", "clean-dumpcap.pcapng",
                                  "clean-vlan.pcap"])
def test_both_sides_closed_normally_give_nothing_unacked(name: str) -> None:
    closed = [c for c in track(LAB / name) if c.conn_state == "SF"]
    assert len(closed) >= 3 and sum(c.orig_bytes + c.resp_bytes for c in closed) > 100_000
    assert all((c.orig_unacked, c.resp_unacked) == (0, 0) for c in closed)


def test_not_in_the_json_nor_in_missed_bytes() -> None:
    path = LAB / "stopped-after-data-syn.pcap"  # the capture stopped before the last ACK
    assert sum(c.resp_unacked for c in track(path)) == 52
    assert all(c.missed_bytes == 0 for c in track(path))
    out = subprocess.run([sys.executable, "-m", "flowcheck", "connections", str(path),
                          "--format", "json"], capture_output=True, text=True, check=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    connections = json.loads(out)["connections"]
    assert connections and not any("unacked" in key for c in connections for key in c)
