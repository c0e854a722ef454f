"""A three-way job's data connection judged by the roles of its two hosts (trial 14 D3).

ndmjob -D A -T T with A and T two agents: the data connection runs between two NDMP
servers, A's data service and T's mover, both binding ports in the agent range. Each end
is judged against the range of its host's role (flowcheck.verify.end_roles.role_ends): the
configuration's (remote_agents, media_servers), else the sessions' (T is reached by the
DMA's control connection: an agent). It read port_outside_media_range for T's mover
port: the mover's end was taken as the media server's whatever its host. The tape
server's session, which reads its data steps from the data server's session, is headed
FAILED when they failed (it read ok above a failed step).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_verify_local_data import _control, _data_session, _tape_session
from test_verify_scenarios import LAB, A, M, codes, conn, run, statuses
from test_verify_three_way import T, _listen_on_data_server, _mover_connect

from flowcheck.config import build_config, load_file
from flowcheck.findings import verdict
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.report import overview

STORED = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-threeway"

# The tape server configured as an agent, named nowhere (only the data server is), or no
# host configured at all: the sessions say it is an agent (the DMA's control connection
# reached it).
CONFIGS = {"configured": replace(LAB, remote_agents=(A, T)),
           "unlisted": LAB,
           "no hosts": replace(LAB, media_servers=(), remote_agents=())}


def _mover_listens(port: int, how: str = "ok"):
    """MOVER_LISTEN on T, DATA_CONNECT to A: A connects to T's mover at T:port."""
    connections = [_control("Ctape", 5002, agent=T), _control("Cdata", 5001),
                   conn("D", A, 6001, T, port, 2.05, how=how, orig_bytes=300_000)]
    streams = [_tape_session("Ctape", T, port), _data_session("Cdata", T, port)]
    return connections, streams


def _data_listens(port: int):
    """DATA_LISTEN on A, MOVER_CONNECT to T: T's mover connects from T:port to A."""
    connections = [_control("Cdata", 5001), _control("Ctape", 5002, agent=T),
                   conn("D", T, port, A, 6001, 2.05, resp_bytes=300_000)]
    streams = [_listen_on_data_server("Cdata", A, 6001), _mover_connect("Ctape", A, 6001)]
    return connections, streams


def _range_codes(findings) -> list[str]:
    return [c for c in codes(findings) if c.startswith("port_outside")]


@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize("build", [_mover_listens, _data_listens],
                         ids=["MOVER_LISTEN", "DATA_LISTEN"])
def test_the_tape_servers_agent_port_is_in_range(config: str, build) -> None:
    """T's port 6040 is in the agent range: no range error, the data steps ok (it read
    port_outside_media_range, step 3 violated)."""
    sessions, findings = run(*build(6040), config=CONFIGS[config], profile="ndmp")
    assert _range_codes(findings) == []
    assert [statuses(s)[2:] for s in sessions] == [["ok", "ok"]] * 2
    data = next(s for s in sessions if s.control_uid == "Cdata")
    assert "agent port 6001 on 10.77.0.2 in 6001-6100" in data.steps[2].detail
    assert "agent port 6040 on 10.77.0.3 in 6001-6100" in data.steps[2].detail
    if config == "configured":
        assert verdict(findings, sessions) == "pass"


@pytest.mark.parametrize("build", [_mover_listens, _data_listens],
                         ids=["MOVER_LISTEN", "DATA_LISTEN"])
@pytest.mark.parametrize("port", [5040, 7040])
def test_the_tape_servers_port_outside_the_agent_range_is_the_agents(build, port: int
                                                                      ) -> None:
    """A media-range or unranged port on T (an agent) is outside the agent range, told
    as T's: port_outside_agent_range naming 10.77.0.3 (5040 passed: the media range)."""
    _, findings = run(*build(port), config=CONFIGS["configured"], profile="ndmp")
    assert _range_codes(findings) == ["port_outside_agent_range"]
    (finding,) = [f for f in findings if f.code == "port_outside_agent_range"]
    assert f"uses port {port} on the agent {T}" in finding.message


def test_the_dmas_own_mover_is_still_the_media_servers() -> None:
    """ndmjob -D A with the DMA's resident mover (DATA_CONNECT names M): M's port is
    judged against the media range, as before."""
    connections = [_control("Cdata", 5001),
                   conn("D", A, 6001, M, 6040, 2.05, orig_bytes=300_000)]
    _, findings = run(connections, [_data_session("Cdata", M, 6040)], config=LAB,
                      profile="ndmp")
    assert _range_codes(findings) == ["port_outside_media_range"]


def test_the_tape_session_is_failed_with_the_data_sessions_failure() -> None:
    """A dropped data SYN: data_unanswered once, on the data server's session; the tape
    server's session, whose data steps copy it, is FAILED with that error (it read ok)."""
    sessions, findings = run(*_mover_listens(6040, "unanswered"),
                             config=CONFIGS["configured"], profile="ndmp")
    assert codes(findings) == ["data_unanswered"]
    by_control = {s.control_uid: s for s in sessions}
    tape, data = by_control["Ctape"], by_control["Cdata"]
    assert statuses(tape)[2] == "failed"
    assert [overview.session_status(s, findings) for s in (data, tape)] == ["failed"] * 2
    assert [f.code for f in overview.session_errors(tape, findings)] == ["data_unanswered"]
    # A clean job's sessions stay ok.
    sessions, findings = run(*_mover_listens(6040), config=CONFIGS["configured"],
                             profile="ndmp")
    assert [overview.session_status(s, findings) for s in sessions] == ["ok", "ok"]


@pytest.mark.parametrize("name,expected,errors", [
    ("C-v4-3way-bridge", "pass", []),
    ("C-v2-3way-bridge", "pass", []),
    ("D-v4-3way-datadrop-bridge", "fail", ["data_unanswered"])])
def test_stored_trial_14_three_way_jobs(name: str, expected: str, errors: list[str]) -> None:
    """ndmjob -D 10.77.1.2 -T 10.77.1.3 captured on the router's bridge (trial 14 D3):
    every port is in the agent range; no port_outside_media_range, and the dropped data
    SYNs are one data_unanswered with both sessions FAILED."""
    config = build_config(load_file(STORED / f"{name}.toml"))
    analysis = analyze(read_traffic([str(STORED / f"{name}.pcap.gz")], config), config)
    found = sorted(f.code for f in analysis.findings if f.severity.value == "error")
    assert (analysis.verdict, found) == (expected, errors)
    status = "ok" if expected == "pass" else "failed"
    assert [overview.session_status(s, analysis.findings) for s in analysis.sessions] == [
        status, status]
    (data,) = [c for c in analysis.traffic.connections if c.role == "data"]
    assert (data.orig_h, data.resp_h) == ("10.77.1.2", "10.77.1.3")
