"""A three-way job captured where its data connection does not pass (trial 14 D6).

ndmjob -D A -T T captured on the DMA M: the capture holds both control connections, and
the data connection A -> T runs between the two agents, off its path. MOVER_LISTEN's
reply on T's control connection (T's own address) and DATA_CONNECT on A's (T's address,
where the other control connection reached T) are the two halves of one announcement,
paired without a connection (flowcheck.verify.shared.partner). It read two
announced_address_mismatch errors (NAT / multi-homed): the listener was taken to be the
DMA. Now the data steps are unknown with one capture_filtered, and a DATA_CONNECT the
data server never answered before the DMA gave up is ndmp_no_reply saying the connect
was pending between the two agents. A capture that does hold packets between the two
agents keeps the absence as evidence (announced_not_used).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_verify_local_data import _control
from test_verify_scenarios import LAB, A, announce, codes, conn, msg, run, statuses
from test_verify_three_way import T

from flowcheck.config import build_config, load_file
from flowcheck.model import NdmpStream
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.profiles import load_profile
from flowcheck.verify.context import Context
from flowcheck.verify.shared import partner

THREE = replace(LAB, remote_agents=(A, T))
STORED = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-threeway"
_OPEN = [msg(2, 0.1, "orig", "request", "CONNECT_OPEN"),
         msg(3, 0.2, "resp", "reply", "CONNECT_OPEN")]


def _listen(uid: str, op: str, ip: str, port: int) -> NdmpStream:
    """A LISTEN (MOVER_LISTEN or DATA_LISTEN) answered with ip:port; no halt yet."""
    listener = "mover" if op == "MOVER_LISTEN" else "data"
    messages = [*_OPEN, msg(10, 1.0, "orig", "request", op, body={"addr_type": "TCP"}),
                msg(11, 1.1, "resp", "reply", op, body={"addr_type": "TCP"})]
    return NdmpStream(uid, version=4, messages=messages, announcements=[
        announce(uid, ip, port, 11, 1.1, f"NDMP_{op}", listener)])


def _connect(uid: str, op: str, ip: str, port: int) -> NdmpStream:
    """A CONNECT request (DATA_CONNECT or MOVER_CONNECT) to ip:port, answered; no halt."""
    listener = "mover" if op == "DATA_CONNECT" else "data"
    messages = [*_OPEN, msg(20, 2.0, "orig", "request", op, body={"addr_type": "TCP"}),
                msg(21, 2.1, "resp", "reply", op)]
    return NdmpStream(uid, version=4, messages=messages, announcements=[
        announce(uid, ip, port, 20, 2.0, f"NDMP_{op}", listener)])


def _on_the_dma(mover_listens: bool, extra=()):
    """Both control connections, no data connection: the capture on M."""
    connections = [_control("Cdata", 5001), _control("Ctape", 5002, agent=T), *extra]
    if mover_listens:  # A connects to T's mover at T:6040
        streams = [_listen("Ctape", "MOVER_LISTEN", T, 6040),
                   _connect("Cdata", "DATA_CONNECT", T, 6040)]
    else:  # T's mover connects to A's data service at A:6001
        streams = [_listen("Cdata", "DATA_LISTEN", A, 6001),
                   _connect("Ctape", "MOVER_CONNECT", A, 6001)]
    return connections, streams


@pytest.mark.parametrize("mover_listens", [True, False], ids=["MOVER_LISTEN", "DATA_LISTEN"])
def test_the_data_connection_between_the_agents_is_off_the_dmas_path(
        mover_listens: bool) -> None:
    """No announced_address_mismatch (the listener is where the other control connection
    reached it) and no announced_not_used: steps 3-4 unknown, one capture_filtered."""
    sessions, findings = run(*_on_the_dma(mover_listens), config=THREE, profile="ndmp")
    assert codes(findings) == ["capture_filtered"]
    assert [statuses(s)[2:] for s in sessions] == [["unknown", "unknown"]] * 2
    connector, listener = (A, T) if mover_listens else (T, A)
    for session in sessions:
        assert f"runs from {connector} to {listener}" in session.steps[2].detail
    (filtered,) = findings
    assert filtered.message.count("three-way job of sessions S1 and S2") == 1


def test_a_capture_between_the_agents_keeps_the_absence_as_evidence() -> None:
    """The capture holds another connection between A and T (it is on their path): no
    connection to the endpoint is announced_not_used, as in any job; still no mismatch."""
    other = conn("X", A, 40000, T, 22, 0.5, end=19.0, orig_bytes=100, resp_bytes=100)
    other.orig_pkts = other.resp_pkts = 4
    _, findings = run(*_on_the_dma(True, [other]), config=THREE, profile="ndmp")
    assert "announced_address_mismatch" not in codes(findings)
    assert "announced_not_used" in codes(findings)
    assert "capture_filtered" not in codes(findings)


@pytest.mark.parametrize("name,expected,errors,filtered", [
    ("D-v4-3way-datadrop-dma", "fail", ["ndmp_no_reply"], True),
    ("C-v4-3way-dma", "inconclusive", [], True),
    ("C-v2-3way-dma", "inconclusive", [], True)])
def test_stored_trial_14_three_way_jobs_on_the_dma(name: str, expected: str,
                                                   errors: list[str], filtered: bool) -> None:
    """ndmjob -D 10.77.1.2 -T 10.77.1.3 captured on the DMA 10.77.0.1 (trial 14 D6): no
    announced_address_mismatch; the data SYNs dropped by 10.77.1.3's firewall are read
    from the NDMP messages (DATA_CONNECT never answered, the DMA gave up after 30 s):
    ndmp_no_reply naming the pending connect between the agents and where to capture."""
    config = build_config(load_file(STORED / f"{name}.toml"))
    analysis = analyze(read_traffic([str(STORED / f"{name}.pcap.gz")], config), config)
    found = sorted(f.code for f in analysis.findings if f.severity.value == "error")
    assert (analysis.verdict, found) == (expected, errors)
    assert ("capture_filtered" in {f.code for f in analysis.findings}) == filtered
    for finding in analysis.findings:
        if finding.code == "ndmp_no_reply":
            assert "still connecting to 10.77.1.3:6867" in finding.message
            assert "runs between 10.77.1.2 and 10.77.1.3" in finding.message
            assert "capture on 10.77.1.2 or 10.77.1.3" in finding.fix


def test_a_listen_reply_is_not_paired_with_a_later_jobs_connect() -> None:
    """Job 1's MOVER_LISTEN (no DATA_CONNECT followed) and job 2's, 100 s later, of the
    same endpoint: job 2's DATA_CONNECT hands on job 2's reply only (partner)."""
    later = [replace(m, frame=m.frame + 1000, ts=m.ts + 100)
             for m in _listen("Ctape2", "MOVER_LISTEN", T, 6040).messages]
    streams = [_listen("Ctape", "MOVER_LISTEN", T, 6040),
               NdmpStream("Ctape2", version=4, messages=later, announcements=[
                   announce("Ctape2", T, 6040, 1011, 101.1, "NDMP_MOVER_LISTEN", "mover")]),
               _connect("Cdata", "DATA_CONNECT", T, 6040)]
    streams[2].messages = [replace(m, ts=m.ts + 100) for m in streams[2].messages]
    streams[2].announcements = [replace(streams[2].announcements[0], ts=102.0)]
    connections = [_control("Ctape", 5002, agent=T),
                   replace(_control("Ctape2", 5003, agent=T), ts=100.0, last_ts=120.0),
                   replace(_control("Cdata", 5001), ts=100.0, last_ts=120.0)]
    sessions, _ = run(connections, streams, config=THREE, profile="ndmp")
    ctx = Context(connections, streams, sessions, THREE, load_profile("ndmp"))
    by_control = {s.control_uid: s for s in sessions}
    first, second, data = by_control["Ctape"], by_control["Ctape2"], by_control["Cdata"]
    assert partner(ctx, first, first.announced[0]) is None
    assert partner(ctx, second, second.announced[0])[0] is data
    assert partner(ctx, data, data.announced[0])[0] is second
