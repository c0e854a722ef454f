"""Packets the sniffer lost are not packets the network dropped (new-user trial 25).

D1: a data connection whose handshake the sniffer lost, first seen by the agent's data
from the announced endpoint, is that announcement's connection (it read
unannounced_connection, "open before the capture started", and capture_filtered).
D2: a callback the capture lacks entirely while the job went on to announce and move
data made its callback: step 2 unknown, not step_missing with a firewall fix.
"""

from __future__ import annotations

from pathlib import Path

from stored import stored_analysis

CAPTURES = Path(__file__).resolve().parent.parent / "captures" / "trial25-sniff"


def _analyse(name: str):
    return stored_analysis(CAPTURES / f"{name}.pcap.gz")


def test_data_connection_with_lost_handshake_reaches_its_announcement() -> None:
    analysis = _analyse("r-datasyn_and_ack")
    codes = {f.code for f in analysis.findings}
    assert analysis.verdict == "pass"
    assert not codes & {"unannounced_connection", "capture_filtered", "announced_not_used"}
    session = analysis.sessions[0]
    assert [a.used_by for a in session.announced] == ["C3", "C4"]
    step4 = session.steps[3]
    assert step4.status == "ok"
    assert "C3 reached DATA_LISTEN (frame 21)'s endpoint" in step4.detail
    assert "the sniffer missed it" in step4.detail
    assert "open before the capture" not in step4.detail


def test_callback_lost_by_the_sniffer_after_which_the_job_went_on_is_unknown() -> None:
    analysis = _analyse("r-wholecallback")
    assert analysis.verdict == "inconclusive"
    assert "step_missing" not in {f.code for f in analysis.findings}
    step2 = analysis.sessions[0].steps[1]
    assert step2.status == "unknown"
    assert "the session went on past it" in step2.detail
    assert "NOTIFY_DATA_HALTED SUCCESSFUL, frame 242" in step2.detail
