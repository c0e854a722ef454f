"""Records written out of time order (a multi-queue sniffer, files merged without
sorting: what `reordercap` fixes) and a clock set back (trial 29 D3, D5, D6).

A connection's times are its packets' times, whatever order the file holds them in: its
start is its earliest packet, its SYN span runs from its first SYN to its last by time,
and its handshake is recognised when the SYN, the SYN-ACK and the ACK are all in the
file. capture_clock_stepped tells records written out of order (time resumes after
them) from a clock set back (every later record shifted), and is dated by its frame.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lab_edits import LAB, analyze_lab, lab_packets, write
from scapy.all import TCP

from flowcheck.cli.main import run


def _data_connection(analysis, port: int):
    return next(c for c in analysis.traffic.connections if c.resp_p == port)


def _finding(analysis, code: str):
    return next(f for f in analysis.findings if f.code == code)


def test_syn_span_and_start_by_time_when_the_syns_are_written_backwards(
        tmp_path: Path) -> None:
    """data-port-dropped with frames 22-26 (the 4 data SYNs and a control ACK) written in
    reverse: the SYNs still span 3.1 s from the first SYN (trial 29 D3: 'over 0.0 s' at
    the last SYN's time)."""
    original = analyze_lab(LAB / "data-port-dropped.pcap", "data-port-dropped")
    packets = lab_packets("data-port-dropped")
    packets[21:26] = packets[21:26][::-1]
    analysis = analyze_lab(write(tmp_path, "reversed", packets), "data-port-dropped")
    before, after = _data_connection(original, 6001), _data_connection(analysis, 6001)
    assert after.ts == before.ts and after.syn_ts == before.syn_ts
    assert after.last_ts == before.last_ts
    unanswered = _finding(analysis, "data_unanswered")
    assert unanswered.ts == _finding(original, "data_unanswered").ts
    step = next(s for s in analysis.sessions[0].steps if s.step == 4)
    assert "4 SYNs over 3.07 s" in step.detail
    clock = _finding(analysis, "capture_clock_stepped")
    assert "written out of time order" in clock.message and "reordercap" in clock.fix
    assert "clock was set back" not in clock.message


def test_handshake_recognised_when_its_ack_is_written_before_the_syn(tmp_path: Path) -> None:
    """The data connection's SYN, SYN-ACK and ACK written ACK first, SYN last (stamps
    a few microseconds apart, no clock step): its handshake is still measured."""
    packets = lab_packets("clean-3-resources")
    at = next(i for i, p in enumerate(packets)
              if TCP in p and p[TCP].flags == "S" and p[TCP].dport == 6001)
    packets[at:at + 3] = packets[at:at + 3][::-1]
    analysis = analyze_lab(write(tmp_path, "handshake", packets), "clean-3-resources")
    step = next(s for s in analysis.sessions[0].steps if s.step == 4)
    assert "not fully captured" not in step.detail
    assert _data_connection(analysis, 6001).rtt is not None


def test_clock_set_back_is_told_as_a_clock_step_dated_by_its_frame(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every record from mid-transfer on stamped 5 s earlier: a clock step (D3's other
    case), its finding dated (D6: ts was null), and no '+-0.000s' in the text (D5)."""
    packets = lab_packets("clean-3-resources")
    for packet in packets[60:]:
        packet.time -= Decimal(5)
    path = write(tmp_path, "stepped", packets)
    analysis = analyze_lab(path, "clean-3-resources")
    clock = _finding(analysis, "capture_clock_stepped")
    assert "clock was set back" in clock.message
    assert clock.frames[0] == 61 and clock.ts == pytest.approx(float(packets[60].time))
    run(["analyze", str(path), "--config", str(LAB / "clean-3-resources.toml")])
    out = capsys.readouterr().out
    assert "+-" not in out
    assert "the first packet of the capture's earliest connection" in out
    assert "capture_clock_stepped (frame 61, at " in out


def test_moved_flows_gives_spans_by_time_each_flows_earliest_time(tmp_path: Path) -> None:
    """connections.by_time.moved_flows, on data-port-dropped with the SYNs of the data
    connection to port 6001 written in reverse (one batch): the flows whose packets go
    back in time are moved, and it hands spans_by_time the batch's times in flow order
    and each flow's earliest time that counts (computed once per batch)."""
    import numpy as np

    from flowcheck.connections.by_time import moved_flows
    from flowcheck.connections.clock import ClockSteps
    from flowcheck.connections.flows import group_flows
    from flowcheck.decode import decode_batch
    from flowcheck.sources import iter_batches

    packets = lab_packets("data-port-dropped")
    packets[21:26] = packets[21:26][::-1]
    path = write(tmp_path, "reversed", packets)
    [batch] = list(iter_batches([str(path)], read_ahead=False))
    clock = ClockSteps()
    clock.see(batch)
    assert clock.timed is not None
    decoded = decode_batch(batch)
    flows = group_flows(decoded)
    timed = clock.timed[decoded.tcp_index]
    found = moved_flows(decoded, flows, timed, clock.reached, lambda key: None)
    backwards = []
    for f in range(len(flows.keys)):
        rows = flows.order[flows.bounds[f]:flows.bounds[f + 1]]
        times = decoded.tcp_ts[rows].tolist()
        backwards.append(any(b < a for a, b in zip(times, times[1:], strict=False)))
        counted = [t for t, ok in zip(times, timed[rows].tolist(), strict=True) if ok]
        assert found.low[f] == (min(counted) if counted else np.inf)
    assert any(backwards)
    assert found.moved.tolist() == backwards
    assert found.ts.tolist() == decoded.tcp_ts[flows.order].tolist()
