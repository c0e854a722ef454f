"""Field check 60's lab matrix (captures/field60-matrix, README.md there), seed 123.

Run 15: two IPv6 restores, the agent's output chain dropping job 1's data SYN-ACKs,
`tcpdump -Q in` on the media server (the agent's direction alone). `announced_not_used`
said "fd77::1's SYNs were dropped on the way or never sent", the SYN-ACKs in a
parenthesis only, and its fix opened the way in alone, not the answers' way out of the
agent, where the lab dropped them (flowcheck.verify.answer_seen, verify.data_links).
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis

from flowcheck.report.answer import answer_rows

HERE = Path(__file__).resolve().parents[1] / "captures" / "field60-matrix"
ONE_WAY = HERE / "two-ipv6-restores-data-synacks-dropped-by-agent-captured-in-on-media.pcap.gz"


def test_a_capture_of_the_listeners_direction_names_its_answers_lost_too() -> None:
    """No answer from the announced port among the agent's packets: the media server's
    SYNs or the agent's SYN-ACKs were lost, and the fix lets the answers out."""
    analysis = shared_analysis(ONE_WAY)
    assert analysis.verdict == "fail"
    found = [f for f in analysis.findings if f.code == "announced_not_used"]
    assert [f.frames for f in found] == [[13], [143]]
    for finding in found:
        assert ("which holds only fd77::2's direction: fd77::1's SYNs or fd77::2's SYN-ACKs "
                "were dropped on the way, or the SYNs never sent (" in finding.message)
        assert ("or fd77::2's own outbound rules (a stateless drop of its SYN-ACKs) or a "
                "firewall between the hosts dropped its answers." in finding.message)
        assert ("and its answers back out (ct state established,related accept in "
                "fd77::2's output chain and on those firewalls)" in finding.fix)
    session = next(s for s in analysis.sessions if s.remote_agent == "fd77::2")
    [cause, fix] = answer_rows(session, analysis.findings)
    assert cause[1].endswith("fd77::1's SYNs or fd77::2's SYN-ACKs were dropped on the way")
    assert "and its answers back out" in fix[1]
    step4 = next(s for s in session.steps if s.step == 4)
    assert step4.status == "missing"
    assert step4.detail.endswith("fd77::1's SYNs or fd77::2's SYN-ACKs were dropped on the "
                                 "way, or the SYNs never sent")
