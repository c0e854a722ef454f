"""newuser56's cuts of captures/lab/clean-3-resources.pcap (editcap, as the user made
them): the words of capture_ended_early and capture_loss must agree with each other and
with what the cut holds.

- `editcap -r ... 1-3` (the control connection's handshake only): the callback's and the
  greeting's warnings said the capture ended "0.0541 ms" and "0.0191 ms" after the
  control connection opened, "opened" measured from its SYN and from its SYN-ACK: one
  measure now (verify.capture_time.opened_at, the SYN-ACK), in both and in step 2.
- `editcap -r ... 1-600` (stopped while resource 3 of the 3 configured was running):
  "its later resources' announcements ... is not in the capture" though none was due.
- `editcap ... 17-19` (the callback's handshake deleted): no capture_loss, while deleting
  the data connection's (22-23) gave one: both now (verify.openings).
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

from frame_cuts import cut_analysis, frame_range, stored_capture

from flowcheck.pipeline import Analysis, analyze, read_traffic

NAME = "clean-3-resources"


def _cut(tmp_path: Path, *frames: str, keep: bool = False) -> Analysis:
    out = tmp_path / f"cut-{'-'.join(frames)}.pcap"
    if keep:
        first, last = frames[0].split("-")
        frame_range(stored_capture("lab", NAME), out, int(first), int(last))
    else:
        subprocess.run(["editcap", str(stored_capture("lab", NAME)), str(out), *frames],
                       check=True, capture_output=True)
    return cut_analysis(out, "lab", NAME)


def test_opened_is_measured_one_way(tmp_path: Path) -> None:
    analysis = _cut(tmp_path, "1-3", keep=True)
    early = [f.message for f in analysis.findings if f.code == "capture_ended_early"]
    assert len(early) == 2, early  # the greeting's and the callback's
    spans = {re.search(r"The capture ended (\S+ \S+) after the control connection", m)[1]
             for m in early}
    [step] = [s for s in analysis.sessions[0].steps if s.step == 2]
    assert len(spans) == 1 and spans <= {"0.0191 ms"}, early
    assert "the capture ended 0.0191 ms after the control connection opened" in step.detail


def test_the_last_configured_resource_has_no_later_ones(tmp_path: Path) -> None:
    analysis = _cut(tmp_path, "1-600", keep=True)
    [early] = [f.message for f in analysis.findings if f.code == "capture_ended_early"]
    assert "started its resource 3" in early
    assert "later resources' announcements" not in early, early
    assert "resource 3 was the last of the 3 configured" in early
    # Without `resources`, whether any is due is not known: "any later resources'".
    config = dataclasses.replace(analysis.config, resources=None)
    cut = tmp_path / "cut-1-600.pcap"
    unset = analyze(read_traffic([str(cut)], config), config)
    [early] = [f.message for f in unset.findings if f.code == "capture_ended_early"]
    assert "What the job did after that, any later resources' announcements" in early
    # With fewer configured than the job started, none is "the last" (review56e: "resource
    # 3 was the last of the 2 configured: no later resource's ... is due").
    config = dataclasses.replace(analysis.config, resources=2)
    fewer = analyze(read_traffic([str(cut)], config), config)
    [early] = [f.message for f in fewer.findings if f.code == "capture_ended_early"]
    assert "was the last of the" not in early, early
    assert ("What the job did after that, any later resources' announcements and data "
            "connections and its end, is not in the capture (it started resource 3, beyond "
            "the 2 configured in `resources`: later ones may follow)") in early


def test_a_lost_handshake_is_capture_loss_for_the_callback_as_for_the_data(
        tmp_path: Path) -> None:
    for frames, role in (("17-19", "callback"), ("22-23", "data")):
        analysis = _cut(tmp_path, frames)
        assert analysis.verdict == "pass", (frames, analysis.verdict)
        loss = [f.message for f in analysis.findings if f.code == "capture_loss"]
        assert len(loss) == 1 and f"{role} connection " in loss[0], (frames, loss)
        assert "so the sniffer lost them, not the network" in loss[0]
