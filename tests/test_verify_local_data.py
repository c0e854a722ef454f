"""Data connections that stay inside one host (flowcheck.sessions.local), on scripted
NDMP messages: data and tape services on the agent host (ndmjob -D A -T A, a filer with
its own tape library), announced by the host's own address, a loopback address or
NDMP_ADDR_LOCAL. Their connection never reaches the wire, so its absence is neither a
failure nor a filtered capture: the data connection and data steps are
`not_applicable` and a clean job passes. The stored lab captures are
captures/ndmjob-lab/v4-local-tcp and v4-local-addr."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_verify_scenarios import A, M, announce, codes, conn, msg, run, statuses

from flowcheck.config import build_config, load_file
from flowcheck.findings import verdict
from flowcheck.model import Connection, NdmpStream
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.sessions.local import is_loopback, same_host

LAB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-lab"
NA = "not_applicable"


def _control(uid: str, port: int, agent: str = A, media: str = M) -> Connection:
    return conn(uid, media, port, agent, 10000, 0.0, end=20.0, orig_bytes=500, resp_bytes=700)


def _data_session(uid: str, ip: str, port: int, *, agent: str = A,
                  connect_error: bool = False, halt: str = "SUCCESSFUL") -> NdmpStream:
    """The data agent's session: DATA_CONNECT to ip:port, DATA_START_BACKUP, the halt."""
    messages = [msg(2, 0.1, "orig", "request", "CONNECT_OPEN"),
                msg(3, 0.2, "resp", "reply", "CONNECT_OPEN"),
                msg(20, 2.0, "orig", "request", "DATA_CONNECT",
                    body={"addr_type": "TCP"})]
    if connect_error:
        messages.append(msg(21, 2.1, "resp", "reply", "DATA_CONNECT", error=23,
                            error_name="NDMP_CONNECT_ERR"))
        return NdmpStream(uid, version=4, messages=messages, announcements=[
            announce(uid, ip, port, 20, 2.0, "NDMP_DATA_CONNECT", "mover")])
    messages += [msg(21, 2.1, "resp", "reply", "DATA_CONNECT"),
                 msg(22, 2.2, "orig", "request", "DATA_START_BACKUP"),
                 msg(23, 2.3, "resp", "reply", "DATA_START_BACKUP"),
                 msg(40, 6.0, "resp", "post", "NOTIFY_DATA_HALTED", body={"reason": halt})]
    return NdmpStream(uid, version=4, messages=messages, announcements=[
        announce(uid, ip, port, 20, 2.0, "NDMP_DATA_CONNECT", "mover")])


def _tape_session(uid: str, ip: str, port: int) -> NdmpStream:
    """The tape agent's session: MOVER_LISTEN answered with ip:port, the mover's halt."""
    messages = [msg(2, 0.1, "orig", "request", "CONNECT_OPEN"),
                msg(3, 0.2, "resp", "reply", "CONNECT_OPEN"),
                msg(10, 1.0, "orig", "request", "MOVER_LISTEN", body={"addr_type": "TCP"}),
                msg(11, 1.1, "resp", "reply", "MOVER_LISTEN", body={"addr_type": "TCP"}),
                msg(41, 6.1, "resp", "post", "NOTIFY_MOVER_HALTED",
                    body={"reason": "CONNECT_CLOSED"})]
    return NdmpStream(uid, version=4, messages=messages, announcements=[
        announce(uid, ip, port, 11, 1.1, "NDMP_MOVER_LISTEN", "mover")])


def test_data_and_tape_agent_on_one_host_pass() -> None:
    """ndmjob -D A -T A: the data connection A -> A:6046 runs over A's loopback. It read
    inconclusive with capture_filtered ("the capture left the data connection out")."""
    connections = [_control("Cdata", 5001), _control("Ctape", 5002)]
    streams = [_data_session("Cdata", A, 6046), _tape_session("Ctape", A, 6046)]
    sessions, findings = run(connections, streams, profile="ndmp")
    assert findings == []
    assert verdict(findings, sessions) == "pass"
    for session in sessions:
        assert statuses(session) == ["ok", "ok", NA, NA]
        assert [item.reason for item in session.local_data] == ["same_host"]
        assert "local to 10.77.0.2" in session.steps[2].detail
        assert "nothing for a firewall to pass" in session.steps[2].detail
    assert "NOTIFY_DATA_HALTED SUCCESSFUL" in sessions[0].steps[3].detail
    # The listener is named by its host, not taken for the media server.
    assert "the mover on 10.77.0.2 listening" in sessions[1].steps[1].detail


