"""Three-way jobs (flowcheck.sessions.threeway, flowcheck.verify.shared) on scripted NDMP
messages: the DMA on M drives the data server A and the tape server T over two control
connections; MOVER_LISTEN's reply on T's and DATA_CONNECT's request on A's name one
endpoint, and A connects to T's mover: one data connection, announced in both sessions.

Both announcements are reached by it (used_by), the connection is the data server's
session's (connections[].session), the tape server's session reads its data steps from
there, and a failure is reported once. Before, the tape server's announcement was left
unused: a clean job read inconclusive (capture_filtered), a dropped data SYN failed twice
(data_unanswered and announced_not_used). The stored lab captures are
captures/ndmjob-lab/v4-three-way and v4-three-way-data-drop.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_verify_local_data import _control, _data_session, _tape_session
from test_verify_scenarios import LAB, A, M, announce, codes, conn, msg, run, statuses

from flowcheck.config import build_config, load_file
from flowcheck.findings import verdict
from flowcheck.model import NdmpStream
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.profiles import load_profile
from flowcheck.verify.context import Context
from flowcheck.verify.shared import listened_at

T = "10.77.0.3"  # the tape server
THREE = replace(LAB, remote_agents=(A, T))
A2, T2 = "10.77.0.4", "10.77.0.5"  # a second job's data and tape servers
CAPTURES = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-lab"


def _job(data_how: str = "ok", tape_first: bool = True):
    """The tape server's control connection first (its session S1) unless tape_first is
    False: the rule must not depend on the order."""
    tape_ctl = conn("Ctape", M, 5002, T, 10000, 0.0 if tape_first else 0.01, end=20.0,
                    orig_bytes=500, resp_bytes=700)
    data_ctl = conn("Cdata", M, 5001, A, 10000, 0.01 if tape_first else 0.0, end=20.0,
                    orig_bytes=500, resp_bytes=700)
    data = conn("D", A, 6001, T, 6040, 2.05, how=data_how, orig_bytes=300_000)
    streams = [_tape_session("Ctape", T, 6040), _data_session("Cdata", T, 6040)]
    return [tape_ctl, data_ctl, data], streams


@pytest.mark.parametrize("tape_first", [True, False])
def test_clean_three_way_job_passes_with_one_connection_in_both_sessions(
        tape_first: bool) -> None:
    """It read inconclusive: the tape session's MOVER_LISTEN unused, capture_filtered."""
    connections, streams = _job(tape_first=tape_first)
    sessions, findings = run(connections, streams, config=THREE, profile="ndmp")
    assert findings == [] and verdict(findings, sessions) == "pass"
    by_control = {s.control_uid: s for s in sessions}
    tape, data = by_control["Ctape"], by_control["Cdata"]
    assert [a.used_by for a in tape.announced] == ["D"]
    assert [a.used_by for a in data.announced] == ["D"]
    # The connection is the data server's session's, whatever the order of the sessions.
    assert connections[2].session == data.id and connections[2].role == "data"
    assert (data.data_connections, tape.data_connections) == (["D"], [])
    assert statuses(data) == statuses(tape) == ["ok"] * 4
    assert tape.steps[2].uids == ["D"] and tape.steps[3].uids == ["D"]
    assert f"session {data.id}'s data connection, a three-way job" in tape.steps[2].detail
    assert "MOVER_LISTEN (frame 11) here and DATA_CONNECT (frame 20) there" \
        in tape.steps[2].detail


@pytest.mark.parametrize("how,code", [("unanswered", "data_unanswered"),
                                      ("refused", "data_refused")])
def test_a_failed_three_way_data_connection_is_reported_once(how: str, code: str) -> None:
    """It read data_unanswered (data session) and announced_not_used (tape session)."""
    connections, streams = _job(how)
    sessions, findings = run(connections, streams, config=THREE, profile="ndmp")
    assert codes(findings) == [code]
    by_control = {s.control_uid: s for s in sessions}
    assert findings[0].session == by_control["Cdata"].id and findings[0].uid == "D"
    assert statuses(by_control["Ctape"])[2:] == statuses(by_control["Cdata"])[2:] == [
        "failed", "missing"]


