"""What a failed or absent data connection's words say about where it was lost (trial 10).

A capture on the listener cannot see SYNs dropped before they reached it: an announced
endpoint no captured connection tried may be one whose connector's SYNs a firewall or
NAT between the hosts dropped (D6).
"""

from __future__ import annotations

from tests.test_verify_scenarios import A, codes, ndmp_backup, run


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
