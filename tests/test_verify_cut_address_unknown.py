"""Announcements whose address the capture lacks are never `announced_not_used` while a
connection in the capture could be theirs (field check 20 D3, D5).

Snap length 96 (editcap -s 96, old tcpdump's default) cuts the address out of
DATA_LISTEN's / MOVER_LISTEN's reply. The data connection is still in the capture: to
another interface of the agent, between the two agents of a three-way job, or one whose
handshake the sniffer lost. A three-way job captured from the DMA's packets only can
never hold the agents' data connection: its step is unknown, and the rule named for it is
the listener's range.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _analyze(capture: Path, name: str) -> Analysis:
    config = build_config(load_file(CAPTURES / f"{name}.toml"))
    return analyze(read_traffic([str(capture)], config), config)


def _stored(name: str) -> Path:
    return next(CAPTURES.glob(f"{name}.pcap*"))


def _snap(name: str, tmp_path: Path, length: int = 96) -> Path:
    out = tmp_path / f"{Path(name).name}-s{length}.pcap"
    subprocess.run(["editcap", "-s", str(length), str(_stored(name)), str(out)], check=True,
                   capture_output=True)
    return out


def _codes(analysis: Analysis) -> set[str]:
    return {f.code for f in analysis.findings}


@pytest.mark.parametrize(("name", "verdicts"), [
    # The sniffer lost one data connection's handshake: both are matched by ports.
    ("trial25-sniff/r-datasyn_and_ack", {"pass"}),
    # The data connection runs between the hosts' other interfaces (no session's).
    ("lab-trial19-announce/mh5-other-nic-firewall-opened", {"pass", "inconclusive"}),
    # Three-way jobs: the data connection runs between the two agents.
    ("ndmjob-threeway/C-v2-3way-bridge", {"pass", "inconclusive"}),
    ("ndmjob-threeway/C-v2-3way-dma", {"inconclusive"}),
    ("trial27/threeway-flooded-syn-a", {"pass", "inconclusive"}),
])
def test_snap_96_announcement_is_not_announced_not_used(tmp_path: Path, name: str,
                                                        verdicts: set[str]) -> None:
    analysis = _analyze(_snap(name, tmp_path), name)
    assert "announced_not_used" not in _codes(analysis)
    assert analysis.verdict in verdicts
    assert analysis.verdict != "fail"
    for session in analysis.sessions:  # no step reads `missing` for an unseen address
        assert "missing" not in {s.status for s in session.steps}, session.steps


def test_snap_96_lost_handshake_steps_are_ok(tmp_path: Path) -> None:
    """Every step ok (it read ok steps and a fail verdict): the connection whose SYN the
    sniffer lost is matched to the first cut DATA_LISTEN, either way round."""
    name = "trial25-sniff/r-datasyn_and_ack"
    analysis = _analyze(_snap(name, tmp_path), name)
    steps = analysis.sessions[0].steps
    assert {s.status for s in steps} == {"ok"}
    assert len(analysis.sessions[0].data_connections) == 2


def test_three_way_dma_packets_only_is_unknown(tmp_path: Path) -> None:
    """D5: only the DMA's packets of a three-way job (10.77.0.1 -> the data agent): the
    data connection between the agents cannot be in it. Step 3 unknown, inconclusive."""
    name = "trial27/threeway-flooded-syn-a"
    out = tmp_path / "only-dma.pcap"
    subprocess.run(["tshark", "-r", str(_stored(name)), "-Y", "ip.src==10.77.0.1", "-F",
                    "pcap", "-w", str(out)], check=True, capture_output=True)
    analysis = _analyze(out, name)
    assert "announced_not_used" not in _codes(analysis)
    assert analysis.verdict == "inconclusive"
    first = analysis.sessions[0]
    assert first.remote_agent == "10.77.0.2"
    assert next(s for s in first.steps if s.step == 3).status == "unknown"


def test_three_way_endpoint_on_the_tape_agent_names_the_agent_range() -> None:
    """D5: DATA_CONNECT hands the data agent A an endpoint on the tape agent T (T's
    MOVER_LISTEN reply not in the capture, so no partner). The capture is on A and T's
    path (another connection between them) and no connection reached it: the rule to
    allow is T's range, the agent range (7068 is in it), not the media range."""
    from dataclasses import replace

    from test_verify_local_data import _control
    from test_verify_scenarios import LAB, A, conn, run
    from test_verify_three_way import T
    from test_verify_three_way_off_path import _connect

    config = replace(LAB, remote_agents=(A, T), agent_range=LAB.agent_range + (
        build_config({"agent_range": "7001-7100"}).agent_range))
    other = conn("X", A, 40000, T, 22, 0.5, end=19.0, orig_bytes=100, resp_bytes=100)
    other.orig_pkts = other.resp_pkts = 4
    _, findings = run([_control("Cdata", 5001), other],
                      [_connect("Cdata", "DATA_CONNECT", T, 7068)], config=config,
                      profile="ndmp")
    (unused,) = [f for f in findings if f.code == "announced_not_used"]
    assert "its rule: 6001-6100,7001-7100 (agent range)" in unused.fix
    assert "its rule: 5001-5100" not in unused.fix


def test_two_jobs_that_each_listen_keep_the_error() -> None:
    """Two jobs at once from one media server to two agents, each DATA_LISTEN cut and
    nothing in the capture that could be their connection: no three-way pair (both
    listen), so each announcement no connection followed, and no job start after it,
    stays announced_not_used."""
    from test_sessions import LAB, A, M, conn
    from test_sessions_snaplen import cut_message

    from flowcheck.findings import make_finding
    from flowcheck.model import NdmpStream
    from flowcheck.profiles import load_profile
    from flowcheck.sessions import build_sessions
    from flowcheck.verify import check_all

    other = "10.77.0.3"
    conns, streams = [], []
    for uid, agent, port in (("C", A, 5001), ("D", other, 5002)):
        conns.append(conn(uid, M, port, agent, 10000, 0.0, end=20.0))
        conns.append(conn(f"B{uid}", agent, 6050, M, port + 50, 0.5))  # the callback
        stream = NdmpStream(uid, 4, messages=[
            cut_message("NDMP_DATA_LISTEN", 2.0, 9, reply=True),
            cut_message("NDMP_DATA_ABORT", 2.5, 11)], snap_cut=100)
        stream.snap_finding = make_finding("ndmp_partial", "cut.", uid=uid)
        stream.findings = [stream.snap_finding]
        streams.append(stream)
    profile = load_profile("backup-exec-9")
    sessions = build_sessions(conns, streams, LAB, profile)
    findings = check_all(conns, streams, sessions, LAB, profile)
    assert [f.code for f in findings if str(f.severity) == "error"] == [
        "announced_not_used"] * 2