def test_retries_of_a_failed_data_connection_go_with_it() -> None:
    """A data server retrying from new ports: every attempt is one finding's."""
    connections, streams = _job("unanswered")
    retry = conn("D2", A, 6002, T, 6040, 5.1, how="unanswered")
    sessions, findings = run([*connections, retry], streams, config=THREE, profile="ndmp")
    assert codes(findings) == ["data_unanswered"]
    assert "2 attempts" in findings[0].message
    data = next(s for s in sessions if s.control_uid == "Cdata")
    assert data.data_connections == ["D", "D2"]


def _listen_on_data_server(uid: str, ip: str, port: int) -> NdmpStream:
    """The data server listens: DATA_LISTEN answered with ip:port, DATA_START_BACKUP."""
    messages = [msg(2, 0.1, "orig", "request", "CONNECT_OPEN"),
                msg(3, 0.2, "resp", "reply", "CONNECT_OPEN"),
                msg(10, 1.0, "orig", "request", "DATA_LISTEN", body={"addr_type": "TCP"}),
                msg(11, 1.1, "resp", "reply", "DATA_LISTEN", body={"addr_type": "TCP"}),
                msg(22, 2.2, "orig", "request", "DATA_START_BACKUP"),
                msg(23, 2.3, "resp", "reply", "DATA_START_BACKUP"),
                msg(40, 6.0, "resp", "post", "NOTIFY_DATA_HALTED",
                    body={"reason": "SUCCESSFUL"})]
    return NdmpStream(uid, version=4, messages=messages, announcements=[
        announce(uid, ip, port, 11, 1.1, "NDMP_DATA_LISTEN", "data")])


def _mover_connect(uid: str, ip: str, port: int) -> NdmpStream:
    messages = [msg(2, 0.1, "orig", "request", "CONNECT_OPEN"),
                msg(3, 0.2, "resp", "reply", "CONNECT_OPEN"),
                msg(20, 2.0, "orig", "request", "MOVER_CONNECT", body={"addr_type": "TCP"}),
                msg(21, 2.1, "resp", "reply", "MOVER_CONNECT"),
                msg(41, 6.1, "resp", "post", "NOTIFY_MOVER_HALTED",
                    body={"reason": "CONNECT_CLOSED"})]
    return NdmpStream(uid, version=4, messages=messages, announcements=[
        announce(uid, ip, port, 20, 2.0, "NDMP_MOVER_CONNECT", "data")])


def test_the_data_servers_session_holds_a_connection_the_tape_session_matched() -> None:
    """A's data server connects from its second interface (10.78.0.2, no session's
    host): the tape session's MOVER_LISTEN, earlier, matched the connection first; it is
    handed to the data server's session, which holds DATA_START_BACKUP (before: the tape
    session's, and the data session's DATA_CONNECT read announced_not_used)."""
    connections, streams = _job()
    connections[2] = data = conn("D", "10.78.0.2", 6001, T, 6040, 2.05, orig_bytes=300_000)
    sessions, findings = run(connections, streams, config=THREE, profile="ndmp")
    by_control = {s.control_uid: s for s in sessions}
    assert data.session == by_control["Cdata"].id
    assert (by_control["Cdata"].data_connections, by_control["Ctape"].data_connections) == (
        ["D"], [])
    assert [a.used_by for s in (by_control["Cdata"], by_control["Ctape"])
            for a in s.announced] == ["D", "D"]
    assert "announced_not_used" not in codes(findings)
    assert statuses(by_control["Ctape"]) == statuses(by_control["Cdata"]) == ["ok"] * 4


