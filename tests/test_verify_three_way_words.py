"""A three-way job's words name its hosts by role (trial 14 D8).

ndmjob -D A -T T: the mover listens on the tape agent T, not on the media server, and the
data moves between the two agents. Step 2 read "the media server (mover) listening" for
T's address, step 4 "agent -> media server (backup)", capture_filtered's fix was a
tcpdump filter on the media server (which never sees a connection between the agents),
and a dropped data SYN's allow rule read "inbound on the media server". A job with the
DMA's own mover keeps its words.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_verify_local_data import _control, _data_session
from test_verify_scenarios import LAB, A, M, codes, conn, run
from test_verify_three_way import T
from test_verify_three_way_off_path import THREE, _on_the_dma
from test_verify_three_way_ranges import _data_listens, _mover_listens

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

STORED = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-threeway"


@pytest.mark.parametrize("build,step2,step4", [
    (_mover_listens, f"the mover on {T} (tape agent) listening", f"300,000 B {A} -> {T} (backup)"),
    (_data_listens, f"the data service on {A} (data agent) listening",
     f"300,000 B {A} -> {T} (backup)")], ids=["MOVER_LISTEN", "DATA_LISTEN"])
def test_steps_name_the_two_agents(build, step2: str, step4: str) -> None:
    """Both sessions' announcement steps name the listener by its host and role; the data
    flow step names the two agents, in the job's direction."""
    sessions, findings = run(*build(6040), config=THREE, profile="ndmp")
    assert codes(findings) == []
    for session in sessions:
        assert step2 in session.steps[1].detail
        assert "media server (mover)" not in session.steps[1].detail
        assert step4 in session.steps[3].detail


def test_a_job_with_the_dmas_own_mover_keeps_its_words() -> None:
    """DATA_CONNECT names M: "the media server (mover) listening", "agent -> media
    server"."""
    connections = [_control("Cdata", 5001),
                   conn("D", A, 6001, M, 5040, 2.05, orig_bytes=300_000)]
    (session,), _ = run(connections, [_data_session("Cdata", M, 5040)], config=LAB,
                        profile="ndmp")
    assert "the media server (mover) listening" in session.steps[1].detail
    assert "300,000 B agent -> media server (backup)" in session.steps[3].detail


def test_capture_filtered_says_where_to_capture_a_three_way_job() -> None:
    """Captured on the DMA: the fix is a capture on one of the agents or between them,
    not a tcpdump filter on the media server."""
    _, findings = run(*_on_the_dma(True), config=THREE, profile="ndmp")
    (filtered,) = [f for f in findings if f.code == "capture_filtered"]
    assert "capture on one of the two agents, or on the path between them" in filtered.fix
    assert f"'host {A} and host {T}'" in filtered.fix
    assert f"host {M}" not in filtered.fix
    assert "runs between its two agents" in filtered.message


def test_a_dropped_data_syn_between_agents_names_their_firewalls() -> None:
    """data_unanswered's allow rule: outbound on A, inbound on T (it read "inbound on the
    media server")."""
    _, findings = run(*_mover_listens(6040, "unanswered"), config=THREE, profile="ndmp")
    (finding,) = findings
    assert f"outbound on {A} and inbound on {T}" in finding.fix
    assert "media server" not in finding.fix


def test_stored_three_way_job_words() -> None:
    """C-v4-3way-bridge and C-v4-3way-dma (trial 14): the words of a real job."""
    for name, flow in (("C-v4-3way-bridge", True), ("C-v4-3way-dma", False)):
        config = build_config(load_file(STORED / f"{name}.toml"))
        analysis = analyze(read_traffic([str(STORED / f"{name}.pcap.gz")], config), config)
        for session in analysis.sessions:
            assert "the mover on 10.77.1.3 (tape agent) listening" in session.steps[1].detail
        if flow:
            assert "204,800 B 10.77.1.2 -> 10.77.1.3 (backup)" in \
                analysis.sessions[0].steps[3].detail
        else:
            (filtered,) = [f for f in analysis.findings if f.code == "capture_filtered"]
            assert "'host 10.77.1.2 and host 10.77.1.3'" in filtered.fix


def test_announced_not_used_between_agents_names_the_agent_range() -> None:
    """A capture on the agents' path with no connection to T's mover: announced_not_used
    names the data agent as the connector and the agent range as the rule for T's port
    (it read "its rule: 5001-5100 (media range)")."""
    other = conn("X", A, 40000, T, 22, 0.5, end=19.0, orig_bytes=100, resp_bytes=100)
    other.orig_pkts = other.resp_pkts = 4
    _, findings = run(*_on_the_dma(True, [other]), config=THREE, profile="ndmp")
    unused = [f for f in findings if f.code == "announced_not_used"]
    assert unused
    for finding in unused:
        assert f"the agent {A} did try" in finding.message
        assert "its rule: 6001-6100 (agent range)" in finding.fix
