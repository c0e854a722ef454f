"""Review 61c of field67 (agent_not_seen hedged when the capture holds no TCP packet from
the media servers): field check 67's run 19 taken on the media server with `tcpdump -i
any -Q in` (captures/review61c), alone and with the media server's own loopback
connection (10.77.0.1 -> 10.77.0.1, a local service) beside it. That connection's
packets counted as the media server's direction captured, and agent_not_seen's fix said
again that a job with the unseen agent "never reached the network at this capture point",
though the SYNs the media server sends are just what `-Q in` leaves out
(flowcheck.verify.absent_agents._media_silent).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import shared_analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "review61c"
NAME = "two-jobs-dual-control-dropped-by-agent-in-on-media"


@pytest.mark.parametrize("suffix", ["", "-with-loopback"])
def test_a_capture_of_what_reached_the_media_server_cannot_hold_its_syns(suffix: str) -> None:
    """agent_not_seen says unanswered SYNs would leave no packet, with the media server's
    packets to itself in the capture too, and its fix names them first."""
    analysis = shared_analysis(HERE / f"{NAME}{suffix}.pcap.gz")
    assert analysis.verdict == "pass"
    [unseen] = [f for f in analysis.findings if f.code == "agent_not_seen"]
    assert ("The capture holds no TCP packet that left the media server 10.77.0.1 or "
            "fd77::1 (one direction only: capture_one_direction), so a job's control "
            "connection SYNs to them that went unanswered" in unseen.message)
    assert unseen.fix.startswith(
        "If a job with 10.77.0.2 or fd77::2 ran while the capture ran, its SYNs to it "
        "went unanswered, which this capture of one direction cannot hold, or it never "
        "reached the network at this capture point")
    [session] = analysis.sessions
    assert session.remote_agent == "fd77::3"
