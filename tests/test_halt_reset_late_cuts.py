"""idle-rst-agent (a device's RST in the media server's name answered the agent's
NOTIFY_DATA_HALTED) cut to its last quarter or half (`editcap -r in out K-N`, also with
`-s 96`): the control connection's only captured packets are the halt and the bare RST
(no ACK) 0.026 ms after it. The capture holds no ACK of the media server's at all, so the
connection engine leaves the halt's unacknowledged bytes unknown (0); the cut read PASS.
The RST's side is captured (its RST is), and nothing acknowledged the halt: control_reset,
as the whole capture reads, with the silence before it (outside the capture) not told."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from stored import case_config, errors, stored_analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def last_frames(tmp_path: Path, folder: str, name: str, kept: float,
                snap: int | None = None) -> Path:
    """FOLDER/NAME's capture with only its last `kept` share of frames (editcap -r; -s
    snap: each packet cut to that many bytes)."""
    capture = next(p for p in (CAPTURES / folder).iterdir()
                   if p.name in (f"{name}.pcap", f"{name}.pcap.gz", f"{name}.pcapng.gz"))
    total = int(subprocess.run(["capinfos", "-c", "-M", "-T", "-r", str(capture)],
                               check=True, capture_output=True,
                               text=True).stdout.split("\t")[-1])
    first = total - int(total * kept) + 1
    out = tmp_path / f"{name}-{first}-{snap}.pcap"
    subprocess.run(["editcap", "-F", "pcap", *(["-s", str(snap)] if snap else []), "-r",
                    str(capture), str(out), f"{first}-{total}"], check=True,
                   capture_output=True)
    return out


@pytest.mark.parametrize("kept", [0.25, 0.50])
@pytest.mark.parametrize("snap", [None, 96])
def test_the_halt_answered_by_a_reset_fails_when_the_capture_starts_late(
        tmp_path: Path, kept: float, snap: int | None) -> None:
    cut = last_frames(tmp_path, "ndmjob-idle", "idle-rst-agent", kept, snap)
    analysis = stored_analysis(cut, config_path=case_config(CAPTURES / "ndmjob-idle",
                                                            "idle-rst-agent"))
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


@pytest.mark.parametrize(("folder", "name"), [
    ("ndmjob", "v4-backup"), ("ndmjob", "v2-backup"), ("lab", "clean-3-resources"),
])
def test_a_clean_job_s_last_frames_do_not_fail(tmp_path: Path, folder: str,
                                              name: str) -> None:
    for kept in (0.25, 0.50):
        cut = last_frames(tmp_path, folder, name, kept)
        analysis = stored_analysis(cut, config_path=case_config(CAPTURES / folder, name))
        assert analysis.verdict != "fail", (kept, [f.code for f in errors(analysis)])
