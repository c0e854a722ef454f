"""A job's own SYNs with a low TTL are no traceroute's probes (review56f, captures/review56f).

verdicts56 read a connection whose first SYN carried TTL <= 30 as captured, no data,
as a traceroute's probe when nothing answered it, or when more than one SYN came before
the SYN-ACK and the originator reset it: step 1 `ok`, no finding. A host whose
net.ipv4.ip_default_ttl is 30 (netns lab, real ndmjob) sends every SYN so: its control
connection dropped by the agent's firewall, or given up and its late SYN-ACK reset, read
PASS, beside real traceroutes too. A connect resends its SYN with one TTL; a traceroute
varies it (verify.ttl_exceeded.probe_ttls). The probes of captures/verdicts56 stay
probes (tests/test_verdicts56_traceroute.py).
"""

from __future__ import annotations

from stored import CAPTURES, shared_analysis

CASES = CAPTURES / "review56f"


def _codes(name: str) -> list[tuple[str, str | None]]:
    analysis = shared_analysis(CASES / name)
    return [(f.code, f.session) for f in analysis.findings]


def test_a_dropped_control_connection_from_a_ttl_30_host_fails() -> None:
    """9 SYNs from one port, each TTL 30, nothing answered: a connect's resends."""
    analysis = shared_analysis(CASES / "control-dropped-ttl30.pcap")
    assert analysis.verdict == "fail"
    assert _codes("control-dropped-ttl30.pcap") == [("control_unanswered", "S1")]
    assert "traceroute" not in analysis.sessions[0].steps[0].detail


def test_a_given_up_connect_from_a_ttl_30_host_whose_late_synack_it_reset_fails() -> None:
    """6 SYNs with TTL 30, then the late SYN-ACK and the originator's RST: no
    tcptraceroute (whose TTL rises from one port), a connect given up."""
    analysis = shared_analysis(CASES / "late-synack-reset-ttl30.pcap")
    assert analysis.verdict == "fail"
    assert _codes("late-synack-reset-ttl30.pcap") == [("handshake_incomplete", "S1")]


def test_a_ttl_30_hosts_dropped_job_beside_its_traceroutes_fails() -> None:
    """tcptraceroute and traceroute -T from M (TTL 1-9), then the job's control
    connection from M (TTL 30, 8 SYNs) dropped by A: the probes stay probes, the job's
    connection is no probe though probes of other TTLs went to the same port."""
    analysis = shared_analysis(CASES / "traceroute-beside-dropped-job-ttl30.pcap")
    assert analysis.verdict == "fail"
    assert _codes("traceroute-beside-dropped-job-ttl30.pcap") == [
        ("control_unanswered", "S27")]
    probes = [s.steps[0] for s in analysis.sessions if s.id != "S27"]
    assert len(probes) == 26
    assert all(step.status == "ok" for step in probes)
    assert all(step.detail.startswith(("a traceroute probe", "a half-open port check"))
               for step in probes), [step.detail[:60] for step in probes]
