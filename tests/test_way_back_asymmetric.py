"""A neighbour solicitation sent to the originator shows the capture holds frames toward
it, not that the answers come back past the capture point (review 54d).

captures/review54d: M -- R1 -- A with A's way back to M through a second router R2,
whose forward chain dropped A's 8 SYN-ACKs; tcpdump on R1's interface toward M holds
M's SYNs and R1's probe of fd77::1 (frame 12), nothing of A's. flowcheck said "a
SYN-ACK, RST or ICMP unreachable coming back to fd77::1 past this capture point would be
in it, and none is" and nothing of the answers' other way, the way they were lost
(flowcheck.verify.way_back.asked_toward_words).
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
ASYMMETRIC = (CAPTURES / "review54d" / "ipv6-asymmetric-return-synacks-dropped-by-second-"
              "router-on-first-router.pcap.gz")
PROBED = CAPTURES / "field60-matrix" / "ipv6-routed-control-syns-dropped-by-router-on-media.pcap.gz"


def test_a_probe_toward_the_originator_leaves_the_answers_other_way_open() -> None:
    """The router's probe of the media server: frames toward it are captured, and the
    words keep the agent's answers lost on another way (as they were)."""
    analysis = shared_analysis(ASYMMETRIC)
    assert analysis.verdict == "fail"
    [unanswered] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert unanswered.code == "control_unanswered"
    assert unanswered.frames == [3, 6, 7, 8, 9, 10, 15, 18]
    assert ("though it holds one travelling toward fd77::1 (fe80::78de:1ff:fe6f:a170's "
            "neighbour solicitation sent to it, frame 12)" in unanswered.message)
    assert ("past this capture point would be in it, and none is. One coming back another "
            "way would not pass it (an asymmetric route: through another router, or to "
            "another interface of fd77::1's), so a SYN-ACK sent by fd77:1::2 and lost on "
            "such a way looks the same as no answer at all. " in unanswered.message)


def test_field60_run19_keeps_the_other_way_too() -> None:
    """Lab matrix seed 123 run 19 (the router dropped the SYNs themselves): the same
    probe, the same words; what the capture holds cannot tell the two apart."""
    [unanswered] = [f for f in shared_analysis(PROBED).findings
                    if str(f.severity) == "error"]
    assert "One coming back another way would not pass it" in unanswered.message
    assert "may hold one direction only" not in unanswered.message
