"""plain_reading's guards, review54j's hardening (flowcheck.verify.plain_reading), on
stored captures cut as a user would cut them (editcap) and split into ring files:

1. "The callback opened after the announcement" was judged by the callback's first
   captured frame, not its SYN: lab/agent-connects-data (a Backup Exec job whose mover
   listens: FAIL step_out_of_order) from frame 20 on, its profile line removed, lacks
   the vendor message and the callback's handshake (before the capture), and its idle
   callback's first captured packet is its FIN at the job's end: read PASS by the ndmp
   profile (profile_inferred). A callback without its SYN now refuses the plain reading.
2. plain_announcements never got the ring buffer's holes (Traffic.ring_gaps): a hole
   between the control connection's SYN and the first mover-listening announcement left
   the stretch where a Backup Exec callback would show uncaptured, yet a callback step
   `unknown` was read as no sign; and a control connection without its SYN, first seen
   after a ring's hole, may have opened in it with its vendor message.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from stored import CAPTURES

from flowcheck.config import build_config
from flowcheck.config_file import load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.verify.plain_reading import _gap_may_hide, stream_opening

LAB = CAPTURES / "lab"
V4 = CAPTURES / "ndmjob" / "v4-backup.pcap"


def _editcap(src: Path, dst: Path, frames: str) -> Path:
    """`src`'s frames `frames` ("FIRST-LAST") written to `dst` (editcap -r)."""
    subprocess.run(["editcap", "-r", str(src), str(dst), frames], check=True,
                   capture_output=True)
    return dst


def _codes(analysis: Analysis) -> list[str]:
    return [f.code for f in analysis.findings]


def _ring(folder: Path, last: int, head: str = "1-3", after: int = 4) -> Path:
    """v4-backup as a dumpcap ring whose second file is gone: ring_00001 holds frames
    `head` (the control connection's handshake, 1-3), ring_00003 frames `after` to
    `last`. The hole loses no byte of the control stream (NOTIFY_CONNECTED, frame 4,
    follows the ACK; frame 5 is a pure ACK)."""
    folder.mkdir()
    _editcap(V4, folder / "ring_00001_20261125210206.pcap", head)
    _editcap(V4, folder / "ring_00003_20261125210207.pcap", f"{after}-{last}")
    return folder


def _unconfigured(capture: Path) -> Analysis:
    """`capture` analyzed with flowcheck's defaults, no profile given."""
    config = build_config({})
    return analyze(read_traffic([str(capture)], config), config)


def test_a_callback_without_its_syn_refuses_the_plain_reading(tmp_path: Path) -> None:
    """Item 1: the cut read PASS, profile_inferred; now the default profile's reading,
    the whole capture's (FAIL step_out_of_order)."""
    settings = load_file(LAB / "agent-connects-data.toml")
    del settings["profile"]
    cut = _editcap(LAB / "agent-connects-data.pcap", tmp_path / "late.pcap", "20-100000")
    config = build_config(settings)
    traffic = read_traffic([str(cut)], config)
    analysis = analyze(traffic, config)
    assert "profile_inferred" not in _codes(analysis)
    assert analysis.verdict == "fail"
    assert "step_out_of_order" in _codes(analysis)
    [session] = analysis.sessions
    callback = next(c for c in traffic.connections if c.uid == session.callback_uid)
    assert not callback.syn_seen  # the rule's case: its first captured packet its FIN


def test_a_ring_hole_in_the_callbacks_stretch_keeps_the_default_profile(
        tmp_path: Path) -> None:
    """Item 2: cut at frame 400 (the callback step `unknown`: a callback may come later),
    the ring's hole between the greeting (frame 4) and DATA_CONNECT (frame 11; the hole
    loses frame 5 alone, a pure ACK) read as captured: inconclusive by the ndmp profile.
    Now the stretch is not known to be captured, so the default profile stays. A hole
    before the greeting (ring_00001 the handshake alone) leaves that stretch whole
    (latestart: a Backup Exec sign comes after the session's first message), and so does
    the whole ring (the callback step `missing`, the control stream without a hole: no
    vendor message could hide): both read as plain NDMP."""
    early = _unconfigured(_ring(tmp_path / "early", 400, "1-4", 6))
    assert "capture_ring_gap" in _codes(early)
    assert "profile_inferred" not in _codes(early)
    before = _unconfigured(_ring(tmp_path / "before", 400))
    assert "capture_ring_gap" in _codes(before)
    assert "profile_inferred" in _codes(before)
    whole = _unconfigured(_ring(tmp_path / "whole", 100000))
    assert "profile_inferred" in _codes(whole)
    assert whole.verdict == "pass"


def test_a_control_connection_first_seen_after_a_ring_hole_may_hide_the_vendor_message(
        tmp_path: Path) -> None:
    """Item 2: v4-backup from frame 7 (the CONNECT_OPEN reply first) as a lone ring part
    above 00001 (the ring's head gone): neither its control connection's SYN nor the
    session's first message is in the capture, so it may have opened in the hole with
    its vendor message; the same frames as a plain file hold no hole, a ring whose hole
    follows the SYN leaves the vendor message to the stream's holes, and so does one
    whose part begins with the agent's greeting (frame 4: latestart, stream_opening)."""
    ring = tmp_path / "ring"
    ring.mkdir()
    _editcap(V4, ring / "ring_00002_20261125210207.pcap", "7-100000")
    greeted = tmp_path / "greeted"
    greeted.mkdir()
    _editcap(V4, greeted / "ring_00002_20261125210207.pcap", "4-100000")
    part = _editcap(V4, tmp_path / "late.pcap", "7-100000")
    config = build_config({})
    for capture, hides in ((ring, True), (part, False), (greeted, False),
                           (_ring(tmp_path / "after_syn", 100000), False)):
        traffic = read_traffic([str(capture)], config)
        [control] = [c for c in traffic.connections if c.resp_p == 10000]
        [stream] = [s for s in traffic.streams if s.uid == control.uid]
        movers = [a for s in analyze(traffic, config).sessions for a in s.announced]
        assert _gap_may_hide(control, stream_opening(stream), movers,
                             traffic.ring_gaps) is hides, capture.name
