"""A request carrying an announced endpoint (DATA_CONNECT, MOVER_CONNECT; NDMP v2's
DATA_START_*) refused before any connect: the error reply is the root cause, not
announced_not_used (flowcheck.verify.refused_connect, docs/findings.md).

Trial 14 D5 (captures/ndmjob-refused/v2-badbutype-media.pcap): ndmjob -B dump, NDMP v2;
DATA_START_BACKUP (frame 11) carried the mover's address 10.77.0.1:5375 and was answered
ILLEGAL_ARGS_ERR (frame 12); no SYN ever. Before: announced_not_used with a ports and
firewall fix, the ILLEGAL_ARGS_ERR not reported (taken for the data connection's
consequence). A connect error (CONNECT_ERR) with no connection in the capture stays
announced_not_used: the connect was tried, its SYNs lost on the way.
"""

from __future__ import annotations

from pathlib import Path

from test_verify_scenarios import M, announce, codes, conn, msg, run, statuses

from flowcheck.config import build_config, load_file
from flowcheck.model import Connection, NdmpStream
from flowcheck.pipeline import analyze, read_traffic

REFUSED = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-refused"
A, B = "10.77.0.2", "10.77.0.3"


def test_v2_start_backup_refused_before_connecting_is_the_one_error() -> None:
    config = build_config(load_file(REFUSED / "v2-badbutype-media.toml"))
    analysis = analyze(read_traffic([str(REFUSED / "v2-badbutype-media.pcap")], config),
                       config)
    errors = [f for f in analysis.findings if str(f.severity) == "error"]
    assert analysis.verdict == "fail"
    assert [(f.code, f.frames) for f in errors] == [("ndmp_error_reply", [12])], \
        [f.code for f in analysis.findings]
    assert "DATA_START_BACKUP was answered ILLEGAL_ARGS_ERR" in errors[0].message
    assert "before connecting to 10.77.0.1:5375" in errors[0].message
    assert "backup type" in errors[0].fix and "firewall" not in errors[0].fix
    [session] = analysis.sessions
    step = next(s for s in session.steps if s.name == "data connection to the announced endpoint")
    assert step.status == "failed"
    assert "answered ILLEGAL_ARGS_ERR (frame 12): refused before any connection to " \
           "10.77.0.1:5375" in step.detail


def _control(uid: str, port: int, agent: str = A) -> Connection:
    return conn(uid, M, port, agent, 10000, 0.0, end=20.0, orig_bytes=500, resp_bytes=700)


def _connect_session(uid: str, ip: str, port: int, error: str) -> NdmpStream:
    """DATA_CONNECT to ip:port answered with `error` (v4), then the DMA's DATA_ABORT."""
    number = {"NDMP_ILLEGAL_ARGS_ERR": 9, "NDMP_CONNECT_ERR": 23}[error]
    messages = [msg(2, 0.1, "orig", "request", "CONNECT_OPEN"),
                msg(3, 0.2, "resp", "reply", "CONNECT_OPEN"),
                msg(20, 2.0, "orig", "request", "DATA_CONNECT", body={"addr_type": "TCP"}),
                msg(21, 2.1, "resp", "reply", "DATA_CONNECT", error=number, error_name=error),
                msg(30, 3.0, "orig", "request", "DATA_ABORT"),
                msg(31, 3.1, "resp", "reply", "DATA_ABORT")]
    return NdmpStream(uid, version=4, messages=messages, announcements=[
        announce(uid, ip, port, 20, 2.0, "NDMP_DATA_CONNECT", "mover")])


def _listen_session(uid: str, ip: str, port: int) -> NdmpStream:
    """The tape server's session of a three-way job: MOVER_LISTEN answered ip:port."""
    messages = [msg(2, 0.1, "orig", "request", "CONNECT_OPEN"),
                msg(3, 0.2, "resp", "reply", "CONNECT_OPEN"),
                msg(10, 1.0, "orig", "request", "MOVER_LISTEN", body={"addr_type": "TCP"}),
                msg(11, 1.1, "resp", "reply", "MOVER_LISTEN", body={"addr_type": "TCP"})]
    return NdmpStream(uid, version=4, messages=messages, announcements=[
        announce(uid, ip, port, 11, 1.1, "NDMP_MOVER_LISTEN", "mover")])


def test_v4_connect_refused_itself_is_an_error_reply_not_announced_not_used() -> None:
    sessions, findings = run([_control("C1", 5001)],
                             [_connect_session("C1", M, 5050, "NDMP_ILLEGAL_ARGS_ERR")],
                             profile="ndmp")
    assert codes(findings) == ["ndmp_error_reply"]
    [finding] = findings
    assert str(finding.severity) == "error" and finding.frames == [21]
    assert "before connecting to 10.77.0.1:5050" in finding.message
    assert "allow TCP" not in finding.fix
    assert statuses(sessions[0])[2] == "failed"


def test_v4_connect_error_with_no_connection_stays_announced_not_used() -> None:
    """CONNECT_ERR says the connect was tried: its SYNs never reached the capture point."""
    sessions, findings = run([_control("C1", 5001)],
                             [_connect_session("C1", M, 5050, "NDMP_CONNECT_ERR")],
                             profile="ndmp")
    assert codes(findings) == ["announced_not_used"]
    assert statuses(sessions[0])[2] == "missing"


def test_three_way_listen_explained_by_the_other_sessions_refused_connect() -> None:
    """ndmjob -D A -T B: B's MOVER_LISTEN named B:6050, the DMA's DATA_CONNECT to A with
    it was refused ILLEGAL_ARGS_ERR: neither session's announcement was due a connection."""
    sessions, findings = run(
        [_control("Cdata", 5001, A), _control("Ctape", 5002, B)],
        [_connect_session("Cdata", B, 6050, "NDMP_ILLEGAL_ARGS_ERR"),
         _listen_session("Ctape", B, 6050)],
        config=build_config({"ndmp_port": 10000, "media_range": "5001-5100",
                             "agent_range": "6001-6100", "media_servers": [M],
                             "remote_agents": [A, B]}),
        profile="ndmp")
    assert codes(findings) == ["ndmp_error_reply"], [f.message for f in findings]
    tape = next(s for s in sessions if s.control_uid == "Ctape")
    assert statuses(tape)[2] == "failed"
    assert "on the control connection Cdata" in tape.steps[2].detail
