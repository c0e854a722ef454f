"""A CONNECT error reply answers the connector's last failed connect before it, not an
earlier one of another job (review61e, second read of newuser61's connect_answers).

Two real ndmjob v4 jobs to one agent, merged: captures/ndmjob
v4-backup-media-firewall-drop (job A: the media server's firewall drops the agent's
data SYNs, 9 of them over 19 s) and captures/ndmjob-firewall v4-media-reject-rst-media
(job B: its data SYN rejected with a RST, the agent's CONNECT_ERR 0.13 ms later), B's
agent address set to A's and B shifted to 0.3 s after A's last SYN. Sliced to the
agent's packets (`tcpdump 'src host 10.77.0.2'`: no RST, no announcement), both jobs are
matched by direction and ports. B's CONNECT_ERR, the first after A's last SYN and within
the second, was taken for A's answer: A lost its dropped connection (an
unannounced_connection instead of data_unanswered). B's refused SYN came between, so the
reply is B's connect's (sessions.connect_answers, as sessions.late_owners.Evidence).
"""

from __future__ import annotations

import gzip
import random
import subprocess
from pathlib import Path

import pytest
import sessions_reference
from scapy.all import IP, TCP, Raw, rdpcap, wrpcap
from test_sessions_scale import _outcome, random_traffic

from flowcheck.config import build_config
from flowcheck.model import NdmpMessage
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.sessions import build_sessions
from flowcheck.sessions.classify import connection_outcome
from flowcheck.traffic import Analysis

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
AGENT = "10.77.0.2"


def _two_jobs(path: Path, gap: float) -> None:
    """Write job A and job B (its agent A's, its SYN `gap` s after A's last) merged."""
    first = rdpcap(str(CAPTURES / "ndmjob" / "v4-backup-media-firewall-drop.pcap"))
    with gzip.open(CAPTURES / "ndmjob-firewall" / "v4-media-reject-rst-media.pcap.gz") as f:
        second = rdpcap(f)
    shift = float(first[20].time) + gap - float(second[11].time)  # A's last SYN, B's SYN
    merged = list(first)
    for packet in second:
        ip = packet[IP]
        ip.src, ip.dst = (AGENT if a == "10.77.1.2" else a for a in (ip.src, ip.dst))
        del ip.chksum, packet[TCP].chksum
        moved = packet.__class__(bytes(packet))
        moved.time = packet.time + shift
        merged.append(moved)
    wrpcap(str(path), sorted(merged, key=lambda p: float(p.time)))


def _agent_slice(whole: Path, sliced: Path) -> tuple[Analysis, dict[int, list[int]]]:
    """The reading of the agent's packets of `whole` (tcpdump `src host`, as newuser61
    sliced its capture), and each session's data connections' agent ports by its control
    connection's media port."""
    subprocess.run(["tcpdump", "-r", str(whole), "-w", str(sliced), f"src host {AGENT}"],
                   check=True, capture_output=True)
    config = build_config({"profile": "ndmp", "media_range": "5000-5999",
                           "agent_range": "6000-6999", "media_servers": ["10.77.0.1"],
                           "remote_agents": [AGENT]})
    analysis = analyze(read_traffic([str(sliced)], config), config)
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    return analysis, {by_uid[s.control_uid].orig_p: [by_uid[u].orig_p
                                                     for u in s.data_connections]
                      for s in analysis.sessions}


def test_another_jobs_reply_to_its_later_refusal_leaves_the_dropped_connect(
        tmp_path: Path) -> None:
    whole = tmp_path / "two.pcap"
    _two_jobs(whole, 0.3)
    analysis, data = _agent_slice(whole, tmp_path / "agent.pcap")
    assert data == {5051: [6057], 5796: [6548]}
    codes = {f.code for f in analysis.findings}
    assert "data_unanswered" in codes and "unannounced_connection" not in codes, codes


