"""`plan` leaves the NDMP port out of a range's usable ports (new-user trial: `plan
--resources 2 --agent-range 10000-10100` counted 101 agent ports though the NDMP service
listens on 10000): every count of a range that holds it is one less, the union's too,
and the exit code is the fit's as before."""

from __future__ import annotations

import json

import pytest

from flowcheck.cli.main import run


def _plan(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = run(["plan", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)["plan"]


def test_the_ndmp_port_is_not_counted(capsys: pytest.CaptureFixture[str]) -> None:
    code, plan = _plan(["--resources", "2", "--media-range", "5001-5100",
                        "--agent-range", "10000-10100"], capsys)
    assert code == 0
    assert plan["agent_ports"] == 100 and plan["media_ports"] == 100
    assert run(["plan", "--resources", "2", "--media-range", "5001-5100",
                "--agent-range", "10000-10100"]) == 0
    captured = capsys.readouterr()
    line = next(line for line in captured.out.splitlines() if "agent range" in line)
    assert "100 ports (the NDMP port 10000 left out)" in line
    assert "left out" not in next(line for line in captured.out.splitlines()
                                  if "media range" in line)
    assert "holds the NDMP port 10000" in captured.err  # the warning stays


def test_the_configured_ndmp_port_is_the_one_left_out(
        capsys: pytest.CaptureFixture[str]) -> None:
    _, plan = _plan(["--resources", "2", "--media-range", "5001-5100", "--agent-range",
                     "10000-10100", "--ndmp-port", "5050"], capsys)
    assert plan["media_ports"] == 99 and plan["agent_ports"] == 101


def test_overlapping_ranges_leave_it_out_once(capsys: pytest.CaptureFixture[str]) -> None:
    """9990-10010 and 10000-10100 share 11 ports, 10000 among them: 10 shared, the union
    (9990-10100, 111 ports) 110."""
    _, plan = _plan(["--resources", "2", "--media-range", "9990-10010",
                     "--agent-range", "10000-10100"], capsys)
    assert (plan["media_ports"], plan["agent_ports"], plan["shared_ports"]) == (20, 100, 10)
    assert [p["ports"] for p in plan["ranges"]] == [20, 100, 110]


def test_the_port_left_out_can_make_a_range_too_small(
        capsys: pytest.CaptureFixture[str]) -> None:
    """10000-10002 holds 3 ports, 2 usable: a job of 2 resources binds 3 agent ports
    (one per resource + the callback's source), so it does not fit: exit 1."""
    code, plan = _plan(["--resources", "2", "--media-range", "5001-5100",
                        "--agent-range", "10000-10002"], capsys)
    assert code == 1 and plan["agent_ports"] == 2 and not plan["fits"]
    agent = next(p for p in plan["ranges"] if p["range"] == "agent")
    assert agent["shortfall"] == 1
    code, plan = _plan(["--resources", "2", "--media-range", "5001-5100",
                        "--agent-range", "10001-10003"], capsys)
    assert code == 0 and plan["agent_ports"] == 3
