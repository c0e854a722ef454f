"""`range_holds_ndmp_port`: a range the user set that holds the NDMP port is a warning of
`analyze` too, as of `firewall` and `plan` (new-user trial: `plan --media-range 9990-10010
--agent-range 10000-10100` read "fits" and nothing said the ranges hold port 10000).
flowcheck's default 1025-65535 holds it by design and says nothing."""

from __future__ import annotations

import pytest
from test_verify_scenarios import be_backup, codes, run, verdict

from flowcheck.config import build_config
from flowcheck.model import Severity

LAB_RANGES = {"media_range": "5001-5100", "agent_range": "6001-6100"}


@pytest.mark.parametrize(("settings", "said"), [
    ({}, ""),  # the defaults
    (LAB_RANGES, ""),
    ({**LAB_RANGES, "agent_range": "6001-6100,10000"},
     "The agent range 6001-6100,10000 holds the NDMP port 10000"),
    ({**LAB_RANGES, "ndmp_port": 5050},
     "The media range 5001-5100 holds the NDMP port 5050"),
    ({"media_range": "9990-10010", "agent_range": "10000-10100"},
     "The media range 9990-10010 and the agent range 10000-10100 hold the NDMP port 10000"),
])
def test_a_configured_range_holding_the_ndmp_port_is_a_warning(settings: dict,
                                                               said: str) -> None:
    connections, streams = be_backup()
    _, findings = run(connections, streams, config=build_config(settings))
    holding = [f for f in findings if f.code == "range_holds_ndmp_port"]
    if not said:
        assert holding == []
        return
    [finding] = holding
    assert finding.message.startswith(f"{said}: a listener given that port")
    assert finding.severity == Severity.WARNING and finding.frames == []
    assert finding.ts is None and "off the NDMP port" in finding.fix


def test_the_warning_alone_leaves_a_clean_job_passing() -> None:
    connections, streams = be_backup()
    config = build_config({"media_range": "5001-5100", "agent_range": "6001-6100,10000"})
    _, findings = run(connections, streams, config=config)
    assert codes(findings) == ["range_holds_ndmp_port"] and verdict(findings) == "pass"


def test_range_too_small_leaves_the_ndmp_port_out_of_the_range_s_size() -> None:
    """The NDMP port inside a range is no dynamic port: `analyze`'s range_too_small counts
    the range as `flowcheck plan` does (10000-10003 has 3 ports for the agent's data and
    callback ports, not 4: a job of 3 resources needs 4 there)."""
    connections, streams = be_backup()
    settings = {**LAB_RANGES, "agent_range": "10000-10003", "resources": 3}
    _, findings = run(connections, streams, config=build_config(settings))
    small = [f for f in findings if f.code == "range_too_small"
             and f.message.startswith("The agent range")]
    [finding] = small
    assert finding.message.startswith(
        "The agent range 10000-10003 (agent range) has 3 ports (the NDMP port 10000 left "
        "out); a job of "
        "3 resources needs at least 4 there")
    assert "Widen the agent range by 1 port, to at least 4 (what one job needs" in finding.fix
