"""An ICMP unreachable that quotes a SYN the capture does not hold is a refusal.

A capture of what one host sent (one direction of a SPAN port, `tcpdump 'src host X'`)
holds the reject that host's firewall sent back, not the SYN it answers. The quote
proves the SYN was sent and refused: the same `*_refused` finding and fix as on the
full capture, the ICMP frame as evidence, and no connection made from it (tshark's
conversation table has none). Each copy is cut from the stored lab capture with tcpdump.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lab_edits import sent_by
from test_sessions import LAB as LAB_CONFIG
from test_sessions import ann, conn

from flowcheck.cli.main import run as cli
from flowcheck.config import build_config, load_file
from flowcheck.model import IcmpUnreachable, NdmpStream
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.profiles import load_profile
from flowcheck.sessions import build_sessions
from flowcheck.verify import check_all
from tests.test_tshark_counts import assert_matches_tshark

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"

# (capture, the host whose packets are kept: its firewall sent the reject, code, step)
CASES = [
    ("callback-rejected", "10.77.0.1", "callback_refused", 2),  # M rejects the callback
    ("data-port-rejected", "10.77.0.2", "data_refused", 4),  # A rejects M's data SYN
]


def _analyze(capture: Path, name: str) -> Analysis:
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(capture)], config), config)


def _icmp_frames(capture: Path) -> list[int]:
    out = subprocess.run(["tshark", "-r", str(capture), "-Y", "icmp", "-T", "fields",
                          "-e", "frame.number"], check=True, capture_output=True, text=True)
    return [int(line) for line in out.stdout.split()]


@pytest.mark.parametrize(("name", "sender", "code", "step"), CASES)
def test_reject_of_a_syn_the_capture_lacks_is_a_refusal(
        tmp_path: Path, name: str, sender: str, code: str, step: int) -> None:
    one_way = sent_by(tmp_path, LAB / f"{name}.pcap", sender)
    analysis = _analyze(one_way, name)
    [refused] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert refused.code == code
    assert refused.frames == _icmp_frames(one_way) and refused.uid is None
    [one_direction] = [f for f in analysis.findings if f.code == "capture_one_direction"]
    # Its words leave room for this failure: not "every step of that direction unknown".
    assert "still reported" in one_direction.message
    # The words and the fix of the refusal seen on the full capture.
    [full] = [f for f in _analyze(LAB / f"{name}.pcap", name).findings if f.code == code]
    assert refused.fix == full.fix
    assert refused.message.startswith(full.message)
    assert "one direction only" in refused.message
    [judged] = [s for s in analysis.sessions[0].steps if s.step == step]
    assert judged.status == "failed" and judged.frames == refused.frames
    assert "which the capture does not hold" in judged.detail
    assert analysis.verdict == "fail"
    assert cli(["analyze", "--config", str(LAB / f"{name}.toml"), str(one_way)]) == 1


@pytest.mark.parametrize(("name", "sender", "code", "step"), CASES)
def test_quoted_connection_is_not_a_connection(
        tmp_path: Path, name: str, sender: str, code: str, step: int) -> None:
    """tshark's conversation table leaves out a 4-tuple seen only inside an ICMP quote;
    so does the connection list, and the quote stays evidence for verify."""
    one_way = sent_by(tmp_path, LAB / f"{name}.pcap", sender)
    analysis = _analyze(one_way, name)
    assert_matches_tshark(one_way, analysis.traffic.connections)
    [quote] = analysis.traffic.unattached_icmp
    assert quote.refuses_syn and quote.frames == _icmp_frames(one_way)
    assert (quote.orig_h, quote.orig_p, quote.resp_h, quote.resp_p) not in {
        (c.orig_h, c.orig_p, c.resp_h, c.resp_p) for c in analysis.traffic.connections}


@pytest.mark.parametrize(("name", "sender", "code", "step"), CASES)
def test_quote_cut_before_the_tcp_flags_stays_unknown(
        tmp_path: Path, name: str, sender: str, code: str, step: int) -> None:
    """Snap length 70 keeps the quoted ports and sequence number (RFC 792's 8 bytes) but
    not the flags: it may quote any packet, not a SYN, so the step stays as without it."""
    one_way = tmp_path / "s70.pcap"
    subprocess.run(["editcap", "-s", "70", str(sent_by(tmp_path, LAB / f"{name}.pcap",
                                                        sender)), str(one_way)],
                   check=True, capture_output=True)
    analysis = _analyze(one_way, name)
    [quote] = analysis.traffic.unattached_icmp
    assert quote.tcp_flags is None
    assert [f.code for f in analysis.findings if str(f.severity) == "error"] == []
    assert code not in {f.code for f in analysis.findings}
    assert analysis.verdict == "inconclusive"


def _quote(**changes: object) -> IcmpUnreachable:
    fields: dict = {"orig_h": "10.77.0.2", "orig_p": 6031, "resp_h": "10.77.0.1",
                    "resp_p": 5001, "ts": 0.0, "version": 4, "icmp_code": 13,
                    "tcp_flags": 0x02, "frames": [9]}
    fields.update(changes)
    return IcmpUnreachable(**fields)


@pytest.mark.parametrize(("changes", "refuses"), [
    ({}, True),
    ({"icmp_code": 3}, True),  # port unreachable
    ({"version": 6, "icmp_code": 4}, True),  # ICMPv6 port unreachable
    ({"tcp_flags": 0x12}, False),  # a SYN-ACK: the quoted side answered, not opened
    ({"tcp_flags": 0x10}, False),  # data or an ACK of a connection opened unseen
    ({"tcp_flags": None}, False),  # quote cut before the flags
    ({"icmp_code": 4}, False),  # fragmentation needed: path MTU, not a refusal
])
def test_only_a_quoted_syn_refused_counts(changes: dict, refuses: bool) -> None:
    assert _quote(**changes).refuses_syn is refuses


@pytest.mark.parametrize(("name", "sender", "code", "step"), CASES)
def test_ladder_draws_the_reject(tmp_path: Path, name: str, sender: str, code: str,
                                 step: int) -> None:
    """The failed step has no connection to draw: the ICMP reject is its arrow, from the
    rejecting host, carrying the finding."""
    from flowcheck.report.ladder_build import build_ladders

    one_way = sent_by(tmp_path, LAB / f"{name}.pcap", sender)
    [ladder] = build_ladders(_analyze(one_way, name))
    [arrow] = [a for a in ladder.arrows if a.kind == "icmp"]
    assert (arrow.src, arrow.step, arrow.status) == (sender, step, "failed")
    assert arrow.frames == _icmp_frames(one_way) and "not captured" in arrow.label
    assert [mark.code for mark in arrow.findings] == [code]


def test_reject_goes_to_the_session_whose_host_sent_the_quoted_syn() -> None:
    """Two jobs announce one endpoint (one NAT address for two agents); the reject of
    the first job's media server's SYN, quoted after both announcements, is the first
    job's data_refused, not the latest announcement's (attach_data's connector rule)."""
    controls = [conn("C1", "10.77.0.1", 5001, "10.77.0.2", 10000, 0.0, end=20.0),
                conn("C2", "10.77.0.3", 5001, "10.77.0.4", 10000, 0.5, end=20.0)]
    streams = [NdmpStream(c.uid, 4, announcements=[
        ann(c.uid, "10.77.0.9", 6001, frame, ts, "NDMP_DATA_LISTEN", "data")])
        for c, frame, ts in ((controls[0], 5, 1.0), (controls[1], 7, 2.0))]
    profile = load_profile("ndmp")
    sessions = build_sessions(controls, streams, LAB_CONFIG, profile)
    reject = _quote(orig_h="10.77.0.1", orig_p=5002, resp_h="10.77.0.9", resp_p=6001,
                    ts=3.0, frames=[12])
    findings = check_all(controls, streams, sessions, LAB_CONFIG, profile, unattached_icmp=[reject])
    assert [f.session for f in findings if f.code == "data_refused"] == ["S1"]
