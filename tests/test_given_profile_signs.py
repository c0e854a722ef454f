"""A Backup Exec job judged by a profile the user gave without a callback (--profile
ndmp) names its callback as Backup Exec's (newuser65 item 2).

tests/data/newuser65/dc2.pcapng: a lab Backup Exec job (flowcheck.lab's media server and
agent), captured from before its control connection's SYN. Its control connection carries
Backup Exec's vendor message (NDMP_VENDOR_0xF001, frame 15) and the agent calls back
10.77.0.2 -> 10.77.0.1:5001 (frames 17, 18) after the control connection opened. Given
--profile ndmp, that callback read unannounced_connection with the fix "the capture may
miss the control connection ... (start the capture before the job)", though the capture
holds it from its SYN. The session shows Backup Exec's signs (the vendor message: the
test profile_inferred reads, plain_reading.vendor_signed), so its words say so and the
fix names --profile backup-exec-9 (verify.unannounced._backup_exec_callback).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.config import build_config
from flowcheck.pipeline import analyze, read_traffic

DATA = Path(__file__).resolve().parent / "data" / "newuser65"
RANGES = {"media_range": "5001-5100", "agent_range": "6001-6100"}


@pytest.mark.parametrize("given", ["flag", "file"])
def test_a_given_ndmp_profile_names_the_backup_exec_callback(given: str) -> None:
    profile = {"profile": "ndmp"}
    config = (build_config(RANGES, profile) if given == "flag"
              else build_config({**RANGES, **profile}))
    analysis = analyze(read_traffic([str(DATA / "dc2.pcapng")], config), config)
    [finding] = [f for f in analysis.findings if f.code == "unannounced_connection"]
    assert finding.frames == [17, 18], finding.frames
    assert "Its session shows Backup Exec's signs (its vendor message, frame 15), and " \
           "the ndmp profile given has no callback step." in finding.message, finding.message
    assert finding.fix == (
        "This is a callback from the agent to the media server's range after the control "
        "connection opened, as Backup Exec's agent makes (its vendor message, frame 15): "
        "give --profile backup-exec-9 (or profile = \"backup-exec-9\" in flowcheck.toml) "
        "to judge the job as Backup Exec's."), finding.fix
    assert "start the capture before the job" not in finding.fix


def test_no_profile_given_keeps_the_default_reading() -> None:
    """With no profile given the same capture is judged by backup-exec-9 (its signs keep
    the default): the callback is step 2's, no unannounced_connection."""
    config = build_config(RANGES)
    analysis = analyze(read_traffic([str(DATA / "dc2.pcapng")], config), config)
    assert analysis.verdict == "pass"
    assert not [f for f in analysis.findings if f.code == "unannounced_connection"]
