"""Timestamps that disagree with the order of events (found by a new-user trial).

Copies of the stored lab captures with timestamps changed by scapy as a merged
two-interface or SPAN capture (jitter of tens of microseconds) or an NTP step would
change them: the verdict must be the one of the stored capture.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from pathlib import Path

import pytest
from scapy.packet import Packet
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sessions.matching import ANNOUNCEMENT_JITTER_SECONDS

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"

# In both captures frame 21 is the DATA_LISTEN reply announcing 10.77.0.2:6001 and frame
# 22 the media server's first SYN to it.
REPLY, SYN = 21, 22


def _analyze(name: str, path: Path) -> Analysis:
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(path)], config), config)


@functools.cache
def _stored(name: str) -> tuple[Packet, ...]:
    """captures/lab/NAME.pcap's packets, one copy a process (read_packets copies every
    packet at each call): the edits copy the packets they change."""
    return tuple(read_packets(str(LAB / f"{name}.pcap")))


def _jittered(name: str, tmp_path: Path, seconds: str, *, swap: bool = False) -> Path:
    """The SYN (frame 22) stamped `seconds` before the DATA_LISTEN reply (frame 21),
    file order kept; with swap, the two packets also trade places in the file."""
    packets = list(_stored(name))
    reply, syn = packets[REPLY - 1], packets[SYN - 1].copy()
    packets[SYN - 1] = syn
    syn.time = reply.time - Decimal(seconds)
    if swap:
        packets[REPLY - 1], packets[SYN - 1] = syn, reply
    out = tmp_path / f"{name}-jitter.pcap"
    write_packets(str(out), packets)
    return out


@pytest.mark.parametrize("swap", [False, True])
def test_dropped_data_connection_stamped_before_its_announcement_is_data_unanswered(
        tmp_path: Path, swap: bool) -> None:
    analysis = _analyze("data-port-dropped",
                        _jittered("data-port-dropped", tmp_path, "0.00005", swap=swap))
    codes = [f.code for f in analysis.findings]
    assert analysis.verdict == "fail" and "data_unanswered" in codes, codes
    assert "announced_not_used" not in codes and "unannounced_connection" not in codes


@pytest.mark.parametrize("swap", [False, True])
def test_clean_job_with_jitter_passes(tmp_path: Path, swap: bool) -> None:
    analysis = _analyze("clean-3-resources",
                        _jittered("clean-3-resources", tmp_path, "0.00005", swap=swap))
    codes = [f.code for f in analysis.findings]
    assert analysis.verdict == "pass", codes
    assert "capture_ended_early" not in codes and "unannounced_connection" not in codes
    [session] = analysis.sessions
    assert len(session.data_connections) == 3


def test_connection_well_before_the_announcement_does_not_follow_it(tmp_path: Path) -> None:
    """Beyond the tolerance a connection to the endpoint written before the announcement
    is not the announced one. (Written after it, it follows it whatever its time: the
    capturing host's clock was set back, trial 29 D2, tests/test_clock_step_order.py.)"""
    seconds = str(ANNOUNCEMENT_JITTER_SECONDS * 10)
    analysis = _analyze("data-port-dropped",
                        _jittered("data-port-dropped", tmp_path, seconds, swap=True))
    codes = [f.code for f in analysis.findings]
    assert "unannounced_connection" in codes and "data_unanswered" not in codes, codes


def _stepped(name: str, tmp_path: Path, frame: int, seconds: str) -> Path:
    """Frames from `frame` on shifted by `seconds` (an NTP step of the capturing host)."""
    packets = list(_stored(name))
    packets[frame - 1:] = [packet.copy() for packet in packets[frame - 1:]]
    for packet in packets[frame - 1:]:
        packet.time = packet.time + Decimal(seconds)
    out = tmp_path / f"{name}-step.pcap"
    write_packets(str(out), packets)
    return out


def test_clock_stepping_back_mid_capture_does_not_reorder_the_steps(tmp_path: Path) -> None:
    # Frame 300 lies in the second resource's data: the callback (frame 17) comes before
    # the first data connection (frame 22) by frame, the third data connection is an
    # hour "earlier" by its timestamp.
    analysis = _analyze("clean-3-resources", _stepped("clean-3-resources", tmp_path, 300,
                                                      "-3600"))
    codes = [f.code for f in analysis.findings]
    assert analysis.verdict == "pass", codes
    assert "step_out_of_order" not in codes
    [stepped] = [f for f in analysis.findings if f.code == "capture_clock_stepped"]
    assert stepped.frames == [300] and "3600 s" in stepped.message
    assert "frame number" in stepped.message


def test_jitter_is_not_a_clock_step(tmp_path: Path) -> None:
    analysis = _analyze("clean-3-resources",
                        _jittered("clean-3-resources", tmp_path, "0.00005"))
    assert "capture_clock_stepped" not in [f.code for f in analysis.findings]


def test_clock_step_between_two_batches_is_seen() -> None:
    import numpy as np

    from flowcheck.connections.clock import ClockSteps
    from flowcheck.sources.batch import PacketBatch

    def batch(frame0: int, ts: list[float]) -> PacketBatch:
        n = len(ts)
        return PacketBatch(b"", frame0, np.array(ts), np.zeros(n, np.int64),
                           np.zeros(n, np.int32), np.zeros(n, np.int32), np.ones(n, np.int32))

    clock = ClockSteps()
    clock.see(batch(1, [100.0, 100.5, 101.0]))
    clock.see(batch(4, [41.0, 41.1, 41.0999]))
    assert clock.count == 1 and clock.steps[0][0] == 4
    assert abs(clock.steps[0][1] - 60.0) < 1e-9


def _two_interfaces(name: str, tmp_path: Path, *, step_at: int | None = None) -> Path:
    """The capture as dumpcap writes two interfaces into one pcapng: the media server's
    packets on interface 0, the agent's on interface 1, each written in batches of 0.3 s
    (interface 0's batch, then interface 1's), so the file goes back in time by up to
    0.3 s at each turn. With step_at, every packet from that one on (by time) is stamped
    an hour earlier: a real clock step seen on both interfaces."""
    from capture_factory import pcapng_bytes

    packets = _stored(name)
    rows = []
    for number, packet in enumerate(packets, start=1):
        ts = float(packet.time) - (3600.0 if step_at is not None and number >= step_at else 0)
        rows.append((0 if packet["IP"].src == "10.77.0.1" else 1, ts, bytes(packet), number))
    # Batches by the original order's time, so a stepped clock keeps its place in the file.
    windows = [int((float(p.time) - float(packets[0].time)) / 0.3) for p in packets]
    ordered = sorted(zip(windows, rows, strict=True), key=lambda w: (w[0], w[1][0], w[1][3]))
    out = tmp_path / f"{name}-two-interfaces.pcapng"
    out.write_bytes(pcapng_bytes([1, 1], [(iface, ts, data) for _, (iface, ts, data, _n)
                                          in ordered]))
    return out


def test_interfaces_written_in_batches_are_not_a_clock_step(tmp_path: Path) -> None:
    """dumpcap -i m0 -i a0 (trial 8: 0.19 s back at each turn to the other interface)."""
    analysis = _analyze("clean-3-resources", _two_interfaces("clean-3-resources", tmp_path))
    codes = [f.code for f in analysis.findings]
    assert "capture_clock_stepped" not in codes
    assert analysis.verdict == "pass", codes


def test_clock_step_in_a_two_interface_capture_is_seen(tmp_path: Path) -> None:
    analysis = _analyze("clean-3-resources",
                        _two_interfaces("clean-3-resources", tmp_path, step_at=300))
    [stepped] = [f for f in analysis.findings if f.code == "capture_clock_stepped"]
    assert "3600" in stepped.message


def _data_interface_first(name: str, tmp_path: Path) -> Path:
    """The capture as dumpcap writes a multi-homed media server's two NICs into one
    pcapng (trial 19 D2, pn1-two-nics.pcapng): the data connections (agent range) on
    interface 1, control and callback on interface 0, each 0.3 s batch of interface 1
    written before interface 0's. The data connection's SYN (frame 22, +13.6 ms) is then
    written before the callback's (frame 17, +8.5 ms), stamped after it."""
    from capture_factory import pcapng_bytes

    packets = _stored(name)
    rows = []
    for number, packet in enumerate(packets, start=1):
        data = 6001 <= packet["TCP"].sport <= 6100 and packet["TCP"].dport != 5001 or \
            6001 <= packet["TCP"].dport <= 6100 and packet["TCP"].sport != 5001
        window = int((float(packet.time) - float(packets[0].time)) / 0.3)
        rows.append((window, 0 if data else 1, number, 1 if data else 0,
                     float(packet.time), bytes(packet)))
    rows.sort()
    out = tmp_path / f"{name}-data-interface-first.pcapng"
    out.write_bytes(pcapng_bytes([1, 1], [(iface, ts, data) for *_, iface, ts, data
                                          in rows]))
    return out


def test_callback_stamped_before_the_data_but_written_after_it_is_in_order(
        tmp_path: Path) -> None:
    """The file is not in time order across its interfaces: the callback, written after
    the data connection, was stamped before it. It was step_out_of_order, "the agent does
    not follow the documented sequence", a good job failed (trial 19 D2). The callback
    is out of order only when it came after the data connection both in the file and by
    its timestamps; step 2's detail says the file is not in time order."""
    capture = _data_interface_first("clean-3-resources", tmp_path)
    analysis = _analyze("clean-3-resources", capture)
    codes = [f.code for f in analysis.findings]
    assert analysis.verdict == "pass", codes
    assert "step_out_of_order" not in codes
    [session] = analysis.sessions
    callback = session.steps[1]
    assert callback.status == "ok"
    assert "not in time order" in callback.detail, callback.detail


def test_callback_after_the_data_in_the_file_and_in_time_is_out_of_order(
        tmp_path: Path) -> None:
    """The callback's handshake (frames 17-19) moved after the data connection's first
    packets (frame 30), in the file and in time: the agent's order, held against it."""
    packets = list(_stored("clean-3-resources"))
    callback = [packet.copy() for packet in packets[16:19]]
    rest = packets[:16] + packets[19:]
    later = rest[26].time  # the old frame 30, the data connection's
    for offset, packet in enumerate(callback, start=1):
        packet.time = later + Decimal(offset) / 1000000
    moved = tmp_path / "late-callback.pcap"
    write_packets(str(moved), rest[:27] + callback + rest[27:])
    analysis = _analyze("clean-3-resources", moved)
    assert "step_out_of_order" in [f.code for f in analysis.findings]


def test_dumpcap_two_nics_written_in_blocks_passes() -> None:
    """The trial's own capture (captures/lab-pcapng-interfaces): m1's block, the data
    connections, written before m0's, the callback stamped 0.341 ms before the data."""
    folder = LAB.parent / "lab-pcapng-interfaces"
    config = build_config(load_file(folder / "two-nics-data-block-first.toml"))
    capture = folder / "two-nics-data-block-first.pcapng.gz"
    analysis = analyze(read_traffic([str(capture)], config), config)
    assert analysis.verdict == "pass", [f.code for f in analysis.findings]
    [session] = analysis.sessions
    assert "(frame 270 after frame 1) but stamped 0.341 ms before it" in \
        session.steps[1].detail


def test_files_joined_out_of_time_order_are_named_as_a_cause_of_the_step(
        tmp_path: Path) -> None:
    """Trial 18 D7: a ring joined with `mergecap -a` in shell-glob order was blamed on the
    host clock alone (NTP), with a fix about NTP; the join is named, and the fix gives the
    files or a merge by time. Its connections' SYNs written after their later packets
    show the pieces (connections.joined_order, newuser58): the file is read as its parts
    merged by time, the verdict the files' given apart."""
    import subprocess

    source = Path(__file__).resolve().parent.parent / "captures" / "ndmjob" / "v4-backup.pcap"
    subprocess.run(["editcap", "-c", "500", str(source), str(tmp_path / "p.pcap")],
                   check=True, capture_output=True)
    parts = sorted(str(p) for p in tmp_path.glob("p_*"))
    joined = tmp_path / "joined.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-a", "-w", str(joined), *reversed(parts)],
                   check=True, capture_output=True)
    config = build_config({"profile": "ndmp"})
    analysis = analyze(read_traffic([str(joined)], config), config)
    [step] = [f for f in analysis.findings if f.code == "capture_clock_stepped"]
    assert "joined out of time order" in step.message and "mergecap -a" in step.message
    assert "give flowcheck the files or their directory" in step.fix
    assert "mergecap -w without -a" in step.fix
    whole = analyze(read_traffic(parts, config), config)
    assert "capture_clock_stepped" not in [f.code for f in whole.findings]
    assert analysis.verdict == whole.verdict


def test_a_data_connection_whose_opening_is_not_captured_is_not_held_against_the_callback(
        tmp_path: Path) -> None:
    """Files joined in reverse order (mergecap -a): a data connection's later packets come
    first in the file, its opening is not seen where it is first captured, and the
    callback was judged to come after it: a clean job failed with step_out_of_order
    (recheck of trial 18 D7)."""
    import subprocess

    subprocess.run(["editcap", "-c", "70", str(LAB / "clean-3-resources.pcap"),
                    str(tmp_path / "p.pcap")], check=True, capture_output=True)
    parts = sorted(str(p) for p in tmp_path.glob("p_*"))
    joined = tmp_path / "joined.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-a", "-w", str(joined), *reversed(parts)],
                   check=True, capture_output=True)
    config = build_config(load_file(LAB / "clean-3-resources.toml"))
    analysis = analyze(read_traffic([str(joined)], config), config)
    assert "step_out_of_order" not in [f.code for f in analysis.findings]
    assert analysis.verdict != "fail"
