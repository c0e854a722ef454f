"""A router's ICMP host unreachable for an address that answered meanwhile and called
back from itself: the router's reject, not a port forward (task nu64b, newuser64;
captures/nu64b/router-host-unreachable).

The router 10.64.1.254 had `reject with icmp type host-unreachable` for 6001-6100 in its
forward chain. 10.64.2.2 answered the control connection on port 10000 and called the
media server back from 10.64.2.2 itself (step 2 ok), yet data_refused concluded "a device
in front of it that forwards only some of its ports" and its fix led with "if 10.64.2.2
is a forwarded address ... forward 6001-6100", the router's forward chain third. A RST
gave that reading only when the callback came from another address (reset_meanwhile).
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

CASES = Path(__file__).resolve().parent.parent / "captures" / "nu64b"


def test_a_router_reject_for_an_address_that_called_back_is_no_port_forward() -> None:
    """The agent's own address (the callback C2 from it): no forward reading; the
    router that sent the ICMP (10.64.1.254, TTL 64, an initial value) named as the likely
    rejecter, and the fix leads with the allow rule in its forward chain, its route
    after."""
    config = build_config(load_file(CASES / "router-host-unreachable.toml"))
    result = analyze(read_traffic([str(CASES / "router-host-unreachable.pcap")], config),
                     config)
    [refused] = [f for f in result.findings if f.code == "data_refused"]
    assert "forwards only some of its ports" not in refused.message
    assert "forwarded address" not in refused.fix
    assert "the agent's callback (C2) came from 10.64.2.2 itself" in refused.message
    assert "the router 10.64.1.254 that sent the ICMP (with TTL 64, an initial value" \
           in refused.message
    assert refused.fix.startswith("Allow TCP from 10.64.1.1 to 10.64.2.2 ports 6001-6100 "
                                  "(agent range) in the forward chain of 10.64.1.254")
    assert "if none does, check that 10.64.1.254 reaches 10.64.2.2" in refused.fix


def test_the_callbacks_address_is_no_proof_of_the_agents_own() -> None:
    """review62e: a device that forwards port 10000 to the agent and gives the agent's
    connections its own address (a source NAT) makes the same capture: the callback
    from 10.64.2.2 cannot tell it from the agent's own address, so the message says
    "most likely" and the fix names the port forward last, after the router's rules."""
    config = build_config(load_file(CASES / "router-host-unreachable.toml"))
    result = analyze(read_traffic([str(CASES / "router-host-unreachable.pcap")], config),
                     config)
    [refused] = [f for f in result.findings if f.code == "data_refused"]
    assert "and the agent's own address, not a device's" not in refused.message
    assert ("most likely the agent's own address, not a device's that forwards some of its "
            "ports (such a device would also have to give the agent's own connections its "
            "address, a source NAT to it, which the capture cannot tell from the agent's "
            "own)") in refused.message
    lead, _, rest = refused.fix.partition("If 10.64.2.2 is a device's address")
    assert "in the forward chain of 10.64.1.254" in lead
    assert rest.startswith(" that forwards port 10000 to the agent and gives the agent's "
                           "connections that address (a port forward with a source NAT), "
                           "forward 6001-6100 (agent range) to the agent there too.")
