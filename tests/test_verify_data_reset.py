"""A data connection reset in the middle of its transfer: `data_reset` (error), step 5
failed, unless its job then halts normally (some NDMP servers end a finished transfer with
a RST). It passed: the bytes it carried made step 5 ok (a new-user trial).

Built from captures/lab/clean-3-resources.pcap: resource 2's data connection
(10.77.0.1:5003 -> 10.77.0.2:6002) is cut after frame 300 (about 80 KB of its 200 KB)
and reset by the agent; its later packets are dropped.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from pathlib import Path

import tshark_fork
from scapy.all import IP, TCP, Packet
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
NAME = "clean-3-resources"
CUT = 300
DATA = {5003, 6002}  # resource 2's data connection


@functools.cache
def _packets() -> tuple[Packet, ...]:
    """The capture's packets, one copy a process: no test changes one of them (each copies
    a packet before changing it: _agent_rst, _later, the halt's), and read_packets copies
    all 669 at each call, most of a test's time."""
    return tuple(read_packets(str(LAB / f"{NAME}.pcap")))


def _of_data(packet: Packet) -> bool:
    return TCP in packet and {packet[TCP].sport, packet[TCP].dport} == DATA


def _agent_rst(head: list[Packet]) -> Packet:
    """The agent's RST at the sequence number after its last data segment."""
    last = [p for p in head if _of_data(p) and p[TCP].sport == 6002][-1]
    reset = last.copy()
    reset[TCP].remove_payload()
    reset[TCP].flags, reset[TCP].ack = "R", 0
    reset[TCP].seq = last[TCP].seq + len(last[TCP].payload)
    del reset[IP].len, reset[IP].chksum, reset[TCP].chksum
    reset.time = head[-1].time + Decimal("0.0003")
    return reset


def _later(template: Packet, ts: Decimal) -> Packet:
    """A SYN between two other hosts at ts: the capture went on until then."""
    later = template.copy()
    later[IP].src, later[IP].dst = "10.77.0.9", "10.77.0.8"
    later[TCP].sport, later[TCP].dport = 40000, 22
    del later[IP].chksum, later[TCP].chksum
    later.time = ts
    return later


def _halt_frames() -> list[int]:
    return [int(n) for (n,) in tshark_fork.fields(
        LAB / f"{NAME}.pcap", "ndmp.msg==0x501", "frame.number")]


