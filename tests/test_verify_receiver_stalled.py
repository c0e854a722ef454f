"""data_receiver_stalled: a data connection whose receiver stopped reading it (its TCP
window 0, the sender's probes answered), on the lab's ndmjob captures whose DMA and
resident tape agent were stopped mid-job (captures/ndmjob-lab/v4-tape-*.pcap.gz: SIGSTOP, then
SIGKILL or SIGCONT; flowcheck.lab.ndmjob.TapePause); the zero-window frames as tshark
flags them ("tcp.analysis.zero_window", and the agent's Linux probes, which tshark 4.0
calls "tcp.analysis.keep_alive": no payload, seq one below the unacknowledged byte)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import tshark_fork
from stored import shared_analysis

from flowcheck.model import Severity
from flowcheck.verify.closed_window import zero_window
from flowcheck.verify.stalled import data_stall

LAB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-lab"
MEDIA, AGENT = "10.77.0.1", "10.77.0.2"

# name: (severity, step 4 status, how the window ended, first window-0 frame, the RST,
# FIN or reopening frame (0: none), what the message says)
CASES = {
    "v4-tape-stopped": (Severity.ERROR, "failed", "reset", 1876, 1889,
                        ["was not lost: the media server 10.77.0.1 stopped reading it",
                         "from frame 1876 for 17.8 s until the connection was reset "
                         "(RST, frame 1889)",
                         "the agent 10.77.0.2 probed it 6 times and each probe was answered",
                         "no firewall rule fixes this"]),
    "v4-tape-stopped-capture-ended": (Severity.ERROR, "failed", "capture", 1876, 0,
                                      ["was not lost: the media server 10.77.0.1 stopped",
                                       "from frame 1876 for 16.9 s until the capture ended",
                                       "probed it 6 times and each probe was answered"]),
    "v4-tape-paused": (Severity.WARNING, "ok", "reopened", 2089, 2098,
                       ["stalled without a network fault: the media server 10.77.0.1 "
                        "stopped reading it", "from frame 2089 for 6.98 s, then it reopened "
                        "(frame 2098)", "halted normally"]),
}


def _analysis(name: str):
    # The run's one analysis of the stored case (capture and NAME.toml), read only.
    return shared_analysis(LAB / f"{name}.pcap.gz")


def _tshark(path: Path, display_filter: str) -> list[int]:
    return [int(frame) for (frame,) in tshark_fork.fields(path, display_filter, "frame.number")]


@pytest.mark.parametrize("name", list(CASES))
def test_receiver_stall_is_the_one_finding(name: str) -> None:
    severity, status, ended, frame, end_frame, words = CASES[name]
    analysis = _analysis(name)
    reported = [f for f in analysis.findings if str(f.severity) in ("error", "warning")]
    # Not data_reset, control_reset (the SIGKILL's RSTs) nor capture_ended_early.
    assert [(f.code, f.severity) for f in reported] == [("data_receiver_stalled", severity)]
    (finding,) = reported
    for text in words:
        assert text in finding.message, finding.message
    assert finding.frames[0] == frame
    assert (end_frame in finding.frames) == bool(end_frame)
    assert analysis.verdict == ("fail" if severity == Severity.ERROR else "pass")
    (session,) = analysis.sessions
    step = next(s for s in session.steps if s.step == 4)
    assert step.status == status
    assert f"stopped reading it (window 0 from frame {frame}" in step.detail


@pytest.mark.parametrize("name", list(CASES))
def test_zero_window_frames_agree_with_tshark(name: str) -> None:
    _, _, ended, frame, end_frame, _ = CASES[name]
    path = LAB / f"{name}.pcap.gz"
    analysis = _analysis(name)
    (data,) = [c for c in analysis.traffic.connections if c.role == "data"]
    assert (data.orig_h, data.resp_h) == (AGENT, MEDIA)
    window = zero_window(data, max(c.last_ts for c in analysis.traffic.connections))
    assert window is not None and (window.side, window.ended) == ("resp", ended)
    from_media = f"tcp.srcport == {data.resp_p} and ip.src == {MEDIA}"
    zeros = _tshark(path, f"{from_media} and tcp.analysis.zero_window")
    if ended == "reopened":
        # tshark: window-0 segments from `frame` on; the next segment of M reopens it.
        assert frame in zeros
        later = _tshark(path, f"{from_media} and frame.number > {frame} and not "
                              "tcp.analysis.zero_window")
        assert later[0] == end_frame == data.evidence("resp").zero_window_reopened_frame
        assert data.evidence("resp").zero_window_longest_frame == frame
        assert data.evidence("resp").zero_window_ts is None
        return
    # The trailing zero window: every window-0 segment of M from its first on.
    assert zeros[0] == frame == data.evidence("resp").zero_window_frame
    assert len(zeros) == data.evidence("resp").zero_window_acks == 7
    probes = _tshark(path, f"tcp.srcport == {data.orig_p} and frame.number > {frame} and "
                           "(tcp.analysis.keep_alive or tcp.analysis.zero_window_probe)")
    assert len(probes) == data.evidence("resp").zero_window_probes == 6
    # The probes are no retransmissions (data_stalled would read them as a drop).
    assert data.evidence("orig").resends == 0


def test_resends_into_a_closed_window_are_no_stall() -> None:
    """Windows probes a zero window with one byte, again and again: resends of the
    sender's last bytes that the receiver never acknowledges. When the receiver's window
    was 0 before the first of them, they are probes, not a drop (no data_stalled)."""
    (data,) = [c for c in _analysis("v4-tape-stopped-capture-ended").traffic.connections
               if c.role == "data"]
    resent = dataclasses.replace(data, orig_unacked=1, orig_evidence=dataclasses.replace(
        data.evidence("orig"), resends=5, resent_frame=1887, resent_ts=data.last_ts,
        resend_first_frame=1877, resend_first_ts=data.last_ts - 16))
    assert data_stall(resent) is None
    # The same resends with the window open: a stall.
    opened = dataclasses.replace(resent, resp_evidence=dataclasses.replace(
        data.evidence("resp"), zero_window_ts=None, zero_window_frame=0))
    stall = data_stall(opened)
    assert stall is not None and (stall.side, stall.resends) == ("orig", 5)
