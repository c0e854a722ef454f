"""Which host a merged capture was taken on, read from every pair of the host's, not one
(task hostproof, found by review61b).

captures/lab-hostproof: a three-way ndmjob job (M 10.77.0.1 the DMA, ndmjob daemons on
A 10.77.0.2, the data agent, and T 10.77.0.3, the tape agent, one bridge), T's input
chain dropping the SYNs to its ports 7001-7100, `tcpdump -i any` on A and on T merged
with mergecap. Each data SYN is in the file twice at TTL 64, marked leaving A and
arriving at the host it was addressed to; T's own capture is proven by its packets to M
(its SYN-ACK and FIN marked sent by the capture host, M's arriving addressed to it: M
captured nothing). Before: the file read "the SYNs reached a capture point on 10.77.0.3,
or on the first router" and fixed "If this capture was taken on 10.77.0.3 ... otherwise a
capture on 10.77.0.3 shows", the capture it asked for in the file; with an unrelated
T->A connection added (T's SYN to A's closed port 9, reset) it lost even that, for
"unless it was taken on 10.77.0.3 itself". The same job with T's packets to M cut out
(no proof of T's own point) keeps "or on the first router", its fix no longer asking
for the capture it holds either. And a control connection's SYNs dropped by the agent T,
captured on M and on T, T's own capture proven by its connection to A (which captured
nothing): before, the fix asked for "a capture of both directions on 10.77.0.3".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import shared_analysis

from flowcheck.model import Finding

HERE = Path(__file__).resolve().parents[1] / "captures" / "lab-hostproof"
STEM = "three-way-data-syns-dropped-at-tape-agent"


def _unanswered(name: str) -> tuple[Finding, str]:
    """The file's one data_unanswered finding and its session's verdict fix."""
    analysis = shared_analysis(HERE / f"{name}.pcap")
    [finding] = [f for f in analysis.findings if f.code == "data_unanswered"]
    return finding, finding.fix


@pytest.mark.parametrize("name", [STEM, f"{STEM}-unrelated-reset",
                                  f"{STEM}-unrelated-connection"])
def test_the_tape_agents_own_capture_places_its_firewall(name: str) -> None:
    """T's own capture in the set (its packets to M) and each SYN marked arriving at the
    TTL it left A with: T's own firewall, the rule on T, with or without an unrelated
    connection between A and T (the reset one undid the reading before)."""
    finding, fix = _unanswered(name)
    assert "10.77.0.3's own firewall drops them: the SYNs reached 10.77.0.3" in finding.message
    assert "or on the first router" not in finding.message
    assert "unless it was taken on 10.77.0.3 itself" not in finding.message
    assert "may hold one direction only" not in finding.message
    assert fix.startswith("On 10.77.0.3 itself (the SYNs reached its capture point), before "
                          "any drop rule: accept the connection from 10.77.0.2 to ports "
                          "6001-6100,7001-7100")
    assert "If this capture was taken on 10.77.0.3" not in fix
    assert "a capture on 10.77.0.3 shows" not in fix


def test_the_proof_by_another_pair_is_said() -> None:
    """Without a packet of T's to A, the words name the pair that proves T's capture."""
    finding, _ = _unanswered(STEM)
    assert ("the set holds a capture taken on 10.77.0.3 itself (its Linux cooked headers "
            "mark each SYN, FIN and RST of 10.77.0.3's to 10.77.0.1 sent by the capture host "
            "(outgoing), at TTL 64, an initial value, and 10.77.0.1's to it arriving addressed "
            "to the capture host)" in finding.message)


def test_an_arrival_not_placed_asks_for_no_capture_it_holds() -> None:
    """T's packets to M cut out: nothing proves T's own point, so the SYNs reached T's
    point or the first router's; the fix says so, not "If this capture was taken on
    10.77.0.3 ... otherwise a capture on 10.77.0.3 shows"."""
    finding, _ = _unanswered(f"{STEM}-no-media")
    assert ("the SYNs reached a capture point on 10.77.0.3, or on the first router from "
            "10.77.0.2 toward it" in finding.message)
    also = finding.fix
    assert ("The SYNs reached a capture point on 10.77.0.3, or on the first router from "
            "10.77.0.2 toward it (its Linux cooked headers mark each arriving there, at the "
            "TTL it left 10.77.0.2 with)" in also)
    assert "If this capture was taken on 10.77.0.3" not in also


def test_a_control_connections_agent_proven_by_another_peer() -> None:
    """M's control SYNs dropped by T's input, M's and T's captures merged, T's own shown by
    its connection to A: the fix on T itself, no capture asked for."""
    analysis = shared_analysis(
        HERE / "control-syns-dropped-at-agent-own-capture-by-other-peer.pcap")
    [finding] = [f for f in analysis.findings if f.code == "control_unanswered"]
    assert ("10.77.0.3's own firewall drops them: the SYNs reached 10.77.0.3" in finding.message)
    assert ("the set holds a capture taken on 10.77.0.3 itself (its Linux cooked headers mark "
            "each SYN, FIN and RST of 10.77.0.3's to 10.77.0.2" in finding.message)
    assert finding.fix.startswith("On 10.77.0.3 itself (the SYNs reached its capture point)")
    assert "a capture of both directions on 10.77.0.3" not in finding.fix