def test_data_listen_and_mover_connect_three_way_passes() -> None:
    """The other way round: A's data server listens (DATA_LISTEN), MOVER_CONNECT tells
    T's mover to connect to it. It read announced_not_used for the MOVER_CONNECT."""
    data_ctl = _control("Cdata", 5001)
    tape_ctl = _control("Ctape", 5002, agent=T)
    data = conn("D", T, 6050, A, 6001, 2.05, resp_bytes=300_000)
    streams = [_listen_on_data_server("Cdata", A, 6001), _mover_connect("Ctape", A, 6001)]
    sessions, findings = run([data_ctl, tape_ctl, data], streams, config=THREE,
                             profile="ndmp")
    by_control = {s.control_uid: s for s in sessions}
    assert data.session == by_control["Cdata"].id
    assert [a.used_by for s in (by_control["Cdata"], by_control["Ctape"])
            for a in s.announced] == ["D", "D"]
    assert codes(findings) == []
    assert statuses(by_control["Ctape"])[2:] == statuses(by_control["Cdata"])[2:] == [
        "ok", "ok"]


def test_another_dmas_announcement_of_the_endpoint_is_not_shared() -> None:
    """Only one DMA's two control connections are the halves of a job: a MOVER_LISTEN
    from a control connection another host opened keeps its own (missing) connection."""
    connections, streams = _job()
    connections[0] = conn("Ctape", "10.77.0.9", 5002, T, 10000, 0.0, end=20.0,
                          orig_bytes=500, resp_bytes=700)
    sessions, _ = run(connections, streams, config=THREE, profile="ndmp")
    tape = next(s for s in sessions if s.control_uid == "Ctape")
    assert [a.used_by for a in tape.announced] == [None]


def test_each_connect_finds_its_own_jobs_listener_among_several_sessions() -> None:
    """Two three-way jobs at once (A -> T:6040, A2 -> T2:6041), the second job's sessions
    first: each DATA_CONNECT's listener is its own job's tape server (listened_at), so
    neither reads announced_address_mismatch; a LISTEN reply has none."""
    job, job_streams = _job()
    connections = [conn("Ctape2", M, 5003, T2, 10000, 0.0, end=20.0, orig_bytes=500,
                        resp_bytes=700),
                   conn("Cdata2", M, 5004, A2, 10000, 0.01, end=20.0, orig_bytes=500,
                        resp_bytes=700),
                   *job,
                   conn("D2", A2, 6002, T2, 6041, 2.06, orig_bytes=300_000)]
    streams = [_tape_session("Ctape2", T2, 6041), _data_session("Cdata2", T2, 6041),
               *job_streams]
    config = replace(LAB, remote_agents=(A, T, A2, T2), profile="ndmp")
    sessions, findings = run(connections, streams, config=config, profile="ndmp")
    assert codes(findings) == []
    ctx = Context(connections, streams, sessions, config, load_profile("ndmp"))
    found = {(s.control_uid, a.message): listened_at(ctx, s, a)
             for s in sessions for a in s.announced}
    assert found == {("Ctape", "NDMP_MOVER_LISTEN"): None,
                     ("Cdata", "NDMP_DATA_CONNECT"): T,
                     ("Ctape2", "NDMP_MOVER_LISTEN"): None,
                     ("Cdata2", "NDMP_DATA_CONNECT"): T2}


@pytest.mark.parametrize("name,expected,codes_", [
    ("v4-three-way", "pass", []),
    ("v4-three-way-data-drop", "fail", ["data_unanswered"])])
def test_stored_three_way_lab_captures(name: str, expected: str, codes_: list[str]) -> None:
    """ndmjob -D A -T M (flowcheck.lab scenarios of the same names), captured on M's veth
    and loopback: both control connections and the data connection on the wire."""
    config = build_config(load_file(CAPTURES / f"{name}.toml"))
    analysis = analyze(read_traffic([str(CAPTURES / f"{name}.pcap")], config), config)
    errors = sorted(f.code for f in analysis.findings if f.severity.value == "error")
    assert (analysis.verdict, errors) == (expected, codes_)
    (data,) = [c for c in analysis.traffic.connections if c.role == "data"]
    used = [a.used_by for s in analysis.sessions for a in s.announced]
    assert used == [data.uid, data.uid]
    holder = next(s for s in analysis.sessions if s.id == data.session)
    assert holder.remote_agent == "10.77.0.2"  # the data server's session
