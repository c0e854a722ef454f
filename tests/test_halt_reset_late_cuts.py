"""idle-rst-agent (a device's RST in the media server's name answered the agent's
NOTIFY_DATA_HALTED) cut to its last quarter or half (`editcap -r in out K-N`, also with
`-s 96`): the control connection's only captured packets are the halt and the bare RST
(no ACK) 0.026 ms after it. The capture holds no ACK of the media server's at all, so the
connection engine leaves the halt's unacknowledged bytes unknown (0); the cut read PASS.
The RST's side is captured (its RST is), and nothing acknowledged the halt: control_reset,
as the whole capture reads, with the silence before it (outside the capture) not told."""

from __future__ import annotations

from pathlib import Path

import pytest
from frame_cuts import (
    CLEAN_JOBS,
    assert_cuts_never_fail,
    cut_analysis,
    frame_count,
    frame_range,
    stored_capture,
)
from stored import errors


def last_frames(tmp_path: Path, folder: str, name: str, kept: float,
                snap: int | None = None) -> Path:
    """FOLDER/NAME's capture with only its last `kept` share of frames (editcap -r; -s
    snap: each packet cut to that many bytes)."""
    capture = stored_capture(folder, name)
    total = frame_count(capture)
    first = total - int(total * kept) + 1
    return frame_range(capture, tmp_path / f"{name}-{first}-{snap}.pcap", first, total,
                       "-F", "pcap", *(["-s", str(snap)] if snap else []))


@pytest.mark.parametrize("kept", [0.25, 0.50])
@pytest.mark.parametrize("snap", [None, 96])
def test_the_halt_answered_by_a_reset_fails_when_the_capture_starts_late(
        tmp_path: Path, kept: float, snap: int | None) -> None:
    analysis = cut_analysis(last_frames(tmp_path, "ndmjob-idle", "idle-rst-agent", kept, snap),
                            "ndmjob-idle", "idle-rst-agent")
    assert analysis.verdict == "fail"
    [finding] = errors(analysis)
    assert finding.code == "control_reset"
    control = next(c for c in analysis.traffic.connections if c.role == "control")
    # The cut holds the halt and the RST alone of the control connection.
    assert (control.orig_pkts, control.resp_pkts, control.syn_frames) == (1, 1, [])
    message = " ".join(finding.message.split())
    assert "The halt never reached the DMA" in message
    # What came before the capture is not told as quiet.
    assert "How long the control connection had sat idle before it cannot be told" \
        in message
    assert "was not idle" not in message


@pytest.mark.parametrize(("folder", "name"), CLEAN_JOBS)
def test_a_clean_job_s_last_frames_do_not_fail(tmp_path: Path, folder: str,
                                              name: str) -> None:
    assert_cuts_never_fail(tmp_path, folder, name, last_frames, (0.25, 0.50))
