"""Field check 50's lab matrix (captures/field50-matrix, README.md there), seed 113.

Run 45: a 5-resource backup through a router that drops the data SYNs, captured on the
agent (none reached it). Each announced_not_used said "no connection ever tried it:
either the media server 10.77.0.1 did try and a firewall ... dropped ... its SYNs", its
next words contradicting it: a capture holds the attempts that reached its point, never
that none was made. Run 49: a clean backup captured on both hosts and merged, each packet
twice, then 0.52% of the frames deleted (the sniffer's loss): a data segment whose first
copy was deleted came only with the other point's copies, after later segments, and step 5
called it "1 retransmitted segment included: resent, or out of order on the way".
"""

from __future__ import annotations

from pathlib import Path

from stored import stored_analysis

from flowcheck.model import Finding
from flowcheck.pipeline import Analysis

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "captures" / "field50-matrix"
ROUTER_DROP = HERE / "data-syns-dropped-by-router-captured-on-agent"
MERGED_LOSS = HERE / "dual-stack-both-hosts-merged-sniffer-loss"
TWO_JOBS_ACK = HERE / "two-jobs-data-ack-dropped-captured-out-on-agent"
CALLBACK_REJECTED = HERE / "dual-stack-callback-rejected-captured-in-on-agent"


def _analysis(case: Path, suffix: str) -> Analysis:
    """The stored case CASE + suffix, analysed with its sidecar CASE.toml."""
    return stored_analysis(case.with_name(case.name + suffix))


def _findings(case: Path, suffix: str = ".pcapng.gz") -> list[Finding]:
    return _analysis(case, suffix).findings


def test_an_unused_announcement_says_the_capture_holds_no_connection_not_that_none_tried(
) -> None:
    unused = [f for f in _findings(ROUTER_DROP) if f.code == "announced_not_used"]
    assert len(unused) == 5
    for finding, port in zip(unused, range(6001, 6006), strict=True):
        assert finding.message.startswith(
            f"DATA_LISTEN (frame {finding.frames[0]}) announced 10.77.1.2:{port} for the "
            "data connection, but the capture holds no connection to it: either the media "
            "server 10.77.0.1 did try and a firewall or NAT between the hosts dropped or "
            "rejected its SYNs before they reached this capture"), finding.message
        assert "tried it" not in finding.message


def test_a_segment_one_of_two_capture_points_missed_is_named_among_the_resent() -> None:
    analysis = _analysis(MERGED_LOSS, ".pcap.gz")
    assert analysis.verdict == "pass"
    assert [f.code for f in analysis.findings] == ["capture_duplicates",
                                                   "ndmp_vendor_message"]
    [session] = analysis.sessions
    assert sum(c.retransmits for c in analysis.traffic.connections
               if c.uid in session.data_connections) == 1
    detail = session.steps[4].detail
    assert ("(TCP payload, 1 retransmitted segment included: resent, or out of order on the "
            "way, or, the capture holding its packets twice (capture_duplicates), one that a "
            "capture point missed and another captured after later segments)") in detail


def test_a_handshake_captured_on_the_listeners_side_only_does_not_say_no_ack_was_sent(
) -> None:
    """Run 14: the media server's ACK was sent and dropped by the agent's input chain;
    the capture holds only the agent's packets, so "no ACK from 10.77.0.1" said what it
    cannot show."""
    analysis = _analysis(TWO_JOBS_ACK, ".pcap.gz")
    assert analysis.verdict == "fail"
    [failed] = [s for s in analysis.sessions if s.remote_agent == "10.77.0.2"]
    assert failed.steps[3].status == "failed"
    assert failed.steps[3].detail == (
        "10.77.0.2:6001: handshake incomplete: 3 SYN-ACKs from 10.77.0.2 (resent: it never "
        "got an ACK from 10.77.0.1; the capture holds none of 10.77.0.1's packets on it: "
        "one direction only)")


def test_a_one_way_session_stopped_by_a_failure_it_shows_is_unknown_for_that_failure() -> None:
    """Run 11: the agent's callback refused (the ICMP in the capture), captured `-Q in` on
    the agent (the media server's side only). Its steps 3-5 read "not reached: the job
    stopped after step 2 failed", as in a whole capture, but its kind read unknown
    because "the agent's replies are not in it, and one of them may have refused the job
    (a CONNECT_CLIENT_AUTH refused, say)"."""
    analysis = _analysis(CALLBACK_REJECTED, ".pcap.gz")
    assert analysis.verdict == "fail"
    [session] = analysis.sessions
    assert [f.code for f in analysis.findings if f.severity.value == "error"] == [
        "callback_refused"]
    assert all(step.detail == "not reached: the job stopped after step 2 failed"
               for step in session.steps[2:])
    assert session.kind_unknown
    assert session.kind_words() == (
        "kind unknown (the job stopped after step 2 failed, before anything showed a "
        "backup, a restore or a browse)")
