"""New-user trial 26, D8: a control connection a firewall's 3 s idle timeout dropped
while a backup's data flowed (captures/lab-trial26-words, idle-drop-*).

On the media server the only resends are its own FIN, 30 s after the data ended: the
silence up to it is its job engine's wait; the data's end, with no halt after it,
bounds the idle time. On the agent the 96 B resent hold a LOG_MESSAGE and the
NOTIFY_DATA_HALTED after it: the first lost message is the LOG_MESSAGE.
"""

from __future__ import annotations

from pathlib import Path

from stored import stored_analysis

from flowcheck.model import Finding

HERE = Path(__file__).resolve().parent.parent / "captures" / "lab-trial26-words"


def _stalled(name: str) -> Finding:
    analysis = stored_analysis(HERE / f"{name}.pcap.gz")
    [finding] = [f for f in analysis.findings if f.code == "control_stalled"]
    return finding


def test_media_side_idle_is_bounded_by_the_data_end_not_the_closers_fin() -> None:
    finding = _stalled("idle-drop-media")
    assert "35.6 s" not in finding.message
    assert "sat idle while the data flowed (no NDMP message after frame 26)" in finding.message
    assert ("ended 5.57 s into that silence (the agent's FIN, frame 2257) with no NDMP "
            "message after it") in finding.message
    assert "the device's idle timeout is at most 5.57 s" in finding.message
    assert ("closed the control connection only 30 s after the data's end (its FIN)"
            in finding.message)
    assert finding.frames == [2257, 2260]
    assert finding.fix.startswith("Raise the TCP idle timeout for port 10000")


def test_agent_side_names_the_first_lost_message() -> None:
    finding = _stalled("idle-drop-agent")
    assert ("sent its last 96 B (from LOG_MESSAGE, frame 2260, to NOTIFY_DATA_HALTED, "
            "frame 2261) again and again") in finding.message
    assert "sat idle 5.57 s (no NDMP message from frame 26 to frame 2260)" in finding.message
    assert finding.frames == [2260]
