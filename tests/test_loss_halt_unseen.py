"""Control bytes the sniffer lost after a job's start that the NDMP sequence numbers
cannot name may hold its halt: a job whose control connection then ended is not judged
on the halt's absence, its data step `unknown` (flowcheck.verify.missed_halt); each
stored failing capture below, without that one frame, read PASS."""

from __future__ import annotations

from pathlib import Path

import pytest
from stored import case_config, errors, stored_analysis, without_frame

CAPTURES = Path(__file__).resolve().parents[1] / "captures"

# (folder, capture, frame removed (1-based), what the bytes lost were)
CUTS = [
    # the agent's last DATA_GET_STATE reply, its FIN next: no data after the hole
    ("ndmjob-kill", "agent-kill9-media", 1010, "closed (FIN"),
    # a file-history segment: the records after it unreadable, ten messages unnamed
    ("ndmjob-pathloss", "dma-killed-pathloss-media", 20, "closed (FIN"),
    # the DMA's DATA_START_BACKUP request, its last message before its FIN
    ("trial25-cause", "agent-link-down-fins-cut", 25, "closed (FIN"),
    # the agent's last DATA_GET_STATE reply before the reset
    ("trial41-paths", "control-reset-device-on-new-path", 237, "reset (RST"),
]


@pytest.mark.parametrize(("folder", "name", "frame", "how"), CUTS,
                         ids=[f"{c[1]}-{c[2]}" for c in CUTS])
def test_a_halt_the_loss_may_hide_leaves_the_data_step_unknown(
        tmp_path: Path, folder: str, name: str, frame: int, how: str) -> None:
    cut = without_frame(tmp_path, CAPTURES / folder, name, frame)
    analysis = stored_analysis(cut, config_path=case_config(CAPTURES / folder, name))
    assert analysis.verdict == "inconclusive"
    assert not errors(analysis)
    [session] = analysis.sessions
    data = session.steps[-1]
    assert data.status == "unknown"
    words = " ".join(data.detail.split())
    assert f"the control connection was {how}" in words
    assert "a halt may be among them" in words
