"""One model of the media range's ports across `plan`, `range_too_small` and step 1.

`analyze` judges the control connection's media-side port against the media range (step
1's detail, `control_port_outside_media_range`), so a job holds it there too: `plan`
and `range_too_small` count it (trial 20, D8: plan counted 4 media ports for a job of 3
resources that held 5, and promised 25 concurrent jobs where 20 fit).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from test_cli_setup import _profile_arg
from test_verify_scenarios import LAB, A, M, announce, codes, conn, msg
from test_verify_scenarios import run as verify

from flowcheck.cli.main import run
from flowcheck.model import NdmpStream

CAPTURES = Path(__file__).resolve().parent.parent / "captures" / "lab"


def _plan(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    run(["plan", *argv, "--format", "json"])
    return json.loads(capsys.readouterr().out)["plan"]


def test_plan_counts_the_control_connections_port(capsys: pytest.CaptureFixture[str]) -> None:
    """The trial's numbers: 3 resources in 5001-5100 hold 5 media ports (control
    connection, job engine, three data connections): 20 jobs, not 25."""
    plan = _plan(["--resources", "3", "--media-range", "5001-5100",
                  "--agent-range", "6001-6100"], capsys)
    assert plan["media_ports_per_job"] == 5
    assert plan["agent_ports_per_job"] == 4
    assert plan["jobs_per_hold_period"] == 20
    assert run(["plan", "--resources", "3", "--media-range", "5001-5100",
                "--agent-range", "6001-6100"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "media range" in line)
    assert "5 per job" in line and "control connection" in line and "20 concurrent" in line


@pytest.mark.parametrize(("profile", "media_per_job"), [
    ("backup-exec-9", 7),  # 5 resources + the job engine's + the control connection's
    ("ndmp", 6),  # no job engine port; the control connection's still
    ("control-reply", 6),  # the control connection's port is the job engine's
])
def test_plan_per_profile(profile: str, media_per_job: int, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan(["--resources", "5", "--media-range", "5001-5100", "--agent-range",
                  "6001-6100", "--profile", _profile_arg(profile, tmp_path)], capsys)
    assert plan["media_ports_per_job"] == media_per_job


def test_plan_matches_the_ports_a_real_job_holds(capsys: pytest.CaptureFixture[str]) -> None:
    """clean-3-resources.pcap (lab, 3 resources): the media server's ports of its
    session's connections, the NDMP port aside, are as many as plan counts per job."""
    capture = CAPTURES / "clean-3-resources.pcap"
    config = str(capture.with_suffix(".toml"))
    assert run(["analyze", str(capture), "--config", config, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    media = "10.77.0.1"
    held = {c["orig_p"] if c["orig_h"] == media else c["resp_p"]
            for c in document["connections"] if c["session"]}
    assert len(held) == 5
    assert _plan(["--config", config], capsys)["media_ports_per_job"] == len(held)


def test_range_too_small_counts_the_control_connections_port() -> None:
    """A backup of one resource holds three media ports (control 5001, job engine 5002,
    data 5003): a media range of two ports is too small, from the traffic and from
    --resources alike."""
    control = conn("C", M, 5001, A, 10000, 0.0, end=20.0)
    callback = conn("B", A, 6001, M, 5002, 0.5, end=20.0)
    data = conn("D", M, 5003, A, 6002, 3.0, end=10.0, resp_bytes=9000)
    stream = NdmpStream("C", 4, messages=[
        msg(30, 2.5, "orig", "request", "DATA_START_BACKUP"),
        msg(31, 2.6, "resp", "reply", "DATA_START_BACKUP")])
    stream.announcements.append(announce("C", A, 6002, 21, 2.1, "NDMP_DATA_LISTEN", "data"))
    fits = replace(LAB, media_range=((5001, 5003),))
    _, findings = verify([control, callback, data], [stream], config=fits)
    assert "range_too_small" not in codes(findings)
    _, findings = verify([control, callback, data], [stream],
                         config=replace(fits, resources=1))
    assert "range_too_small" not in codes(findings)
    short = replace(LAB, media_range=((5002, 5003),))
    _, findings = verify([control, callback, data], [stream], config=short)
    [too_small] = [f for f in findings if f.code == "range_too_small"]
    assert "needed 3 ports" in too_small.message
    _, findings = verify([], [], config=replace(short, resources=1))
    [too_small] = [f for f in findings if f.code == "range_too_small"]
    assert "needs at least 3" in too_small.message and "control connection" in too_small.message
