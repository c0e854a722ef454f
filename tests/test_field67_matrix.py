"""Field check 67's lab matrix (captures/field67-matrix, README.md there), seed 130.

Run 19: two dual-stack Backup Exec restores at once, the agent host's input chain
dropping the first job's control SYNs (to fd77::2), `tcpdump -i any -Q out` on the
agent's host: every packet of the capture leaves A, none is from the media server
(10.77.0.1, fd77::1). agent_not_seen's fix said a job with 10.77.0.2 or fd77::2 "never
reached the network at this capture point", though a job whose control SYNs to them
went unanswered leaves no packet in a capture of the agents' direction only: the finding
now says so (flowcheck.verify.absent_agents).
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis

from flowcheck.traffic import Analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "field67-matrix"
OUT = HERE / "two-jobs-dual-control-dropped-by-agent-out-on-agent.pcap.gz"


def test_a_capture_of_the_agents_direction_only_cannot_hold_unanswered_syns() -> None:
    """No TCP packet from the media server in the capture: agent_not_seen says unanswered
    SYNs to the unseen agent would leave none, and its fix names them first."""
    assert_unseen_agent_hedged(shared_analysis(OUT))


def assert_unseen_agent_hedged(analysis: Analysis) -> None:
    """Run 19's reading (also of its `-Q in` twin on the media server, review61c): PASS,
    agent_not_seen naming the unanswered SYNs a capture without the media server's TCP
    cannot hold, first in its fix; the judged job's agent fd77::3."""
    assert analysis.verdict == "pass"
    [unseen] = [f for f in analysis.findings if f.code == "agent_not_seen"]
    assert ("The capture holds no TCP packet that left the media server 10.77.0.1 or fd77::1 "
            "(capture_one_direction), so a job's control connection "
            "SYNs to them that went unanswered" in unseen.message)
    assert unseen.fix.startswith(
        "If a job with 10.77.0.2 or fd77::2 ran while the capture ran, its SYNs to it "
        "went unanswered, which this capture cannot hold (none of the media server's TCP "
        "is in it), or it never reached the network at this capture point")
    [session] = analysis.sessions
    assert session.remote_agent == "fd77::3"
