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
"""

from __future__ import annotations

import subprocess
from pathlib import Path

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
    assert "Its resends are full-size (1448 B, its largest segment)" in message
    assert ("its DATA_GET_STATE reply on the control connection (104 B, frame 31) was never "
            "resent, though its TCP went on resending the data 24.6 s after it") in message
    assert "It sent only a first flight of data (16880 B" in message
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
