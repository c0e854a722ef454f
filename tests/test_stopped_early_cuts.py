"""A capture stopped early (`editcap -r in out 1-N`: a tcpdump ended before the job did)
of a failing job whose failure comes after the cut must not read PASS: the job still
running where the capture stops (capture_ended_early), its end not in the capture, its
data step is unknown even when the data connection in it had closed
(flowcheck.verify.silent_end.unended_words). Each cut below, made at test time from its
stored capture, read PASS."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from frame_cuts import cut_analysis, frame_count, frame_range, stored_capture


def stopped_early(tmp_path: Path, folder: str, name: str, kept: float) -> Path:
    """FOLDER/NAME's capture with only its first `kept` share of frames (editcap)."""
    capture = stored_capture(folder, name)
    last = math.ceil(frame_count(capture) * kept)
    return frame_range(capture, tmp_path / f"{name}-to-{last}.pcapng", 1, last)


@pytest.mark.parametrize(("folder", "name", "kept"), [
    # resources 2 and 3's data connections rejected by a meter: after the cut
    ("trial37b-firewall-features", "meter-reject-media", 0.90),
    ("trial37b-firewall-features", "rate-limit-drop-media", 0.90),
    # the second job's callback unanswered: after the cut
    ("trial43-callback-limit", "callback-limited-second-job", 0.50),
])
def test_a_failing_job_stopped_before_its_end_is_not_a_pass(
        tmp_path: Path, folder: str, name: str, kept: float) -> None:
    analysis = cut_analysis(stopped_early(tmp_path, folder, name, kept), folder, name)
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    data = session.steps[-1]
    assert data.status == "unknown"
    words = " ".join(data.detail.split())
    assert "the job's end is not in the capture: the capture stopped" in words
    assert "before any NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED" in words
    early = [" ".join(f.message.split()) for f in analysis.findings
             if f.code == "capture_ended_early"]
    # A transfer still open is "still running"; one whose data connection closed in the
    # capture (trial37b's at 90%: a FIN each way) stopped "before the backup's halt was
    # reported" (words56: newuser55 read "still running" after a clean close).
    assert any("still running" in m or "before the backup's halt was reported" in m
               for m in early)


def test_a_local_job_stopped_before_its_end_is_not_a_pass(tmp_path: Path) -> None:
    """trial39-server-errors/tape-full-mover-paused-eom, its first 50% of frames: two
    sessions whose data and tape services share a host (no data connection on the wire:
    steps 3 and 4 not applicable), both still running where the cut stops, the tape-full
    abort after it: the data step says the job's end is unknown (it read PASS)."""
    folder = "trial39-server-errors"
    name = "tape-full-mover-paused-eom"
    analysis = cut_analysis(stopped_early(tmp_path, folder, name, 0.50), folder, name)
    assert analysis.verdict == "inconclusive"
    for session in analysis.sessions:
        data = session.steps[-1]
        assert data.status == "unknown"
        words = " ".join(data.detail.split())
        assert words.startswith("unknown: the job's end is not in the capture")
        assert "data and tape services on the same host" in words
