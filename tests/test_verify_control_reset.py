"""A control connection reset while its job is running: `control_reset` (error). The
job cannot go on without it (Backup Exec: "Communication Failure has occurred between
the Job Engine and Remote Agent"), yet the five steps of what the capture holds all
worked, so it passed. The time since the last NDMP message reads the cause: a long
silence is a firewall's or NAT's idle timeout, a short one a side that gave up.

Built from captures/lab/clean-3-resources.pcap: cut inside its second resource (frame
219 is that resource's DATA_START_BACKUP, frame 220 its reply, no halt until later),
then a RST from the agent on the control connection.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import tshark_fork
from scapy.all import IP, TCP, Packet
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
NAME = "clean-3-resources"
CUT = 300  # inside resource 2: after its DATA_START_BACKUP (219), before its halt


def _control(packet: Packet, ports: set[int]) -> bool:
    return TCP in packet and {packet[TCP].sport, packet[TCP].dport} == ports


def _reset_capture(tmp_path: Path, cut: int, idle: str, name: str) -> Path:
    """The first `cut` frames, then the agent's RST on the control connection `idle`
    seconds after the cut."""
    packets = read_packets(LAB / f"{NAME}.pcap", cut)
    ports = {packets[0][TCP].sport, packets[0][TCP].dport}
    last = [p for p in packets if _control(p, ports) and p[TCP].sport == 10000][-1]
    reset = last.copy()
    reset[TCP].remove_payload()
    reset[TCP].flags, reset[TCP].ack = "R", 0
    reset[TCP].seq = last[TCP].seq + len(last[TCP].payload)
    del reset[IP].len, reset[IP].chksum, reset[TCP].chksum
    reset.time = packets[-1].time + Decimal(idle)
    path = tmp_path / f"{name}.pcap"
    write_packets(str(path), [*packets, reset])
    return path


def _analyze(path: Path) -> Analysis:
    config = build_config(load_file(LAB / f"{NAME}.toml"))
    return analyze(read_traffic([str(path)], config), config)




def test_control_reset_while_a_resource_runs_is_an_error(tmp_path: Path) -> None:
    analysis = _analyze(_reset_capture(tmp_path, CUT, "0.001", "reset-soon"))
    [finding] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert finding.code == "control_reset" and analysis.verdict == "fail"
    assert "was reset by the agent 10.77.0.2 (RST, frame 301) while the job's resource 2 " \
        "was running (DATA_START_BACKUP, frame 219" in finding.message
    assert "one side gave the session up" in finding.message
    assert "idle timeout" not in finding.message + finding.fix
    assert finding.frames == [219, 220, 301]
    assert "capture_ended_early" not in {f.code for f in analysis.findings}


def test_reset_after_a_long_silence_reads_as_an_idle_timeout(tmp_path: Path) -> None:
    analysis = _analyze(_reset_capture(tmp_path, CUT, "120", "reset-idle"))
    [finding] = [f for f in analysis.findings if f.code == "control_reset"]
    assert "sat idle while the data flowed" in finding.message
    assert "idle timeout for port 10000" in finding.fix and "keepalives" in finding.fix


def test_reset_after_the_job_halted_is_not_control_reset(tmp_path: Path) -> None:
    """Cut after the last resource's NOTIFY_DATA_HALTED: the job was over; a reset then
    ends an idle session, not a running job."""
    halts = [int(n) for (n,) in tshark_fork.fields(
        LAB / f"{NAME}.pcap", "ndmp.msg==0x501", "frame.number")]  # NOTIFY_DATA_HALTED
    assert len(halts) == 3
    analysis = _analyze(_reset_capture(tmp_path, halts[-1] + 1, "0.001", "reset-after"))
    assert "control_reset" not in {f.code for f in analysis.findings}


def test_a_job_still_running_at_the_capture_end_is_not_a_reset() -> None:
    from flowcheck.pipeline import read_traffic as read

    config = build_config(load_file(LAB / f"{NAME}.toml"))
    analysis = analyze(read([str(LAB / f"{NAME}.pcap")], config), config)
    assert "control_reset" not in {f.code for f in analysis.findings}


def _halts() -> list[int]:
    return [int(n) for (n,) in tshark_fork.fields(
        LAB / f"{NAME}.pcap", "ndmp.msg==0x501", "frame.number")]  # NOTIFY_DATA_HALTED


def test_reset_between_resources_before_all_configured_ran_is_an_error(
        tmp_path: Path) -> None:
    """Reset after resource 2 halted, before CONNECT_CLOSE, with resources = 3 in the
    configuration: resource 3 never ran (it passed: no job was running). Without the
    setting, nothing says more resources were due: no finding."""
    halts = _halts()
    path = _reset_capture(tmp_path, halts[1] + 1, "0.001", "between")
    analysis = _analyze(path)
    [finding] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert finding.code == "control_reset" and analysis.verdict == "fail"
    assert (f"after the job's resource 2 halted (NOTIFY_DATA_HALTED, frame {halts[1]}) and "
            "before the session's CONNECT_CLOSE, with 2 of the 3 configured resources "
            "started") in finding.message
    assert "remaining resources never ran" in finding.message
    unset = build_config({**load_file(LAB / f"{NAME}.toml"), "resources": None})
    plain = analyze(read_traffic([str(path)], unset), unset)
    assert "control_reset" not in {f.code for f in plain.findings}


def test_resets_from_both_ends_at_once_read_as_a_firewall(tmp_path: Path) -> None:
    path = _reset_capture(tmp_path, CUT, "0.001", "both")
    packets = list(read_packets(str(path)))
    agent_rst = packets[-1]
    media_rst = agent_rst.copy()
    media_rst[IP].src, media_rst[IP].dst = agent_rst[IP].dst, agent_rst[IP].src
    media_rst[TCP].sport, media_rst[TCP].dport = agent_rst[TCP].dport, agent_rst[TCP].sport
    media_rst[TCP].seq = 1
    del media_rst[IP].chksum, media_rst[TCP].chksum
    media_rst.time = agent_rst.time + Decimal("0.00001")
    write_packets(str(path), [*packets, media_rst])
    [finding] = [f for f in _analyze(path).findings if f.code == "control_reset"]
    assert "was reset by both ends (RSTs, frames 301 (10.77.0.2), 302 (10.77.0.1))" \
        in finding.message
    assert "firewall or IPS" in finding.message
