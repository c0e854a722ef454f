"""End to end over the real ndmjob captures: read, build sessions, verify.

Expected results come from captures/ndmjob/README.md ("what a verifier should see") and
the contract, not from flowcheck's own output: ndmjob is plain NDMP (the agent connects
to the mover, no callback), so the `ndmp` profile passes the good runs, and
`backup-exec-9` misses its step 2.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from flowcheck.config import build_config
from flowcheck.graph import build_graph
from flowcheck.pipeline import Analysis, Traffic, analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
M, A = "10.77.0.1", "10.77.0.2"
LAB = build_config({"ndmp_port": 10000, "media_range": "5001-5100",
                    "agent_range": "6001-6100", "media_servers": [M], "remote_agents": [A]})
_TRAFFIC: dict[str, Traffic] = {}


def run(name: str, profile: str = "ndmp", config=LAB) -> Analysis:
    # Given, as --profile gives it (no profile inferred: verify.plain_reading).
    config = replace(config, profile=profile, explicit=config.explicit | {"profile"})
    if name not in _TRAFFIC:
        _TRAFFIC[name] = read_traffic([str(CAPTURES / f"{name}.pcap")], config)
    return analyze(_TRAFFIC[name], config)  # sessions start afresh on each analysis


def errors(analysis: Analysis) -> list[str]:
    return sorted(f.code for f in analysis.findings if str(f.severity) == "error")


@pytest.mark.parametrize("name", ["v4-backup", "v3-backup", "v2-backup"])
def test_single_backup_passes(name: str) -> None:
    analysis = run(name)
    assert analysis.verdict == "pass", [f.message for f in analysis.findings]
    (session,) = analysis.sessions
    assert session.kind == "backup" and session.version == int(name[1])
    assert (session.media_server, session.remote_agent) == (M, A)
    assert [s.status for s in session.steps] == ["ok"] * 4
    (uid,) = session.data_connections
    data = next(c for c in analysis.traffic.connections if c.uid == uid)
    # The agent connects to exactly the announced media endpoint and sends the backup.
    assert (data.orig_h, data.resp_h) == (A, M) and data.role == "data"
    assert any((a.ip, a.port, a.used_by) == (M, data.resp_p, uid) for a in session.announced)
    assert data.orig_bytes > 1_000_000
    if name == "v2-backup":
        assert any("DATA_START_BACKUP" in a.message for a in session.announced)


def test_three_resources_three_sessions_each_with_its_data() -> None:
    analysis = run("v4-three-resources")
    assert analysis.verdict == "pass", errors(analysis)
    assert len(analysis.sessions) == 3
    data = [s.data_connections for s in analysis.sessions]
    assert all(len(d) == 1 for d in data) and len({d[0] for d in data}) == 3
    for session in analysis.sessions:
        (uid,) = session.data_connections
        assert any(a.used_by == uid for a in session.announced)


def test_swap_refused_is_an_error_reply() -> None:
    analysis = run("v4-swap-refused")
    assert analysis.verdict == "fail"
    assert errors(analysis) == ["ndmp_error_reply"]
    finding = next(f for f in analysis.findings if f.code == "ndmp_error_reply")
    assert "DATA_LISTEN" in finding.message and "NOT_SUPPORTED" in finding.message
    steps = analysis.sessions[0].steps
    assert steps[1].status == "failed" and "step_missing" not in errors(analysis)


def test_media_firewall_drop_is_data_unanswered() -> None:
    analysis = run("v4-backup-media-firewall-drop")
    assert errors(analysis) == ["data_unanswered"]
    finding = analysis.findings[0]
    assert f"from {A} to {M} ports 5001-5100" in finding.fix
    assert [s.status for s in analysis.sessions[0].steps] == ["ok", "ok", "failed", "missing"]


def test_agent_out_of_range() -> None:
    analysis = run("v4-agent-out-of-range")
    assert errors(analysis) == ["port_outside_agent_range"]
    finding = next(f for f in analysis.findings if f.code == "port_outside_agent_range")
    assert "6001-6100" in finding.message and ":70" in finding.message


@pytest.mark.parametrize("name", ["v4-backup", "v4-three-resources"])
def test_backup_exec_profile_misses_the_callback(name: str) -> None:
    analysis = run(name, profile="backup-exec-9")
    assert analysis.verdict == "fail"
    missing = [f for f in analysis.findings if f.code == "step_missing"]
    assert len(missing) == len(analysis.sessions)
    assert all("callback" in f.message and "--profile ndmp" in f.message for f in missing)
    for session in analysis.sessions:
        assert session.callback_uid is None and session.steps[1].status == "missing"
        assert len(session.data_connections) == 1  # still data, never taken as callback


def test_default_ranges_do_not_warn_lab_ranges_do_not_overlap() -> None:
    analysis = run("v4-backup", config=build_config())
    assert [f.code for f in analysis.findings] == []  # the defaults overlap by design
    assert analysis.verdict == "pass"
    assert "ranges_overlap" not in [f.code for f in run("v4-backup").findings]


def test_graph_of_real_capture() -> None:
    analysis = run("v4-three-resources")
    graph = build_graph(analysis.traffic.connections, analysis.sessions)
    roles = sorted(d["role"] for _, _, d in graph.edges(data=True)
                   if d["kind"] == "connection")
    assert roles.count("control") == 3 and roles.count("data") == 3
    assert graph.nodes[M]["role"] == "media_server"


def test_real_halt_is_judged_by_its_decoded_reason() -> None:
    analysis = run("v4-backup")
    halts = [m for s in analysis.traffic.streams for m in s.messages
             if "NOTIFY_DATA_HALTED" in m.name]
    assert halts and halts[0].body.get("reason") == "SUCCESSFUL"
    halts[0].body["reason"] = "ABORTED"  # what a failed job's agent posts
    try:
        analysis = run("v4-backup")
    finally:
        halts[0].body["reason"] = "SUCCESSFUL"
    assert errors(analysis) == ["data_halted_abnormally"]
    assert analysis.findings[0].frames == [halts[0].frame]
