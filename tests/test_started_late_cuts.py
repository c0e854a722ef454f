"""A capture started late (`editcap -r in out K-N`: the first frames dropped, as a tcpdump
begun mid-job keeps them) of a failing job whose control connection was then reset or
closed must not read PASS: each cut below, made at test time from its stored capture,
read PASS, the job's start not in it (flowcheck.verify.unseen_start). A clean job cut the
same way still does not read FAIL."""

from __future__ import annotations

from pathlib import Path

import pytest
from frame_cuts import CLEAN_JOBS, assert_cuts_never_fail, cut_analysis, started_late
from stored import errors


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(("folder", "name", "dropped", "code"), [
    # the agent killed mid-backup: its FIN, no halt (control_closed)
    ("ndmjob-kill", "agent-kill9-media", 0.10, "control_closed"),
    ("ndmjob-kill", "agent-kill9-media", 0.50, "control_closed"),
    ("field38-matrix", "agent-killed-loss-before-start", 0.10, "control_closed"),
    # the DMA killed mid-backup on a lossy path: the media server's FIN
    ("ndmjob-pathloss", "dma-killed-pathloss-media", 0.25, "control_closed"),
    # a restore's control connection reset by a firewall's idle timeout while it ran
    ("ndmjob-idle", "idle-rst-restore-media", 0.50, "control_reset"),
    # the agent's halt answered by a device's RST: the halt never reached the DMA
    ("ndmjob-idle", "idle-rst-agent", 0.10, "control_reset"),
    # the DMA's DATA_GET_STATE after the halt resent, then reset by the agent's host
    # firewall: the resends too close to the capture's end to judge a stall
    ("ndmjob-idle", "idle-hostfw-rst-media", 0.10, "control_reset"),
    ("ndmjob-idle", "idle-hostfw-rst-media", 0.50, "control_reset"),
    ("trial41-paths", "control-reset-agent-firewall-two-paths", 0.25, "control_reset"),
    ("trial41-paths", "halt-then-control-reset-by-path-firewall-media", 0.10,
     "control_reset"),
])
def test_a_job_seen_from_mid_transfer_then_cut_off_fails(
        tmp_path: Path, folder: str, name: str, dropped: float, code: str) -> None:
    analysis = cut_analysis(started_late(tmp_path, folder, name, dropped), folder, name)
    assert analysis.verdict == "fail"
    [finding] = errors(analysis)
    assert finding.code == code
    assert any(f.code == "capture_started_mid_session" for f in analysis.findings)
    if "after the job halted" not in finding.message:  # the halt's own words otherwise
        assert "its start before the capture began; its data connection" \
            in _words(finding.message)


def test_the_words_name_the_data_that_shows_the_job_running(tmp_path: Path) -> None:
    """agent-kill9-media from its middle on: the frames cite the data connection's first
    captured packet, the agent's FIN and the RST it then answered with."""
    analysis = cut_analysis(started_late(tmp_path, "ndmjob-kill", "agent-kill9-media", 0.50),
                            "ndmjob-kill", "agent-kill9-media")
    [finding] = errors(analysis)
    [session] = analysis.sessions
    data = next(c for c in analysis.traffic.connections if c.uid in session.data_connections)
    message = _words(finding.message)
    assert (f"carried {data.orig_bytes + data.resp_bytes:,} B in the capture from frame "
            f"{data.first_frame} on") in message
    control = next(c for c in analysis.traffic.connections if c.uid == session.control_uid)
    assert finding.frames[:2] == [data.first_frame, control.fin_frames[0]]


@pytest.mark.parametrize(("folder", "name"), CLEAN_JOBS)
def test_a_clean_job_started_late_does_not_fail(tmp_path: Path, folder: str,
                                                name: str) -> None:
    assert_cuts_never_fail(tmp_path, folder, name, started_late, (0.10, 0.50))
