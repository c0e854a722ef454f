"""The receiver's SACK blocks of a side the capture lacks (connections.sack
.keep_unseen_sacks, SideEvidence.sacked_unseen): a capture of the receiver's packets
alone, its ACK stuck at the sender's first byte while a pure ACK names later bytes in
SACK blocks. Read on every path alike (the per-packet reference, the bulk runs, the short
pass with the flow parked between batches), only on ACKs that acknowledge nothing new.

Synthetic captures written with the test helpers (the agent A's data to the media server
M, none of A's packets written): tshark reads their SACK blocks as the tracker does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tshark_fork
from scapy.all import IP, TCP, Ether
from scapy_files import write_packets
from test_connections_acked_unseen import short_everywhere  # noqa: F401 (fixture)
from test_connections_states import A, M
from test_connections_util import ACK, FIN, SYN, ethernet, ipv4, read_batches, tcp
from test_connections_util import write_pcap as write

from flowcheck.connections import sack as sack_options
from flowcheck.connections import short
from flowcheck.connections.tracker import ConnectionTracker
from flowcheck.model import Connection

ISN = 5000  # the agent's (the sender's) initial sequence number: its byte 1 is ISN + 1
M_ISN = 70000


def sack(*blocks: tuple[int, int]) -> bytes:
    """TCP options: two NOPs and a SACK option of `blocks` (relative edges)."""
    body = b"".join((ISN + left).to_bytes(4, "big") + (ISN + right).to_bytes(4, "big")
                    for left, right in blocks)
    return b"\x01\x01" + bytes([5, 2 + len(body)]) + body


def from_media(flags: int, ack: int, options: bytes = b"", seq: int = 1) -> bytes:
    """A packet of M (port 5072) to A (port 6083): ack relative to the agent's ISN."""
    return ethernet(ipv4(M, A, 6, tcp(5072, 6083, M_ISN + seq, ISN + ack, flags,
                                      options=options)))


def receiver_only(acked: int, sacks: list[bytes]) -> list[bytes]:
    """M's SYN-ACK, `acked` pure ACKs each acknowledging 1000 B more of A's, then a pure
    ACK again with each of `sacks` as options (acknowledging nothing new), then M's FIN."""
    packets = [from_media(SYN | ACK, 1, seq=0)]
    packets += [from_media(ACK, 1 + 1000 * k) for k in range(1, acked + 1)]
    last = 1 + 1000 * acked
    packets += [from_media(ACK, last, options) for options in sacks]
    return packets + [from_media(FIN | ACK, last)]


def every_path(path: Path) -> list[list[Connection]]:
    """The connections by the per-packet reference (one packet a batch), the bulk path
    (one batch) and batches of a few packets (the short pass, parked between them)."""
    results = []
    for fast, chunk in ((False, 1), (True, 1_000_000), (True, 5)):
        tracker = ConnectionTracker(fast=fast)
        for batch in read_batches(path, chunk=chunk):
            tracker.feed(batch)
        results.append(tracker.finish())
    return results


def tshark_sacks(path: Path) -> list[str]:
    """tshark's SACK edges (relative to the agent's ISN, which M's SYN-ACK acknowledges)
    of each packet carrying some (the premise)."""
    lines = ("\t".join(row) for row in tshark_fork.fields(path, "", "tcp.options.sack_le",
                                                          "tcp.options.sack_re"))
    return [line for line in lines if line.strip()]


@pytest.mark.usefixtures("short_everywhere")
@pytest.mark.parametrize("acked", [0, 40])
def test_a_sack_beyond_the_stuck_ack_is_kept_on_every_path(tmp_path: Path, acked: int) -> None:
    last = 1 + 1000 * acked
    # The first ACK acknowledging nothing new carries no SACK (a window update), the
    # second one a block below the ACK (a D-SACK: RFC 2883), the third the blocks.
    path = write(tmp_path / "sack.pcap", 1, receiver_only(acked, [
        b"", sack((last - 500, last)), sack((last + 7240, last + 8192),
                                            (last + 9640, last + 10000))]))
    assert tshark_sacks(path)[-1] == (f"{last + 7240},{last + 9640}\t"
                                      f"{last + 8192},{last + 10000}")
    reference, bulk, short = every_path(path)
    assert reference == bulk == short
    [conn] = reference
    evidence = conn.evidence("orig")
    assert (conn.orig_pkts, conn.resp_pkts) == (0, acked + 5)
    assert evidence.sacked_unseen == 952 + 360
    assert evidence.sacked_unseen_ack == last
    assert evidence.sacked_unseen_blocks == ((last + 7240, last + 8192),
                                             (last + 9640, last + 10000))
    assert evidence.sacked_unseen_frame == acked + 4


