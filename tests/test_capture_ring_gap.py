"""A ring buffer with a file missing from the middle (found by a new-user trial): the
hole is a capture_ring_gap warning, and the data connection whose announcement fell in
it is matched by direction and ports, as for any control stream the sniffer lost bytes
of. The ring is cut from a stored lab capture with editcap -c, as dumpcap names rings.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sources.ring import _ring_number

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def _ring(tmp_path: Path, drop: int | None) -> Analysis:
    """clean-3-resources split in files of 200 packets, file number `drop` removed."""
    ring = tmp_path / "ring"
    ring.mkdir()
    subprocess.run(["editcap", "-c", "200", str(LAB / "clean-3-resources.pcap"),
                    str(ring / "p.pcap")], check=True, capture_output=True)
    files = sorted(ring.iterdir())
    assert len(files) == 4
    if drop is not None:
        files[drop].unlink()
    config = build_config(load_file(LAB / "clean-3-resources.toml"))
    return analyze(read_traffic([str(ring)], config), config)


def test_missing_ring_file_is_reported_and_its_data_connection_matched(
        tmp_path: Path) -> None:
    analysis = _ring(tmp_path, drop=1)
    codes = [f.code for f in analysis.findings]
    assert "unannounced_connection" not in codes, codes
    [gap] = [f for f in analysis.findings if f.code == "capture_ring_gap"]
    assert "number 1 missing" in gap.message and "p_00000_" in gap.message
    [session] = analysis.sessions
    assert len(session.data_connections) == 3
    assert session.steps[3].status == "ok"
    assert "before the capture started" not in session.steps[3].detail


def test_whole_ring_has_no_gap(tmp_path: Path) -> None:
    analysis = _ring(tmp_path, drop=None)
    assert "capture_ring_gap" not in [f.code for f in analysis.findings]
    assert analysis.verdict == "pass"


@pytest.mark.parametrize(("name", "number"), [
    ("p_00003_20261126004231.pcap", 3), ("ring_00012_20261126004231.pcapng.gz", 12),
    ("ring.pcap", 0), ("ring.pcap7", 7), ("dir/cap.pcap02", 2), ("capture.pcap.gz", 0)])
def test_ring_file_numbers(name: str, number: int) -> None:
    found = _ring_number(name)
    assert found is not None and found[1] == number


def test_other_names_are_no_ring() -> None:
    assert _ring_number("notes.txt") is None
