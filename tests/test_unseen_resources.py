"""A capture that stopped between a job's configured resources (field check trial 32).

A Backup Exec-style job of 3 resources (the agent refuses the 2nd DATA_LISTEN) cut after
resource 1's NOTIFY_DATA_HALTED, and a healthy restore of 2 resources cut the same way,
read PASS ("data connections for 1 of the 3 configured resources"), though the control
connection was still open at the capture's end: the other resources' announcements and
data connections may come after it. Steps 4 and 5 are now `unknown` for them
(inconclusive, contract "Verdict") and capture_ended_early names the cut. A job whose
control connection the capture saw closed with fewer resources keeps its judgement.
"""

from __future__ import annotations

from pathlib import Path

from stored import stored_analysis

CASES = Path(__file__).resolve().parent.parent / "captures" / "trial32-resources"
LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def _check_cut(name: str, seen: int, resources: int) -> None:
    analysis = stored_analysis(CASES / name)
    [session] = analysis.sessions
    assert analysis.verdict == "inconclusive"
    steps = {s.step: s for s in session.steps}
    words = f"stopped after resource {seen} of {resources}"
    for number in (4, 5):
        assert steps[number].status == "unknown"
        assert words in steps[number].detail
    assert [s.status for s in session.steps[:3]] == ["ok"] * 3
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert words in early.message and early.session == session.id
    assert "error" not in {f.severity.value for f in analysis.findings}


def test_a_failed_job_cut_after_its_first_of_three_resources_is_inconclusive() -> None:
    _check_cut("listen-error-between-resources.pcap.gz", 1, 3)


def test_a_healthy_restore_cut_after_its_first_of_two_resources_is_inconclusive() -> None:
    _check_cut("restore-between-resources.pcap.gz", 1, 2)


def test_a_closed_control_connection_with_fewer_resources_keeps_its_judgement() -> None:
    # The whole listen-error job: 2 of its 3 resources carried data, the 2nd refused;
    # the control connection closed, the capture shows the job's end: no unknown step.
    analysis = stored_analysis(LAB / "listen-error.pcap")
    assert analysis.verdict == "fail"
    assert not [s for ses in analysis.sessions for s in ses.steps if s.status == "unknown"]
    assert "capture_ended_early" not in {f.code for f in analysis.findings}