def test_addr_local_announcements_pass() -> None:
    """No -T: MOVER_LISTEN and DATA_CONNECT with NDMP_ADDR_LOCAL on one session. It read
    fail: step_missing, "no data endpoint was announced"."""
    control = _control("Cctl", 5001)
    messages = [msg(2, 0.1, "orig", "request", "CONNECT_OPEN"),
                msg(3, 0.2, "resp", "reply", "CONNECT_OPEN"),
                msg(10, 1.0, "orig", "request", "MOVER_LISTEN", body={"addr_type": "LOCAL"}),
                msg(11, 1.1, "resp", "reply", "MOVER_LISTEN", body={"addr_type": "LOCAL"}),
                msg(12, 1.2, "orig", "request", "DATA_CONNECT", body={"addr_type": "LOCAL"}),
                msg(13, 1.3, "resp", "reply", "DATA_CONNECT"),
                msg(22, 2.2, "orig", "request", "DATA_START_BACKUP"),
                msg(23, 2.3, "resp", "reply", "DATA_START_BACKUP"),
                msg(40, 6.0, "resp", "post", "NOTIFY_DATA_HALTED",
                    body={"reason": "SUCCESSFUL"})]
    sessions, findings = run([control], [NdmpStream("Cctl", version=4, messages=messages)],
                             profile="ndmp")
    assert findings == []
    assert statuses(sessions[0]) == ["ok", "ok", NA, NA]
    assert [(i.frame, i.reason, i.host) for i in sessions[0].local_data] == [
        (11, "addr_local", A), (12, "addr_local", A)]
    assert "NDMP_ADDR_LOCAL" in sessions[0].steps[1].detail


def test_backup_exec_two_way_over_ipv6_with_addr_local() -> None:
    """Backup Exec driving a filer with its own tape (2-way), control and callback over
    IPv6: the data never leaves the filer whatever the IP version."""
    media, agent = "2001:db8:77::1", "2001:db8:77::2"
    config = build_config({"media_range": "5001-5100", "agent_range": "6001-6100"})
    control = _control("Cctl", 5001, agent=agent, media=media)
    callback = conn("Ccb", agent, 6002, media, 5002, 1.0)
    messages = [msg(2, 0.1, "orig", "request", "CONNECT_OPEN"),
                msg(3, 0.2, "resp", "reply", "CONNECT_OPEN"),
                msg(10, 2.0, "orig", "request", "MOVER_LISTEN", body={"addr_type": "LOCAL"}),
                msg(11, 2.1, "resp", "reply", "MOVER_LISTEN", body={"addr_type": "LOCAL"}),
                msg(12, 2.2, "orig", "request", "DATA_CONNECT", body={"addr_type": "LOCAL"}),
                msg(13, 2.3, "resp", "reply", "DATA_CONNECT"),
                msg(22, 2.5, "orig", "request", "DATA_START_BACKUP"),
                msg(23, 2.6, "resp", "reply", "DATA_START_BACKUP")]
    sessions, findings = run([control, callback],
                             [NdmpStream("Cctl", version=4, messages=messages)], config=config)
    assert findings == []
    assert statuses(sessions[0]) == ["ok", "ok", "ok", NA, NA]
    assert sessions[0].local_data[0].host == agent


def test_loopback_addresses_between_services_of_one_host_are_local() -> None:
    """MOVER_LISTEN answered with 127.0.0.1 and DATA_CONNECT to it, one NDMP server."""
    control = _control("Cctl", 5001)
    messages = [msg(2, 0.1, "orig", "request", "CONNECT_OPEN"),
                msg(3, 0.2, "resp", "reply", "CONNECT_OPEN"),
                msg(10, 1.0, "orig", "request", "MOVER_LISTEN", body={"addr_type": "TCP"}),
                msg(11, 1.1, "resp", "reply", "MOVER_LISTEN", body={"addr_type": "TCP"}),
                msg(12, 1.2, "orig", "request", "DATA_CONNECT", body={"addr_type": "TCP"}),
                msg(13, 1.3, "resp", "reply", "DATA_CONNECT"),
                msg(22, 2.2, "orig", "request", "DATA_START_BACKUP"),
                msg(23, 2.3, "resp", "reply", "DATA_START_BACKUP")]
    stream = NdmpStream("Cctl", version=4, messages=messages, announcements=[
        announce("Cctl", "127.0.0.1", 6001, 11, 1.1, "NDMP_MOVER_LISTEN", "mover"),
        announce("Cctl", "127.0.0.1", 6001, 12, 1.2, "NDMP_DATA_CONNECT", "mover")])
    sessions, findings = run([control], [stream], profile="ndmp")
    assert findings == []
    assert statuses(sessions[0]) == ["ok", "ok", NA, NA]
    assert "127.0.0.1:6001, a loopback address" in sessions[0].steps[2].detail


def test_agent_announcing_loopback_to_the_media_server_is_a_mismatch() -> None:
    """Negative control: Backup Exec's DATA_LISTEN answered with 127.0.0.1; the media
    server's mover (no MOVER_CONNECT on the wire) cannot reach the agent there."""
    connections = [_control("Cctl", 5001), conn("Ccb", A, 6002, M, 5002, 1.0)]
    messages = [msg(2, 0.1, "orig", "request", "CONNECT_OPEN"),
                msg(3, 0.2, "resp", "reply", "CONNECT_OPEN"),
                msg(20, 2.0, "orig", "request", "DATA_LISTEN"),
                msg(21, 2.1, "resp", "reply", "DATA_LISTEN"),
                msg(30, 2.5, "orig", "request", "DATA_START_BACKUP"),
                msg(31, 2.6, "resp", "reply", "DATA_START_BACKUP")]
    stream = NdmpStream("Cctl", version=4, messages=messages, announcements=[
        announce("Cctl", "127.0.0.1", 6001, 21, 2.1, "NDMP_DATA_LISTEN", "data")])
    sessions, findings = run(connections, [stream])
    assert sessions[0].local_data == []
    assert codes(findings) == ["announced_address_mismatch"]


