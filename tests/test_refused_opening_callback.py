"""A session the agent refused at its opening (CONNECT_OPEN, CONNECT_CLIENT_AUTH) never
reaches the callback: under backup-exec-9 step 2 is `not_applicable`, and the refusal
(ndmp_error_reply) is the session's one error (docs/findings.md, "one root cause, one
error"). A new user's trial with the default profile: a wrong password headlined "step 2
of the backup-exec-9 profile is missing" and a firewall rule before the refused login.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import case_config, errors, stored_analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


@pytest.mark.parametrize("capture", [
    "ndmjob-unseen/badpw-any-media.pcap",
    "ndmjob-points/badpw-agent.pcap",
    "trial39-server-errors/auth-type-none-refused.pcap",
])
def test_a_refused_login_is_the_only_error_under_backup_exec(capture: str) -> None:
    path = CAPTURES / capture
    analysis = stored_analysis(path, config_path=case_config(path.parent, path.stem),
                               profile="backup-exec-9")
    assert analysis.verdict == "fail"
    assert [e.code for e in errors(analysis)] == ["ndmp_error_reply"]
    [session] = analysis.sessions
    callback = session.steps[1]
    assert callback.status == "not_applicable"
    assert "not reached: the agent refused CONNECT_CLIENT_AUTH" in callback.detail