@pytest.mark.usefixtures("short_everywhere")
def test_sacks_of_acks_that_move_or_of_a_side_captured_are_not_kept(tmp_path: Path) -> None:
    # An ACK that acknowledges more carries a block too: not read (only ACKs that
    # acknowledge nothing new are), nor is a block at or below the ACK.
    packets = [from_media(SYN | ACK, 1, seq=0), from_media(ACK, 1001),
               from_media(ACK, 2001, sack((3001, 4001))), from_media(ACK, 2001, sack((1, 2001))),
               from_media(FIN | ACK, 2001)]
    path = write(tmp_path / "moved.pcap", 1, packets)
    reference, bulk, short = every_path(path)
    assert reference == bulk == short
    assert reference[0].evidence("orig").sacked_unseen == 0


def test_a_sack_on_the_first_ack_ever_is_not_kept(tmp_path: Path) -> None:
    # M's SYN (A's SYN-ACK not captured), then its first ACK ever with a block beyond it:
    # no ACK of M's before it, so it is no ACK that acknowledged nothing new (per_packet
    # reads none). In batches of 5 (every_path's third) the SYN shares the first batch
    # with another connection's packets and the ACKs make a bulk run of their own (the
    # short pass left to its defaults: it would park the connection), whose first row
    # must not be read either (bulk_acks._sacks_unseen).
    other = [ethernet(ipv4(M, A, 6, tcp(5073, 6084, M_ISN, ISN + 1, ACK)))] * 4
    packets = ([from_media(SYN, 0, seq=0)] + other + [from_media(ACK, 1, sack((1001, 2001)))]
               + [from_media(ACK, 1)] * 4 + [from_media(FIN | ACK, 1)])
    path = write(tmp_path / "first.pcap", 1, packets)
    assert len(tshark_sacks(path)) == 1  # the first ACK carries the block
    reference, bulk, short = every_path(path)
    assert reference == bulk == short
    [conn] = [c for c in reference if c.resp_p == 6083]
    assert (conn.orig_h, conn.orig_pkts, conn.resp_pkts) == (M, 7, 0)
    assert conn.evidence("resp").sacked_unseen == 0


def scapy_receiver_only(path: Path, acked: int, blocks: list[tuple[int, int]]) -> Path:
    """receiver_only's packets built with scapy: M's SYN-ACK, `acked` pure ACKs each
    acknowledging 1000 B more of A's, the same ACK again with a SACK option of `blocks`
    (relative edges, in the order sent), then M's FIN; written to `path` (pcap)."""
    def packet(flags: str, ack: int, seq: int = 1, options: list | None = None) -> Ether:
        return Ether() / IP(src=M, dst=A) / TCP(sport=5072, dport=6083, seq=M_ISN + seq,
                                                ack=ISN + ack, flags=flags,
                                                options=options or [])

    last = 1 + 1000 * acked
    edges = tuple(ISN + edge for block in blocks for edge in block)
    packets = ([packet("SA", 1, seq=0)] + [packet("A", 1 + 1000 * k) for k in range(1, acked + 1)]
               + [packet("A", last, options=[("NOP", None), ("NOP", None), ("SAck", edges)]),
                  packet("FA", last)])
    for number, built in enumerate(packets):
        built.time = 1_000_000 + number / 100
    write_packets(str(path), packets)
    return path


