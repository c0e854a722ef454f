"""Packets whose times go backwards read the same however ConnectionTracker.feed is
given them: the per-packet reference in one batch, the fast paths (bulk runs, the walk,
the short-connection pass) on batches of 1 to 8 packets.

A connection's packets written out of time order by less than NTP's step threshold (a
multi-queue NIC, merged captures, multi-interface pcapng) are taken in time order
within a batch (by_time.in_time_order); a pair written swapped with a batch's end
between them was taken in the file's order, so the counts followed where the caller cut
its batches (note62 "Left" 2, from ackframes and review62f):
- an originator-only capture whose last repeated ACK is stamped 0.2 ms after its first
  FIN: `handshake_ack_repeats` 29 in one batch (the ACK taken after the FIN, a
  keep-alive there, as tshark reads reordercap's sorted file), 30 on batches of 1-4 and
  8 (the file's order, tshark's on the file as written). Every path now reads 29, the
  rule of docs/json.md (time order, tshark's count on the sorted file), though the
  ACK's sequence number says it was sent before the FIN; keeping a flow's file order
  when time order sends a side's sequence numbers back more often than the file's
  would read 30 here, but the network reorders segments before a capture point too
  (review54f's bulktimed1 then read differently by read chunk), so it is not done;
- a transfer with segments written swapped (each stamped before the one written ahead
  of it): `retransmits` 0 in one batch, 1 to 4 on small batches (the later segment
  opening a gap the earlier one then fills as a resend).
track_connections took any read chunk already (its look-ahead across the seams,
connections.seams); the tracker now holds it itself (ConnectionTracker.feed), so every
caller's batches read the same.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from capture_factory import tcp_packet, write_pcap
from test_chunk_size_results import record_fields
from test_connections_fills import tshark_retransmissions
from test_connections_util import read_batches

from flowcheck.connections import ConnectionTracker, short_flows

M, A = "10.77.0.1", "10.77.0.2"
ISN_M, ISN_A = 1000, 5000
BATCHES = range(1, 9)  # packets per batch fed
SEGMENT = 100  # bytes of each data segment


def _repeated_acks() -> list[tuple[float, bytes]]:
    """M's SYN, its ACK of A's SYN-ACK sent 31 times 1 s apart (nothing of A's
    captured), then its FIN three times: the last ACK, written before the first FIN, is
    stamped 0.2 ms after it."""
    syn = (100.0, tcp_packet(M, A, 5002, 10000, "S", ISN_M))
    acks = [(100.0002 + k, tcp_packet(M, A, 5002, 10000, "A", ISN_M + 1, ISN_A + 1))
            for k in range(31)]
    fins = [(t, tcp_packet(M, A, 5002, 10000, "FA", ISN_M + 1, ISN_A + 1))
            for t in (130.0, 130.2, 130.6)]
    return [syn, *acks, *fins]


def _swapped_transfer() -> list[tuple[float, bytes]]:
    """A handshake, then 24 segments M to A 10 ms apart, each ACKed by A 5 ms later;
    every 5th segment written after the next one though stamped 0.1 ms before it (two
    NIC queues' rings), one ACK for both."""
    packets = [(1.0, tcp_packet(M, A, 5003, 10000, "S", ISN_M)),
               (1.001, tcp_packet(A, M, 10000, 5003, "SA", ISN_A, ISN_M + 1)),
               (1.002, tcp_packet(M, A, 5003, 10000, "A", ISN_M + 1, ISN_A + 1))]

    def data(k: int, t: float) -> tuple[float, bytes]:
        return (t, tcp_packet(M, A, 5003, 10000, "PA", ISN_M + 1 + k * SEGMENT, ISN_A + 1,
                              b"x" * SEGMENT))

    def ack(k: int, t: float) -> tuple[float, bytes]:  # A's ACK of segments 0..k
        return (t, tcp_packet(A, M, 10000, 5003, "A", ISN_A + 1,
                              ISN_M + 1 + (k + 1) * SEGMENT))

    k = 0
    while k < 24:
        t = 1.01 + k * 0.01
        if k % 5 == 0:
            packets += [data(k + 1, t + 0.01), data(k, t + 0.0099), ack(k + 1, t + 0.015)]
            k += 2
        else:
            packets += [data(k, t), ack(k, t + 0.005)]
            k += 1
    return packets


def _tracked(path: Path, batch: int, fast: bool) -> list[dict]:
    """Every record's every field (record_fields), the capture fed `batch` packets at a
    time."""
    tracker = ConnectionTracker(fast=fast)
    for part in read_batches(path, chunk=batch):
        tracker.feed(part)
    return [record_fields(c) for c in tracker.finish()]


def _sorted(path: Path) -> Path:
    """The capture as reordercap sorts it by time."""
    target = path.with_name("sorted.pcap")
    subprocess.run(["reordercap", str(path), str(target)], capture_output=True, check=True)
    return target


def _tshark_dup_acks(path: Path) -> int:
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", "tcp.analysis.duplicate_ack",
                          "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True, check=True).stdout
    return len(out.split())


@pytest.mark.parametrize("shape", [_repeated_acks, _swapped_transfer],
                         ids=["repeated ACK past the FIN", "segments written swapped"])
def test_every_batch_size_reads_the_one_batch_reference(
        shape, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_pcap(tmp_path / "c.pcap", shape())
    [reference] = want = _tracked(path, 1 << 30, fast=False)
    # tshark on the file as written and on the file reordercap sorts, whose order the
    # tracker takes (docs/json.md, retransmits).
    if shape is _repeated_acks:
        assert (_tshark_dup_acks(path), _tshark_dup_acks(_sorted(path))) == (30, 29)
        assert reference["orig_evidence"]["handshake_ack_repeats"] == 29
    else:
        assert (tshark_retransmissions(path), tshark_retransmissions(_sorted(path))) == ([5], [0])
        assert reference["retransmits"] == 0
    differ = {}
    for fast in (False, True):
        for batch in BATCHES:
            if (got := _tracked(path, batch, fast)) != want:
                differ[(fast, batch)] = sorted(k for k in reference if got[0][k] != reference[k])
    with monkeypatch.context() as short:  # every flow through the short pass
        short.setattr(short_flows, "SHORT_STEP_FLOWS", 1)
        short.setattr(short_flows, "SHORT_STEP_PACKETS", 0)
        for batch in BATCHES:
            if (got := _tracked(path, batch, True)) != want:
                differ[("short", batch)] = sorted(k for k in reference
                                                  if got[0][k] != reference[k])
    assert not differ
