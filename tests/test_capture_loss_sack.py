"""Trial 32 D3 rest: captures started late (editcap keeping a capture's tail) of jobs
through a router reordering one packet in four claimed capture_loss of 4,720 to 8,688
bytes tcpdump never dropped: the receiver's first captured ACK named them received in
its SACK blocks (RFC 2018), before the capture heard from it, so the capture need not
hold them (connections.sack, accounting.acked_before). tests/data/trial32-late (README
there): holes opened after that ACK (tail215, tail430) and bytes ACKed beyond the last
seen (tail1075), both the SACK blocks'."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_connections_acked_unseen import short_everywhere  # noqa: F401 (fixture)
from test_connections_util import read_batches

from flowcheck.config import build_config
from flowcheck.connections.tracker import ConnectionTracker
from flowcheck.pipeline import read_traffic
from flowcheck.verify.loss import check_capture_loss

DATA = Path(__file__).resolve().parent / "data" / "trial32-late"
CAPTURES = ["reord-tail215-head.pcap", "reord-tail430-head.pcap", "reord-tail1075-head.pcap"]


def sacked_unseen(path: Path) -> int:
    """tshark's count of bytes the SACK blocks of each receiver's first ACK name that no
    captured segment carried (raw sequence numbers; the premise of the test)."""
    fields = ["tcp.stream", "tcp.srcport", "tcp.seq", "tcp.len", "tcp.options.sack_le",
              "tcp.options.sack_re"]
    out = subprocess.run(["tshark", "-r", str(path), "-o", "tcp.relative_sequence_numbers:FALSE",
                          "-T", "fields", *[a for f in fields for a in ("-e", f)]],
                         capture_output=True, text=True, check=True).stdout
    seen: dict[tuple[str, str], set[int]] = {}
    firsts: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for line in out.splitlines():
        stream, port, seq, length, left, right = (line.split("\t") + [""] * 6)[:6]
        if int(length or 0):
            seen.setdefault((stream, port), set()).update(range(int(seq), int(seq) + int(length)))
        elif left and (stream, port) not in firsts:
            firsts[(stream, port)] = list(zip(map(int, left.split(",")),
                                              map(int, right.split(",")), strict=True))
    return sum(1 for (stream, _), blocks in firsts.items() for left, right in blocks
               for byte in range(left, right)
               if not any(byte in s for (st, _), s in seen.items() if st == stream))


@pytest.mark.parametrize("name", CAPTURES)
def test_bytes_the_first_acks_sack_blocks_hold_are_no_sniffer_loss(name: str) -> None:
    assert sacked_unseen(DATA / name) > 0
    traffic = read_traffic([str(DATA / name)], build_config())
    assert [c.sniffer_missed for c in traffic.connections if c.sniffer_missed] == []
    assert check_capture_loss(traffic.connections, traffic.captures) == []


@pytest.mark.usefixtures("short_everywhere")
@pytest.mark.parametrize("name", CAPTURES)
def test_every_path_drops_the_same_bytes(name: str) -> None:
    """The per-packet reference, the bulk path and batches of a few packets (the short
    pass, parked between them) agree."""
    results = []
    for fast, chunk in ((False, 1_000_000), (True, 1_000_000), (True, 3_000)):
        tracker = ConnectionTracker(fast=fast)
        for batch in read_batches(DATA / name, chunk=chunk):
            tracker.feed(batch)
        results.append([(c.uid, c.missed_bytes, c.gaps, c.gap_frames)
                        for c in tracker.finish()])
    assert results[0] == results[1] == results[2]
    assert all(missed == 0 for _, missed, _, _ in results[0])
