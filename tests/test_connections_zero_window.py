"""SideEvidence.zero_window_ts, _frame, _acks and _probes: a side's trailing zero
window (RFC 9293 3.8.6.1: its latest window advertisement is 0; a receiving process that
stopped reading its socket), on the reference (one packet at a time), bulk and
short-connection paths of the tracker, which must agree on batches of every size; the
frames as tshark flags them ("tcp.analysis.zero_window").
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tshark_fork
from test_connections_acked_unseen import run, short_everywhere  # noqa: F401 (fixture)
from test_connections_states import A, M
from test_connections_states import run as run_packets
from test_connections_util import ACK, PSH, RST, SYN, ethernet, ipv4, tcp
from test_connections_util import write_pcap as write

from flowcheck.connections import short_flows

LAB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-lab"


def pkt(from_m: bool, flags: int, seq: int, ack: int = 0, data: int = 0,
        window: int = 65535) -> bytes:
    src, dst, sport, dport = (M, A, 5001, 10000) if from_m else (A, M, 10000, 5001)
    return ethernet(ipv4(src, dst, 6, tcp(sport, dport, seq, ack, flags, b"p" * data,
                                          window=window)))


def stalled_receiver() -> tuple[list[bytes], dict[str, int]]:
    """M sends 20 segments to A, A's window closes (frame 45) and M probes it 6 times
    (Linux: seq snd_una - 1, no payload), each answered with window 0; A reopens, takes
    20 more, closes again for good at frame `closed`: M's in-flight segment and 9
    probes follow, each answered; A's SYN-ACK and M's final RST carry window 0 (no
    advertisement: ignored). Expected values in the dict (frames from 1)."""
    packets = [pkt(True, SYN, 100), pkt(False, SYN | ACK, 900, 101, window=0),
               pkt(True, ACK, 101, 901)]
    seq = 101

    def transfer(count: int) -> None:
        nonlocal seq
        for _ in range(count):
            packets.append(pkt(True, PSH | ACK, seq, 901, data=100))
            seq += 100
            packets.append(pkt(False, ACK, 901, seq))

    transfer(20)
    packets[-1] = pkt(False, ACK, 901, seq, window=0)  # frame 43: the first close
    for _ in range(6):
        packets += [pkt(True, ACK, seq - 1, 901), pkt(False, ACK, 901, seq, window=0)]
    packets.append(pkt(False, ACK, 901, seq, window=8192))  # reopened
    transfer(20)
    packets.append(pkt(True, PSH | ACK, seq, 901, data=100))  # in flight
    seq += 100
    packets.append(pkt(False, ACK, 901, seq, window=0))
    closed = len(packets)
    for _ in range(9):
        packets += [pkt(True, ACK, seq - 1, 901), pkt(False, ACK, 901, seq, window=0)]
    packets.append(pkt(True, RST | ACK, seq, 901, window=0))
    return packets, {"closed": closed, "acks": 10, "probes": 9}


def tshark_zero_windows(path: Path) -> list[int]:
    return [int(frame) for (frame,) in tshark_fork.fields(path, "tcp.analysis.zero_window",
                                                          "frame.number")]


@pytest.mark.parametrize("short_pass", ["as configured", "every batch"])
def test_trailing_zero_window_on_every_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            short_pass: str) -> None:
    if short_pass == "every batch":
        monkeypatch.setattr(short_flows, "SHORT_STEP_FLOWS", 1)
        monkeypatch.setattr(short_flows, "SHORT_STEP_PACKETS", 0)
    packets, expected = stalled_receiver()
    (reference,) = run_packets(tmp_path, packets, chunk=1, fast=False)
    start = 1_700_000_000.0  # test_connections_util.write_pcap's first packet
    closed = expected["closed"]
    closing = reference.evidence("resp")
    assert (closing.zero_window_frame, closing.zero_window_acks,
            closing.zero_window_probes) == (closed, expected["acks"], expected["probes"])
    assert reference.evidence("resp").zero_window_ts == pytest.approx(start + (closed - 1) * 0.001)
    # The first zero window reopened: frames 43 to 56, the longest (and only) one.
    assert (reference.evidence("resp").zero_window_longest_frame,
            reference.evidence("resp").zero_window_reopened_frame) == (43, 56)
    assert reference.evidence("resp").zero_window_longest == pytest.approx(0.013, abs=1e-5)
    assert reference.evidence("resp").zero_window_longest_ts == pytest.approx(start + 0.042)
    # M's RST with window 0 advertises nothing; the probes are no retransmissions.
    assert (reference.evidence("orig").zero_window_ts, reference.evidence("orig").zero_window_frame,
            reference.evidence("orig").zero_window_acks) == (None, 0, 0)
    assert (reference.retransmits, reference.evidence("orig").resends) == (0, 0)
    # tshark flags the same frames: A's window-0 segments but the SYN-ACK.
    zeros = tshark_zero_windows(tmp_path / "t.pcap")
    assert zeros[0] == 43
    assert [f for f in zeros if f >= closed] == list(range(closed, len(packets), 2))
    for chunk in range(1, len(packets) + 1, 3):
        assert run_packets(tmp_path, packets, chunk=chunk) == [reference], chunk


@pytest.mark.parametrize("short_pass", ["as configured", "every batch"])
def test_reopened_window_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        short_pass: str) -> None:
    if short_pass == "every batch":
        monkeypatch.setattr(short_flows, "SHORT_STEP_FLOWS", 1)
        monkeypatch.setattr(short_flows, "SHORT_STEP_PACKETS", 0)
    packets, expected = stalled_receiver()
    end = expected["closed"] + 2 * expected["probes"]
    seq = 101 + 41 * 100
    packets[end:] = [pkt(False, ACK, 901, seq, window=4096),
                     pkt(True, PSH | ACK, seq, 901, data=100)]
    (reference,) = run_packets(tmp_path, packets, chunk=1, fast=False)
    closing = reference.evidence("resp")
    assert (closing.zero_window_ts, closing.zero_window_frame, closing.zero_window_acks,
            closing.zero_window_probes) == (None, 0, 0, 0)
    # The second zero window (frames 98 to 117) lasted longer than the first.
    closed = expected["closed"]
    assert (reference.evidence("resp").zero_window_longest_frame,
            reference.evidence("resp").zero_window_reopened_frame) == (closed, end + 1)
    assert closing.zero_window_longest == pytest.approx((end - closed + 1) * 0.001, abs=1e-5)
    assert "w" in reference.history
    for chunk in range(1, len(packets) + 1, 3):
        assert run_packets(tmp_path, packets, chunk=chunk) == [reference], chunk


def test_tshark_flags_every_zero_window_but_the_syn_ack(tmp_path: Path) -> None:
    """tshark: a SYN-ACK with window 0 is no zero window (nor to flowcheck)."""
    packets, _ = stalled_receiver()
    path = write(tmp_path / "z.pcap", 1, packets)
    assert len(tshark_zero_windows(path)) == 6 + 1 + 10


@pytest.mark.parametrize("name", ["v4-tape-stopped", "v4-tape-paused"])
def test_lab_zero_windows_agree_on_every_path(name: str, short_everywhere: None  # noqa: F811
                                              ) -> None:
    """ndmjob's tape agent stopped mid-job (flowcheck.lab.ndmjob.TapePause): the data
    connection's zero window (tests/test_verify_receiver_stalled.py checks it against
    tshark) the same on every path and batch size."""
    path = LAB / f"{name}.pcap.gz"
    reference, _ = run(path, 1_000_000, fast=False)
    data = reference[-1]
    closing = data.evidence("resp")
    assert closing.zero_window_ts is not None or closing.zero_window_longest > 5
    # Not 50 as well: it walked no branch of flowcheck that 20, 700 and one batch do not
    # (branch coverage over both captures, session 48).
    for chunk in (20, 700, 1_000_000):
        assert run(path, chunk, fast=True)[0] == reference, chunk
