"""Failing jobs cut at test time to one direction, or without a packet, must not read PASS
(the contract's verdict rule: a packet missing from the capture is no packet the network
dropped; what the capture cannot show is `unknown`, what it shows fails).

- field38-matrix/agent-killed-one-direction-in (the agent's packets only) without frame
  109, the agent's FIN on the control connection: its ACK after it (frame 110, 109 once
  cut) carries the sequence number one past its last byte, which only a FIN takes
  (RFC 9293 3.4). It read PASS, "still open"; now control_closed, as the whole capture.
- field38-matrix/agent-killed-loss-before-start (both directions) without the agent's
  control FIN (768), or both control FINs (768, 769): the media server's FIN, or the
  agent's last ACK, shows the lost FIN; it read inconclusive "still open", and with the
  agent's FIN alone lost the media server's FIN that answered it read as the first close.
- trial31-late/data-reset-late-start cut to the media server's packets: a capture started
  while the data flowed; the media server closed both connections 25 s after the last
  byte it acknowledged, with no DATA_STOP, DATA_ABORT or CONNECT_CLOSE; the agent's RST
  is in the direction the capture lacks. Step 4 read `ok` ("the data flowed").
- lab-trial26-words/idle-drop-media cut to the packets the media server received: the
  capture ends with the data's end (the halt was dropped on the way), so the job's end
  is not in it: inconclusive, step 5 unknown (it already read so; kept so).

Clean jobs cut the same ways read PASS, or inconclusive where the missing direction hides
a step: never FAIL.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest
import tshark_fork
from stored import case_config, errors, stored_analysis, without_frame

from flowcheck.pipeline import Analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
FIELD38 = CAPTURES / "field38-matrix"
MEDIA = "10.77.0.1"


def _cut(tmp_path: Path, stored: Path, expression: str, label: str) -> Path:
    """The packets of `stored` that the tcpdump filter `expression` keeps (tcpdump reads
    no gzip: unzipped first), written under tmp_path."""
    capture = stored
    if stored.suffix == ".gz":
        capture = tmp_path / stored.stem
        with gzip.open(stored, "rb") as source, capture.open("wb") as target:
            shutil.copyfileobj(source, target)
    out = tmp_path / f"{capture.stem}-{label}.pcap"
    subprocess.run(["tcpdump", "-r", str(capture), "-w", str(out), expression],
                   check=True, capture_output=True)
    return out


def _stored(folder: Path, name: str) -> Path:
    return next(p for p in folder.iterdir() if p.name in (f"{name}.pcap", f"{name}.pcap.gz"))


def _words(text: str) -> str:
    return " ".join(text.split())


def _step(analysis: Analysis, number: int) -> tuple[str, str]:
    [session] = analysis.sessions
    step = next(s for s in session.steps if s.step == number)
    return step.status, _words(step.detail)


def test_a_fin_the_capture_lacks_shown_by_the_closers_own_ack(tmp_path: Path) -> None:
    name = "agent-killed-one-direction-in"
    cut = without_frame(tmp_path, FIELD38, name, 109)
    analysis = stored_analysis(cut, config_path=case_config(FIELD38, name))
    assert analysis.verdict == "fail"
    [closed] = [f for f in errors(analysis) if f.code == "control_closed"]
    message = _words(closed.message)
    assert "was closed by the agent 10.77.0.2 (its FIN, which the capture lacks: its own " \
        "later ACK, frame 109, carries the sequence number one past its last byte" in message
    assert 109 in closed.frames
    status, detail = _step(analysis, 5)
    assert status == "failed"
    assert "the agent 10.77.0.2 closed the control connection" in detail
    assert "capture_ended_early" not in {f.code for f in analysis.findings}


@pytest.mark.parametrize("frames", [(768,), (768, 769)], ids=["agent-fin", "both-fins"])
def test_a_lost_control_fin_in_a_capture_of_both_directions(
        tmp_path: Path, frames: tuple[int, ...]) -> None:
    """The agent closed first (its kernel, on SIGKILL): the media server's FIN (frame 769,
    768 once cut) acknowledges the agent's lost FIN; with both lost, the agent's last ACK
    (770) carries its FIN's sequence number + 1 and acknowledges the media server's."""
    name = "agent-killed-loss-before-start"
    cut = _stored(FIELD38, name)
    for frame in sorted(frames, reverse=True):  # the later first: the numbers hold
        cut = without_frame(tmp_path, cut.parent, cut.name.split(".pcap")[0], frame)
    analysis = stored_analysis(cut, config_path=case_config(FIELD38, name))
    assert analysis.verdict == "fail"
    [closed] = [f for f in errors(analysis) if f.code == "control_closed"]
    message = _words(closed.message)
    assert "was closed by the agent 10.77.0.2 (its FIN, which the capture lacks" in message
    assert "still open" not in " ".join(f.message for f in analysis.findings)


def test_a_late_start_seen_from_the_media_server_that_closed_without_ending_the_job(
        tmp_path: Path) -> None:
    folder, name = CAPTURES / "trial31-late", "data-reset-late-start"
    cut = _cut(tmp_path, _stored(folder, name), f"src host {MEDIA}", "fromM")
    analysis = stored_analysis(cut, config_path=case_config(folder, name))
    assert analysis.verdict == "inconclusive"
    status, detail = _step(analysis, 4)
    assert status == "unknown"
    assert ("10.77.0.1 closed it (FIN, frame 11) after the data flowed on C1 (from frame 1; "
            "the job's start is not in the capture) with no DATA_STOP, DATA_ABORT or "
            "CONNECT_CLOSE of its own") in detail
    assert "in the direction the capture lacks" in detail


def test_a_capture_of_what_the_media_server_received_ends_with_the_data(
        tmp_path: Path) -> None:
    folder, name = CAPTURES / "lab-trial26-words", "idle-drop-media"
    cut = _cut(tmp_path, _stored(folder, name), f"dst host {MEDIA}", "toM")
    analysis = stored_analysis(cut, config_path=case_config(folder, name))
    assert analysis.verdict == "inconclusive"
    status, detail = _step(analysis, 5)
    assert status == "unknown"
    assert "the job's end is not in the capture" in detail


# Clean jobs: (folder, name, the agent's control FIN frame, the media server's).
CLEAN = [("ndmjob", "v4-backup", 2162, 2161), ("lab", "clean-3-resources", 639, 641)]


@pytest.mark.parametrize(("folder", "name", "agent_fin", "media_fin"), CLEAN,
                         ids=[c[1] for c in CLEAN])
def test_clean_jobs_cut_the_same_ways_never_fail(tmp_path: Path, folder: str, name: str,
                                                 agent_fin: int, media_fin: int) -> None:
    base = CAPTURES / folder
    config = case_config(base, name)
    for frame in (agent_fin, media_fin):  # either control FIN lost
        analysis = stored_analysis(without_frame(tmp_path, base, name, frame),
                                   config_path=config)
        assert analysis.verdict == "pass", (frame, [f.code for f in analysis.findings])
    stored = _stored(base, name)
    for label, expression in (("fromM", f"src host {MEDIA}"), ("toM", f"dst host {MEDIA}")):
        one_way = _cut(tmp_path, stored, expression, label)
        analysis = stored_analysis(one_way, config_path=config)
        assert analysis.verdict in ("pass", "inconclusive"), (label, errors(analysis))
        # ... and that direction without its control FIN (the agent's, in toM)
        fins = tshark_fork.fields(one_way, "tcp.flags.fin==1 && tcp.port==10000",
                                  "frame.number")
        for frame in (int(fin) for (fin,) in fins):
            lost = without_frame(tmp_path, one_way.parent, one_way.stem, frame)
            analysis = stored_analysis(lost, config_path=config)
            assert analysis.verdict in ("pass", "inconclusive"), (label, frame,
                                                                  errors(analysis))
