"""Refusals and resets read from who sent them (new-user trial 19, D4, D7):
captures/lab-trial19-refuse (README).

- D4: a router's `reject with tcp reset` in the agent's name: the RST's TTL (64) is not
  the agent's (127); before, "the port was already in use ... or a firewall" and the fix
  on the agent. A RST with an undecremented TTL and nothing else from the agent: the
  router is named as a condition.
- D7: an ICMP host or network unreachable is a filter's reject (or a router that cannot
  reach the host), never a port in use.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import failed_errors

from flowcheck.config import build_config
from flowcheck.model import Connection, Finding
from flowcheck.profiles import load_profile
from flowcheck.verify.context import Context
from flowcheck.verify.refusals import data_refused_fix, refusal_causes

FOLDER = Path(__file__).resolve().parent.parent / "captures" / "lab-trial19-refuse"


def _errors(name: str) -> list[Finding]:
    return failed_errors(FOLDER / f"{name}.toml", FOLDER / f"{name}.pcap")


def test_a_routers_reset_in_the_agents_name_is_not_a_port_in_use() -> None:
    [error] = _errors("r-reset")
    assert error.code == "data_refused"
    assert "already in use" not in error.message and "already in use" not in error.fix
    assert "its TTL 64, where 10.91.0.2's own packets arrive with 127" in error.message, \
        error.message
    assert "a router or firewall between the hosts" in error.message
    assert "in the forward chain of the router or firewall between 10.90.0.1 and " \
           "10.91.0.2" in error.fix, error.fix
    assert "inbound on the agent" not in error.fix and "netstat" not in error.fix


def test_an_undecremented_control_reset_names_the_router_as_a_condition() -> None:
    [error] = _errors("rc-reset")
    assert error.code == "control_refused"
    assert "The RST's TTL 64 is an initial value, as is the SYN's (128)" in error.message, \
        error.message
    assert "if 10.91.0.2 is reached through a router, that router or a firewall there " \
           "sent it in 10.91.0.2's name" in error.message
    assert "in the forward chain of that router or firewall" in error.fix, error.fix


@pytest.mark.parametrize(("name", "what"), [
    ("f-data-host-unreachable", "ICMP host unreachable (code 1)"),
    ("f-data-net-unreachable", "ICMP network unreachable (code 0)")])
def test_a_host_or_net_unreachable_is_a_reject_not_a_port_in_use(name: str, what: str) -> None:
    errors = _errors(name)
    assert [f.code for f in errors] == ["data_refused", "data_refused"]
    for error in errors:
        assert f"answered the SYN with an {what}" in error.message, error.message
        assert "a firewall on 10.77.0.2, or a bridge (transparent) firewall in front of " \
            "10.77.0.2 answering in its name, rejects it" in error.message, error.message
        assert "already in use" not in error.message and "skips the resource" not in \
            error.message
        assert error.fix.startswith("Allow TCP from 10.77.0.1 to 10.77.0.2"), error.fix
        assert "netstat" not in error.fix and "port was in use" not in error.fix


def test_a_callback_host_unreachable_skips_no_resource() -> None:
    [error] = _errors("cb3-callback-host-unreachable")
    assert error.code == "callback_refused"
    assert "ICMP host unreachable (code 1)" in error.message, error.message
    assert "a firewall on 10.77.0.1, or a bridge (transparent) firewall in front of " \
        "10.77.0.1 answering in its name, rejects it" in error.message, error.message
    assert "skips the resource" not in error.message and "already in use" not in error.message
    assert error.fix.startswith("Allow TCP from 10.77.0.2 to 10.77.0.1"), error.fix
    assert "10.77.0.1's firewall" in error.fix


def test_a_routers_host_unreachable_names_the_router_and_its_route() -> None:
    """D7 from a router (no capture of it): the router could not reach the host, or
    filters with that code; its route first, then its forward chain. No port in use."""
    conn = Connection("C3", "10.77.0.1", 5002, "10.77.1.2", 6001, 1.0, syn_frames=[1],
                      icmp_frames=[2], orig_ttl=64)
    conn.icmp_code, conn.icmp_sender = 1, "10.77.0.254"  # rare fields: not __init__'s
    config = build_config({"media_range": "5001-5100", "agent_range": "6001-6100"})
    ctx = Context([conn], [], [], config, load_profile("backup-exec-9"))
    words = refusal_causes(ctx, conn)
    assert words.startswith("the SYN to 10.77.1.2:6001 was answered with an ICMP host "
                            "unreachable (code 1) from 10.77.0.254, not by 10.77.1.2: that "
                            "router could not reach 10.77.1.2"), words
    assert "already in use" not in words
    fix = data_refused_fix(ctx, conn, None)  # type: ignore[arg-type]
    assert fix.startswith("Check that 10.77.0.254 reaches 10.77.1.2"), fix
    assert "in the forward chain of 10.77.0.254" in fix and "netstat" not in fix
