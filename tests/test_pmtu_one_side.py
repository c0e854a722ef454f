"""A path MTU black hole seen from the sender alone (flowcheck.verify.pmtu_sender), the
stored captures cut at test time with tcpdump to one host's packets (`src host X`).

- ndmjob-pmtu/v4-pmtu-blackhole-at-agent cut to the agent's packets: the whole capture
  reads the black hole (the media server's SACK of the smaller segment, its ACK of the
  control message); the cut never mentioned the MTU. Its own packets show full-size
  resends, its smaller DATA_GET_STATE reply never resent for 24.6 s while the data was
  (so acknowledged), and only a first flight of data sent: the black hole is the likely
  reading, said to rest on the sender's packets alone; the fix leads with the ICMP.
- ndmjob-firewall/v4-midjob-data-drop-at-media cut to the agent's (the sender's)
  packets: a host firewall dropped the data mid-job. Full-size resends too, but after
  far more than a first flight (full-size segments had passed) and no smaller packet
  after the first resend: no likely black hole, a shrunk path MTU and a device's lost
  state named as readings the capture cannot tell apart; the fix leads with the logs.
- ndmjob-pmtu/v4-pmtu-blackhole-at-agent and -at-media cut to the media server's (the
  receiver's) packets: its ACK stays at the agent's byte 1, but its SACK names 7241-8193
  (952 B) arrived (SideEvidence.sacked_unseen). It read "no byte of the agent's having
  come on it"; now the words say those bytes arrived, the 7240 B before them did not, and
  that a smaller piece through while more than a full-size segment before it is not is
  the pattern of a path MTU black hole (verify.sacked_unseen).
- ndmjob-pmtu/v4-pmtu-blackhole-at-media cut to the agent's (the sender's) packets,
  captured on the receiver's side of the loss (TTL 63): one 952 B segment of the 16880 B
  its later ACK shows it sent, nothing resent, nothing new for 25 s. It read
  control_closed ("job engine service stopped or crashed") and capture_loss of 7240 B;
  now data_stalled leads with the black hole reading (verify.stall_passed), no
  control_closed, no capture_loss.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from stored import case_config, errors, stored_analysis

from flowcheck.pipeline import Analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def _cut(tmp_path: Path, folder: str, name: str, host: str) -> Analysis:
    out = tmp_path / f"{name}-src-{host}.pcap"
    subprocess.run(["tcpdump", "-r", str(CAPTURES / folder / f"{name}.pcap"), "-w", str(out),
                    f"src host {host}"], check=True, capture_output=True)
    return stored_analysis(out, config_path=case_config(CAPTURES / folder, name))


def _words(text: str) -> str:
    return " ".join(text.split())


def test_the_agents_packets_alone_read_the_black_hole_as_likely(tmp_path: Path) -> None:
    analysis = _cut(tmp_path, "ndmjob-pmtu", "v4-pmtu-blackhole-at-agent", "10.77.1.2")
    assert analysis.verdict == "fail"
    [stalled] = errors(analysis)
    assert stalled.code == "data_stalled"
    message = _words(stalled.message)
    assert "Its resends are full-size (1,448 B, its largest segment)" in message
    assert ("its DATA_GET_STATE reply on the control connection (104 B, frame 31) was never "
            "resent, though its TCP went on resending the data 24.6 s after it") in message
    assert "It sent only a first flight of data (16,880 B" in message
    assert "a path MTU black hole" in message and "the likely reading" in message
    assert "this rests on 10.77.1.2's own packets" in message
    assert stalled.fix.startswith("Let ICMP 'fragmentation needed'")
    [session] = analysis.sessions
    step = next(s for s in session.steps if s.step == 4)
    assert step.status == "failed"
    assert "path MTU black hole likely" in _words(step.detail)


def test_a_firewall_drop_seen_from_the_sender_is_no_likely_black_hole(tmp_path: Path) -> None:
    analysis = _cut(tmp_path, "ndmjob-firewall", "v4-midjob-data-drop-at-media", "10.77.0.2")
    assert analysis.verdict == "fail"
    [stalled] = [f for f in errors(analysis) if f.code == "data_stalled"]
    message = _words(stalled.message)
    assert "the likely reading" not in message
    assert "No smaller packet of 10.77.0.2's to 10.77.0.1 came after the first resend" \
        in message
    assert "It had sent more than a first flight before resending" in message
    assert "so does a device that lost the flow's state" in message
    assert stalled.fix.startswith("See the session and event logs")
    assert "If only full-size segments are lost (a path MTU black hole)" in stalled.fix


@pytest.mark.parametrize("name", ["v4-pmtu-blackhole-at-agent", "v4-pmtu-blackhole-at-media"])
def test_the_receivers_sack_reads_bytes_arrived_and_the_black_hole(tmp_path: Path,
                                                                    name: str) -> None:
    analysis = _cut(tmp_path, "ndmjob-pmtu", name, "10.77.0.1")
    assert analysis.verdict == "fail"
    [aborted] = errors(analysis)
    assert aborted.code == "data_aborted"
    message = _words(aborted.message)
    assert "no byte of" not in message and "carried nothing" not in message
    assert "closed by the media server 10.77.0.1 (FIN, frame 14), before any data was " \
        "acknowledged" in message
    assert ("its ACKs never went past byte 1 of them, but its ACK in frame 10 names 952 B "
            "beyond it in SACK blocks (7241-8193): 10.77.1.2 sent data, and those bytes "
            "arrived while the 7,240 B before them never did") in message
    assert ("smaller segments arrive and full-size ones do not, the pattern of a path MTU "
            "black hole") in message
    assert aborted.fix.startswith("If only full-size segments are lost (a path MTU black "
                                  "hole): let ICMP 'fragmentation needed'")
    [session] = analysis.sessions
    step = next(s for s in session.steps if s.step == 4)
    assert step.status == "failed"
    assert "a SACK, frame 10, shows 952 B of 10.77.1.2's arrived, 7241-8193" \
        in _words(step.detail)


def test_the_senders_packets_past_the_loss_read_the_stall_not_a_crash(tmp_path: Path) -> None:
    analysis = _cut(tmp_path, "ndmjob-pmtu", "v4-pmtu-blackhole-at-media", "10.77.1.2")
    assert analysis.verdict == "fail"
    codes = [f.code for f in analysis.findings]
    assert "control_closed" not in codes and "capture_loss" not in codes
    [stalled] = errors(analysis)
    assert stalled.code == "data_stalled"
    message = _words(stalled.message)
    assert ("7,240 B the agent 10.77.1.2 sent never came past the capture point, nor 8,688 B "
            "more after them (its ACK in frame 13 carries a sequence number past them), "
            "while 952 B of its data did (frame 11, after the gap)") in message
    assert "taken a router or more from it (they arrive with TTL 63)" in message
    assert "not the sniffer's loss" in message
    assert "only full-size segments were lost: a path MTU black hole" in message
    assert stalled.fix.startswith("Let ICMP 'fragmentation needed'")
    [session] = analysis.sessions
    assert analysis.findings[0] is stalled  # the leading finding
    step = next(s for s in session.steps if s.step == 4)
    assert step.status == "failed"
    detail = _words(step.detail)
    assert "7,240 B never came past the capture point" in detail
    assert "path MTU black hole" in detail and "capture_loss" not in detail
