"""Trial 32 D3 rest: captures started late (editcap keeping a capture's tail) of jobs
through a router reordering one packet in four claimed capture_loss of 4,720 to 8,688
bytes tcpdump never dropped: the receiver's first captured ACK named them received in
its SACK blocks (RFC 2018), before the capture heard from it, so the capture need not
hold them (connections.sack, accounting.acked_before). tests/data/trial32-late (README
there): holes opened after that ACK (tail215, tail430) and bytes ACKed beyond the last
seen (tail1075), both the SACK blocks'."""

from __future__ import annotations

from pathlib import Path

import pytest
import tshark_fork
from test_connections_acked_unseen import short_everywhere  # noqa: F401 (fixture)
from test_connections_util import read_batches

from flowcheck.config import build_config
from flowcheck.connections.tracker import ConnectionTracker
from flowcheck.pipeline import read_traffic
from flowcheck.verify.loss import check_capture_loss

DATA = Path(__file__).resolve().parent / "data" / "trial32-late"
CAPTURES = ["reord-tail215-head.pcap", "reord-tail430-head.pcap", "reord-tail1075-head.pcap"]
REVIEW = Path(__file__).resolve().parent / "data" / "sack-review"
# A SYN captured, the SYN-ACK not (README there): the capture ran before any data.
SYN_SEEN = ["synseen_sack.pcap", "synseen_below.pcap", "synseen_beyond.pcap"]


RAW_NUMBERS = ("-o", "tcp.relative_sequence_numbers:FALSE")  # tshark's option


def sacked_unseen(path: Path) -> int:
    """tshark's count of bytes the SACK blocks of each receiver's first ACK name that no
    captured segment carried (raw sequence numbers; the premise of the test)."""
    fields = ["tcp.stream", "tcp.srcport", "tcp.seq", "tcp.len", "tcp.options.sack_le",
              "tcp.options.sack_re"]
    seen: dict[tuple[str, str], set[int]] = {}
    firsts: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for row in tshark_fork.fields(path, "", *fields, options=RAW_NUMBERS):
        stream, port, seq, length, left, right = (row + [""] * 6)[:6]
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


def every_path(path: Path, chunk: int = 3_000) -> list[list[tuple]]:
    """(uid, missed_bytes, gaps, gap_frames) of each connection by the per-packet
    reference, the bulk path and batches of `chunk` bytes (the short pass, parked between
    them)."""
    results = []
    for fast, size in ((False, 1_000_000), (True, 1_000_000), (True, chunk)):
        tracker = ConnectionTracker(fast=fast)
        for batch in read_batches(path, chunk=size):
            tracker.feed(batch)
        results.append([(c.uid, c.missed_bytes, c.gaps, c.gap_frames)
                        for c in tracker.finish()])
    return results


@pytest.mark.usefixtures("short_everywhere")
@pytest.mark.parametrize("name", CAPTURES)
def test_every_path_drops_the_same_bytes(name: str) -> None:
    """The per-packet reference, the bulk path and batches of a few packets (the short
    pass, parked between them) agree."""
    results = every_path(DATA / name)
    assert results[0] == results[1] == results[2]
    assert all(missed == 0 for _, missed, _, _ in results[0])


def tshark_missed(path: Path) -> int:
    """tshark's count of the client's (port 40000) bytes from its ISN on that the
    server's highest ACK covers and no captured segment (nor FIN) carried (raw sequence
    numbers)."""
    fields = ["tcp.srcport", "tcp.flags.syn", "tcp.flags.fin", "tcp.seq", "tcp.ack", "tcp.len"]
    seen: set[int] = set()
    start, top = None, 0
    for port, syn, fin, seq, ack, length in tshark_fork.fields(path, "", *fields,
                                                              options=RAW_NUMBERS):
        if port == "40000":
            if syn in ("1", "True"):
                start = int(seq) + 1
            seen.update(range(int(seq), int(seq) + int(length) + (fin in ("1", "True"))))
        else:
            top = max(top, int(ack))
    assert start is not None
    return sum(byte not in seen for byte in range(start, top))


@pytest.mark.usefixtures("short_everywhere")
@pytest.mark.parametrize("name", SYN_SEEN)
def test_a_connection_whose_syn_was_captured_claims_its_loss(name: str) -> None:
    """Review of connections.sack: the first-ACK rules (its SACK blocks, the bytes below
    it) are for a connection joined mid-stream; the SYN shows the capture ran before any
    data, so every byte the receiver ACKed that the capture lacks is the sniffer's, on
    every path."""
    missed = tshark_missed(REVIEW / name)
    assert missed > 0
    results = every_path(REVIEW / name, chunk=300)
    assert results[0] == results[1] == results[2]
    assert [m for _, m, _, _ in results[0]] == [missed]
    traffic = read_traffic([str(REVIEW / name)], build_config())
    assert sum(c.sniffer_missed for c in traffic.connections) == missed


@pytest.mark.usefixtures("short_everywhere")
def test_a_dsack_block_inside_another_counts_once() -> None:
    """A D-SACK block above the ACK (RFC 2883 4.2) inside the block after it: the bytes
    they name are dropped once, as the same capture with the one block."""
    plain, dsack = every_path(REVIEW / "sack_beyond.pcap"), every_path(REVIEW / "dsack_beyond.pcap")
    assert plain[0] == plain[1] == plain[2] and dsack[0] == dsack[1] == dsack[2]
    assert plain[0][0][1] > 0
    assert [m for _, m, _, _ in dsack[0]] == [m for _, m, _, _ in plain[0]]
