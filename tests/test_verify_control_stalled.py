"""A control connection whose packets stop being acknowledged: `control_stalled` (error).
A firewall or NAT that dropped the idle connection's state drops its later packets
without a reset; the sender resends them until it gives up. Such a job passed when the
lost message was a halt (the job looked finished), or a later resource's DATA_LISTEN
(earlier announcements made step 3 ok): a new-user trial.

Built from captures/lab/clean-3-resources.pcap: cut before resource 2's
NOTIFY_DATA_HALTED, which the agent then sends 120 s later and resends 3 times (1, 2 and
4 s apart), never acknowledged; the capture ends there.
"""

from __future__ import annotations

from pathlib import Path

import tshark_fork
from scapy.all import IP
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
NAME = "clean-3-resources"


def _halt_frames() -> list[int]:
    return [int(n) for (n,) in tshark_fork.fields(
        LAB / f"{NAME}.pcap", "ndmp.msg==0x501", "frame.number")]


def _resent(tmp_path: Path, delays: tuple[float, ...], name: str) -> Path:
    """The capture cut before resource 2's NOTIFY_DATA_HALTED, then that halt sent at
    each of `delays` (seconds after the cut), never acknowledged; nothing after."""
    packets = list(read_packets(str(LAB / f"{NAME}.pcap")))
    frame = _halt_frames()[1]
    halt, head = packets[frame - 1], packets[:frame - 1]
    resent = []
    for number, delay in enumerate(delays):
        copy = halt.copy()
        copy[IP].id = (halt[IP].id + number) & 0xFFFF
        del copy[IP].chksum
        copy.time = head[-1].time + delay
        resent.append(copy)
    path = tmp_path / f"{name}.pcap"
    write_packets(str(path), [*head, *resent])
    return path


def _analyze(path: Path) -> Analysis:
    config = build_config(load_file(LAB / f"{NAME}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def test_halt_resent_and_never_acknowledged_is_control_stalled(tmp_path: Path) -> None:
    frame = _halt_frames()[1]
    analysis = _analyze(_resent(tmp_path, (120, 121, 123, 127), "stalled"))
    [finding] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert finding.code == "control_stalled" and analysis.verdict == "fail"
    unacked = analysis.traffic.connections[0].resp_unacked
    # The resent packet holds the agent's LOG_MESSAGE and then the halt (trial 26 D8).
    assert (f"the agent 10.77.0.2 sent its last {unacked:,} B (from LOG_MESSAGE to "
            f"NOTIFY_DATA_HALTED, frame {frame})") in finding.message
    last = analysis.traffic.connections[0].last_frame
    assert (f"(3 retransmissions, the last in frame {last}) and the media server 10.77.0.1 "
            "never acknowledged them.") in finding.message
    assert "after its idle timeout" in finding.message
    assert "keepalives" in finding.fix and finding.frames == [frame]
    assert "capture_ended_early" not in {f.code for f in analysis.findings}


def test_capture_that_ends_soon_after_the_message_is_not_stalled(tmp_path: Path) -> None:
    """The halt sent and resent twice within 1 s, and the capture ends: the ACK may have
    come after the capture stopped (retransmission timeout 3 s)."""
    analysis = _analyze(_resent(tmp_path, (0.001, 0.5, 1.0), "short"))
    assert "control_stalled" not in {f.code for f in analysis.findings}
    assert analysis.traffic.connections[0].resp_unacked > 0  # the bytes are unacked


def test_clean_and_lossy_captures_are_not_stalled() -> None:
    for name in ("clean-3-resources", "concurrent-jobs", "restore-2-resources"):
        config = build_config(load_file(LAB / f"{name}.toml"))
        analysis = analyze(read_traffic([str(LAB / f"{name}.pcap")], config), config)
        assert "control_stalled" not in {f.code for f in analysis.findings}
