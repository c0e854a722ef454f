"""Words a new user's trial (newuser54) flagged, on stored captures cut with editcap as
the trial cut them: what a capture that ended early cannot show (not "whether it was
answered" of a connection that opened, no retransmission timeout where no retry is
waited for), the step table's status said once, request or reply named, and sessions
days apart said so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from frame_cuts import CAPTURES, frame_range

from flowcheck.cli.main import run

NDMJOB = CAPTURES / "ndmjob"
LAB = CAPTURES / "lab"


def _analyze(argv: list[str], capsys: pytest.CaptureFixture[str],
             monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "400")  # one line per table row
    run(["analyze", *argv])
    return capsys.readouterr().out


def _early(document: dict) -> list[dict]:
    return [f for f in document["findings"] if f["code"] == "capture_ended_early"]


def test_a_capture_cut_after_the_data_connection_opened_says_what_it_lacks(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """v4-backup cut at frame 16 (DATA_START_BACKUP): C2's handshake is in the capture,
    so it was answered; it read "before its data could be seen (retransmission timeout
    3 s): whether it was answered cannot be seen". The table's step 4 read "unknown
    unknown: no bytes ...": the status once."""
    cut = frame_range(NDMJOB / "v4-backup.pcap", tmp_path / "cut16.pcap", 1, 16)
    config = ["--config", str(NDMJOB / "flowcheck.toml"), str(cut)]
    document = json.loads(_analyze(["--format", "json", *config], capsys, monkeypatch))
    [data] = [f for f in _early(document) if f["uid"] == "C2"]
    assert ("opened, before its data could be seen: whether the backup data flowed on it "
            "cannot be seen.") in data["message"]  # DATA_START_BACKUP is frame 16
    assert "answered" not in data["message"]
    assert "retransmission" not in data["message"] + data["fix"]
    [step] = [s for s in document["sessions"][0]["steps"] if s["step"] == 4]
    assert step["status"] == "unknown" and step["detail"].startswith("unknown: no bytes")
    html = tmp_path / "cut16.html"
    table = _analyze([*config, "--html", str(html)], capsys, monkeypatch)
    [row] = [line for line in table.splitlines() if line.startswith("4 ")]
    assert " unknown " in row and "unknown: " not in row and " no bytes agent " in row
    page = html.read_text()
    assert "<td>no bytes agent to media server" in page and "unknown: no bytes" not in page


def test_a_capture_cut_before_the_backup_started_names_no_retransmission_timeout(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """v4-backup cut at frame 8: "before a backup or restore could start (retransmission
    timeout 3 s)": a job's step, not a TCP retry."""
    cut = frame_range(NDMJOB / "v4-backup.pcap", tmp_path / "cut8.pcap", 1, 8)
    document = json.loads(_analyze(["--format", "json", "--config",
                                    str(NDMJOB / "flowcheck.toml"), str(cut)],
                                   capsys, monkeypatch))
    [early] = _early(document)
    assert "before a backup or restore could start: whether" in early["message"]
    assert "retransmission" not in early["message"] + early["fix"]
    assert ("(at least until the backup or restore has started, or until the job has "
            "failed)") in early["fix"]


def test_a_job_joined_late_says_its_first_job_message_is_a_request(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """clean-3-resources from frame 20 (its first DATA_LISTEN request): "first job
    message (DATA_LISTEN, frame 1)" read beside the step's "DATA_LISTEN (frame 2)",
    the reply that announced. Without `resources` (with it, a capture holding every
    configured resource is judged as usual: trial 54, verify.late_job)."""
    cut = frame_range(LAB / "clean-3-resources.pcap", tmp_path / "late.pcap", 20, 1_000_000)
    config = tmp_path / "no-resources.toml"
    config.write_text("".join(line for line in (LAB / "clean-3-resources.toml").read_text()
                              .splitlines(keepends=True) if not line.startswith("resources")))
    document = json.loads(_analyze(["--format", "json", "--config", str(config), str(cut)],
                                   capsys, monkeypatch))
    details = " ".join(s["detail"] for s in document["sessions"][0]["steps"])
    assert "first job message in the capture (the DATA_LISTEN request, frame 1)" in details
    assert "DATA_LISTEN (frame 2) announced" in details


def test_sessions_days_apart_are_said_so(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Two captures six days apart merged read "+541879.853s" and nothing more."""
    shifted = frame_range(LAB / "clean-3-resources.pcap", tmp_path / "shifted.pcap", 1,
                          1_000_000, "-t", "541890")
    out = _analyze(["--config", str(LAB / "clean-3-resources.toml"),
                    str(LAB / "data-port-dropped.pcap"), str(shifted)], capsys, monkeypatch)
    [line] = [line for line in out.splitlines() if line.startswith("sessions: ")]
    assert line.endswith("; the sessions' starts span 6 days 6 h 31 min (S1 to S2)"), line
    near = _analyze(["--config", str(LAB / "concurrent-jobs.toml"),
                     str(LAB / "concurrent-jobs.pcap")], capsys, monkeypatch)
    assert "sessions: 2 ok;" in near and "starts span" not in near  # seconds apart
