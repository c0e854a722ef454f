"""A capturing host's clock set back between two steps of a good job (trial 29 D2).

The lab's clean 3-resource job with the timestamps from one frame on moved back: the
file still holds the packets in the order the sniffer wrote them, so the data
connection written right after its DATA_LISTEN reply follows it, and the callback
written after the control connection opened is the job's, whatever their timestamps
say. The job passes (with capture_clock_stepped when the step is NTP's), and no step
reads a false "the capture ended 0.000 s after", an unannounced connection, a capture
filter, a missing callback or a negative handshake.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from lab_edits import LAB, analyze_lab, lab_packets, write
from scapy.all import TCP

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, file_order, read_traffic

NAME = "clean-3-resources"
# Frames of captures/lab/clean-3-resources.pcap (1-based).
CALLBACK_SYN, DATA_SYN, DATA_SYNACK = 17, 22, 23


def _stepped(tmp_path: Path, frame: int, back: str) -> Path:
    """The lab capture with every timestamp from `frame` on moved back `back` seconds."""
    packets = lab_packets(NAME)
    for packet in packets[frame - 1:]:
        packet.time = Decimal(packet.time) - Decimal(back)
    return write(tmp_path, f"{NAME}-back-{back}-at-{frame}", packets)


@pytest.mark.parametrize(("frame", "back"), [
    (DATA_SYN, "2"),  # the data SYN right after DATA_LISTEN's reply, stamped 2 s before it
    (DATA_SYN, "0.05"),  # below NTP's step threshold: no capture_clock_stepped
    (CALLBACK_SYN, "1"),  # the callback stamped before its control connection opened
    (DATA_SYNACK, "0.2"),  # inside the data connection's handshake
])
def test_clock_set_back_between_steps_passes(tmp_path: Path, frame: int, back: str) -> None:
    analysis = analyze_lab(_stepped(tmp_path, frame, back), NAME)
    codes = {f.code for f in analysis.findings}
    assert analysis.verdict == "pass", [(f.code, f.message) for f in analysis.findings]
    assert not codes & {"unannounced_connection", "capture_ended_early", "capture_filtered"}
    assert ("capture_clock_stepped" in codes) == (float(back) >= 0.128)
    (session,) = analysis.sessions
    assert [s.status for s in session.steps] == ["ok"] * 5
    assert len(session.data_connections) == 3 and session.callback_uid is not None
    for step in session.steps:
        assert "handshake -" not in step.detail and "ended" not in step.detail


def _without_second_data(tmp_path: Path, back: str, cut: int | None = None) -> Path:
    """The lab capture without its second data connection (ports 5003 -> 6002), first
    `cut` frames only, the timestamps moved back `back` seconds from the frame after
    that connection's DATA_LISTEN reply (frame 215) on."""
    packets = [p for p in lab_packets(NAME)
               if not (TCP in p and {p[TCP].sport, p[TCP].dport} == {5003, 6002})][:cut]
    for packet in packets[215:]:
        packet.time = Decimal(packet.time) - Decimal(back)
    return write(tmp_path, f"{NAME}-no-c4-back-{back}-{cut}", packets)


def _ms(text: str) -> str:
    """Durations in ms to the whole millisecond: "47.3 ms" of the steady clock reads "47
    ms" across the step (the capture's time after an event summed over the step,
    verify.capture_time; the words gave "%.3f s" before they gave span_words)."""
    return re.sub(r"(\d+(?:\.\d+)?) ms\b", lambda m: f"{round(float(m.group(1)))} ms", text)


def _reading(path: Path) -> tuple[str, list[str], list[tuple[str, str]]]:
    """What the user reads: the verdict, the findings' codes and messages (but the
    clock step's own), each step's status and detail."""
    analysis = analyze_lab(path, NAME)
    (session,) = analysis.sessions
    return (analysis.verdict,
            sorted(_ms(f"{f.code}: {f.message}") for f in analysis.findings
                   if f.code != "capture_clock_stepped"),
            [(s.status, _ms(s.detail)) for s in session.steps])


@pytest.mark.parametrize("cut", [
    None,  # the job's NDMP messages go on to report the data moved: capture_filtered
    218,  # the capture stops 3 frames later: capture_ended_early, and how long it ran on
])
def test_clock_set_back_after_an_unreached_announcement(tmp_path: Path,
                                                         cut: int | None) -> None:
    """An announcement no captured connection reached reads the same whether or not the
    clock was set back right after it: the NDMP messages written after it are after it,
    and the capture did not end at it ("the capture ended 0 ms after")."""
    steady = _reading(_without_second_data(tmp_path, "0", cut))
    stepped = _reading(_without_second_data(tmp_path, "2", cut))
    assert stepped == steady
    assert steady[0] == "inconclusive"


