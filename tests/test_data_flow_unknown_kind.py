"""Step 5 of a session whose kind the capture does not tell names no direction for its
missing bytes (field check 60's words reviews): restore-2-resources cut at frame 24, its
DATA_LISTEN answered and its data connection open, no DATA_START_RECOVER yet, read "no
bytes agent to media server", the direction of the "backup" the kind defaults to."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

LAB = Path(__file__).resolve().parents[1] / "captures" / "lab"


def test_no_bytes_of_a_job_of_unknown_kind_are_said_either_way(tmp_path: Path) -> None:
    cut = tmp_path / "restore-cut.pcap"
    subprocess.run(["editcap", "-r", str(LAB / "restore-2-resources.pcap"), str(cut), "1-24"],
                   check=True, capture_output=True)
    config = build_config(load_file(LAB / "restore-2-resources.toml"))
    analysis = analyze(read_traffic([str(cut)], config), config)
    [session] = analysis.sessions
    assert session.kind_guessed
    step = session.steps[4]
    assert step.status == "unknown"
    assert step.detail.startswith("unknown: no bytes either way in the capture, but the "
                                  "capture ended "), step.detail
    assert "agent to media server" not in step.detail


def test_a_known_kind_keeps_its_direction() -> None:
    """The whole restore: the direction stays named where the kind is known."""
    config = build_config(load_file(LAB / "restore-2-resources.toml"))
    analysis = analyze(read_traffic([str(LAB / "restore-2-resources.pcap")], config), config)
    [session] = analysis.sessions
    assert session.kind == "restore" and not session.kind_guessed
    assert "media server -> agent (restore)" in session.steps[4].detail, session.steps[4].detail
