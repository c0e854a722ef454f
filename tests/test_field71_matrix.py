"""Field check 71's lab matrix (captures/field71-matrix, README.md there), seed 134.

Run 24: a 1-resource Backup Exec restore whose agent range holds one port, which the
agent's callback took; captured `tcpdump -Q out` on the media server, so the capture holds
the media server's packets only. Its one DATA_LISTEN request (frame 10) got no reply: its
own FIN (frame 11) acknowledges one sequence number of the agent's past the request's ACK,
the agent's FIN. Step 3 read that right (missing, never answered), but step 4 said "an
announced endpoint got no connection" where no endpoint was ever announced; the same job
captured whole reads "nothing was announced, so nothing to connect to", as step 4 now
does here (flowcheck.verify.listen_unanswered.sole_listen_unanswered).
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "field71-matrix"
LISTEN_UNANSWERED = HERE / "restore-agent-range-of-one-listen-unanswered-out-on-media.pcap.gz"


def test_a_sole_listen_never_answered_announced_nothing_to_connect_to() -> None:
    """Step 3 proves the session's only DATA_LISTEN got no reply, so step 4 says nothing
    was announced, not that an announced endpoint went unused."""
    analysis = shared_analysis(LISTEN_UNANSWERED)
    assert analysis.verdict == "fail"
    assert {f.code for f in analysis.findings if f.severity == "error"} == {"step_missing"}
    [session] = analysis.sessions
    assert session.match_reason == "one_direction"
    steps = {step.step: step for step in session.steps}
    assert steps[3].status == "missing"
    assert steps[3].frames == [10]
    assert "DATA_LISTEN request (frame 10) was never answered" in steps[3].detail
    assert steps[4].status == "missing"
    assert steps[4].detail == "nothing was announced, so nothing to connect to"
    assert not any("announced endpoint" in step.detail for step in session.steps)
