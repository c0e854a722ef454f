"""A job's end read from what a one-direction or snapped capture still holds (field
trial 20, D2 and D8).

A hung agent that greets only after the media server gave up (ndmp_no_reply,
captures/trial27/hung-late-greeting-m): the snap length cuts the greeting's body, not
its header nor the packets' times, so the late greeting still shows; a capture of the
media server's packets only cannot show whether the agent greeted, but its 14.9 s wait
before the close is no port check. A job that had ended before its late data connect
was refused (captures/ndmjob-ended): the media server's close (its FIN, or its RST
without ACK) is in the capture of its own packets, so the refusal is that closed job's
answer, not data_refused.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

from lab_edits import sent_by, write
from scapy_files import read_packets

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
LATE_GREETING = CAPTURES / "trial27" / "hung-late-greeting-m.pcap"
ENDED = CAPTURES / "ndmjob-ended"
MEDIA = "10.77.0.1"


def _analyze(path: Path, settings: Path) -> Analysis:
    config = build_config(load_file(settings))
    return analyze(read_traffic([str(path)], config), config)


def _plain(tmp_path: Path, stored: Path) -> Path:
    """The stored capture, gunzipped if it is (tcpdump reads no gzip)."""
    if stored.suffix != ".gz":
        return stored
    out = tmp_path / stored.stem
    with gzip.open(stored, "rb") as source, out.open("wb") as target:
        shutil.copyfileobj(source, target)
    return out


def _snapped(tmp_path: Path, capture: Path, snap: int) -> Path:
    out = tmp_path / f"{capture.stem}-s{snap}.pcap"
    subprocess.run(["editcap", "-s", str(snap), str(capture), str(out)], check=True,
                   capture_output=True)
    return out


def _errors(analysis: Analysis) -> set[str]:
    return {f.code for f in analysis.findings if str(f.severity) == "error"}


def test_a_late_greeting_cut_by_the_snap_length_is_still_no_answer(tmp_path: Path) -> None:
    """editcap -s 96 keeps the greeting's 24-byte header: the message is named, its
    frame after the media server's close, the agent silent until then."""
    analysis = _analyze(_snapped(tmp_path, LATE_GREETING, 96),
                        LATE_GREETING.with_suffix(".toml"))
    assert analysis.verdict == "fail" and _errors(analysis) == {"ndmp_no_reply"}
    [error] = [f for f in analysis.findings if f.code == "ndmp_no_reply"]
    assert "NDMP_NOTIFY_CONNECTED (frame 6) came only after it" in error.message
    assert "gave up and closed the connection 14.9 s later (frame 4)" in error.message


def test_a_wait_before_the_close_seen_one_way_is_no_port_check(tmp_path: Path) -> None:
    """The media server's packets only: its handshake ACK, its FIN 14.9 s later, its RST.
    Whether the agent greeted travels the uncaptured way: not a failure shown, but no
    port check closes that late either."""
    analysis = _analyze(sent_by(tmp_path, LATE_GREETING, MEDIA),
                        LATE_GREETING.with_suffix(".toml"))
    assert analysis.verdict == "inconclusive" and not _errors(analysis)
    [session] = analysis.sessions
    assert "port check" not in session.steps[0].detail
    assert [s.status for s in session.steps[1:]] == ["unknown"] * 3
    later = session.steps[1].detail
    assert "closed the connection 14.9 s after it opened (frame 3)" in later
    assert f"nothing from 10.77.0.2 to {MEDIA}" in later


def test_a_quick_close_seen_one_way_stays_a_port_check(tmp_path: Path) -> None:
    """The same packets, the close 5 ms after the handshake, captured one way: a
    monitoring check's connect and close, whatever the agent said."""
    packets = read_packets(str(LATE_GREETING))
    start = packets[2].time
    for index, delay in ((3, "0.005"), (4, "0.0051"), (5, "0.006"), (6, "0.0061")):
        packets[index].time = start + Decimal(delay)
    quick = write(tmp_path, "quick-check", list(packets))
    analysis = _analyze(sent_by(tmp_path, quick, MEDIA), LATE_GREETING.with_suffix(".toml"))
    # The port check alone: no job in the capture (review56f, verify.probes_only).
    assert analysis.verdict == "inconclusive"
    assert [f.code for f in analysis.findings if f.severity != "info"] == [
        "capture_one_direction", "no_control_session"]
    assert "a port check" in analysis.sessions[0].steps[0].detail


def test_a_job_ended_at_the_capture_start_seen_from_the_media_server(tmp_path: Path) -> None:
    """v4: the media server's FIN is the capture's first packet; the old job's late
    connect is refused 38 s later. Its own packets keep both: not data_refused."""
    stored = ENDED / "v4-ended-at-start-then-good-media.pcap.gz"
    analysis = _analyze(sent_by(tmp_path, _plain(tmp_path, stored), MEDIA),
                        ENDED / "v4-ended-at-start-then-good-media.toml")
    assert analysis.verdict == "pass" and not _errors(analysis)
    ended, ran = analysis.sessions
    assert [s.status for s in ended.steps[1:]] == ["not_applicable"] * 3
    assert "its job had ended as the capture began" in ended.steps[1].detail
    assert "the answer of a job already closed" in ended.steps[2].detail
    assert all(s.status == "ok" for s in ran.steps)


def test_a_job_gone_before_the_capture_seen_from_the_media_server(tmp_path: Path) -> None:
    """v2: the media server's RST without ACK on the control connection, its only
    packet there, answers a segment of the agent's the capture does not hold (a RST
    without ACK refuses no SYN): the job had ended, the data refusal is its answer."""
    stored = ENDED / "v2-ended-late-rst-media.pcap"
    analysis = _analyze(sent_by(tmp_path, stored, MEDIA), stored.with_suffix(".toml"))
    assert analysis.verdict == "inconclusive" and not _errors(analysis)
    [session] = analysis.sessions
    assert [s.status for s in session.steps] == ["ok", "unknown", "unknown", "unknown"]
    assert "its job had ended before the capture started" in session.steps[1].detail
    assert "the answer of a job already closed" in session.steps[2].detail
