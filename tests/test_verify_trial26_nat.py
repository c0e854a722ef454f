"""NAT seen from the agent's side (new-user trial 26, D1 and D2).

Real captures: captures/lab-trial26-nat (their .toml say how each was made). A router
R sits between the media server 10.77.0.1 and the agent 10.88.0.2.

D2: R masquerades the media server to 10.88.0.254 with its own ports (40000-40100); the
agent calls back the job engine's own address 10.77.0.1. The session itself shows the
media server under two addresses, so the ports at 10.88.0.254 are the NAT's, as when
--media-server names 10.77.0.1: the good job read port_outside_media_range x2.

D1: R publishes the agent 10.88.0.2 as 10.99.0.2 and the agent announces 10.99.0.2;
captured on the agent, the control and data connections both arrive at 10.88.0.2. The
contract keeps announced_address_mismatch an error, but its fix told the agent to
announce 10.88.0.2, which the media server cannot reach.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab-trial26-nat"


def _analyze(name: str, **overrides: object) -> Analysis:
    config = build_config({**load_file(LAB / f"{name}.toml"), **overrides})
    return analyze(read_traffic([str(LAB / f"{name}.pcap.gz")], config), config)


def _codes(analysis: Analysis) -> list[str]:
    return sorted(f.code for f in analysis.findings)


def test_masqueraded_media_server_ports_are_the_nats_without_configuration() -> None:
    analysis = _analyze("nat-snat-ports-at-A")
    assert analysis.verdict == "pass", _codes(analysis)
    assert _codes(analysis) == ["ndmp_vendor_message"]
    steps = {s.step: s for s in analysis.sessions[0].steps}
    assert steps[4].status == "ok"
    for number in (1, 4):
        detail = steps[number].detail
        assert "the port of a NAT" in detail and "10.77.0.1" in detail, detail
        assert "host_not_configured" not in detail and "configured" not in detail


def test_masqueraded_media_server_configured_keeps_its_warning() -> None:
    analysis = _analyze("nat-snat-ports-at-A", media_servers=["10.77.0.1"])
    assert analysis.verdict == "pass"
    assert "host_not_configured" in _codes(analysis)
    assert "not a configured media server's address" in analysis.sessions[0].steps[3].detail


def test_agent_behind_dnat_announcing_its_public_address_is_told_it_worked() -> None:
    analysis = _analyze("nat-dnat-ok-at-A")
    assert analysis.verdict == "fail"  # the contract keeps the mismatch an error
    errors = [f for f in analysis.findings if f.code == "announced_address_mismatch"]
    assert len(errors) == 2
    first = errors[0]
    # What the capture shows: the data connection reached the announced port under the
    # address the control connection arrived at, and worked through the translation.
    assert "under the same address 10.88.0.2 the control connection arrived at" in \
        first.message
    assert "worked through" in first.message
    assert "taken on the agent's side" in first.message
    # Never tell the agent to announce an address the media server may not reach.
    assert not first.fix.startswith("Make the agent announce")
    assert "If the media server 10.77.0.1 opens its control connection to 10.99.0.2" \
        in first.fix and "keep" in first.fix
    assert "If it opens it to 10.88.0.2" in first.fix
    assert "does not help" not in first.fix
