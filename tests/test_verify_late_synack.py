"""A late SYN-ACK resend of a connect given up before the capture, and the RST to it
(trial 13, D4): no job of the capture, not `handshake_incomplete`.

captures/ndmjob-late-synack/late-synack-badpw-agent.pcap: frame 1 the agent's SYN-ACK
resend of an earlier job's control connection 10.77.0.1:5260 (its SYN 37 s before the
capture), frame 2 the media server's RST 0.7 ms later; then a job with a wrong password
(S2, ndmp_error_reply). The regress expectations hold the whole result; here the limits
of the reading, on copies changed by scapy: a SYN-ACK more than a minute after the
capture's start (a responder stops resending by then: the SYN would be in the capture)
and a later SYN from the same port (a connect still waiting) are read as before.
"""

from __future__ import annotations

from pathlib import Path

from scapy.all import IP, TCP, Packet
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.ladder_build import build_ladders

DIR = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-late-synack"
NAME = "late-synack-badpw-agent"


def _analyze(path: Path) -> Analysis:
    config = build_config(load_file(DIR / f"{NAME}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def _packets() -> list[Packet]:
    return list(read_packets(str(DIR / f"{NAME}.pcap")))


def _s1_codes(analysis: Analysis) -> list[str]:
    return sorted(f.code for f in analysis.findings if f.session == "S1")


def test_late_synack_and_its_rst_are_a_connect_given_up_before_the_capture() -> None:
    analysis = _analyze(DIR / f"{NAME}.pcap")
    assert _s1_codes(analysis) == ["capture_started_mid_session"]
    [finding] = [f for f in analysis.findings if f.session == "S1"]
    assert finding.severity == "info" and finding.frames == [1, 2]
    assert "had been given up" in finding.message and "return path works" in finding.message
    s1 = analysis.sessions[0]
    assert [s.status for s in s1.steps] == ["not_applicable"] * 4
    assert "late SYN-ACK resend (frame 1)" in s1.steps[0].detail
    assert analysis.verdict == "fail"  # S2's wrong password, still reported
    assert [f.code for f in analysis.findings if f.session == "S2"] == ["ndmp_error_reply"]
    s1_ladder = build_ladders(analysis)[0]
    [synack] = [a for a in s1_ladder.arrows if a.kind == "synack"]
    assert synack.label == "SYN-ACK (its SYN not in the capture)"


def test_a_synack_long_after_the_capture_start_keeps_handshake_incomplete(
        tmp_path: Path) -> None:
    """The capture starts 70 s before the SYN-ACK (a packet of another connection
    then): a responder resends its SYN-ACK for about a minute after the last SYN, so
    that SYN would be in the capture."""
    packets = _packets()
    early = packets[2].copy()  # the next job's SYN, from another port
    early[TCP].sport = 5999
    del early[TCP].chksum
    early.time = packets[0].time - 70
    path = tmp_path / "late.pcap"
    write_packets(str(path), [early, *packets])
    findings = _analyze(path).findings
    # S1 is now the early SYN's connection, the SYN-ACK's S2.
    assert [f.session for f in findings if f.code == "handshake_incomplete"] == ["S2"]
    assert not any("given up" in f.message for f in findings)


def test_a_later_syn_from_the_same_port_is_no_connect_given_up(tmp_path: Path) -> None:
    """A connect still waiting resends its SYN from the same port after a rule's RST:
    the RST was no answer of a connect given up (read as before: here the capture ends
    too soon after it to tell)."""
    packets = _packets()
    resent = packets[2].copy()  # a SYN, moved to the given-up connection's port
    resent[TCP].sport = packets[1][TCP].sport
    resent[TCP].seq = packets[1][TCP].seq - 1
    del resent[IP].chksum, resent[TCP].chksum
    resent.time = packets[1].time + 1
    path = tmp_path / "resent.pcap"
    write_packets(str(path), [packets[0], packets[1], resent, *packets[2:]])
    analysis = _analyze(path)
    assert not any("given up" in f.message for f in analysis.findings)
    assert analysis.sessions[0].steps[0].status != "not_applicable"
