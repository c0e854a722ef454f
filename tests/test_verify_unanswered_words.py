"""What a failed or absent data connection's words say about where it was lost (trial 10).

A capture on the listener cannot see SYNs dropped before they reached it: an announced
endpoint no captured connection tried may be one whose connector's SYNs a firewall or
NAT between the hosts dropped (D6).
"""

from __future__ import annotations

from test_verify_scenarios import A, M, be_backup, codes, conn, ndmp_backup, run


def test_announced_not_used_names_a_drop_before_the_capture_point() -> None:
    """DATA_CONNECT announced the mover's endpoint and no SYN to it is in the capture:
    the agent could not bind, or its SYNs died on the way (a NAT or firewall in between,
    as in trial 10's nat-snat-media-fail): both readings, and both fixes."""
    connections, streams = ndmp_backup(data_how="unanswered")
    _, findings = run(connections[:1], streams, profile="ndmp")
    assert "announced_not_used" in codes(findings)
    [unused] = [f for f in findings if f.code == "announced_not_used"]
    assert "could not bind a port" in unused.message
    assert (f"or the agent {A} did try and its SYNs were dropped before they reached the "
            "capture point: seen from the listener's side, a firewall or NAT between the "
            "hosts that drops the connection looks the same") in unused.message
    assert "are free on both hosts" in unused.fix
    assert (f"If a capture on the agent {A} shows its SYNs to 10.77.0.1:5002, a firewall or "
            "NAT between the hosts drops them: allow TCP to 10.77.0.1:5002 on every firewall "
            "on the way (its rule: 5001-5100 (media range))") in unused.fix
    assert "NDMP-aware translation" in unused.fix


def _both_captured(connections: list) -> None:
    """The control connection's packets both ways: the capture holds each direction."""
    connections[0].orig_pkts = connections[0].resp_pkts = 6


def test_data_unanswered_from_the_connector_names_both_directions() -> None:
    """The agent's data SYNs retried, no SYN-ACK, the capture holding the media server's
    packets (control): from the connector the SYN-ACKs may be the ones dropped, on the
    way back (trial 10 D10: a router dropped them; it said "something drops its SYNs"
    and "inbound on the media server" for a drop on a router between the hosts)."""
    connections, streams = ndmp_backup(data_how="unanswered")
    _both_captured(connections)
    _, findings = run(connections, streams, profile="ndmp")
    [unanswered] = [f for f in findings if f.code == "data_unanswered"]
    assert (f"something drops its SYNs on the way to {M}, or the SYN-ACKs on the way back: "
            "the capture holds no SYN-ACK, which looks the same either way unless it was "
            f"taken on {M} itself") in unanswered.message
    assert unanswered.fix.startswith(
        f"Allow TCP from {A} to {M} ports 5001-5100 (media range) inbound on the media "
        "server and on any firewall between the hosts, and TCP from "
        f"{M} ports 5001-5100 back to {A} ports 6001-6100 (the agent range: this "
        "connection's source port 6001 is drawn from it anew each time) outbound on the "
        "media server and on any "
        "firewall between the hosts (the SYN-ACK's way")
    assert f"If this capture was taken on {M}, its own firewall drops the SYNs" in \
        unanswered.fix


def test_data_unanswered_to_the_agent_names_both_rules_and_the_firewalls_between() -> None:
    """Backup Exec: the media server connects to the agent's DATA_LISTEN endpoint."""
    connections, streams = be_backup(data_how="unanswered")
    _both_captured(connections)
    _, findings = run(connections, streams)
    [unanswered] = [f for f in findings if f.code == "data_unanswered"]
    assert "or the SYN-ACKs on the way back" in unanswered.message
    assert (f"ports 6001-6100 (agent range) outbound on the media server and inbound on the "
            "agent and on any firewall between the hosts, and TCP from "
            f"{A} ports 6001-6100 back to {M} ports 5001-5100 (the media range: this "
            "connection's source port 5003 is drawn from it anew each time) outbound on the "
            "agent and inbound on the "
            "media server and on any firewall between the hosts") in unanswered.fix


def test_callback_unanswered_names_both_directions() -> None:
    connections, streams = be_backup(callback_how="unanswered")
    _both_captured(connections)
    _, findings = run(connections, streams)
    [unanswered] = [f for f in findings if f.code == "callback_unanswered"]
    assert "or the SYN-ACKs on the way back" in unanswered.message
    # The ranges, not the callback's one-off source port (trial 17, D8).
    assert (f"TCP from {M} ports 5001-5100 back to {A} ports 6001-6100 (the agent range: "
            "this connection's source port 6002 is drawn from it anew each time) outbound "
            "on the media server") in \
        unanswered.fix


def test_control_unanswered_names_both_ways_as_the_others_do() -> None:
    """Retried control SYNs with no SYN-ACK captured, the way back captured otherwise: the
    SYNs or their SYN-ACKs may be the ones lost, as for the callback and the data
    connection (trial 10, D10), and the fix names both rules."""
    control = conn("Nctl", M, 5001, A, 10000, 0.0, how="unanswered")
    other = conn("Other", A, 6050, M, 5050, 0.0)
    other.orig_pkts = other.resp_pkts = 3
    _, findings = run([control, other], [], profile="ndmp")
    [unanswered] = [f for f in findings if f.code == "control_unanswered"]
    assert f"drops its SYNs on the way to {A}, or the SYN-ACKs on the way back" in \
        unanswered.message
    assert (f"TCP from {A} port 10000 back to {M} ports 5001-5100 (the media range: this "
            "connection's source port 5001 is drawn from it anew each time) outbound on the "
            "agent") in \
        unanswered.fix
    assert f"otherwise a capture on {A} shows which way they are lost." in unanswered.fix


def test_data_unanswered_with_a_router_between_points_at_its_forward_chain() -> None:
    """A capture on the media server whose TTLs show a router between the hosts (its own
    packets 64, the agent's 63): the fix points at the router's forward chain and
    `flowcheck firewall`'s section for it (trial 17, D3: a router's drop, host rules
    printed only)."""
    connections, streams = be_backup(data_how="unanswered")
    _both_captured(connections)
    connections[0].orig_ttl, connections[0].resp_ttl = 64, 63
    _, findings = run(connections, streams)
    [unanswered] = [f for f in findings if f.code == "data_unanswered"]
    assert unanswered.fix.endswith(
        f"This capture was taken on {M} or on its network segment: a capture on {A} shows "
        "which way they are lost; "
        "with a router between them, allow them in its forward chain too (`flowcheck "
        "firewall`: \"on a firewall or router between them\").")
