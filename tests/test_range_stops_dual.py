"""A step that stopped on a full range is tied to it on a dual-stack pair as on a
single-stack one (verify.range_stops.range_owners).

captures/field77-matrix/restore-agent-range-of-two-agent-closed-on-listen-dual-in-on-agent
(lab matrix seed 140 run 11): control fd77::1 -> fd77:1::2, callback and data connection
over IPv4, the agent range 6001-6002 held on 10.77.1.2 (C2 on 6002, C3 on 6001) as the
second DATA_LISTEN (frame 165) came. Looked up by the control address alone, no full
range was read there: step 3 named no range and range_too_small was tied to no step.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.verify.context import Context
from flowcheck.verify.range_stops import range_owners

CASE = (Path(__file__).resolve().parent.parent / "captures" / "field77-matrix"
        / "restore-agent-range-of-two-agent-closed-on-listen-dual-in-on-agent")


@pytest.fixture(scope="module")
def result() -> Analysis:
    config = build_config(load_file(CASE.with_suffix(".toml")))
    return analyze(read_traffic([str(CASE.with_suffix(".pcap.gz"))], config), config)


def test_the_listen_on_a_dual_stack_pair_names_the_range_held_on_ipv4(result) -> None:  # noqa: ANN001
    """Step 3 names the full range, its ports held on the agent's IPv4 address, and its
    fix widens it first; range_too_small is tied to the step (its frames and words)."""
    [missing] = [f for f in result.findings if f.code == "step_missing"]
    assert "never answered by fd77:1::2, likely because its agent range 6001-6002 had " \
           "no port left" in missing.message
    # The ports named on the address that held them, not the control address the
    # sentence names ("fd77:1::2 ... C3 on 6001" read as fd77:1::2's port).
    assert "both ports of 6001-6002 (agent range) in use or held (60 s after use) as the " \
           "request came: C3 on 10.77.1.2:6001 (ended" in missing.message
    assert "C2 on 10.77.1.2:6002 (open)" in missing.message
    assert "likely why step 3 failed" in missing.fix
    [small] = [f for f in result.findings if f.code == "range_too_small"]
    assert 165 in small.frames
    assert "fd77:1::2 needed 3 ports of the range at once" in small.message
    assert "step 3 of session S1 (step_missing)" in small.message


def test_a_configured_pair_a_session_contradicts_adds_no_address_to_the_range() -> None:
    """remote_agents lists 10.77.1.9 (another agent, IPv4 alone) beside fd77:1::2: the
    configuration's pair (stack_addresses.config_pair) reads them one dual-stack host,
    but the session proves fd77:1::2's IPv4 address 10.77.1.2, so 10.77.1.9's ports are
    not fd77:1::2's range (counted, two agents' ports read one range full)."""
    raw = load_file(CASE.with_suffix(".toml"))
    raw["remote_agents"] = ["10.77.1.9", "fd77:1::2"]
    config = build_config(raw)
    analysis = analyze(read_traffic([str(CASE.with_suffix(".pcap.gz"))], config), config)
    assert analysis.profile is not None
    ctx = Context(analysis.traffic.connections, analysis.traffic.streams,
                  analysis.sessions, config, analysis.profile)
    [session] = [s for s in analysis.sessions if s.remote_agent == "fd77:1::2"]
    assert "10.77.1.9" in ctx.host_addresses(session, "agent")  # the pair, as read
    assert range_owners(ctx, session, "fd77:1::2") == {"fd77:1::2", "10.77.1.2"}