def test_frames_order_one_file_of_one_interface_only(tmp_path: Path) -> None:
    """Frame numbers are the write order of one file (Traffic.one_stream); the files of
    a set whose time spans overlap are merged by time, so there time alone orders (and
    the job still passes)."""
    packets = lab_packets(NAME)
    control = [p for p in packets if TCP in p and 10000 in (p[TCP].sport, p[TCP].dport)]
    rest = [p for p in packets if not (TCP in p and 10000 in (p[TCP].sport, p[TCP].dport))]
    one = write(tmp_path, "one", packets)
    parts = [write(tmp_path, "control", control), write(tmp_path, "rest", rest)]
    config = build_config(load_file(LAB / f"{NAME}.toml"))
    assert read_traffic([str(one)], config).one_stream
    traffic = read_traffic([str(p) for p in parts], config)
    assert not traffic.one_stream
    assert analyze(traffic, config).verdict == "pass"


def test_records_written_out_of_time_order_are_ordered_by_time(tmp_path: Path) -> None:
    """Review: a file written by two queues in turn (blocks of records 0.25 s apart
    interleaved) is one file of one interface, but its write order is no event order,
    and summing the clock's rises over it counted each jump back twice (1.98 s of
    capture read 3.66 s): time orders it. A clock set back keeps frame order."""
    config = build_config(load_file(LAB / f"{NAME}.toml"))
    packets = lab_packets(NAME)
    start = Decimal(packets[0].time)
    queues: list[list] = [[], []]
    for i, packet in enumerate(packets[:200]):
        packet.time = start + Decimal(i) * Decimal("0.01")
        queues[(i // 25) % 2].append(packet)
    interleaved = [p for pair in zip(queues[0], queues[1], strict=False) for p in pair]
    written = write(tmp_path, "two-queues", interleaved)
    assert not read_traffic([str(written)], config).one_stream
    stepped = _stepped(tmp_path, 22, "2")
    assert read_traffic([str(stepped)], config).one_stream


def test_a_connection_begins_with_its_first_syn_after_a_clock_set_back(
        tmp_path: Path) -> None:
    """Re-check of trial 29: the clock set back 0.2 s at the data SYN-ACK stamps the
    control connection's later packets before its SYN; those within the step threshold
    of the time reached counted, and the session "started" at frame 517."""
    config = build_config(load_file(LAB / f"{NAME}.toml"))
    traffic = read_traffic([str(_stepped(tmp_path, 23, "0.2"))], config)
    control = next(c for c in traffic.connections if c.resp_p == 10000)
    assert control.ts == control.syn_ts == float(lab_packets(NAME, 1)[0].time)


# Frames 528 and 529 (1-based): two segments 6003 -> 5004 of the third data
# connection, after the clock set back at DATA_SYN has caught up again.
SWAPPED = 528


def test_a_swap_in_one_connection_keeps_the_file_order_for_the_others(
        tmp_path: Path) -> None:
    """A NIC-queue swap of two records of the third data connection (flowcheck takes
    that connection's packets in time order) does not make frame numbers meaningless
    for the rest of the file: the clock set back 50 ms at the first data connection's
    SYN is still read by the file's order (the data connection written after its
    DATA_LISTEN reply follows it), so the job passes; the swapped connection alone is
    judged by time (FileOrder.moved). It read INCONCLUSIVE with a false
    unannounced_connection and capture_filtered."""
    packets = lab_packets(NAME)
    for packet in packets[DATA_SYN - 1:]:
        packet.time = Decimal(packet.time) - Decimal("0.05")
    at = SWAPPED - 1
    packets[at], packets[at + 1] = packets[at + 1], packets[at]
    path = write(tmp_path, f"{NAME}-back-at-{DATA_SYN}-swap-{SWAPPED}", packets)
    analysis = analyze_lab(path, NAME)
    codes = {f.code for f in analysis.findings}
    assert "capture_written_out_of_order" in codes
    assert analysis.verdict == "pass", [(f.code, f.message) for f in analysis.findings]
    assert not codes & {"unannounced_connection", "capture_filtered"}
    (session,) = analysis.sessions
    assert [s.status for s in session.steps] == ["ok"] * 5
    swapped = next(c for c in analysis.traffic.connections if c.resp_p == 6003)
    first = next(c for c in analysis.traffic.connections if c.resp_p == 6001)
    order = file_order(analysis.traffic)
    assert not order.by_frame(swapped.first_frame)
    assert order.by_frame(first.first_frame)
