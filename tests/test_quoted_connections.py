"""An ICMP unreachable that quotes a SYN the capture does not hold makes a connection.

A capture of what one host sent (one direction of a SPAN port, `tcpdump -Q in`, `tcpdump
'src host X'`) holds the reject that host's firewall sent back, not the SYN it answers.
The quote proves the SYN was sent and refused (RFC 792, RFC 4443): a connection of zero
captured packets (docs/json.md), judged by the rules of a captured refusal, so the same
`*_refused` finding and fix as on the full capture, the ICMP frames as evidence. Each
copy is cut from a stored capture with tcpdump.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import tshark_fork
from lab_edits import sent_by
from test_sessions import LAB as LAB_CONFIG
from test_sessions import ann, conn
from test_tshark_counts import assert_matches_tshark

from flowcheck.cli.main import run as cli
from flowcheck.config import build_config, load_file
from flowcheck.model import Connection, NdmpStream
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.profiles import load_profile
from flowcheck.report.answer import gist
from flowcheck.sessions import build_sessions
from flowcheck.verify import check_all
from flowcheck.verify.context import Context
from flowcheck.verify.unseen_syns import syns_not_held

ROOT = Path(__file__).resolve().parent.parent / "captures"
LAB = ROOT / "lab"
FIREWALL = ROOT / "ndmjob-firewall"

# (capture, the host whose packets are kept: its firewall sent the reject, code, step)
CASES = [
    ("callback-rejected", "10.77.0.1", "callback_refused", 2),  # M rejects the callback
    ("data-port-rejected", "10.77.0.2", "data_refused", 4),  # A rejects M's data SYN
]


def _analyze(capture: Path, name: str, where: Path = LAB) -> Analysis:
    config = build_config(load_file(where / f"{name}.toml"))
    return analyze(read_traffic([str(capture)], config), config)


def _icmp_frames(capture: Path) -> list[int]:
    return [int(frame) for (frame,) in tshark_fork.fields(capture, "icmp", "frame.number")]


def _quoted(analysis: Analysis) -> list[Connection]:
    return [c for c in analysis.traffic.connections if not c.orig_pkts and not c.resp_pkts]


@pytest.mark.parametrize(("name", "sender", "code", "step"), CASES)
def test_reject_of_a_syn_the_capture_lacks_is_a_refusal(
        tmp_path: Path, name: str, sender: str, code: str, step: int) -> None:
    one_way = sent_by(tmp_path, LAB / f"{name}.pcap", sender)
    analysis = _analyze(one_way, name)
    [refused] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert refused.code == code
    [quoted] = _quoted(analysis)
    assert refused.frames == _icmp_frames(one_way) and refused.uid == quoted.uid
    [one_direction] = [f for f in analysis.findings if f.code == "capture_one_direction"]
    # Its words leave room for this failure: not "every step of that direction unknown".
    assert "still reported" in one_direction.message
    # The words and the fix of the refusal seen on the full capture.
    [full] = [f for f in _analyze(LAB / f"{name}.pcap", name).findings if f.code == code]
    assert refused.fix == full.fix
    assert refused.message.startswith(full.message)
    assert "one direction only" in refused.message
    [judged] = [s for s in analysis.sessions[0].steps if s.step == step]
    assert judged.status == "failed" and set(refused.frames) <= set(judged.frames)
    assert quoted.uid in judged.uids
    assert "which the capture does not hold" in judged.detail
    assert analysis.verdict == "fail"
    assert cli(["analyze", "--config", str(LAB / f"{name}.toml"), str(one_way)]) == 1


def test_control_refused_seen_only_as_the_firewalls_icmp(tmp_path: Path) -> None:
    """tcpdump -Q in on the media server: the agent's firewall rejects the control SYN
    (and its retry) with ICMP administratively prohibited; the capture holds the two
    ICMP messages and no TCP packet. control_refused naming the firewall, as on the full
    capture (it was no_control_session, inconclusive: "no TCP connection at all")."""
    name = "v3-control-reject-icmp"
    one_way = sent_by(tmp_path, FIREWALL / f"{name}.pcap", "10.77.0.2")
    analysis = _analyze(one_way, name, FIREWALL)
    [refused] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert refused.code == "control_refused" and "firewall" in refused.message
    [full] = [f for f in _analyze(FIREWALL / f"{name}.pcap", name, FIREWALL).findings
              if f.code == "control_refused"]
    assert refused.fix == full.fix and refused.message.startswith(full.message)
    assert "one direction only" in refused.message
    icmp = _icmp_frames(one_way)
    # One SYN, resent: the words agree (seed 111 run 5 read "the SYN ... quote them").
    assert refused.message.endswith(
        "The capture does not hold the SYN from 10.77.0.1 port 5091: it holds no packet "
        "from 10.77.0.1 to 10.77.0.2 (one direction only); the ICMP unreachables in "
        f"frames {icmp[0]}, {icmp[1]} quote it and its retransmission.")
    [control] = analysis.traffic.connections
    assert refused.uid == control.uid and refused.frames == icmp
    assert control.as_dict() | {"ts": 0, "duration": 0} == {
        "uid": "C1", "orig_h": "10.77.0.1", "orig_p": 5091, "resp_h": "10.77.0.2",
        "resp_p": 10000, "ts": 0, "duration": 0, "conn_state": "S0", "history": "",
        "orig_pkts": 0, "resp_pkts": 0, "orig_bytes": 0, "resp_bytes": 0,
        "orig_unique_bytes": 0, "resp_unique_bytes": 0,
        "missed_bytes": 0, "gaps": 0, "retransmits": 0, "syn_retries": 1,
        "first_frame": icmp[0], "last_frame": icmp[1], "rtt": None, "icmp_unreachable": 2,
        "tunnel": None, "role": "control", "session": "S1"}
    [step] = [s for s in analysis.sessions[0].steps if s.step == 1]
    assert step.status == "failed" and "which the capture does not hold" in step.detail
    [one_direction] = [f for f in analysis.findings if f.code == "capture_one_direction"]
    assert "an ICMP unreachable quotes a SYN from 10.77.0.1" in one_direction.message
    assert analysis.verdict == "fail"
    assert cli(["analyze", "--config", str(FIREWALL / f"{name}.toml"), str(one_way)]) == 1


@pytest.mark.parametrize(("name", "sender", "code", "step"), CASES)
def test_quoted_connection_holds_no_packet(
        tmp_path: Path, name: str, sender: str, code: str, step: int) -> None:
    """tshark's conversation table leaves out a 4-tuple seen only inside an ICMP quote;
    the connection list equals it on the connections with packets, and the quoted one
    holds none: its SYN not captured, its ICMP frames as evidence."""
    one_way = sent_by(tmp_path, LAB / f"{name}.pcap", sender)
    analysis = _analyze(one_way, name)
    assert_matches_tshark(one_way, analysis.traffic.connections)
    [quoted] = _quoted(analysis)
    assert quoted.icmp_frames == _icmp_frames(one_way) and not quoted.syn_frames
    assert (quoted.orig_h, quoted.history, quoted.orig_bytes) == (
        "10.77.0.2" if sender == "10.77.0.1" else "10.77.0.1", "", 0)
    # On the full capture the ICMP message belongs to the captured connection, as before.
    full = _analyze(LAB / f"{name}.pcap", name)
    assert not _quoted(full)
    assert [len(c.icmp_frames) for c in full.traffic.connections if c.icmp_frames] == [1]


@pytest.mark.parametrize(("name", "sender", "code", "step"), CASES)
def test_quote_cut_before_the_tcp_flags_stays_unknown(
        tmp_path: Path, name: str, sender: str, code: str, step: int) -> None:
    """Snap length 70 keeps the quoted ports and sequence number (RFC 792's 8 bytes) but
    not the flags: it may quote any packet, not a SYN, so it makes no connection and
    the step stays as without it."""
    one_way = tmp_path / "s70.pcap"
    subprocess.run(["editcap", "-s", "70", str(sent_by(tmp_path, LAB / f"{name}.pcap",
                                                        sender)), str(one_way)],
                   check=True, capture_output=True)
    analysis = _analyze(one_way, name)
    assert not _quoted(analysis)
    assert [f.code for f in analysis.findings if str(f.severity) == "error"] == []
    assert code not in {f.code for f in analysis.findings}
    assert analysis.verdict == "inconclusive"


@pytest.mark.parametrize(("name", "sender", "code", "step"), CASES)
def test_ladder_draws_the_reject(tmp_path: Path, name: str, sender: str, code: str,
                                 step: int) -> None:
    """The failed step's connection has no packet to draw: the ICMP reject is its
    arrow, from the rejecting host, carrying the finding; no SYN arrow."""
    from flowcheck.report.ladder_build import build_ladders

    one_way = sent_by(tmp_path, LAB / f"{name}.pcap", sender)
    analysis = _analyze(one_way, name)
    [quoted] = _quoted(analysis)
    [ladder] = build_ladders(analysis)
    assert [a.kind for a in ladder.arrows if a.uid == quoted.uid] == ["icmp"]
    [arrow] = [a for a in ladder.arrows if a.kind == "icmp"]
    assert (arrow.src, arrow.step, arrow.status) == (sender, step, "failed")
    assert arrow.frames == _icmp_frames(one_way) and "not captured" in arrow.label
    assert [mark.code for mark in arrow.findings] == [code]


def test_reject_goes_to_the_session_whose_host_sent_the_quoted_syn() -> None:
    """Two jobs announce one endpoint (one NAT address for two agents); the reject of
    the first job's media server's SYN, quoted after both announcements, is the first
    job's, not the latest announcement's (attach_data's connector rule): data_refused,
    or announced_address_mismatch since the address answering is not the agent the
    control connection reached (verify.other_host, trial 35 D1)."""
    controls = [conn("C1", "10.77.0.1", 5001, "10.77.0.2", 10000, 0.0, end=20.0),
                conn("C2", "10.77.0.3", 5001, "10.77.0.4", 10000, 0.5, end=20.0)]
    streams = [NdmpStream(c.uid, 4, announcements=[
        ann(c.uid, "10.77.0.9", 6001, frame, ts, "NDMP_DATA_LISTEN", "data")])
        for c, frame, ts in ((controls[0], 5, 1.0), (controls[1], 7, 2.0))]
    profile = load_profile("ndmp")
    reject = Connection("C3", "10.77.0.1", 5002, "10.77.0.9", 6001, 3.0, last_ts=3.0,
                        conn_state="S0", first_frame=12, last_frame=12, icmp_frames=[12])
    reject.icmp_code = 13  # a rare field: not __init__'s
    conns = [*controls, reject]
    sessions = build_sessions(conns, streams, LAB_CONFIG, profile)
    findings = check_all(conns, streams, sessions, LAB_CONFIG, profile)
    assert [(f.session, f.uid) for f in findings if f.uid == "C3" and f.code in (
        "data_refused", "announced_address_mismatch")] == [("S1", "C3")]


def test_retried_syns_whose_answer_the_capture_lacks_may_have_been_rejected(
        tmp_path: Path) -> None:
    """Only what the agent sent: its data SYNs, retried, and not the media server's ICMP
    reject, which travels the way the capture lacks (capture_one_direction, shown by the
    control connection). data_unanswered still (the retries prove the failure), but its
    words no longer blame a drop alone: a reject sent back looks the same."""
    name = "v4-media-reject-adminprohib"
    one_way = sent_by(tmp_path, FIREWALL / f"{name}.pcap", "10.77.0.2")
    analysis = _analyze(one_way, name, FIREWALL)
    [unanswered] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert unanswered.code == "data_unanswered"
    assert ("got no answer in the capture: something drops or rejects its SYNs or drops "
            "the SYN-ACKs on their way back (the capture holds no packet from 10.77.0.1 to "
            "10.77.0.2 (one direction only), the way a SYN-ACK, RST or ICMP unreachable "
            "would travel)") in unanswered.message
    # The headline's cause (its first clause) keeps the reject too (lab matrix seed 112
    # run 15: it read "never got an answer: something drops its SYNs"), and the SYN-ACKs
    # lost on their way back (seed 117 run 22).
    assert "got no answer in the capture: something drops or rejects its SYNs or drops " \
        "the SYN-ACKs on their way back, so" in gist(unanswered.message)
    assert "capture_one_direction" in {f.code for f in analysis.findings}


def test_the_syns_not_held_agree_in_number_with_their_ports(tmp_path: Path) -> None:
    """Two quoted SYNs of one port (its 4-tuple used again: another sequence number) are
    "the SYNs from ... port 5091", not "ports 5091"; two ports are "ports"."""
    name = "v3-control-reject-icmp"
    one_way = sent_by(tmp_path, FIREWALL / f"{name}.pcap", "10.77.0.2")
    analysis = _analyze(one_way, name, FIREWALL)
    assert analysis.profile is not None
    ctx = Context(analysis.traffic.connections, analysis.traffic.streams,
                  analysis.sessions, analysis.config, analysis.profile)
    said = {ports: syns_not_held(ctx, "10.77.0.1", "10.77.0.2", list(ports))
            for ports in ((5091,), (5091, 5091), (5091, 5092))}
    assert [words.split(" (")[0] for words in said.values()] == [
        "The capture does not hold the SYN from 10.77.0.1 port 5091",
        "The capture does not hold the SYNs from 10.77.0.1 port 5091",
        "The capture does not hold the SYNs from 10.77.0.1 ports 5091, 5092"]
