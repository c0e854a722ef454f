"""A job whose end the capture does not hold, its control connection silent long before
the capture stopped (flowcheck.verify.silent_end): the loss sweep of stored failing
captures (2% of frames removed, 3 seeds) read PASS where the control connection's one RST
was among the frames removed. Built here from stored captures by removing that RST (or,
for the lost start, the DATA_START_BACKUP request) as a sniffer would lose it; and the
passing job with answered keepalive probes, whole and stopped just before its last halt,
keeps its pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import tshark_fork
from stored import sidecar, stored_analysis, without_frame

from flowcheck.pipeline import Analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
KEEPALIVE = CAPTURES / "trial42-keepalive"


def _words(text: str) -> str:
    return " ".join(text.split())


def _frames(capture: Path, display_filter: str) -> list[int]:
    """The frames of `capture` matching a tshark display filter."""
    return [int(n) for (n,) in tshark_fork.fields(capture, display_filter, "frame.number")]


def _without(tmp_path: Path, capture: Path, frame: int) -> Analysis:
    """`capture` without its frame `frame`, analysed with its sidecar configuration."""
    name = capture.name.removesuffix(".gz").rsplit(".", 1)[0]
    cut = without_frame(tmp_path, capture.parent, name, frame)
    return stored_analysis(cut, config_path=sidecar(capture))


def _early(analysis: Analysis) -> str:
    [early] = [f.message for f in analysis.findings if f.code == "capture_ended_early"]
    return _words(early)


@pytest.mark.parametrize("capture, halts_due", [
    # The data connection closed 6.7 s before the capture's end: the halts were due.
    (KEEPALIVE / "keepalive-reset-media.pcap.gz", True),
    # The capture stopped with the data's close; the control connection silent 17.7 s.
    (CAPTURES / "trial41-paths" / "control-reset-by-agent-rerouted.pcap.gz", False),
])
def test_a_control_reset_whose_rst_is_missing_is_no_pass(tmp_path: Path, capture: Path,
                                                           halts_due: bool) -> None:
    whole = stored_analysis(capture)
    assert whole.verdict == "fail"
    assert any(f.code == "control_reset" for f in whole.findings)
    [rst] = _frames(capture, "tcp.port == 10000 && tcp.flags.reset == 1")
    analysis = _without(tmp_path, capture, rst)
    assert analysis.verdict == "inconclusive", analysis.verdict
    [session] = analysis.sessions
    data = session.steps[-1]
    assert data.status == "unknown"
    assert "the job's end is not in the capture" in _words(data.detail)
    early = _early(analysis)
    assert early.startswith("The capture holds no end of the backup: DATA_START_BACKUP")
    assert "with no close (no FIN, RST or CONNECT_CLOSE)" in early
    assert "may be among the packets the sniffer missed" in early
    assert ("when the halts were due" in early) == halts_due
    assert ("no answered keepalive probe" in early) != halts_due
    assert "is unknown: capture until the job ends" in early


def test_a_ring_missing_the_silence_is_no_pass(tmp_path: Path) -> None:
    """keepalive-reset-media without its RST, written as a ring of 1000-packet files
    (editcap -c) whose third file is missing: the control connection's last message lies
    before the hole, its end (a halt, a close, a RST) may be in the missing file; the
    data step is unknown and the warning says to analyze the whole ring."""
    capture = KEEPALIVE / "keepalive-reset-media.pcap.gz"
    [rst] = _frames(capture, "tcp.port == 10000 && tcp.flags.reset == 1")
    ring = tmp_path / "ring"
    ring.mkdir()
    subprocess.run(["editcap", "-c", "1000", str(capture), str(ring / "job.pcapng"), str(rst)],
                   check=True, capture_output=True)
    files = sorted(ring.iterdir())
    assert len(files) == 4
    files[2].unlink()
    analysis = stored_analysis(*sorted(ring.iterdir()), config_path=sidecar(capture))
    assert analysis.verdict == "inconclusive"
    assert analysis.sessions[0].steps[-1].status == "unknown"
    early = _early(analysis)
    assert early.startswith("The capture lacks the end of the backup")
    assert early.endswith("is unknown: analyze the whole ring.")


def test_a_reset_after_a_lost_start_request_is_read(tmp_path: Path) -> None:
    """keepalive-probe-reset-media without its DATA_START_BACKUP request (the agent's
    successful reply kept, the bytes the agent acknowledged at the media server's end of
    the stream, so no hole names them): the agent's reply shows the job started, and the
    device's RST in the agent's name is the job's control_reset, as the whole capture
    reads (it read PASS, the reset unjudged for want of a start)."""
    capture = KEEPALIVE / "keepalive-probe-reset-media.pcap.gz"
    [request, _reply] = _frames(capture, "ndmp.msg == 0x401")  # DATA_START_BACKUP
    analysis = _without(tmp_path, capture, request)
    assert analysis.verdict == "fail"
    assert [f.code for f in analysis.findings if str(f.severity) == "error"] == [
        "control_reset"]


def test_a_passing_job_with_answered_keepalives_is_not_a_silent_end(tmp_path: Path) -> None:
    """keepalive-answered-media, whole, passes; stopped just before the first NDMP
    message after its second resource's start (the agent's LOG_FILE, then its
    NOTIFY_DATA_HALTED: the data connection closed 0.8 ms before, the control connection
    silent 6.3 s but for keepalive probes the agent answered, the last 0.09 s before the
    end) the answered probes show the connection open to the end, the halt simply after
    the capture (capture_ended_early says so, not "holds no end"); the job's end is not
    in the capture all the same: inconclusive (it read PASS before the cut sweep)."""
    capture = KEEPALIVE / "keepalive-answered-media.pcap.gz"
    assert stored_analysis(capture).verdict == "pass"
    start = _frames(capture, "ndmp.msg == 0x401")[-1]  # the last DATA_START_BACKUP reply
    end = next(f for f in _frames(capture, "tcp.port == 10000 && tcp.len > 0") if f > start)
    out = tmp_path / "answered-before-halt.pcapng"
    subprocess.run(["editcap", "-r", str(capture), str(out), f"1-{end - 1}"], check=True,
                   capture_output=True)
    analysis = stored_analysis(out, config_path=sidecar(capture))
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    assert "the job's end is not in the capture: the capture stopped" in session.steps[-1].detail
    early = _early(analysis)
    # The data connection closed before the cut: not "still running" (newuser55).
    assert "The capture stopped before the backup's halt was reported" in early
    assert "still running" not in early
    assert "holds no end" not in early
