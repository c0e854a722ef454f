"""A stray copy of another host pair's control SYN: `capture_stray_syn` (info).

A switch that has no entry for a frame's destination MAC address floods it to every
port: a capture on one agent of a three-way job can hold one SYN of the DMA's control
connection to the other agent, and nothing else of that connection. When the job shows
that connection worked (the two agents' data connection reached the endpoint one of
them listened on), it is no failed session of this capture (trial 27 D2: it failed good
jobs with control_unanswered and a firewall fix, at both agents).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from pcap_records import moved_back, read_records, write_records
from scapy.all import IP, TCP
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

TRIAL27 = Path(__file__).resolve().parent.parent / "captures" / "trial27"


def _analyze(path: Path, name: str, **settings: object) -> Analysis:
    config = build_config({**load_file(TRIAL27 / f"{name}.toml"), **settings})
    return analyze(read_traffic([str(path)], config), config)


def _codes(analysis: Analysis) -> set[str]:
    return {f.code for f in analysis.findings}


def test_a_flooded_syn_at_the_data_agent_is_no_failed_session() -> None:
    """At the data agent: the DMA's SYN to the tape agent (frame 11), then the data
    agent's connection to the tape agent's mover (frame 13) announced by DATA_CONNECT."""
    name = "threeway-flooded-syn-a"
    analysis = _analyze(TRIAL27 / f"{name}.pcap.gz", name)
    assert analysis.verdict == "pass" and "control_unanswered" not in _codes(analysis)
    assert len(analysis.sessions) == 1
    [stray] = [f for f in analysis.findings if f.code == "capture_stray_syn"]
    assert str(stray.severity) == "info" and stray.frames[0] == 11
    assert "10.77.0.1:5085 -> 10.77.0.3:10000" in stray.message
    assert "10.77.0.2 reached 10.77.0.3:7068" in stray.message
    # The tape agent's one connection here is that SYN: nothing "did not read as NDMP"
    # (no ndmp_undecodable says what it carried; it carried nothing).
    [absent] = [f for f in analysis.findings if f.code == "agent_not_seen"]
    assert "ndmp_undecodable" not in _codes(analysis)
    assert "ndmp_undecodable" not in absent.message + absent.fix
    assert "which no session reads" not in absent.message


def test_a_flooded_syn_at_the_tape_agent_is_no_failed_session() -> None:
    """At the tape agent: the DMA's SYN to the data agent (frame 1), then the data
    agent's connection to this mover (frame 22) that MOVER_LISTEN announced: the data
    agent evidently did the backup (1.5 MB), its control connection worked."""
    name = "threeway-flooded-syn-t"
    analysis = _analyze(TRIAL27 / f"{name}.pcap.gz", name)
    assert analysis.verdict == "pass" and "control_unanswered" not in _codes(analysis)
    [session] = analysis.sessions
    assert [s.status for s in session.steps] == ["ok"] * len(session.steps)
    [stray] = [f for f in analysis.findings if f.code == "capture_stray_syn"]
    assert "10.77.0.1:5009 -> 10.77.0.2:10000" in stray.message
    assert "Allow TCP" not in stray.fix
    [absent] = [f for f in analysis.findings if f.code == "agent_not_seen"]
    assert "which no session reads" not in absent.message


def test_a_lone_syn_to_a_host_the_job_does_not_show_stays_a_failure(tmp_path: Path) -> None:
    """The same SYN sent to another configured agent, which took no part in the job: no
    evidence its connection worked, so its own session, not a stray; its one SYN never
    resent is no evidence of a drop either, so step 1 is unknown (trial 29 D4)."""
    name = "threeway-flooded-syn-t"
    plain = tmp_path / "plain.pcap"
    plain.write_bytes(gzip.decompress((TRIAL27 / f"{name}.pcap.gz").read_bytes()))
    packets = read_packets(str(plain))
    packets[0][IP].dst = "10.77.0.9"
    del packets[0][IP].chksum, packets[0][TCP].chksum
    edited = tmp_path / "other-host.pcap"
    write_packets(str(edited), packets)
    analysis = _analyze(edited, name,
                        remote_agents=["10.77.0.2", "10.77.0.3", "10.77.0.9"])
    assert "capture_stray_syn" not in _codes(analysis)
    [session] = [s for s in analysis.sessions if s.remote_agent == "10.77.0.9"]
    assert session.steps[0].status == "unknown" and "never resent" in session.steps[0].detail


def _with_pair_packet(tmp_path: Path, name: str, at: int, shift: float) -> Path:
    """The tape agent's capture with one packet of another connection between the SYN's
    two hosts (an ACK of 10.77.0.2:22 -> 10.77.0.1:40000, a session already open)
    written at place `at`, stamped `shift` s after the SYN (frame 1)."""
    plain = tmp_path / "plain.pcap"
    plain.write_bytes(gzip.decompress((TRIAL27 / f"{name}.pcap.gz").read_bytes()))
    packets = read_packets(str(plain))
    other = packets[0].copy()
    other[IP].remove_payload()
    other[IP].src, other[IP].dst = "10.77.0.2", "10.77.0.1"
    other[IP].add_payload(TCP(sport=22, dport=40000, flags="A", seq=1000, ack=2000))
    del other[IP].chksum, other[IP].len
    other.time = packets[0].time + shift
    packets.insert(at, other)
    edited = tmp_path / f"pair-{at}.pcap"
    write_packets(str(edited), packets)
    return edited


def test_more_of_the_two_hosts_while_the_job_ran_is_no_stray(tmp_path: Path) -> None:
    """A packet between the DMA and the data agent while the job ran puts the capture
    point on their path: the lone SYN is that pair's session, not a flooded copy. One a
    day before the SYN says nothing of the path then (finalread56a: a capture of the
    same hosts' job days before, given in one set, made the SYN a session that kept the
    job's data connection, capture_filtered, INCONCLUSIVE)."""
    name = "threeway-flooded-syn-t"
    during = _analyze(_with_pair_packet(tmp_path, name, 1, 0.001), name)
    assert "capture_stray_syn" not in _codes(during)
    assert any(s.remote_agent == "10.77.0.2" for s in during.sessions)
    before = _analyze(_with_pair_packet(tmp_path, name, 0, -86400.0), name)
    assert "capture_stray_syn" in _codes(before) and before.verdict == "pass"
    [session] = before.sessions
    assert session.remote_agent == "10.77.0.3" and len(session.data_connections) == 1


def _stepped(path: Path, at: int, out: Path) -> Path:
    """The capture at `path` with its clock set back 2 s from place `at` (0-based) on."""
    linktype, records = read_records(path)
    return write_records(out, linktype, moved_back(records, at, 2_000_000))


@pytest.mark.parametrize(("name", "after_syn"), [("threeway-flooded-syn-a", 11),
                                                  ("threeway-flooded-syn-t", 1)])
def test_a_clock_set_back_after_the_flooded_syn(tmp_path: Path, name: str,
                                                after_syn: int) -> None:
    """Each agent's capture with the clock set back 2 s just after the flooded SYN: the
    job's data connection, written after the SYN, is stamped before it. In the capture's
    order (one file of one interface: its write order) the job still went on after the
    SYN: a stray copy, one session, PASS. By plain timestamps the SYN was a second
    session (INCONCLUSIVE, capture_filtered at the tape agent)."""
    plain = tmp_path / "plain.pcap"
    plain.write_bytes(gzip.decompress((TRIAL27 / f"{name}.pcap.gz").read_bytes()))
    analysis = _analyze(_stepped(plain, after_syn, tmp_path / "stepped.pcap"), name)
    assert "capture_clock_stepped" in _codes(analysis)
    assert analysis.verdict == "pass" and "capture_stray_syn" in _codes(analysis)
    assert len(analysis.sessions) == 1
