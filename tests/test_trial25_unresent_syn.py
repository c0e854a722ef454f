"""A callback or data SYN with no answer that TCP never resent although the capture ran
on (new-user trial 25 D4): the sniffer lost packets there, so whether the SYN was dropped
or rejected cannot be seen. The step failed only when the job visibly stopped after it
(its headline says the capture cannot tell a drop from a reject); otherwise it is
unknown and the verdict inconclusive."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from lab_edits import analyze_lab, lab_packets, write
from scapy.all import IP, UDP, Ether

from flowcheck.model import Finding

HEDGE = "whether a firewall dropped or rejected it the capture cannot tell"


def _error(findings: list[Finding]) -> Finding:
    errors = [f for f in findings if f.severity.value == "error"]
    assert len(errors) == 1
    return errors[0]


def test_callback_reject_the_sniffer_lost_fails_without_asserting_a_drop(tmp_path: Path) -> None:
    packets = lab_packets("callback-rejected")
    del packets[17]  # the ICMP administratively prohibited
    analysis = analyze_lab(write(tmp_path, "cbr-noicmp", packets), "callback-rejected")
    assert analysis.verdict == "fail"
    error = _error(analysis.findings)
    assert error.code == "callback_unanswered"
    assert HEDGE in error.message and "never got an answer" not in error.message
    assert "the sniffer lost packets here" in error.message
    assert "the job stopped after it" in error.message


def test_data_syn_never_resent_fails_without_asserting_a_drop(tmp_path: Path) -> None:
    packets = lab_packets("data-port-dropped")
    del packets[23:26]  # the three SYN retransmissions
    analysis = analyze_lab(write(tmp_path, "dpd-noretrans", packets), "data-port-dropped")
    assert analysis.verdict == "fail"
    error = _error(analysis.findings)
    assert error.code == "data_unanswered"
    assert "never opened; " + HEDGE in error.message
    assert "was never answered" not in error.message


def test_lone_callback_syn_of_a_job_that_did_not_stop_is_unknown(tmp_path: Path) -> None:
    packets = lab_packets("callback-rejected")[:19]  # no ICMP, no CONNECT_CLOSE, no FIN
    del packets[17]
    # The sniffer ran on: a later packet between the hosts (NTP) 5.5 s after the SYN.
    later = Ether(src=packets[0][Ether].src, dst=packets[0][Ether].dst) / IP(
        src="10.77.0.1", dst="10.77.0.2") / UDP(sport=123, dport=123)
    later.time = packets[16].time + Decimal("5.5")
    analysis = analyze_lab(write(tmp_path, "cb-lone", [*packets, later]), "callback-rejected")
    codes = {f.code for f in analysis.findings}
    assert analysis.verdict == "inconclusive"
    assert not codes & {"callback_unanswered", "capture_ended_early"}
    step2 = analysis.sessions[0].steps[1]
    assert step2.status == "unknown"
    assert "never resent" in step2.detail and "cannot be seen" in step2.detail
