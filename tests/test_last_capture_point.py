"""A router's two interfaces in one pcapng are no capture point on the end host (task
nu64b, newuser64; captures/nu64b/router-two-interfaces).

`dumpcap -i r1 -i r3` on the router between the media server 10.64.1.1 and an agent
10.64.3.2 that dropped its data port: each SYN in the file twice, a router apart, both
hosts' packets at initial TTLs. data_unanswered said "10.64.3.2's own firewall drops
them: the SYNs reached the capture point on 10.64.3.2", though no capture point was on
10.64.3.2: the r3 point is the last one before it, and the link after it could lose the
SYNs as well.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.report.answer import answer_rows

CASES = Path(__file__).resolve().parent.parent / "captures" / "nu64b"


def test_two_interfaces_of_a_router_name_the_link_and_the_hosts_firewall() -> None:
    """No capture point claimed on 10.64.3.2; the last one before it named, with both the
    link after it and 10.64.3.2's own firewall, in the message and the fix."""
    config = build_config(load_file(CASES / "router-two-interfaces.toml"))
    result = analyze(read_traffic([str(CASES / "router-two-interfaces.pcapng")], config),
                     config)
    [unanswered] = [f for f in result.findings if f.code == "data_unanswered"]
    assert "capture point on 10.64.3.2" not in unanswered.message
    assert "10.64.3.2's own firewall or the link to it drops them: the SYNs reached the " \
           "last capture point before 10.64.3.2" in unanswered.message
    assert "something on the link between that point and 10.64.3.2" in unanswered.message
    [session] = [s for s in result.sessions if s.id == unanswered.session]
    fix = dict(answer_rows(session, result.findings))["fix:"]  # the verdict's
    assert "the SYNs reached its capture point" not in fix
    assert fix.startswith("on 10.64.3.2 itself (the SYNs reached the last capture point "
                          "before it)")
    assert "on the link between that capture point and 10.64.3.2" in fix