def test_data_agent_on_another_host_stays_filtered() -> None:
    """Negative control, a true three-way: the data agent D (10.77.0.3) connects to the
    tape agent's A:6046. That connection crosses the network; a capture without it left
    it out (capture_filtered), as before."""
    data_host = "10.77.0.3"
    connections = [_control("Cdata", 5001, agent=data_host), _control("Ctape", 5002)]
    streams = [_data_session("Cdata", A, 6046), _tape_session("Ctape", A, 6046)]
    sessions, findings = run(connections, streams,
                             config=build_config({"media_range": "5001-5100",
                                                  "agent_range": "6001-6100"}),
                             profile="ndmp")
    assert "capture_filtered" in codes(findings)
    assert all(session.local_data == [] for session in sessions)
    assert statuses(sessions[0])[2:] == ["unknown", "unknown"]
    assert statuses(sessions[1])[2:] == ["unknown", "unknown"]


def test_listen_reply_without_connect_on_the_wire_is_not_local() -> None:
    """MOVER_LISTEN answered with A's address and no DATA_CONNECT on the wire: the data
    service is the DMA's own (M), which reaches A over the network."""
    sessions, findings = run([_control("Ctape", 5002)], [_tape_session("Ctape", A, 6046)],
                             profile="ndmp")
    assert sessions[0].local_data == []
    assert "capture_filtered" in codes(findings)


def test_local_connect_answered_with_an_error_fails_inside_the_host() -> None:
    """DATA_CONNECT to A's own endpoint answered CONNECT_ERR: the connection failed inside
    A. The error reply is the finding; no announced_not_used (nothing on the wire to
    try) and no firewall words."""
    connections = [_control("Cdata", 5001), _control("Ctape", 5002)]
    streams = [_data_session("Cdata", A, 6046, connect_error=True),
               _tape_session("Ctape", A, 6046)]
    sessions, findings = run(connections, streams, profile="ndmp")
    assert codes(findings) == ["ndmp_error_reply"]
    assert statuses(sessions[0])[2] == "failed"
    assert "failed inside 10.77.0.2, not on the network" in sessions[0].steps[2].detail
    assert verdict(findings, sessions) == "fail"


def test_captured_loopback_connection_is_judged_as_any_other() -> None:
    """tcpdump -i any on the agent host holds its loopback too: the connection A -> A:6046
    is in the capture and judged on its packets (its ports against the ranges too); the
    endpoint is local to neither announcing session."""
    connections = [_control("Cdata", 5001), _control("Ctape", 5002),
                   conn("Clo", A, 6005, A, 6046, 2.3, orig_bytes=300_000)]
    streams = [_data_session("Cdata", A, 6046), _tape_session("Ctape", A, 6046)]
    sessions, findings = run(connections, streams, profile="ndmp")
    assert all(session.local_data == [] for session in sessions)
    taker = next(session for session in sessions if "Clo" in session.data_connections)
    assert statuses(taker)[3] == "ok"


@pytest.mark.parametrize(("ip", "other", "same"), [
    ("10.77.0.2", "10.77.0.2", True), ("10.77.0.2", "::ffff:10.77.0.2", True),
    ("2001:db8:77::2", "2001:0db8:0077:0:0:0:0:2", True), ("10.77.0.2", "10.77.0.3", False),
    ("2001:db8:77::2", "10.77.0.2", False)])
def test_same_host_compares_addresses_not_strings(ip: str, other: str, same: bool) -> None:
    assert same_host(ip, other) is same


@pytest.mark.parametrize(("ip", "loopback"), [
    ("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("10.77.0.2", False), ("2001:db8::1", False), ("not an address", False)])
def test_loopback_addresses(ip: str, loopback: bool) -> None:
    assert is_loopback(ip) is loopback


@pytest.mark.parametrize("name", ["v4-local-tcp", "v4-local-addr"])
def test_lab_captures_of_host_local_data_pass(name: str) -> None:
    """The lab's ndmjob jobs (captures/ndmjob-lab): no data connection on the wire, no
    capture_filtered, no step_missing; only the TAPE_GET_STATE poll after TAPE_CLOSE
    (DEV_NOT_OPEN_ERR) is a warning."""
    config = build_config(load_file(LAB / f"{name}.toml"))
    analysis = analyze(read_traffic([str(LAB / f"{name}.pcap")], config), config)
    assert analysis.verdict == "pass"
    assert {f.code for f in analysis.findings} == {"ndmp_error_reply"}
    assert all(c.role != "data" for c in analysis.traffic.connections)
    for session in analysis.sessions:
        assert [s.status for s in session.steps] == ["ok", "ok", NA, NA]
        assert session.local_data and session.local_data[0].host == "10.77.0.2"
