"""agent_not_seen's words for agents with unread connections to their NDMP port
(flowcheck.verify.unread_agents): one port per agent, so two agents' are "ports"."""

from __future__ import annotations

from flowcheck.model import Connection
from flowcheck.verify.unread_agents import unread_fix, unread_note


def _to(agent: str, uid: str) -> Connection:
    return Connection(uid=uid, orig_h="10.77.0.1", orig_p=5059, resp_h=agent, resp_p=10000,
                      ts=0.0, orig_bytes=517)


def test_one_agent_has_the_ndmp_port_two_have_the_ndmp_ports() -> None:
    one = {"10.77.1.3": [_to("10.77.1.3", "C1"), _to("10.77.1.3", "C2")]}
    two = {"10.77.1.3": [_to("10.77.1.3", "C1")], "10.77.1.4": [_to("10.77.1.4", "C2")]}
    assert "to the NDMP port of 10.77.1.3, which" in unread_note(one)
    assert "they did not read as NDMP" in unread_note(one)
    assert "to the NDMP ports of 10.77.1.3 and 10.77.1.4, which" in unread_note(two)
    assert "the one to the NDMP port of 10.77.1.3 (" in unread_fix("10.77.1.3", True, one)
    assert "the one to the NDMP ports of 10.77.1.3 and 10.77.1.4 (" in unread_fix(
        "10.77.1.3 or 10.77.1.4", False, two)