@pytest.mark.usefixtures("short_everywhere")
@pytest.mark.parametrize(("blocks", "kept"), [
    # Blocks that overlap or touch above the stuck ACK: each byte counted once.
    ([(7240, 8192), (7800, 9000), (9000, 9640)], [(7240, 9640)]),
    # A D-SACK (RFC 2883 4.2): the first block, a duplicate, inside the second one.
    ([(7500, 8000), (7240, 8192), (9640, 10000)], [(7240, 8192), (9640, 10000)]),
])
def test_overlapping_and_duplicate_sack_blocks_count_each_byte_once(
        tmp_path: Path, blocks: list[tuple[int, int]], kept: list[tuple[int, int]]) -> None:
    acked = 3
    last = 1 + 1000 * acked
    path = scapy_receiver_only(tmp_path / "overlap.pcap", acked,
                               [(last + left, last + right) for left, right in blocks])
    assert tshark_sacks(path)[-1] == (",".join(str(last + left) for left, _ in blocks) + "\t"
                                      + ",".join(str(last + right) for _, right in blocks))
    reference, bulk, short = every_path(path)
    assert reference == bulk == short
    [conn] = reference
    evidence = conn.evidence("orig")
    assert evidence.sacked_unseen_ack == last
    assert evidence.sacked_unseen_blocks == tuple((last + left, last + right)
                                                  for left, right in kept)
    assert evidence.sacked_unseen == sum(right - left for left, right in kept)
    assert evidence.sacked_unseen < sum(right - left for left, right in blocks)


@pytest.mark.usefixtures("short_everywhere")
def test_the_short_pass_asks_every_packet_with_a_sack_beyond_its_ack(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The short pass's hand_sacks (connections.sack) asks sacks_beyond_ack only of the
    packets with a byte SACK_KIND among the 40 before their payload (fewer than it is
    handed), and marks what asking every packet marks: SACK blocks above and below the
    ACK, after NOPs, behind timestamps (kind 8, whose values here hold the byte 5 too),
    and no options."""
    calls = {"marked": 0, "asked": 0, "rows": 0}
    hand, ask = sack_options.hand_sacks, sack_options.sacks_beyond_ack

    def asked(buf, d, k):  # noqa: ANN001, ANN202
        calls["asked"] += 1
        return ask(buf, d, k)

    def checked(bad, rows_of, buf, d, step_rows) -> None:  # noqa: ANN001
        every = bad.copy()
        for i in np.flatnonzero(rows_of).tolist():
            every[i] |= ask(buf, d, int(step_rows[i]))
        hand(bad, rows_of, buf, d, step_rows)
        assert bad.tolist() == every.tolist()
        calls["marked"] += int(np.count_nonzero(every & rows_of))
        calls["rows"] += int(np.count_nonzero(rows_of))

    monkeypatch.setattr(short, "hand_sacks", checked)
    monkeypatch.setattr(sack_options, "sacks_beyond_ack", asked)
    stamp = b"\x01\x01\x08\x0a\x05\x00\x00\x05\x00\x05\x05\x00"  # NOP NOP TS (5s inside)
    for acked in (0, 3, 40):
        last = 1 + 1000 * acked
        path = write(tmp_path / f"sack{acked}.pcap", 1, receiver_only(acked, [
            b"", stamp, sack((last - 500, last)), stamp + sack((last + 10, last + 20)),
            sack((last + 7240, last + 8192), (last + 9640, last + 10000))]))
        reference, bulk, fast = every_path(path)
        assert reference == bulk == fast
    assert calls["marked"] > 0 and calls["rows"] > calls["asked"] > calls["marked"]


@pytest.mark.usefixtures("short_everywhere")
def test_options_cut_by_the_snap_length_at_the_end_of_a_batch(tmp_path: Path) -> None:
    """A pure ACK whose timestamps option the snap length cut (a 54-byte snap: the fixed
    header whole, the options not), the last packet of its batch: its payload's start
    lies past the batch's bytes. The short pass reads none beyond them and tracks it as
    every path does (it raised IndexError in the short pass's hand_sacks, then
    short._hand_sacks, e81a3888)."""
    stamp = b"\x01\x01\x08\x0a" + b"\x05" * 8  # NOP NOP TS, each value byte a 5
    packets = receiver_only(3, [stamp, stamp])[:-1]  # no FIN: a pure ACK ends the file
    path = write(tmp_path / "cut.pcap", 1, [(packet, 54) for packet in packets])
    reference, bulk, fast = every_path(path)
    assert reference == bulk == fast
    (conn,) = reference
    assert conn.resp_pkts + conn.orig_pkts == len(packets)