def _analyze(path: Path) -> Analysis:
    config = build_config(load_file(LAB / f"{NAME}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def test_reset_mid_transfer_without_a_halt_is_data_reset(tmp_path: Path) -> None:
    """After the reset nothing more of the job: the capture goes on 5 s (an unrelated
    packet) and no halt comes."""
    packets = list(_packets())
    head = packets[:CUT]
    reset = _agent_rst(head)
    path = tmp_path / "reset-no-halt.pcap"
    write_packets(str(path), [*head, reset, _later(head[0], reset.time + 5)])
    analysis = _analyze(path)
    [finding] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert finding.code == "data_reset" and analysis.verdict == "fail"
    assert ("The data connection 10.77.0.1:5003 -> 10.77.0.2:6002 was reset by the agent "
            "10.77.0.2 (RST, frame 301) after carrying") in finding.message
    assert "the transfer was cut short" in finding.message
    step = analysis.sessions[0].steps[4]
    assert step.status == "failed" and "reset mid-transfer (RST, frame 301)" in step.detail
    assert {f.code for f in analysis.findings} - {"data_reset", "ndmp_vendor_message"} \
        == set()  # no "job still running", nothing about the other hosts


def test_reset_then_an_abnormal_halt_is_one_error_naming_the_halt(tmp_path: Path) -> None:
    """The reset, then the original NOTIFY_DATA_HALTED with its reason set to
    CONNECT_ERROR: data_reset names the halt, no data_halted_abnormally on top."""
    packets = list(_packets())
    halt = _halt_frames()[1]
    head = packets[:CUT]
    rest = [p.copy() for p in packets[CUT:] if not _of_data(p)]
    for packet in rest:
        if packet.time == packets[halt - 1].time and TCP in packet:
            payload = bytearray(bytes(packet[TCP].payload))
            payload[-1] = 4  # the halt reason, last word: NDMP_DATA_HALT_CONNECT_ERROR
            packet[TCP].remove_payload()
            packet[TCP].add_payload(bytes(payload))
            del packet[IP].chksum, packet[TCP].chksum
    path = tmp_path / "reset-connect-error.pcap"
    write_packets(str(path), [*head, _agent_rst(head), *rest])
    analysis = _analyze(path)
    errors = [f for f in analysis.findings if str(f.severity) == "error"]
    assert [f.code for f in errors] == ["data_reset"]
    assert "The job then halted with CONNECT_ERROR (NOTIFY_DATA_HALTED, frame" in \
        errors[0].message


def test_reset_then_a_normal_halt_is_an_abortive_close_and_passes(tmp_path: Path) -> None:
    packets = list(_packets())
    head = packets[:CUT]
    rest = [p for p in packets[CUT:] if not _of_data(p)]
    path = tmp_path / "reset-halt-ok.pcap"
    write_packets(str(path), [*head, _agent_rst(head), *rest])
    analysis = _analyze(path)
    assert "data_reset" not in {f.code for f in analysis.findings}
    assert analysis.verdict == "pass"


def test_reset_after_its_resource_halted_normally_passes(tmp_path: Path) -> None:
    """The transfer finished and its job halted (NOTIFY_DATA_HALTED SUCCESSFUL), then the
    connection was torn down with a RST instead of FINs: not a cut transfer."""
    packets = list(_packets())
    halt = _halt_frames()[1]
    fins = [n for n, p in enumerate(packets, 1) if _of_data(p) and p[TCP].flags & 0x01]
    assert fins and max(fins) < halt
    kept = [p for n, p in enumerate(packets, 1)
            if not (_of_data(p) and n >= min(fins))]
    head = [p for p in packets[:min(fins) - 1] if _of_data(p)]
    reset = _agent_rst(head)
    reset.time = packets[halt - 1].time + Decimal("0.001")
    at = kept.index(packets[halt - 1]) + 1
    path = tmp_path / "halt-then-reset.pcap"
    # Resource 3 and the session's end follow; the capture goes on 5 s after them.
    write_packets(str(path), [*kept[:at], reset, *kept[at:], _later(kept[0], kept[-1].time + 5)])
    analysis = _analyze(path)
    assert "data_reset" not in {f.code for f in analysis.findings}
    assert analysis.verdict == "pass"


def test_a_movers_reset_after_the_halt_seen_from_its_side_only_is_no_failure(
        tmp_path: Path) -> None:
    """The media server's packets only (`tcpdump -Q out` on it), resource 2's data
    connection torn down by the mover's RST after a normal halt instead of its FIN: the
    agent's halt is in the direction the capture lacks, so the reset cannot be judged:
    step 5 unknown, never data_reset (the data known by the mover's ACKs alone counts as
    carried: field check 41's one-direction cuts)."""
    packets = list(_packets())
    halt = _halt_frames()[1]
    mover = [n for n, p in enumerate(packets, 1) if _of_data(p) and p[TCP].sport == 5003]
    fin = next(n for n in mover if packets[n - 1][TCP].flags & 0x01)
    last_ack = packets[max(n for n in mover if n < fin) - 1]
    reset = last_ack.copy()
    reset[TCP].flags = "RA"
    del reset[IP].chksum, reset[TCP].chksum
    reset.time = packets[halt - 1].time + Decimal("0.001")
    kept = [p for n, p in enumerate(packets, 1)
            if p[IP].src == "10.77.0.1" and not (n >= fin and _of_data(p))]
    at = next(i for i, p in enumerate(kept) if p.time > reset.time)
    path = tmp_path / "mover-reset-media-only.pcap"
    write_packets(str(path), [*kept[:at], reset, *kept[at:], _later(kept[0], kept[-1].time + 5)])
    analysis = _analyze(path)
    assert "data_reset" not in {f.code for f in analysis.findings}
    assert analysis.verdict == "inconclusive"
    (session,) = analysis.sessions
    detail = " ".join(session.steps[-1].detail.split())
    assert session.steps[-1].status == "unknown"
    assert "in the agent's direction of the control connection, which the capture lacks" \
        in detail
