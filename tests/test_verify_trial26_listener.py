"""New-user trial 26, D10: an announcement no captured connection tried, on a capture
the TTLs show was taken on the listener's side (captures/lab-trial26-words,
data-drop-agent: a router dropped the data SYNs): the firewall or NAT between the hosts
comes first, a port in use second, in the message and in the fix.
"""

from __future__ import annotations

from pathlib import Path

from stored import stored_analysis

from flowcheck.model import Finding

HERE = Path(__file__).resolve().parent.parent / "captures" / "lab-trial26-words"


def _findings(name: str) -> list[Finding]:
    return stored_analysis(HERE / f"{name}.pcap").findings


def test_on_the_listener_the_firewall_between_comes_first() -> None:
    [finding] = [f for f in _findings("data-drop-agent") if f.code == "announced_not_used"]
    message, fix = finding.message, finding.fix
    assert ("the capture holds no connection to it: either the media server 10.77.0.1 did try "
            "and a firewall or NAT between the hosts dropped or rejected its SYNs") in message
    assert message.index("firewall or NAT") < message.index("port was in use")
    assert fix.startswith("If a capture on the media server 10.77.0.1 shows its SYNs to "
                          "10.88.0.2:6001, a firewall or NAT between the hosts drops them")
    assert fix.index("allow TCP to 10.88.0.2:6001") < fix.index("are free on both hosts")


def test_on_a_routers_interface_the_capture_is_on_the_hosts_segment() -> None:
    """Trial 26 D10: captured on the router's interface toward the media server, which
    the TTLs cannot tell from the media server itself."""
    [finding] = [f for f in _findings("data-drop-router-mside") if f.code == "data_unanswered"]
    assert ("this capture was taken on 10.77.0.1 (or on its network segment: 10.77.0.1's "
            "packets arrive with TTL 64, an initial value, and 10.88.0.2's with 63: a router "
            "between them), not on 10.88.0.2") in finding.message
    assert " This capture was taken on 10.77.0.1 or on its network segment: " in finding.fix
