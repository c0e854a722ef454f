"""The handshake's repeated ACKs by their frames (Connection.ack_repeat_frames,
flowcheck.connections.ack_repeats): handshake_incomplete counted them ("its ACK ... 3
times") and listed none, so a user could not find them. On scapy-built captures, checked
against tshark's frames, on every path of the tracker: the per-packet reference, bulk
runs (batches of every size: a run of two ACKs in a 2-packet batch) and the
short-connection pass (every flow in it, parked between batches).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from capture_factory import tcp_packet, write_pcap
from test_connections_fills import track_chunks

from flowcheck.config import build_config
from flowcheck.connections import short_flows
from flowcheck.model import Connection
from flowcheck.pipeline import analyze, read_traffic

M, A = "10.77.0.1", "10.77.0.2"
ISN_M, ISN_A = 1000, 5000
PORT = 10000  # NDMP's: a control connection, whose handshake_incomplete verify.opening reads
CHUNKS = (1, 2, 3, 7, 1_000_000)


def _ack(t: float) -> tuple[float, bytes]:
    """M's ACK of A's SYN-ACK (nothing but its SYN sent before)."""
    return (t, tcp_packet(M, A, 5002, PORT, "A", ISN_M + 1, ISN_A + 1))


def _synack(t: float) -> tuple[float, bytes]:
    return (t, tcp_packet(A, M, PORT, 5002, "SA", ISN_A, ISN_M + 1))


SYN = (100.0, tcp_packet(M, A, 5002, PORT, "S", ISN_M))
# A's SYN-ACK answered by M's ACK, A's SYN-ACK resent twice (+1 s, +3 s), each answered
# by the ACK again, nothing after: the ACK never reached A (trial 34).
BOTH = [SYN, _synack(100.0001), _ack(100.0002), _synack(101.0), _ack(101.0001),
        _synack(103.0), _ack(103.0001)]
# The same from a capture of M's packets alone (`tcpdump -Q out`), its FIN resent
# unacknowledged (sessions.unheard_ack.acks_repeated): the three ACKs in a row.
FINS = [(t, tcp_packet(M, A, 5002, PORT, "FA", ISN_M + 1, ISN_A + 1))
        for t in (130.0, 130.2, 130.6)]
ONE_WAY = [SYN, _ack(100.0002), _ack(101.0001), _ack(103.0001), *FINS]


def _tshark_acks(path: Path) -> tuple[list[int], list[int]]:
    """M's pure ACKs (frames) as tshark shows them, and those it flags
    tcp.analysis.duplicate_ack."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", f"ip.src == {M} && tcp.flags == 0x010",
         "-T", "fields", "-e", "frame.number", "-e", "tcp.analysis.duplicate_ack"],
        capture_output=True, text=True, check=True).stdout
    acks = [line.split("\t") for line in out.splitlines()]
    return [int(row[0]) for row in acks], [int(row[0]) for row in acks if row[1]]


def _every_path(path: Path, monkeypatch: pytest.MonkeyPatch) -> Connection:
    """The one connection as the reference path keeps it, after checking that the bulk
    runs and the short-connection pass, on batches of every size, keep it the same."""
    [reference] = track_chunks(path, 1_000_000, fast=False)
    for chunk in CHUNKS:
        assert track_chunks(path, chunk, fast=True) == [reference], chunk
    with monkeypatch.context() as short:
        short.setattr(short_flows, "SHORT_STEP_FLOWS", 1)
        short.setattr(short_flows, "SHORT_STEP_PACKETS", 0)
        for chunk in CHUNKS:
            [conn] = track_chunks(path, chunk, fast=True)
            assert conn == reference, chunk
            assert conn.ack_repeat_frames == reference.ack_repeat_frames, chunk
    return reference


@pytest.mark.parametrize("packets", [BOTH, ONE_WAY], ids=["both directions", "one way"])
def test_the_handshake_incomplete_finding_lists_the_repeated_acks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        packets: list[tuple[float, bytes]]) -> None:
    path = tmp_path / "c.pcap"
    write_pcap(path, packets)
    acks, duplicates = _tshark_acks(path)
    assert len(acks) == 3 and len(duplicates) == 2  # the ACK, then twice again
    config = build_config({})
    analysis = analyze(read_traffic([str(path)], config), config)
    [finding] = [f for f in analysis.findings if f.code == "handshake_incomplete"]
    # M's ACKs in the finding's frames: every one with both directions (the first is
    # Connection.ack_frame, the ACK a SYN-ACK came after), its repeats from M's side
    # alone, which the words name; the rest are the SYN, the SYN-ACKs and the FINs.
    listed = [f for f in finding.frames if f in acks]
    if packets is BOTH:
        assert listed == acks
        assert finding.frames == list(range(1, 8))
    else:
        assert listed == duplicates
        assert f"3 times with the same numbers (again in frames {duplicates[0]}, " \
               f"{duplicates[1]})" in finding.message
    assert finding.frames_more == 0
    conn = _every_path(path, monkeypatch)
    assert conn.evidence("orig").handshake_ack_repeats == 2
    assert conn.ack_repeat_frames == duplicates


def test_the_frames_stop_at_the_evidence_cap(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """An ACK repeated 30 times: the first 20 repeats kept on every path (EVIDENCE_CAP,
    as syn_frames), the finding lists the first 20 of its frames and counts the rest."""
    repeats = [_ack(100.0002 + k * 0.5) for k in range(31)]
    path = tmp_path / "c.pcap"
    write_pcap(path, [SYN, *repeats, *FINS])
    _, duplicates = _tshark_acks(path)
    assert len(duplicates) == 30
    conn = _every_path(path, monkeypatch)
    assert conn.ack_repeat_frames == duplicates[:20]
    config = build_config({})
    analysis = analyze(read_traffic([str(path)], config), config)
    [finding] = [f for f in analysis.findings if f.code == "handshake_incomplete"]
    assert finding.frames == sorted({1, *duplicates[:20], 33, 34, 35})[:20]
    assert finding.frames_more == 24 - 20


def test_a_data_receivers_duplicate_acks_are_not_kept(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """M receives A's data and sends nothing but ACKs (its sequence number stays its
    SYN's + 1): its duplicate ACKs of A's bytes after a segment lost before the capture
    point are no handshake ACK (their number is not A's SYN's + 1): not kept."""
    data = [(100.1 + k * 0.01, tcp_packet(A, M, PORT, 5002, "PA", ISN_A + 1 + 100 * k,
                                          ISN_M + 1, b"x" * 100)) for k in (0, 2, 3, 4)]
    dups = [(100.1 + k * 0.01 + 0.001, tcp_packet(M, A, 5002, PORT, "A", ISN_M + 1,
                                                  ISN_A + 101)) for k in (0, 2, 3, 4)]
    packets = [SYN, _synack(100.0001), _ack(100.0002),
               *[p for pair in zip(data, dups, strict=True) for p in pair]]
    path = tmp_path / "c.pcap"
    write_pcap(path, packets)
    _, duplicates = _tshark_acks(path)
    assert len(duplicates) == 3
    conn = _every_path(path, monkeypatch)
    assert conn.ack_repeat_frames == []