def _with_connect_errors(seed: int, jobs: int) -> tuple[list, list]:
    """test_sessions_scale.random_traffic's jobs, with DATA_CONNECT error replies on
    cut control streams (matched by direction and ports) from 0.1 ms to 1.5 s after
    failed connects of their agents: some answering a connect of another job, some
    after a later failed connect of the same connector."""
    conns, streams = random_traffic(seed, jobs)
    rng = random.Random(seed + 1000)
    control = {c.uid: c for c in conns}
    cut = [s for s in streams if s.messages]
    for c in sorted(conns, key=lambda c: c.uid):
        if connection_outcome(c) not in ("refused", "unanswered") or rng.random() < 0.4:
            continue
        mine = [s for s in cut if control[s.uid].resp_h == c.orig_h]
        if mine:
            stream = rng.choice(mine)
            at = round(c.last_ts + rng.choice([0.0001, 0.3, 0.9, 1.5]), 4)
            stream.messages.append(NdmpMessage(rng.randint(1, 10**6), at, "resp", 4, "reply",
                                               0x40A, "NDMP_DATA_CONNECT", 23, 3))
            stream.messages.sort(key=lambda m: m.ts)
    return conns, streams


@pytest.mark.parametrize("profile", ["backup-exec-9", "ndmp"])
@pytest.mark.parametrize("seed", [0, 1, 7])  # seed 7: a reply after a later failed connect
def test_connect_errors_on_random_jobs_as_the_quadratic_reference(seed: int,
                                                                  profile: str) -> None:
    conns, streams = _with_connect_errors(seed, 60)
    fast = _outcome(conns, streams, build_sessions, profile)
    assert fast == _outcome(conns, streams, sessions_reference.build_sessions, profile)
    if profile == "ndmp":  # the agent connects: the replies change whose some are
        plain = random_traffic(seed, 60)
        assert fast[1] != _outcome(*plain, build_sessions, profile)[1]


def _reply_about_no_syn(path: Path, error: int) -> None:
    """Job A and job B merged as _two_jobs (B 0.3 s after A's last SYN), B's data SYN and
    its RST left out and its DATA_CONNECT reply's error set to `error`: a reply that
    answers no SYN in the capture."""
    first = rdpcap(str(CAPTURES / "ndmjob" / "v4-backup-media-firewall-drop.pcap"))
    with gzip.open(CAPTURES / "ndmjob-firewall" / "v4-media-reject-rst-media.pcap.gz") as f:
        second = rdpcap(f)
    shift = float(first[20].time) + 0.3 - float(second[11].time)
    merged = list(first)
    for index, packet in enumerate(second):
        if index in (11, 12):  # B's data SYN and the RST answering it
            continue
        ip = packet[IP]
        ip.src, ip.dst = (AGENT if a == "10.77.1.2" else a for a in (ip.src, ip.dst))
        if index == 13:  # the DATA_CONNECT reply: its body's error word last
            load = bytes(packet[Raw].load)
            assert load[-4:] == (23).to_bytes(4, "big")  # NDMP_CONNECT_ERR
            packet[Raw].load = load[:-4] + error.to_bytes(4, "big")
        del ip.chksum, packet[TCP].chksum
        moved = packet.__class__(bytes(packet))
        moved.time = packet.time + shift
        merged.append(moved)
    wrpcap(str(path), sorted(merged, key=lambda p: float(p.time)))


def test_an_illegal_state_reply_answers_no_connect(tmp_path: Path) -> None:
    """Another job's DATA_CONNECT refused with NDMP_ILLEGAL_STATE_ERR (no connect tried)
    0.3 s after job A's last dropped SYN took A's connection: A unknown and an
    unannounced_connection, where the capture shows A's data_unanswered."""
    whole = tmp_path / "two.pcap"
    _reply_about_no_syn(whole, 19)
    analysis, data = _agent_slice(whole, tmp_path / "agent.pcap")
    assert data == {5051: [6057], 5796: []}
    codes = {f.code for f in analysis.findings}
    assert "data_unanswered" in codes and "unannounced_connection" not in codes, codes
