"""A data connection that stops delivering mid-job: `data_stalled` (error).

Real ndmjob captures from a new-user trial (captures/ndmjob-firewall, their .toml say how
each was made): 1.5 s into a job slowed to 4 mbit/s, a firewall rule drops the data
connection's packets. Such jobs failed only with a control_closed blaming the media
server's job engine (the harness killed ndmjob 25 s later) and step 4 ok.
- v4-midjob-data-drop-at-media: the agent's last data resent 5 times, never ACKed.
- v4-restore-midjob-drop-at-agent: the media server's last data resent 6 times.
- v4-midjob-established-drop-at-agent: the media server's ACKs are captured but never
  reach the agent, which resends data the capture shows acknowledged (the ACKs lost
  between the capture point and the sender).

The tracker's fields behind it: tests/test_connections_resends.py. A stall that resumes
(new bytes after the resends) is no stall.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.all import IP, TCP
from scapy_files import read_packets, write_packets
from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

ROOT = Path(__file__).resolve().parent.parent
TRIAL = ROOT / "captures" / "ndmjob-firewall"
LAB = ROOT / "captures" / "lab"
M, A = "10.77.0.1", "10.77.0.2"


def _analyze(path: Path, toml: Path) -> Analysis:
    config = build_config(load_file(toml))
    return analyze(read_traffic([str(path)], config), config)


def _trial(name: str) -> Analysis:
    # The run's one analysis of the stored case (capture and NAME.toml), read only.
    return shared_analysis(TRIAL / f"{name}.pcap")


# name: (sender, receiver, resends, bytes never ACKed (0: the ACKs lost), last resend)
STALLS = {
    "v4-midjob-data-drop-at-media": (f"the agent {A}", f"the media server {M}", 5, 115840,
                                     958),
    "v4-restore-midjob-drop-at-agent": (f"the media server {M}", f"the agent {A}", 6, 73848,
                                        868),
    "v4-midjob-established-drop-at-agent": (f"the agent {A}", f"the media server {M}", 5, 0,
                                            1005),
}


@pytest.mark.parametrize("name", list(STALLS))
def test_data_dropped_mid_job_is_data_stalled(name: str) -> None:
    sender, receiver, resends, unacked, frame = STALLS[name]
    analysis = _trial(name)
    assert analysis.verdict == "fail"
    [finding] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert finding.code == "data_stalled" and finding.frames == [frame]
    data = analysis.traffic.connections[1]
    assert finding.uid == data.uid and data.role == "data"
    assert f"The data connection {data.orig_h}:{data.orig_p} -> " in finding.message
    if unacked:
        assert (f"{sender} sent its last {unacked:,} B again and again ({resends} "
                f"retransmissions, the last in frame {frame}) and {receiver} never "
                "acknowledged them; the capture went on ") in finding.message
    else:
        assert (f"{sender} sent bytes again and again ({resends} retransmissions, the last "
                f"in frame {frame}) although {receiver} had acknowledged them: its ACKs are "
                "in the capture but never reached") in finding.message
    assert "not after an idle timeout" in finding.message
    assert "firewalls, NAT devices and IPSs" in finding.fix
    assert "capture on both hosts" in finding.fix
    step = analysis.sessions[0].steps[-1]  # the data flows (step 4 of profile ndmp)
    assert step.name == "backup or restore data flows" and step.status == "failed"
    assert "stopped delivering mid-transfer" in step.detail
    assert f"({resends} retransmissions" in step.detail


def test_silence_after_is_the_capture_after_the_last_resend() -> None:
    [finding] = [f for f in _trial("v4-midjob-data-drop-at-media").findings
                 if f.code == "data_stalled"]
    assert "; the capture went on 12.5 s after the last." in finding.message


def _resumed(tmp_path: Path) -> Path:
    """captures/lab/clean-3-resources with the first data connection's 20th data segment
    resent 3 times (0.3, 0.9 and 2.1 s later, the receiver's ACK of it already captured)
    and every later packet 3 s later: a stall that resumed."""
    packets = list(read_packets(str(LAB / "clean-3-resources.pcap")))
    data = [k for k, p in enumerate(packets)
            if TCP in p and p[TCP].sport == 6001 and len(p[TCP].payload) > 1000]
    at = data[20]
    original = packets[at]
    resent = []
    for number, delay in enumerate((0.3, 0.9, 2.1), 1):
        copy = original.copy()
        copy[IP].id = (original[IP].id + 100 * number) & 0xFFFF
        del copy[IP].chksum
        copy.time = original.time + delay
        resent.append(copy)
    later = packets[at + 1:]
    for packet in later:
        packet.time += 3
    path = tmp_path / "resumed.pcap"
    write_packets(str(path), [*packets[:at + 1], *resent, *later])
    return path


def test_a_stall_that_resumed_passes(tmp_path: Path) -> None:
    path = _resumed(tmp_path)
    analysis = _analyze(path, LAB / "clean-3-resources.toml")
    assert analysis.verdict == "pass"
    assert "data_stalled" not in {f.code for f in analysis.findings}
    [data] = [c for c in analysis.traffic.connections if 6001 in (c.orig_p, c.resp_p)]
    assert data.retransmits == 3
    assert (data.evidence("orig").resends, data.evidence("resp").resends) == (0, 0)


def test_clean_captures_have_no_resends() -> None:
    for name in ("clean-3-resources", "concurrent-jobs", "restore-2-resources"):
        analysis = _analyze(LAB / f"{name}.pcap", LAB / f"{name}.toml")
        assert "data_stalled" not in {f.code for f in analysis.findings}
        assert not any(c.evidence("orig").resends or c.evidence("resp").resends
                       for c in analysis.traffic.connections)


def test_a_close_never_answered_after_the_data_stopped_is_data_stalled(tmp_path: Path) -> None:
    """Backup Exec's shape (a new-user trial): the agent's side stops delivering in the
    middle of resource 2 (nothing of it captured after the cut); 30 s later the media
    server closes the data connection and resends its FIN twice, never answered, then
    resets the control connection. It passed step 5 with a control_reset 'one side gave
    the session up'; the FINs resent unanswered show the path stopped delivering."""
    from decimal import Decimal

    from lab_edits import analyze_lab, lab_packets, last_from, next_seq, segment, write

    packets = lab_packets("clean-3-resources", 300)  # inside resource 2 (C4: 5003->6002)
    data = last_from(packets, 5003, 6002)
    seq, ack = next_seq(packets, 5003, 6002), next_seq(packets, 6002, 5003)
    start = packets[-1].time + Decimal(30)
    fins = [segment(data, "FA", seq, ack, start + Decimal(delay)) for delay in (0, 1, 3)]
    control = last_from(packets, 5039, 10000)
    reset = segment(control, "RA", next_seq(packets, 5039, 10000),
                    next_seq(packets, 10000, 5039), start + Decimal(3.5))
    analysis = analyze_lab(write(tmp_path, "fin-unanswered", [*packets, *fins, reset]),
                           "clean-3-resources")
    [error] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert error.code == "data_stalled" and analysis.verdict == "fail"
    assert "the media server 10.77.0.1 sent its FIN again and again (2 retransmissions" \
        in error.message and "never acknowledged it" in error.message
    assert error.frames[0] == 303
    assert analysis.sessions[0].steps[-1].status == "failed"


def _resends_and_reset(tmp_path: Path, reset_first: bool) -> Path:
    """Resource 2's data connection (C4, the agent 6002 -> the media server 5003) cut at
    frame 300: the agent resends its last segment three times, a RST from the media
    server's side comes before or after them, and the capture goes on 10 s."""
    from decimal import Decimal

    from lab_edits import lab_packets, last_from, next_seq, segment, write

    packets = lab_packets("clean-3-resources", 300)
    last = last_from(packets, 6002, 5003)
    t = packets[-1].time
    resends = []
    for n, delay in enumerate(("0.3", "0.7", "1.5")):
        again = last.copy()
        again[IP].id = (again[IP].id + n + 1) & 0xFFFF
        del again[IP].chksum, again[TCP].chksum
        again.time = t + Decimal(delay)
        resends.append(again)
    reset = segment(last_from(packets, 5003, 6002), "RA", next_seq(packets, 5003, 6002),
                    next_seq(packets, 6002, 5003), t + Decimal("0.1" if reset_first else "2"))
    keepalive = segment(last_from(packets, 5039, 10000), "A", next_seq(packets, 5039, 10000),
                        next_seq(packets, 10000, 5039), t + Decimal(10))
    added = sorted([*resends, reset, keepalive], key=lambda p: p.time)
    return write(tmp_path, f"reset-{reset_first}", [*packets, *added])


@pytest.mark.parametrize(("reset_first", "code"), [(True, "data_reset"),
                                                   (False, "data_stalled")])
def test_a_reset_before_the_resends_is_the_cut(tmp_path: Path, reset_first: bool,
                                               code: str) -> None:
    """A reject rule answering one side's packets with RSTs (a new-user trial): the RST
    comes first and the other side resends into the void: data_reset, the reset being
    the evidence. Resends first, then a RST (a side giving up): data_stalled, naming it."""
    from lab_edits import analyze_lab

    analysis = analyze_lab(_resends_and_reset(tmp_path, reset_first), "clean-3-resources")
    [error] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert error.code == code
    if code == "data_stalled":
        assert "The connection was then reset (RST" in error.message


def _killed_soon_after(tmp_path: Path, close: bool) -> Path:
    """captures/ndmjob-firewall/v4-midjob-established-drop-at-agent (the agent resends
    acknowledged data 5 times, the last at 14.26 s in frame 1005) with the media server's
    close of the data and control connections (frames 1009-1018: its FINs, resent 4 times,
    never answered) moved 9.43 s earlier, so the capture ends 2.99 s after the last resend,
    below the retransmission timeout (3 s), as when the job engine is killed 1.3 s after
    the last resend (a new-user trial's offload captures); without the close (close False)
    the capture ends 1.3 s after it."""
    from decimal import Decimal

    packets = list(read_packets(str(TRIAL / "v4-midjob-established-drop-at-agent.pcap")))
    kept, closing = packets[:1008], packets[1008:]
    for packet in closing:
        packet.time -= Decimal("9.43")
    name = "killed-soon-after" + ("" if close else "-no-close")
    path = tmp_path / f"{name}.pcap"
    write_packets(str(path), kept + closing if close else kept)
    return path


def test_resends_then_the_receivers_close_unanswered_is_data_stalled(tmp_path: Path) -> None:
    """The ACKs lost, then the receiver's FIN resent unanswered: the stall stands although
    the capture ends less than the retransmission timeout after the last resend (each of
    the FIN's resends waited a timeout of its own). It read as the job engine's
    control_closed, step 4 ok (a new-user trial with segmentation offload)."""
    analysis = _analyze(_killed_soon_after(tmp_path, close=True),
                        TRIAL / "v4-midjob-established-drop-at-agent.toml")
    [error] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert error.code == "data_stalled" and error.frames == [1005]
    assert "(5 retransmissions, the last in frame 1005) although the media server" \
        in error.message
    assert ("; the capture went on 2.99 s after the last. The media server then closed it "
            "and resent its FIN 4 times (the last in frame 1017), never answered"
            ) in error.message
    assert analysis.sessions[0].steps[-1].status == "failed"


def test_resends_the_capture_ends_soon_after_are_timed_from_the_first(tmp_path: Path) -> None:
    """The same without the close: the capture ends 1.3 s after the last resend but 13.4 s
    after the first (frame 987): each resend waited a timeout for an ACK that never came,
    so the stall stands, as in the whole capture (it read as control_stalled, the agent's
    control reply resent too, step 4 ok)."""
    analysis = _analyze(_killed_soon_after(tmp_path, close=False),
                        TRIAL / "v4-midjob-established-drop-at-agent.toml")
    [error] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert error.code == "data_stalled" and error.frames == [1005]
    assert ("(5 retransmissions, the first in frame 987, the last in frame 1005) although "
            "the media server") in error.message
    assert "; the capture went on 13.4 s after the first of them." in error.message
    assert analysis.sessions[0].steps[-1].status == "failed"


def test_resends_the_capture_ends_soon_after_the_first_are_not_judged(tmp_path: Path) -> None:
    """The capture cut after the second resend (frame 993), 0.8 s after the first: an
    ACK could still come: no data_stalled (the job reads as still running), but the data
    step is unknown, not ok (field check 20, D1: a stall cut short read as a pass)."""
    path = tmp_path / "cut-after-two-resends.pcap"
    write_packets(path, read_packets(TRIAL / "v4-midjob-established-drop-at-agent.pcap", 994))
    analysis = _analyze(path, TRIAL / "v4-midjob-established-drop-at-agent.toml")
    data = analysis.traffic.connections[1]
    assert (data.evidence("orig").resends, data.evidence("orig").resend_first_frame) == (2, 987)
    assert "data_stalled" not in {f.code for f in analysis.findings}
    assert {f.code for f in analysis.findings} == {"capture_ended_early"}
    assert analysis.sessions[0].steps[-1].status == "unknown"
    assert analysis.verdict == "inconclusive"


def test_a_capture_stopped_at_the_last_resend_is_data_stalled() -> None:
    """captures/ndmjob-firewall/v4-midjob-data-drop-at-media-capture-stopped: the
    capture stops at the agent's 5th resend (frame 958), 12.4 s after its first (frame
    954), with no close after it (stopped by hand, the job killed without FINs). It read
    as a pass with capture_ended_early."""
    analysis = _trial("v4-midjob-data-drop-at-media-capture-stopped")
    assert analysis.verdict == "fail"
    assert {f.code for f in analysis.findings} == {"data_stalled"}
    [error] = analysis.findings
    assert error.frames == [958]
    assert (f"the agent {A} sent its last 115,840 B again and again (5 retransmissions, the "
            f"first in frame 954, the last in frame 958) and the media server {M} never "
            "acknowledged them; the capture went on 12.4 s after the first of them. No halt"
            ) in error.message
    assert analysis.sessions[0].steps[-1].status == "failed"
