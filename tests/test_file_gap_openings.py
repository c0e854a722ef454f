"""A handshake that went in the time between two files given in sequence (not a ring) is
not the sniffer's loss (review56e: clean-3-resources cut in two with editcap, the
callback's handshake, frames 17-19, or the data connection's, frames 22-23, between the
two files, read "so the sniffer lost them", the data connection named backwards)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from frame_cuts import frame_range, stored_capture

from flowcheck.config import build_config, load_file
from flowcheck.model import CaptureInfo, RingGap
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sources.file_gaps import file_gaps

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
NAME = "clean-3-resources"


def _two_files(tmp_path: Path, first_to: int, second_from: int) -> Analysis:
    """clean-3-resources as two files: frames 1..first_to and second_from..the end."""
    capture = stored_capture("lab", NAME)
    one = frame_range(capture, tmp_path / "media-a.pcap", 1, first_to)
    two = frame_range(capture, tmp_path / "agent-b.pcap", second_from, 10**6)
    config = build_config(load_file(LAB / f"{NAME}.toml"))
    return analyze(read_traffic([str(one), str(two)], config), config)


def _loss(analysis: Analysis) -> str:
    [loss] = [f.message for f in analysis.findings if f.code == "capture_loss"]
    return loss


def test_callback_handshake_between_files(tmp_path: Path) -> None:
    analysis = _two_files(tmp_path, 16, 20)
    loss = _loss(analysis)
    assert "sniffer lost them, not the network" not in loss, loss
    assert "between the files media-a.pcap and agent-b.pcap" in loss, loss
    assert "callback connection" in loss and analysis.verdict == "pass"


def test_data_handshake_between_files_named_its_way(tmp_path: Path) -> None:
    analysis = _two_files(tmp_path, 21, 24)
    loss = _loss(analysis)
    assert "sniffer lost them" not in loss, loss
    assert "data connection C3 10.77.0.1:5002 -> 10.77.0.2:6001" in loss, loss
    [step] = [s for s in analysis.sessions[0].steps if s.step == 4]
    # Hedged (review56j): the files may be one sniffer's, rotated without a pause.
    assert "opened after frame 21: the sniffer missed it" not in step.detail, step.detail
    assert ("it may have gone in the time between the files media-a.pcap and agent-b.pcap"
            in step.detail), step.detail
    assert "if the files are one sniffer's, rotated without a pause" in step.detail


def test_one_file_with_the_same_hole_is_still_the_sniffers(tmp_path: Path) -> None:
    # The same frames deleted from one file: the sniffer ran over that time.
    capture = stored_capture("lab", NAME)
    out = tmp_path / "cut.pcap"
    subprocess.run(["editcap", str(capture), str(out), "17-19"], check=True,
                   capture_output=True)
    config = build_config(load_file(LAB / f"{NAME}.toml"))
    loss = _loss(analyze(read_traffic([str(out)], config), config))
    assert "so the sniffer lost them, not the network" in loss, loss


def test_ring_parts_leave_no_gap() -> None:
    spans = {"/x/ring.pcap": (1.0, 2.0), "/x/ring.pcap1": (2.5, 3.0),
             "/x/other.pcap": (4.0, 5.0), "/x/late.pcap": (4.5, 6.0)}
    gaps = file_gaps([CaptureInfo(path) for path in spans], spans)
    assert [(g.before, g.after, g.start, g.end, g.ring) for g in gaps] == [
        ("ring.pcap1", "other.pcap", 3.0, 4.0, False)]


def test_a_time_rotation_leaves_no_gap_but_at_its_holes() -> None:
    """gwords: three or more files of one tcpdump -G rotation are one sniffer's, so no
    file gap between neighbours, but where rotation_gaps found a hole; two such files
    alone (no period read) keep theirs."""
    spans = {"/g/job-100000.pcap": (1.0, 1.9), "/g/job-100002.pcap": (2.5, 3.9),
             "/g/job-100006.pcap": (6.5, 7.0)}
    captures = [CaptureInfo(path, link_types=["EN10MB"], span=span)
                for path, span in spans.items()]
    assert file_gaps(captures, spans) == []
    hole = RingGap("job-100002.pcap", "job-100006.pcap", 3.9, 6.5, rotated=True)
    assert [(g.before, g.after) for g in file_gaps(captures, spans, [hole])] == [
        ("job-100002.pcap", "job-100006.pcap")]
    two = {path: span for path, span in spans.items() if "100006" not in path}
    assert [(g.before, g.after) for g in file_gaps(captures[:2], two)] == [
        ("job-100000.pcap", "job-100002.pcap")]
