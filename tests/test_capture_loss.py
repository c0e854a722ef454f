"""Packets the sniffer lost are not packets the network dropped."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

NDMJOB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"


def test_lost_synack_is_not_a_dropped_data_connection(tmp_path: Path) -> None:
    # Frame 13 of v4-backup.pcap is the data connection's SYN-ACK; 9 and 17 are control
    # messages. Without them the data still flows both ways (history SADaFf).
    lossy = tmp_path / "lossy.pcap"
    subprocess.run(["editcap", str(NDMJOB / "v4-backup.pcap"), str(lossy), "9", "13", "17"],
                   check=True, capture_output=True)
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    analysis = analyze(read_traffic([str(lossy)], config), config)
    [data] = [c for c in analysis.traffic.connections if c.role == "data"]
    assert not data.synack_frames and "h" not in data.history
    assert analysis.verdict == "pass"
    codes = {f.code for f in analysis.findings}
    assert "data_unanswered" not in codes and "handshake_incomplete" not in codes
    assert "ndmp_partial" in codes  # the lost control bytes are said, as a warning
    assert [s.kind for s in analysis.sessions] == ["backup"]
    assert analysis.sessions[0].data_connections == [data.uid]


def _cut_start(source: Path, first_frame: int, tmp_path: Path) -> Path:
    """The capture as if tcpdump had been started at first_frame."""
    late = tmp_path / f"late-{source.name}"
    subprocess.run(["editcap", "-r", str(source), str(late), f"{first_frame}-10000000"],
                   check=True, capture_output=True)
    return late


def test_capture_started_in_the_middle_of_a_plain_ndmp_backup(tmp_path: Path) -> None:
    # Frame 20 of v4-backup.pcap is already bulk data: the handshake, DATA_CONNECT and
    # DATA_START_BACKUP are before the capture.
    late = _cut_start(NDMJOB / "v4-backup.pcap", 20, tmp_path)
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    analysis = analyze(read_traffic([str(late)], config), config)
    assert analysis.verdict == "pass"
    [session] = analysis.sessions
    assert session.kind == "backup" and len(session.data_connections) == 1
    codes = [f.code for f in analysis.findings]
    assert codes == ["capture_started_mid_session"]
    assert "unannounced_connection" not in codes


def test_capture_started_after_the_backup_exec_callback(tmp_path: Path) -> None:
    lab = NDMJOB.parent / "lab"
    # From frame 30 on: the control connection, the callback and the first data
    # connection are already open; two more resources are announced in the capture.
    late = _cut_start(lab / "clean-3-resources.pcap", 30, tmp_path)
    config = build_config(load_file(lab / "clean-3-resources.toml"))
    analysis = analyze(read_traffic([str(late)], config), config)
    codes = {f.code for f in analysis.findings}
    assert analysis.verdict == "pass", [f.message for f in analysis.findings]
    assert "step_out_of_order" not in codes and "unannounced_connection" not in codes
    assert "capture_started_mid_session" in codes
    [session] = analysis.sessions
    assert len(session.data_connections) == 3 and session.callback_uid is not None
    assert [s.status for s in session.steps] == ["ok"] * 5


def test_a_connection_opened_during_the_capture_is_still_unannounced(tmp_path: Path) -> None:
    """Matching by ports is only for connections that were already open."""
    from flowcheck.model import Connection
    from flowcheck.profiles import load_profile
    from flowcheck.sessions import build_sessions

    config = build_config({"media_range": "5001-5100", "agent_range": "6001-6100"})
    control = Connection("C1", "10.0.0.1", 5001, "10.0.0.2", 10000, ts=1.0, last_ts=9.0,
                         history="DdAa", orig_bytes=100, resp_bytes=100)
    running = Connection("C2", "10.0.0.1", 5002, "10.0.0.2", 6001, ts=1.5, last_ts=2.0,
                         history="Dd", resp_bytes=1000)
    opened = Connection("C3", "10.0.0.1", 5003, "10.0.0.2", 6002, ts=3.0, last_ts=4.0,
                        history="ShADad", syn_frames=[30], synack_frames=[31],
                        established=True, resp_bytes=1000)
    sessions = build_sessions([control, running, opened], [], config,
                              load_profile("backup-exec-9"))
    assert sessions[0].data_connections == ["C2"]
    assert opened.role == "other" and opened.session is None
