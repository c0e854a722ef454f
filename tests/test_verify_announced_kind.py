"""Announced data addresses that are not the control connection's (new-user trial 19).

Lab captures in captures/lab-trial19-announce (each `.toml` says how it was made):

- D3: the agent announces its second NIC; the media server reaches that network from
  its own address on it (mh4), and a firewall on that NIC drops the SYNs: a data
  connection to a reachable endpoint that went unanswered (data_unanswered and its
  rule), not an address that cannot be reached ("a firewall rule does not help": the
  rule cures the job, mh5);
- D6: the agent announces 0.0.0.0 (its wildcard bind): announced, but unusable; not "no
  data endpoint was announced" with "capture the whole job";
- D8: the agent announces 127.0.0.1: the media server connects to itself; neither a
  second interface nor a NAT, nor (with its loopback captured) a refusal to allow;
- D11: the agent announces its second NIC and the capture was taken on the control
  NIC only: the data took another interface; capture on all of them, not "a port
  filter".
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis
from test_verify_scenarios import A, announce, be_backup, run, statuses

from flowcheck.model import Finding
from flowcheck.pipeline import Analysis

CAPTURES = Path(__file__).resolve().parent.parent / "captures" / "lab-trial19-announce"


def _analyze(name: str) -> Analysis:
    # The run's one analysis of the stored case (capture and NAME.toml), read only.
    return shared_analysis(CAPTURES / f"{name}.pcap.gz")


def _errors(analysis: Analysis) -> list[Finding]:
    return [f for f in analysis.findings if f.code != "ndmp_vendor_message"]


def _step(analysis: Analysis, number: int) -> tuple[str, str]:
    step = next(s for s in analysis.sessions[0].steps if s.step == number)
    return step.status, step.detail


def test_other_nic_reached_from_the_connectors_own_address_is_a_firewall() -> None:
    """D3: SYNs to the announced 10.78.0.2 leave from the media server's own 10.78.0.1
    (its TTL): the address is reachable, a firewall drops them."""
    analysis = _analyze("mh4-other-nic-firewalled")
    assert analysis.verdict == "fail"
    (finding,) = _errors(analysis)
    assert finding.code == "data_unanswered"
    assert "10.78.0.1" in finding.message and "10.78.0.2" in finding.message
    assert "another interface" in finding.message and "10.77.0.2" in finding.message
    assert "does not help" not in finding.fix
    assert "from 10.78.0.1 to 10.78.0.2 ports 6001-6100" in finding.fix
    assert _step(analysis, 4)[0] == "failed"


def test_other_nic_with_the_rule_applied_passes() -> None:
    assert _analyze("mh5-other-nic-firewall-opened").verdict == "pass"


def test_unspecified_address_is_announced_and_unusable() -> None:
    """D6: DATA_LISTEN announced 0.0.0.0:6001: the step is there, the address is the
    fault, and the fix is on the agent, not a new capture."""
    for name in ("any1-announce-0000", "any2-announce-0000-lo-captured"):
        analysis = _analyze(name)
        assert analysis.verdict == "fail", name
        (finding,) = _errors(analysis)
        assert finding.code == "announced_address_mismatch", name
        assert "0.0.0.0:6001" in finding.message and "unspecified" in finding.message
        assert "NAT" not in finding.message and "NAT" not in finding.fix
        assert "Capture" not in finding.fix and "data interface" in finding.fix
        status, detail = _step(analysis, 3)
        assert status == "ok" and "0.0.0.0:6001" in detail, name
    # With the media server's loopback captured, its own refused attempt is named.
    (finding,) = _errors(_analyze("any2-announce-0000-lo-captured"))
    assert "127.0.0.1:5002 -> 127.0.0.1:6001" in finding.message


def test_loopback_address_is_the_media_server_connecting_to_itself() -> None:
    """D8: 127.0.0.1 names the connecting host itself; no other NIC, no NAT; with the
    media server's loopback captured, no refusal with a rule from 127.0.0.1."""
    for name, count in (("lo1-announce-loopback", 2), ("lo2-announce-loopback-lo-captured", 1)):
        analysis = _analyze(name)
        assert analysis.verdict == "fail", name
        findings = _errors(analysis)
        assert [f.code for f in findings] == ["announced_address_mismatch"] * count, name
        finding = findings[0]
        assert "loopback" in finding.message and "itself" in finding.message, name
        assert "NAT" not in finding.message + finding.fix, name
        assert "multi-homed" not in finding.message, name
        assert "host name" in finding.fix and "/etc/hosts" in finding.fix, name
        assert "127.0.0.1 to 127.0.0.1" not in finding.fix, name
    (finding,) = _errors(_analyze("lo2-announce-loopback-lo-captured"))
    assert "refused" in finding.message and "C3" in finding.message


def test_data_on_another_interface_than_the_capture_is_not_a_port_filter() -> None:
    """D11: the announced 10.78.0.2 is not the control connection's address: the data
    went over another interface; capture on all of them or with host 10.78.0.2."""
    analysis = _analyze("mh2-other-nic-capture-m0")
    assert analysis.verdict == "inconclusive"
    (finding,) = _errors(analysis)
    assert finding.code == "capture_filtered"
    assert "10.78.0.2" in finding.message and "another interface" in finding.message
    assert "tcpdump -i any" in finding.fix and "host 10.78.0.2" in finding.fix
    assert "port filter" not in finding.fix
    status, detail = _step(analysis, 4)
    assert status == "unknown" and "another interface" in detail


def test_unspecified_address_reached_at_the_control_address_is_no_nat() -> None:
    """D6, the other way round: a connector that takes 0.0.0.0 for the control
    connection's address reaches the agent there; no NAT rewrites 0.0.0.0, so no
    "a NAT rewrote the address" and, as the job works, no finding."""
    connections, streams = be_backup(announce_data=False)
    streams[0].announcements.append(
        announce("Cctl", "0.0.0.0", 6001, 21, 2.1, "NDMP_DATA_LISTEN", "data"))
    sessions, findings = run(connections, streams)
    assert findings == []
    assert sessions[0].data_connections == ["Cdata"] and not sessions[0].address_matched
    assert statuses(sessions[0]) == ["ok"] * 5
    assert connections[2].resp_h == A
