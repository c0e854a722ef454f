"""A missing callback beside jobs that followed the profile (new-user trial 23, D1).

step_missing's "if this is not Backup Exec use --profile ndmp", followed on a night of
Backup Exec jobs, made the refused and unanswered callbacks warnings and their jobs
browses that passed (flowcheck.verify.profile_followed).
"""

from __future__ import annotations

from test_verify_scenarios import LAB, M, be_backup, conn, run


def test_a_missing_callback_beside_a_job_that_followed_the_profile_keeps_its_profile(
        ) -> None:
    """Trial 23 D1: step_missing's "if this is not Backup Exec use --profile ndmp" led to
    a run where the night's refused callbacks passed. When another session of the capture
    called back and passed every step, the capture is Backup Exec traffic: the message
    names it and the fix no longer suggests the other profile."""
    connections, streams = be_backup()
    connections.append(conn("Clone", M, 5040, "10.77.0.2", 10000, 10.0, end=20.0,
                            orig_bytes=100, resp_bytes=100))
    sessions, findings = run(connections, streams, config=LAB)
    assert [s.id for s in sessions] == ["S1", "S2"]
    missing = next(f for f in findings if f.code == "step_missing")
    assert missing.session == "S2"
    assert "session S1 of this capture did, every step of the backup-exec-9 profile ok" \
        in missing.message
    assert "--profile ndmp" not in missing.message + missing.fix
    # Alone, the session keeps the suggestion (the capture may be plain NDMP).
    alone = [c for c in connections if c.uid == "Clone"]
    _, findings = run(alone, [], config=LAB)
    missing = next(f for f in findings if f.code == "step_missing")
    assert "--profile ndmp" in missing.message and "--profile ndmp" in missing.fix
