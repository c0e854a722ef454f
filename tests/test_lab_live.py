"""The lab run for real: namespaces, tcpdump, the Backup Exec peers, ndmjob; then flowcheck.

Root only (CI runs as root). Each test builds and removes its own namespaces.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import tshark_fork

from flowcheck.config import build_config, load_file
from flowcheck.lab import ndmjob
from flowcheck.lab.capture import CaptureResult, capture_scenario, write_sidecar
from flowcheck.lab.netns import PacketCapture, cleanup_stale, lab_network, list_namespaces
from flowcheck.lab.scenarios import SCENARIOS
from flowcheck.pipeline import Analysis, analyze, read_traffic

pytestmark = pytest.mark.lab


def _analyze(result: CaptureResult) -> Analysis:
    config = build_config(load_file(result.config_path))
    traffic = read_traffic([str(result.path)], config)
    return analyze(traffic, config)


def _tshark_fields(path: Path, display_filter: str, *fields: str,
                   extra: tuple[str, ...] = ()) -> list[list[str]]:
    return [row for row in tshark_fork.fields(path, display_filter, *fields, options=extra)
            if "\t".join(row).strip()]


def _our_namespaces() -> list[str]:
    return [name for name in list_namespaces() if name.startswith(f"fc{os.getpid()}-")]


def test_clean_backup_exec_job_two_resources(tmp_path: Path) -> None:
    scenario = dataclasses.replace(SCENARIOS["clean-3-resources"], name="clean-2-resources",
                                   resources=2, media_args=("--resources", "2"))
    result = capture_scenario(scenario, tmp_path / "clean.pcap")
    assert result.job_exit_codes == [0], result.log
    assert not _our_namespaces()

    analysis = _analyze(result)
    assert analysis.verdict == "pass", [f.as_dict() for f in analysis.findings]
    assert len(analysis.sessions) == 1
    session = analysis.sessions[0]
    assert session.kind == "backup"
    assert session.callback_uid is not None
    assert len(session.data_connections) == 2

    # Independent peer: Wireshark's dissector reads the announced ports from the
    # DATA_LISTEN replies; each must be the agent end of one data connection.
    announced = _tshark_fields(result.path, "ndmp.msg == 0x409 && ndmp.msg_type == 1",
                               "ndmp.addr.ip", "ndmp.addr.tcp_port")
    assert sorted((ip, int(port)) for ip, port in announced) == sorted(
        (c.resp_h, c.resp_p) for c in analysis.traffic.connections
        if c.uid in session.data_connections)
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    for uid in session.data_connections:
        data = by_uid[uid]
        assert data.orig_h == "10.77.0.1" and 5001 <= data.orig_p <= 5100
        assert 6001 <= data.resp_p <= 6100
        assert data.resp_bytes >= 200_000  # backup: the agent sends
    callback = by_uid[session.callback_uid]
    assert callback.orig_h == "10.77.0.2" and 5001 <= callback.resp_p <= 5100


def test_dropped_data_port_is_data_unanswered(tmp_path: Path) -> None:
    result = capture_scenario("data-port-dropped", tmp_path / "dropped.pcap")
    assert result.job_exit_codes == [1]  # the media server reports the failed resource

    analysis = _analyze(result)
    assert analysis.verdict == "fail"
    codes = {finding.code for finding in analysis.findings}
    assert "data_unanswered" in codes
    assert "callback_unanswered" not in codes  # the SYN-only rule lets step 2 through
    # The SYN really went out more than once and nothing answered it.
    syns = _tshark_fields(result.path, "tcp.flags.syn == 1 && tcp.flags.ack == 0 "
                          "&& ip.dst == 10.77.0.2 && tcp.dstport != 10000", "tcp.dstport")
    assert len(syns) >= 3 and len({port for (port,) in syns}) == 1
    (data_port,) = syns[0]
    assert not _tshark_fields(result.path, f"tcp.srcport == {data_port} && ip.src == 10.77.0.2",
                              "frame.number")


def test_ndmjob_on_port_10500_decoded_by_flowcheck(tmp_path: Path) -> None:
    result = capture_scenario("v4-backup-port-10500", tmp_path / "ndmjob.pcap")
    assert result.job_exit_codes == [0], result.log[-500:]

    analysis = _analyze(result)
    assert analysis.config.ndmp_port == 10500
    assert analysis.verdict == "pass", [f.as_dict() for f in analysis.findings]
    streams = analysis.traffic.streams
    assert len(streams) == 1 and streams[0].version == 4
    names = [message.name for message in streams[0].messages]
    assert any("CONNECT_OPEN" in name for name in names)
    assert any("DATA_START_BACKUP" in name for name in names)
    # ndmjob's three-way backup: the agent connects to the mover's announced endpoint.
    session = analysis.sessions[0]
    assert len(session.data_connections) == 1
    data = next(c for c in analysis.traffic.connections if c.uid == session.data_connections[0])
    assert (data.resp_h, data.resp_p) in {(a.ip, a.port) for a in session.announced}
    assert data.orig_h == "10.77.0.2"
    # Wireshark only dissects NDMP on port 10000, even when told to decode 10500 as NDMP.
    assert not _tshark_fields(result.path, "ndmp", "frame.number",
                              extra=("-d", "tcp.port==10500,ndmp"))


def test_ndmjob_data_and_tape_agent_in_one_host_never_reach_the_wire(tmp_path: Path) -> None:
    """ndmjob -D A -T A (scenario v4-local-tcp), captured on M's veth and on A's loopback
    at once: the data connection is on A's loopback, to exactly the endpoint MOVER_LISTEN
    announced, and not on the wire; flowcheck passes the wire capture, the data steps
    not_applicable (it read inconclusive: capture_filtered)."""
    scenario = SCENARIOS["v4-local-tcp"]
    wire, loopback = tmp_path / "m0.pcap", tmp_path / "a-lo.pcap"
    with lab_network(scenario.media_range, scenario.agent_range) as lab, \
            tempfile.TemporaryDirectory(prefix="fc-lab-") as workdir:
        workspace = ndmjob.prepare_workspace(Path(workdir))
        daemon = ndmjob.NdmjobDaemon(lab, workspace, scenario.ndmp_port)
        try:
            captures = [PacketCapture(lab, wire), PacketCapture(lab, loopback, ["lo"], "tcp",
                                                                host="a")]
            try:
                code, log = ndmjob.run_backup(lab, workspace, tape_agent="agent")
            finally:
                for capture in captures:
                    capture.stop()
        finally:
            daemon.stop()
    assert code == 0, log[-500:]
    write_sidecar(wire.with_suffix(".toml"), scenario, wire)
    config = build_config(load_file(wire.with_suffix(".toml")))
    analysis = analyze(read_traffic([str(wire)], config), config)
    assert analysis.verdict == "pass", [f.as_dict() for f in analysis.findings]
    assert "capture_filtered" not in {f.code for f in analysis.findings}
    assert len(analysis.sessions) == 2
    announced = {(a.ip, a.port) for s in analysis.sessions for a in s.announced}
    assert len(announced) == 1 and next(iter(announced))[0] == "10.77.0.2"
    for session in analysis.sessions:
        assert [s.status for s in session.steps][2:] == ["not_applicable"] * 2
    # The wire: only the two control connections. The loopback: the data connection.
    assert {c.resp_p for c in analysis.traffic.connections} == {10000}
    ip, port = next(iter(announced))
    syns = _tshark_fields(loopback, f"tcp.flags.syn == 1 && tcp.flags.ack == 0 && "
                          f"ip.dst == {ip} && tcp.dstport == {port}", "ip.src")
    assert syns and {src for (src,) in syns} == {ip}
    data_bytes = _tshark_fields(loopback, f"tcp.dstport == {port} && tcp.len > 0", "tcp.len")
    assert sum(int(n) for (n,) in data_bytes) > 300_000  # the tar image of the 300 KB source


def test_ndmjob_three_way_job_one_data_connection_in_both_sessions(tmp_path: Path) -> None:
    """ndmjob -D A -T M (scenario v4-three-way): M's own daemon as tape agent. Wireshark
    sees two control connections to port 10000 (one over M's loopback) whose
    MOVER_LISTEN reply and DATA_CONNECT name one endpoint, and A's one SYN to it; both
    sessions' announcements are reached by that connection, the data server's session
    holds it, and the job passes (it read inconclusive: capture_filtered)."""
    result = capture_scenario("v4-three-way", tmp_path / "three-way.pcap")
    assert result.job_exit_codes == [0], result.log[-500:]
    controls = _tshark_fields(result.path, "tcp.flags.syn == 1 && tcp.flags.ack == 0 && "
                              "tcp.dstport == 10000", "ip.src", "ip.dst")
    assert sorted(map(tuple, controls)) == [("10.77.0.1", "10.77.0.1"),
                                             ("10.77.0.1", "10.77.0.2")]
    # MOVER_LISTEN's reply (0xa01) and DATA_CONNECT's request (0x40a): one endpoint.
    named = {tuple(row) for message, kind in (("0x00000a01", 1), ("0x0000040a", 0))
             for row in _tshark_fields(result.path, f"ndmp.msg == {message} && "
                                       f"ndmp.msg_type == {kind}", "ip.dst", "ip.src",
                                       "ndmp.addr.ip", "ndmp.addr.tcp_port")}
    assert {(dst, src) for dst, src, _, _ in named} == {("10.77.0.1", "10.77.0.1"),
                                                         ("10.77.0.2", "10.77.0.1")}
    ((ip, port),) = {(address, tcp_port) for _, _, address, tcp_port in named}
    syns = _tshark_fields(result.path, f"tcp.flags.syn == 1 && tcp.flags.ack == 0 && "
                          f"ip.dst == {ip} && tcp.dstport == {port}", "ip.src")
    assert syns == [["10.77.0.2"]]
    analysis = _analyze(result)
    assert analysis.verdict == "pass", [f.as_dict() for f in analysis.findings]
    (data,) = [c for c in analysis.traffic.connections if c.role == "data"]
    assert (data.resp_h, data.resp_p) == (ip, int(port))
    assert [a.used_by for s in analysis.sessions for a in s.announced] == [data.uid] * 2
    holder = next(s for s in analysis.sessions if s.id == data.session)
    assert holder.remote_agent == "10.77.0.2"


def test_stale_namespace_of_dead_process_is_removed() -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    stale = f"fc{finished.pid}-1-m"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        cleanup_stale()  # a parallel run may get there first: either way it is gone
        assert stale not in list_namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True, check=False)
