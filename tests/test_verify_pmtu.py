"""A path MTU black hole (RFC 2923 2.1): small packets pass, full-size segments vanish.

Real ndmjob captures from trial 10 (captures/ndmjob-pmtu, their .toml say how each was
made): a router between the media server and the agent with a smaller MTU on one hop
and its ICMP "fragmentation needed" dropped. The data connection opens, then stalls.
- v4-pmtu-blackhole-at-media: the receiver's side. A 952 B segment arrives, the 7,240 B
  before it never do; the media server's ACKs stay at byte 1. It read step 4 ok,
  control_closed (the job engine crashed) and capture_loss ("the sniffer lost them").
- v4-pmtu-blackhole-at-agent: the same job on the sender. It resends its first 1448 B
  segment 12 times; its DATA_GET_STATE reply on the control connection still arrives. It
  read data_stalled with the lost-firewall-state reading only.

The tracker's fields behind it: tests/test_connections_lost.py.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.verify.pmtu import lost_by_size
from flowcheck.verify.stalled import Stall, data_stall

ROOT = Path(__file__).resolve().parent.parent
PMTU = ROOT / "captures" / "ndmjob-pmtu"
NDMJOB = ROOT / "captures" / "ndmjob"
M, A = "10.77.0.1", "10.77.1.2"


def _analyze(path: Path, toml: Path) -> Analysis:
    config = build_config(load_file(toml))
    return analyze(read_traffic([str(path)], config), config)


def _pmtu(name: str) -> Analysis:
    return _analyze(PMTU / f"{name}.pcap", PMTU / f"{name}.toml")


def _errors(analysis: Analysis) -> list:
    return [f for f in analysis.findings if str(f.severity) == "error"]


def test_the_black_hole_seen_from_the_receiver_is_data_stalled() -> None:
    analysis = _pmtu("v4-pmtu-blackhole-at-media")
    assert analysis.verdict == "fail"
    codes = [f.code for f in analysis.findings]
    assert codes == ["data_stalled"]  # no control_closed, no capture_loss
    [finding] = _errors(analysis)
    assert finding.frames == [21, 31]
    message = finding.message
    assert f"7,240 B the agent {A} sent never reached the media server {M}" in message
    assert "952 B sent after them arrived (frame 21)" in message
    assert "only full-size segments were lost: a path MTU black hole" in message
    assert "RFC 2923" in message and "failover" not in message
    assert "type 3 code 4" in finding.fix and "maxseg" in finding.fix
    step = analysis.sessions[0].steps[3]
    assert step.status == "failed"
    assert "7,240 B never arrived" in step.detail and "path MTU black hole" in step.detail


def test_the_receivers_view_cut_soon_after_the_gap_is_not_judged(tmp_path: Path) -> None:
    # Cut at the media server's first ACK after the gap (frame 22): a resend could still
    # come within the retransmission timeout.
    cut = tmp_path / "cut.pcap"
    subprocess.run(["editcap", "-r", str(PMTU / "v4-pmtu-blackhole-at-media.pcap"), str(cut),
                    "1-22"], check=True, capture_output=True)
    analysis = _analyze(cut, PMTU / "v4-pmtu-blackhole-at-media.toml")
    codes = {f.code for f in analysis.findings}
    assert "data_stalled" not in codes and "capture_loss" not in codes
    assert analysis.verdict != "fail"


def test_the_receivers_view_with_its_window_closed_before_the_gap_is_no_stall() -> None:
    # data_stall's zero-window rule (data_receiver_stalled) holds for the receiver's view
    # too: a receiver whose window was 0 since before the packet after the gap stopped
    # reading, its ACKs staying below the gap say nothing of a loss.
    (data,) = [c for c in _pmtu("v4-pmtu-blackhole-at-media").traffic.connections
               if c.role == "data"]
    stall = data_stall(data)
    assert stall is not None and stall.lost and (stall.side, stall.frame) == ("orig", 21)
    closed = dataclasses.replace(data, resp_evidence=dataclasses.replace(
        data.evidence("resp"), zero_window_ts=data.ts, zero_window_frame=15))
    assert data_stall(closed) is None
    # Closed only after it: still the receiver's view of the stall.
    later = dataclasses.replace(closed, resp_evidence=dataclasses.replace(
        data.evidence("resp"), zero_window_ts=data.ts, zero_window_frame=25))
    assert data_stall(later) is not None


def test_sniffer_loss_mid_transfer_is_no_stall(tmp_path: Path) -> None:
    # Data segments 22, 26 and 28 of v4-backup.pcap left out: the media server's ACKs
    # (23, 27, 29) jump over them, so the sniffer lost them, not the network.
    lossy = tmp_path / "lossy.pcap"
    subprocess.run(["editcap", str(NDMJOB / "v4-backup.pcap"), str(lossy), "22", "26", "28"],
                   check=True, capture_output=True)
    analysis = _analyze(lossy, NDMJOB / "flowcheck.toml")
    assert analysis.verdict == "pass"
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    assert "sniffer lost them" in loss.message and "Not counted" not in loss.message
    assert "data_stalled" not in {f.code for f in analysis.findings}


def test_the_size_reading_needs_a_smaller_segment_through() -> None:
    def lost(unacked: int, next_len: int) -> Stall:
        return Stall("orig", 0, unacked, False, 1.0, 21, lost=True, next_len=next_len)

    assert lost_by_size(lost(7240, 952))
    assert not lost_by_size(lost(1448, 1448))  # as large as the lost bytes: no size rule
    assert not lost_by_size(lost(1448, 0))  # a FIN after the gap: no segment through
    assert not lost_by_size(Stall("orig", 3, 7240, False, 1.0, 21, next_len=952))


def test_the_black_hole_seen_from_the_sender_names_it() -> None:
    analysis = _pmtu("v4-pmtu-blackhole-at-agent")
    assert [f.code for f in analysis.findings] == ["data_stalled"]
    [finding] = _errors(analysis)
    assert finding.frames == [60]
    message = finding.message
    assert "Its resends are full-size (1,448 B, its largest segment)" in message
    assert f"the media server {M} acknowledged none of its data" in message
    assert "DATA_GET_STATE, frame 45, acknowledged" in message
    assert "only full-size segments were lost: a path MTU black hole" in message
    assert "failover" not in message
    assert "type 3 code 4" in finding.fix and "logs of the firewalls" not in finding.fix
    assert "path MTU black hole" in analysis.sessions[0].steps[3].detail


def test_full_size_resends_without_small_packets_seen_only_suggest_it(
        tmp_path: Path) -> None:
    # Without the control connection's exchange after the first resend (frames 44-46)
    # nothing shows smaller packets still arriving: the reading is a possibility.
    cut = tmp_path / "cut.pcap"
    subprocess.run(["editcap", str(PMTU / "v4-pmtu-blackhole-at-agent.pcap"), str(cut),
                    "44-46"], check=True, capture_output=True)
    analysis = _analyze(cut, PMTU / "v4-pmtu-blackhole-at-agent.toml")
    [finding] = _errors(analysis)
    assert finding.code == "data_stalled"
    assert "failover" in finding.message
    assert "if smaller packets still pass between them, a path MTU black hole fits too" \
        in finding.message
    assert "logs of the firewalls" in finding.fix and "type 3 code 4" in finding.fix
    assert "path MTU black hole" not in analysis.sessions[0].steps[3].detail


def test_data_dropped_after_it_flowed_is_no_black_hole() -> None:
    # A firewall rule dropping the data connection's packets mid-job: full-size resends,
    # the control connection still delivering, but full-size segments were acknowledged
    # before (captures/ndmjob-firewall).
    firewall = ROOT / "captures" / "ndmjob-firewall"
    name = "v4-midjob-data-drop-at-media"
    analysis = _analyze(firewall / f"{name}.pcap", firewall / f"{name}.toml")
    [finding] = _errors(analysis)
    assert finding.code == "data_stalled"
    assert "MTU" not in finding.message and "MTU" not in finding.fix


def test_the_restore_receiver_that_closed_waiting_is_told_the_data_never_arrived() -> None:
    # Nothing of the media server's data arrives; the agent closes after 25 s (frame 35);
    # the media server's ACK of it carries seq 15929 (frame 36). It read "the network
    # carried both directions: 10.77.1.2 closed it itself".
    analysis = _pmtu("v4-restore-pmtu-blackhole-at-agent")
    [finding] = _errors(analysis)
    assert finding.code == "data_aborted"
    message = finding.message
    assert "carried both directions" not in message and "closed it itself" not in message
    assert f"the media server {M} had sent 15,928 B on it that never arrived" in message
    assert "frame 36" in message and "a path MTU black hole fits" in message
    assert "type 3 code 4" in finding.fix and "logs of the firewalls" in finding.fix
    step = analysis.sessions[0].steps[3]
    assert step.status == "failed" and "15,928 B sent never did, frame 36" in step.detail


def test_the_restore_sent_unseen_with_one_direction_kept_is_unknown(tmp_path: Path) -> None:
    """The restore receiver's capture kept to the media server's packets: its sequence
    numbers show data sent that the capture lacks, and the agent's ACKs that would tell
    whether it arrived are gone: step 4 unknown, not a step missing for no reason."""
    name = "v4-restore-pmtu-blackhole-at-agent"
    kept = tmp_path / "from-media.pcap"
    subprocess.run(["tshark", "-r", str(PMTU / f"{name}.pcap"), "-Y", "ip.src == 10.77.0.1",
                    "-w", str(kept)], check=True, capture_output=True)
    analysis = _analyze(kept, PMTU / f"{name}.toml")
    assert analysis.verdict == "inconclusive"
    [step] = [s for s in analysis.sessions[0].steps if s.step == 4]
    assert step.status == "unknown"
    assert "10.77.0.1's sequence numbers show 15,928 B sent on" in step.detail
    assert "step_missing" not in {f.code for f in analysis.findings}
