"""A second read of newuser54's words (review54c), on stored captures cut with editcap:
a capture_ended_early fix that asks the capture to run on until a step of the job must
be one a failing job can meet (a callback that never connects, data that never flows:
the failures flowcheck is run for), the data's wait names the job's kind when the
capture tells it, a capture_truncated of one packet says "packet", and a duration of
-0.0 reads "0 ms"."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from frame_cuts import CAPTURES, frame_range

from flowcheck.cli.main import run
from flowcheck.durations import span_words

NDMJOB = CAPTURES / "ndmjob"
LAB = CAPTURES / "lab"
FAILED = ", or until the job has failed)."


def _early(capture: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    run(["analyze", "--format", "json", "--config", str(config), str(capture)])
    document = json.loads(capsys.readouterr().out)
    return [f for f in document["findings"] if f["code"] == "capture_ended_early"]


@pytest.mark.parametrize(("last", "unseen", "until"), [
    # Cut at the restore's DATA_START_RECOVER reply: the kind is in the capture.
    (26, "whether the restore data flowed on it", "until data flows on the data connection"),
    # Cut before DATA_START_RECOVER: nothing tells backup from restore yet.
    (24, "whether the backup or restore data flowed on it",
     "until data flows on the data connection"),
    # Cut before the callback (backup-exec-9): its SYN never came in the capture.
    (16, "whether the agent called the job engine back",
     "until the agent's callback has connected"),
    # Cut after the callback, before DATA_LISTEN: no job started in the capture.
    (19, "whether the session started a backup or restore",
     "until the backup or restore has started"),
])
def test_a_restore_cut_early_says_what_to_wait_for_that_a_failing_job_meets(
        last: int, unseen: str, until: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """restore-2-resources cut at `last`: "(at least until the agent's callback has
    connected)" asked of a job whose callback a firewall drops could never be met."""
    cut = frame_range(LAB / "restore-2-resources.pcap", tmp_path / "cut.pcap", 1, last)
    early = _early(cut, LAB / "restore-2-resources.toml", capsys)
    said = [f for f in early if f": {unseen} cannot be seen." in f["message"]]
    assert len(said) == 1, early
    assert said[0]["fix"].endswith(f"(at least {until}{FAILED}"), said[0]["fix"]


def test_a_backup_cut_after_its_start_names_the_backup(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """v4-backup cut at frame 16 (DATA_START_BACKUP in it) read "whether the backup or
    restore data flowed on it" beside "The capture stopped while the backup was still
    running: DATA_START_BACKUP (frame 16) started it"."""
    cut = frame_range(NDMJOB / "v4-backup.pcap", tmp_path / "cut16.pcap", 1, 16)
    early = _early(cut, NDMJOB / "flowcheck.toml", capsys)
    [data] = [f for f in early if f["uid"] == "C2"]
    assert ": whether the backup data flowed on it cannot be seen." in data["message"]


def test_a_capture_cut_after_one_packet_says_packet(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A capture cut inside its second record read "the analysis covers the 1 packets
    read before that point" (v4-backup: a 24-byte file header, a 16-byte record header
    and a 74-byte SYN, then 20 bytes of the next record)."""
    cut = tmp_path / "cut.pcap"
    cut.write_bytes((NDMJOB / "v4-backup.pcap").read_bytes()[:24 + 16 + 74 + 20])
    run(["analyze", "--format", "json", str(cut)])
    document = json.loads(capsys.readouterr().out)
    [truncated] = [f for f in document["findings"] if f["code"] == "capture_truncated"]
    assert truncated["message"].endswith(
        "; the analysis covers the 1 packet read before that point."), truncated["message"]


@pytest.mark.parametrize(("seconds", "words"), [
    (-0.0, "0 ms"), (0.0, "0 ms"), (1e-9, "0.000001 ms"), (4e-5, "0.04 ms"),
    (0.9996, "1 s"), (59.99, "60 s"), (3599.7, "3600 s"),
])
def test_span_words_never_reads_minus_zero(seconds: float, words: str) -> None:
    """-0.0 (a product or negation of a zero) is not below 0 and read "-0 ms"."""
    assert span_words(seconds) == words


def test_a_file_cut_in_its_header_keeps_its_name_whatever_it_holds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """"file ends inside the file header" was made by replacing "the file" in the whole
    text, the name too: "see the file/x.pcap: see file/x.pcap: file ends ..."."""
    folder = tmp_path / "see the file"
    folder.mkdir()
    cut = folder / "x.pcap"
    cut.write_bytes((NDMJOB / "v4-backup.pcap").read_bytes()[:10])
    assert run(["analyze", str(cut)]) == 3
    assert capsys.readouterr().err == f"flowcheck: error: {cut}: file ends inside the file header\n"


def test_a_data_connection_open_before_its_first_packet_is_not_said_to_open(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """v4-backup without C2's handshake (frames 12-14) and cut before its data, but for
    the media server's ACK of frame 21: "The capture ended 0.000 s after the data
    connection C2 opened", which the capture does not show (step 3: "its handshake is
    not in the capture although it opened after frame 11")."""
    cut = tmp_path / "no-handshake.pcap"
    subprocess.run(["editcap", "-r", str(NDMJOB / "v4-backup.pcap"), str(cut), "1-11",
                    "15-19", "21"], check=True, capture_output=True)
    run(["analyze", "--format", "json", "--config", str(NDMJOB / "flowcheck.toml"),
         str(cut)])
    document = json.loads(capsys.readouterr().out)
    [data] = [f for f in document["findings"]
              if f["code"] == "capture_ended_early" and f["uid"] == "C2"]
    assert data["message"].startswith(
        "The capture ended right after the data connection C2's first captured packet "
        "(its opening is not in the capture), with no capture time after it, before its "
        "data could be seen: whether the "
        "backup data flowed on it cannot be seen."), data["message"]
    [step] = [s for s in document["sessions"][0]["steps"] if s["step"] == 4]
    assert step["detail"].endswith("after the data connection's first captured packet (its "
                                   "opening is not in the capture), while it was still "
                                   "open"), step["detail"]
