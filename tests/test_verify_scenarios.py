"""Sessions and checks on hand-built traffic: one scenario per finding code and profile.

Hosts and ports follow the ndmjob lab (media 10.77.0.1, agent 10.77.0.2, media range
5001-5100, agent range 6001-6100) so the expected findings can be read off the spec.
"""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest

from flowcheck.config import build_config
from flowcheck.findings import CATALOGUE, verdict
from flowcheck.model import (
    Announcement,
    Connection,
    Finding,
    NdmpMessage,
    NdmpStream,
    Session,
    Severity,
)
from flowcheck.ndmp.messages import decode_body
from flowcheck.ndmp.protocol import ANY_VERSION_NAMES
from flowcheck.profiles import load_profile
from flowcheck.sessions import build_sessions
from flowcheck.verify import check_all

M, A = "10.77.0.1", "10.77.0.2"
LAB = build_config({"ndmp_port": 10000, "media_range": "5001-5100",
                    "agent_range": "6001-6100", "media_servers": [M], "remote_agents": [A]})
_frames = iter(range(1, 1_000_000, 10))


def conn(uid: str, orig: str, oport: int, resp: str, rport: int, ts: float, *,
         how: str = "ok", end: float | None = None, orig_bytes: int = 0,
         resp_bytes: int = 0) -> Connection:
    """A connection whose opening went `how`: ok, unanswered, refused, icmp, handshake,
    aborted (reset by its originator right after the SYN-ACK)."""
    first = next(_frames)
    c = Connection(uid, orig, oport, resp, rport, ts, last_ts=end if end is not None else ts + 5,
                   first_frame=first, last_frame=first + 9, syn_frames=[first],
                   orig_bytes=orig_bytes, resp_bytes=resp_bytes, syn_ts=ts)
    if how == "ok":
        c.synack_frames, c.established = [first + 1], True
        c.conn_state, c.history = "SF", "ShADadFf"
    elif how == "unanswered":
        c.syn_frames, c.syn_retries, c.conn_state, c.history = [first, first + 1], 1, "S0", "S"
        c.last_ts = ts + 3
    elif how == "refused":
        c.rst_frames, c.resp_rst, c.conn_state, c.history = [first + 1], True, "REJ", "Sr"
    elif how == "icmp":
        c.icmp_frames, c.conn_state, c.history = [first + 1], "S0", "S"
    elif how == "handshake":
        c.synack_frames, c.conn_state, c.history = [first + 1, first + 2], "S1", "Sh"
    elif how == "aborted":
        c.synack_frames, c.rst_frames, c.orig_rst = [first + 1], [first + 2], True
        c.conn_state, c.history = "RSTO", "ShR"
        c.synack_ts, c.rst_ts = ts + 0.0002, ts + 0.0003
        c.last_ts = c.rst_ts
    return c


_CODES = {name: code for code, name in ANY_VERSION_NAMES.items()}


def msg(frame: int, ts: float, direction: str, type_: str, name: str, *, error: int = 0,
        error_name: str = "NDMP_NO_ERR", body: dict | None = None) -> NdmpMessage:
    """A message without sequence numbers: a reply answers the request of its code."""
    return NdmpMessage(frame, ts, direction, 1, type_, _CODES.get(name, 0),  # type: ignore[arg-type]
                       name, error, 0, error_name=error_name, body=body or {})


def announce(control: str, ip: str, port: int, frame: int, ts: float, message: str,
             listener: str) -> Announcement:
    return Announcement(control, ip, port, frame, ts, message, listener)  # type: ignore[arg-type]


def run(connections: list[Connection], streams: list[NdmpStream], config=LAB,
        profile: str = "backup-exec-9") -> tuple[list[Session], list[Finding]]:
    config = replace(config, profile=profile)
    loaded = load_profile(profile)
    sessions = build_sessions(connections, streams, config, loaded)
    findings = check_all(connections, streams, sessions, config, loaded)
    for finding in findings:
        assert finding.code in CATALOGUE
        assert finding.message and finding.fix, finding.code
    return sessions, findings


def codes(findings: list[Finding]) -> list[str]:
    return sorted(f.code for f in findings)


def statuses(session: Session) -> list[str]:
    return [s.status for s in session.steps]


# --- Backup Exec 9 scenarios -----------------------------------------------------------

def be_backup(*, callback_how: str = "ok", callback_port: int = 5002, data_how: str = "ok",
              agent_data_port: int = 6001, announce_data: bool = True, callback_ts: float = 1.0,
              start: bool = True) -> tuple[list[Connection], list[NdmpStream]]:
    """Backup Exec's five steps: control, callback, DATA_LISTEN reply, data, bytes."""
    control = conn("Cctl", M, 5001, A, 10000, 0.0, end=20.0, orig_bytes=500, resp_bytes=700)
    callback = conn("Ccb", A, 6002, M, callback_port, callback_ts, how=callback_how)
    data = conn("Cdata", M, 5003, A, agent_data_port, 3.0, how=data_how,
                resp_bytes=50_000 if data_how == "ok" else 0)
    messages = [msg(2, 0.1, "orig", "request", "CONNECT_OPEN"),
                msg(3, 0.2, "resp", "reply", "CONNECT_OPEN"),
                msg(20, 2.0, "orig", "request", "DATA_LISTEN"),
                msg(21, 2.1, "resp", "reply", "DATA_LISTEN")]
    if start:
        messages += [msg(30, 2.5, "orig", "request", "DATA_START_BACKUP"),
                     msg(31, 2.6, "resp", "reply", "DATA_START_BACKUP")]
    stream = NdmpStream("Cctl", version=4, messages=messages)
    if announce_data:
        stream.announcements.append(
            announce("Cctl", A, agent_data_port, 21, 2.1, "NDMP_DATA_LISTEN", "data"))
    return [control, callback, data], [stream]


def test_backup_exec_five_steps_pass_with_lab_ranges() -> None:
    connections, streams = be_backup()
    sessions, findings = run(connections, streams)
    assert findings == []
    (session,) = sessions
    assert statuses(session) == ["ok"] * 5
    assert session.callback_uid == "Ccb" and session.data_connections == ["Cdata"]
    assert [c.role for c in connections] == ["control", "callback", "data"]
    assert {c.session for c in connections} == {session.id}
    assert streams[0].announcements[0].used_by == "Cdata"
    assert session.kind == "backup" and session.media_server == M and session.remote_agent == A


def test_ranges_overlap_only_between_two_ranges_the_user_set() -> None:
    # The two defaults overlap by design; one range set overlaps the other's default
    # 1025-65535 by construction (newuser65 item 4): neither is said. Both set and
    # overlapping: warned, the shared ports named.
    connections, streams = be_backup()
    _, findings = run(connections, streams, config=build_config())
    assert codes(findings) == [] and verdict(findings) == "pass"
    for one in ({"media_range": "5001-5100"}, {"agent_range": "6001-6100"}):
        _, findings = run(connections, streams, config=build_config(one))
        assert codes(findings) == [] and verdict(findings) == "pass"
    _, findings = run(connections, streams, config=build_config(
        {"media_range": "5001-5100", "agent_range": "6001-6100,5051-5150"}))
    assert codes(findings) == ["ranges_overlap"]
    assert findings[0].severity == Severity.WARNING and verdict(findings) == "pass"
    assert "overlap on 5051-5100" in findings[0].message


def test_missing_callback_is_step_missing() -> None:
    connections, streams = be_backup()
    connections = [c for c in connections if c.uid != "Ccb"]
    sessions, findings = run(connections, streams)
    assert codes(findings) == ["step_missing"]
    assert statuses(sessions[0]) == ["ok", "missing", "ok", "ok", "ok"]
    assert "5001-5100" in findings[0].fix and A in findings[0].message


def test_callback_outside_media_range_is_still_the_callback() -> None:
    connections, streams = be_backup(callback_port=4000)
    sessions, findings = run(connections, streams)
    assert codes(findings) == ["port_outside_media_range"]
    assert sessions[0].callback_uid == "Ccb" and findings[0].uid == "Ccb"
    assert statuses(sessions[0])[1] == "violated"
    assert "4000" in findings[0].message


@pytest.mark.parametrize(("how", "code"), [("unanswered", "callback_unanswered"),
                                           ("refused", "callback_refused"),
                                           ("handshake", "handshake_incomplete")])
def test_failed_callback(how: str, code: str) -> None:
    connections, streams = be_backup(callback_how=how)
    sessions, findings = run(connections, streams)
    assert codes(findings) == [code]
    assert statuses(sessions[0])[1] == "failed"
    assert verdict(findings) == "fail"


@pytest.mark.parametrize(("how", "code"), [("unanswered", "control_unanswered"),
                                           ("refused", "control_refused"),
                                           ("icmp", "control_refused"),
                                           ("handshake", "handshake_incomplete")])
def test_failed_control_gives_one_finding(how: str, code: str) -> None:
    control = conn("Cctl", M, 5001, A, 10000, 0.0, how=how)
    sessions, findings = run([control], [])
    assert codes(findings) == [code]
    assert statuses(sessions[0]) == ["failed"] + ["not_applicable"] * 4
    assert findings[0].session == "S1" and findings[0].frames
    if how == "handshake":
        assert "stateless" in findings[0].message


def test_browse_session_passes_with_steps_3_to_5_not_applicable() -> None:
    control = conn("Cctl", M, 5001, A, 10000, 0.0, end=9.0, orig_bytes=100, resp_bytes=100)
    callback = conn("Ccb", A, 6002, M, 5002, 1.0)
    stream = NdmpStream("Cctl", version=4, messages=[
        msg(2, 0.1, "orig", "request", "CONNECT_OPEN"),
        msg(3, 0.2, "resp", "reply", "CONNECT_OPEN")])
    sessions, findings = run([control, callback], [stream])
    assert findings == []
    assert sessions[0].kind == "browse"
    assert statuses(sessions[0]) == ["ok", "ok"] + ["not_applicable"] * 3


@pytest.mark.parametrize(("how", "code"), [("unanswered", "data_unanswered"),
                                           ("refused", "data_refused"),
                                           ("handshake", "handshake_incomplete")])
def test_failed_data_connection_is_one_error(how: str, code: str) -> None:
    connections, streams = be_backup(data_how=how)
    sessions, findings = run(connections, streams)
    assert codes(findings) == [code]
    assert statuses(sessions[0])[3:] == ["failed", "missing"]
    if how == "refused":
        assert "already in use" in findings[0].message and "firewall" in findings[0].message


def test_refused_data_connection_is_not_also_announced_not_used() -> None:
    connections, streams = be_backup(data_how="refused")
    _, findings = run(connections, streams)
    assert "announced_not_used" not in codes(findings)
    assert streams[0].announcements[0].used_by == "Cdata"


def test_announced_endpoint_nobody_tried() -> None:
    connections, streams = be_backup()
    connections = [c for c in connections if c.uid != "Cdata"]
    sessions, findings = run(connections, streams)
    assert codes(findings) == ["announced_not_used"]
    assert findings[0].frames == [21] and "6001" in findings[0].message
    assert statuses(sessions[0])[3:] == ["missing", "missing"]


def test_data_connection_agent_port_outside_agent_range() -> None:
    connections, streams = be_backup(agent_data_port=7001)
    sessions, findings = run(connections, streams)
    assert codes(findings) == ["port_outside_agent_range"]
    assert statuses(sessions[0])[3] == "violated"


def test_connection_no_session_explains_is_unannounced() -> None:
    connections, streams = be_backup()
    stray = conn("Cstray", M, 5050, A, 6050, 4.0, resp_bytes=10)
    sessions, findings = run([*connections, stray], streams)
    assert codes(findings) == ["unannounced_connection"]
    assert stray.role == "other" and stray.session is None
    assert "Cstray" not in sessions[0].data_connections
    assert findings[0].uid == "Cstray" and findings[0].severity == Severity.WARNING


def test_unannounced_after_sniffer_loss_names_the_loss_not_a_late_start() -> None:
    # Trial 15 (F01): the announcement was among the control connection's bytes the
    # sniffer missed; the fix said "start the capture before the job".
    connections, streams = be_backup()
    # Outside the agent range: not matched to the lossy session by its ports.
    stray = conn("Cstray", M, 5050, A, 7050, 4.0, resp_bytes=10)
    _, findings = run([*connections, stray], streams)
    assert "start the capture before the job" in findings[0].fix
    connections[0].missed_bytes = 212
    _, findings = run([*connections, stray], streams)
    assert codes(findings) == ["unannounced_connection"] and findings[0].session == "S1"
    assert "missed 212 B of session S1's control connection Cctl" in findings[0].fix
    assert "start the capture" not in findings[0].fix


def test_an_unannounced_connection_that_failed_says_how() -> None:
    # Trial 30 D3: the agent's SYNs to the media server's data port, dropped by a router,
    # read "A connection from 10.77.1.2 to 10.77.0.1:5036 ... that no control session
    # announced": nothing said they were never answered.
    connections, streams = be_backup()
    stray = conn("Cstray", A, 6050, M, 7050, 4.0, how="unanswered")
    _, findings = run([*connections, stray], streams)
    assert codes(findings) == ["unannounced_connection"]
    assert "unanswered: 2 SYNs" in findings[0].message, findings[0].message
    ok = conn("Cok", M, 5050, A, 7050, 4.0, resp_bytes=10)
    _, findings = run([*connections, ok], streams)
    assert "SYN" not in findings[0].message


def test_callback_after_data_connection_is_out_of_order() -> None:
    connections, streams = be_backup(callback_ts=4.0)
    # Frames in time order, as a capture numbers them (the order is judged by frame).
    _, callback, data = connections
    callback.first_frame = data.last_frame + 1
    callback.syn_frames, callback.synack_frames = [callback.first_frame], \
        [callback.first_frame + 1]
    sessions, findings = run(connections, streams)
    assert codes(findings) == ["step_out_of_order"]
    assert statuses(sessions[0])[1] == "violated"


def test_control_port_outside_media_range_is_a_warning() -> None:
    connections, streams = be_backup()
    connections[0].orig_p = 40000
    _, findings = run(connections, streams)
    assert codes(findings) == ["control_port_outside_media_range"]
    assert verdict(findings) == "pass"


def test_control_off_backup_network() -> None:
    connections, streams = be_backup()
    config = replace(LAB, backup_network=(__import__("ipaddress").ip_network("192.168.50.0/24"),))
    _, findings = run(connections, streams, config=config)
    # One per host outside (trial 12, D6: one per connection, and the agent's fix for a
    # media server without an address in the network).
    assert codes(findings) == ["control_off_backup_network"] * 2
    media, agent = findings
    assert media.message.startswith(f"The media server {M} is outside the backup network "
                                    "192.168.50.0/24: 3 connections of 1 session")
    assert "Give the media server" in media.fix and media.session == "S1"
    # Trial 19 D9: the agent's end as the media server reached it.
    assert agent.message.startswith(f"The media server reached the agent at {A}, outside")
    assert "resolve" in agent.fix


def test_no_control_session() -> None:
    _, findings = run([conn("Cweb", M, 5001, A, 443, 0.0)], [])
    # The configured hosts' connection no session explains: unannounced_connection, in
    # a capture without a session too (new-user trial 54).
    assert codes(findings) == ["no_control_session", "unannounced_connection"]
    assert "10000" in findings[0].message


# --- plain NDMP (ndmjob-like) scenarios ----------------------------------------------

def ndmp_backup(*, agent_port: int = 6001, data_how: str = "ok", listen_error: bool = False,
                halt: str | None = None) -> tuple[list[Connection], list[NdmpStream]]:
    """ndmjob: DATA_CONNECT tells the agent to connect to the mover's endpoint."""
    control = conn("Nctl", M, 5001, A, 10000, 0.0, end=20.0, orig_bytes=500, resp_bytes=700)
    data = conn("Ndata", A, agent_port, M, 5002, 3.0, how=data_how,
                orig_bytes=80_000 if data_how == "ok" else 0)
    messages = [msg(2, 0.1, "orig", "request", "CONNECT_OPEN"),
                msg(3, 0.2, "resp", "reply", "CONNECT_OPEN")]
    stream = NdmpStream("Nctl", version=4, messages=messages)
    if listen_error:
        messages += [msg(20, 2.0, "orig", "request", "DATA_LISTEN"),
                     msg(21, 2.1, "resp", "reply", "DATA_LISTEN", error=1,
                         error_name="NDMP_NOT_SUPPORTED_ERR")]
        return [control], [stream]
    messages += [msg(20, 2.0, "orig", "request", "DATA_CONNECT")]
    if data_how == "ok":
        messages.append(msg(21, 2.1, "resp", "reply", "DATA_CONNECT"))
    messages += [msg(22, 2.2, "orig", "request", "DATA_START_BACKUP"),
                 msg(23, 2.3, "resp", "reply", "DATA_START_BACKUP")]
    if data_how != "ok":
        messages.append(msg(21, 9.0, "resp", "reply", "DATA_CONNECT", error=23,
                            error_name="NDMP_CONNECT_ERR"))
    if halt:
        messages.append(msg(40, 10.0, "resp", "post", "NOTIFY_DATA_HALTED",
                            body={"reason": halt}))
    stream.announcements.append(announce("Nctl", M, 5002, 20, 2.0, "NDMP_DATA_CONNECT", "mover"))
    return [control, data], [stream]


def test_ndmp_backup_passes() -> None:
    connections, streams = ndmp_backup(halt="SUCCESSFUL")
    sessions, findings = run(connections, streams, profile="ndmp")
    assert findings == []
    assert statuses(sessions[0]) == ["ok"] * 4
    assert sessions[0].data_connections == ["Ndata"] and sessions[0].callback_uid is None


def test_ndmp_traffic_under_backup_exec_lacks_the_callback() -> None:
    connections, streams = ndmp_backup()
    sessions, findings = run(connections, streams, profile="backup-exec-9")
    assert "step_missing" in codes(findings)
    missing = next(f for f in findings if f.code == "step_missing")
    assert "callback" in missing.message and "--profile ndmp" in missing.message
    # The agent's connection to the announced endpoint is data, never taken as callback.
    assert sessions[0].callback_uid is None and sessions[0].data_connections == ["Ndata"]
    assert statuses(sessions[0])[1] == "missing"


def test_ndmp_agent_port_outside_range() -> None:
    connections, streams = ndmp_backup(agent_port=7001)
    _, findings = run(connections, streams, profile="ndmp")
    assert codes(findings) == ["port_outside_agent_range"]
    assert "7001" in findings[0].message and "6001-6100" in findings[0].message


def test_ndmp_dropped_data_connection_reports_only_the_drop() -> None:
    connections, streams = ndmp_backup(data_how="unanswered", halt="CONNECT_ERROR")
    sessions, findings = run(connections, streams, profile="ndmp")
    assert codes(findings) == ["data_unanswered"]  # not the CONNECT_ERR reply, not the halt
    assert statuses(sessions[0]) == ["ok", "ok", "failed", "missing"]
    assert "inbound on the media server" in findings[0].fix and "5001-5100" in findings[0].fix


def test_ndmp_listen_not_supported_is_one_error_reply() -> None:
    connections, streams = ndmp_backup(listen_error=True)
    sessions, findings = run(connections, streams, profile="ndmp")
    assert codes(findings) == ["ndmp_error_reply"]
    assert findings[0].severity == Severity.ERROR and findings[0].frames == [21]
    assert "DATA_LISTEN" in findings[0].message and "NOT_SUPPORTED" in findings[0].message
    assert statuses(sessions[0]) == ["ok", "failed", "missing", "missing"]


def test_ndmp_abnormal_halt() -> None:
    connections, streams = ndmp_backup(halt="ABORTED")
    _, findings = run(connections, streams, profile="ndmp")
    assert codes(findings) == ["data_halted_abnormally"]
    assert "ABORTED" in findings[0].message
    # The fix reads the reason: a stopped job, not the ports or the tape (a new-user
    # trial: every reason got the same text).
    assert "the job was stopped" in findings[0].fix
    assert "port ranges" not in findings[0].fix and "tape" not in findings[0].fix


def test_mover_connect_closed_is_normal() -> None:
    connections, streams = ndmp_backup()
    streams[0].messages.append(msg(50, 11.0, "orig", "post", "NOTIFY_MOVER_HALTED",
                                   body={"reason": "CONNECT_CLOSED"}))
    _, findings = run(connections, streams, profile="ndmp")
    assert findings == []


def test_mover_media_error_halt_points_at_the_tape() -> None:
    """A v4 NOTIFY_MOVER_HALTED with reason 5, as the decoder reads it: MEDIA_ERROR, the
    tape (it was 'UNKNOWN_5', and the fix sent the user to the halting side's log)."""
    body = decode_body("NOTIFY_MOVER_HALTED", False, struct.pack(">I", 5), 4).body.fields
    connections, streams = ndmp_backup()
    streams[0].messages.append(msg(50, 11.0, "orig", "post", "NOTIFY_MOVER_HALTED",
                                   body=body))
    _, findings = run(connections, streams, profile="ndmp")
    assert codes(findings) == ["data_halted_abnormally"]
    assert "mover (tape side) halted with reason MEDIA_ERROR" in findings[0].message
    assert "MEDIA_ERROR points at the tape" in findings[0].fix


@pytest.mark.parametrize(("later_ok", "severity"), [(True, Severity.WARNING),
                                                    (False, Severity.ERROR)])
def test_connect_open_error_severity(later_ok: bool, severity: Severity) -> None:
    connections, streams = ndmp_backup()
    refused = msg(3, 0.2, "resp", "reply", "CONNECT_OPEN", error=1,
                  error_name="NDMP_NOT_SUPPORTED_ERR")
    retry = [msg(4, 0.3, "orig", "request", "CONNECT_OPEN"),
             msg(5, 0.4, "resp", "reply", "CONNECT_OPEN")] if later_ok else []
    streams[0].messages[1:2] = [refused, *retry]
    _, findings = run(connections, streams, profile="ndmp")
    replies = [f for f in findings if f.code == "ndmp_error_reply"]
    assert replies and {f.severity for f in replies} == {severity}


def test_poll_error_reply_is_a_warning() -> None:
    connections, streams = ndmp_backup()
    streams[0].messages.append(msg(60, 12.0, "resp", "reply", "MOVER_GET_STATE", error=19,
                                   error_name="NDMP_ILLEGAL_STATE_ERR"))
    _, findings = run(connections, streams, profile="ndmp")
    assert codes(findings) == ["ndmp_error_reply"]
    assert findings[0].severity == Severity.WARNING and verdict(findings) == "pass"


def test_repeated_poll_errors_count_the_frames_not_listed() -> None:
    """Trial 20 D13: the message lists 8 frames and says how many more, not ", ..."."""
    connections, streams = ndmp_backup()
    streams[0].messages += [msg(60 + i, 12.0 + i, "resp", "reply", "MOVER_GET_STATE",
                                error=19, error_name="NDMP_ILLEGAL_STATE_ERR")
                            for i in range(11)]
    _, findings = run(connections, streams, profile="ndmp")
    (finding,) = findings
    assert "(11 times, frames 60, 61, 62, 63, 64, 65, 66, 67 and 3 more," in finding.message
    assert finding.frames == list(range(60, 71)) and finding.frames_more == 0


def test_concurrent_sessions_get_their_own_data_connections() -> None:
    control1 = conn("C1", M, 5001, A, 10000, 0.0, end=30.0)
    control2 = conn("C2", M, 5010, A, 10000, 0.5, end=30.0)
    data1 = conn("D1", A, 6001, M, 5002, 3.0, orig_bytes=10)
    data2 = conn("D2", A, 6003, M, 5011, 2.5, orig_bytes=10)
    streams = []
    for uid, port, ts in (("C1", 5002, 2.0), ("C2", 5011, 2.2)):
        stream = NdmpStream(uid, 4, messages=[msg(9, ts, "orig", "request", "DATA_CONNECT"),
                                              msg(10, ts + 0.1, "resp", "reply", "DATA_CONNECT")])
        stream.announcements.append(announce(uid, M, port, 9, ts, "NDMP_DATA_CONNECT", "mover"))
        streams.append(stream)
    sessions, findings = run([control1, control2, data1, data2], streams, profile="ndmp")
    assert findings == []
    assert [s.data_connections for s in sessions] == [["D1"], ["D2"]]
    assert (data1.session, data2.session) == ("S1", "S2")


def test_port_reused_within_hold_and_range_too_small() -> None:
    config = replace(LAB, media_range=((5001, 5004),), explicit=LAB.explicit)
    connections: list[Connection] = []
    streams: list[NdmpStream] = []
    for n, start in enumerate((0.0, 30.0)):
        control = conn(f"C{n}", M, 5001, A, 10000, start, end=start + 20)
        data = conn(f"D{n}", A, 6001 + n, M, 5002, start + 3, end=start + 10, orig_bytes=10)
        stream = NdmpStream(control.uid, 4,
                            messages=[msg(9, start + 2, "orig", "request", "DATA_CONNECT")])
        stream.announcements.append(
            announce(control.uid, M, 5002, 9, start + 2, "NDMP_DATA_CONNECT", "mover"))
        connections += [control, data]
        streams.append(stream)
    _, findings = run(connections, streams, config=config, profile="ndmp")
    assert "port_reused_within_hold" in codes(findings)
    reused = [f for f in findings if f.code == "port_reused_within_hold"]
    assert {f.uid for f in reused} == {"C1", "D1"}  # the second use of 5001 and 5002
    # Four ports held at most (5001 and 5002 each twice, within the hold), range has 4.
    assert "range_too_small" not in codes(findings)
    # Plain NDMP has no job engine port, but the control connection's: 3 resources need
    # 4 media ports, 4 need 5 (trial 20, D8).
    _, findings = run(connections, streams, config=replace(config, resources=3),
                      profile="ndmp")
    assert "range_too_small" not in codes(findings)
    _, findings = run(connections, streams, config=replace(config, resources=4),
                      profile="ndmp")
    assert codes(findings).count("range_too_small") == 1


@pytest.mark.parametrize(("profile", "media", "agent", "short"), [
    # media 5 + the job engine's + the control connection's, agent 5 + the callback's
    # source
    ("backup-exec-9", (5001, 5007), (6001, 6006), set()),
    ("backup-exec-9", (5001, 5006), (6001, 6006), {"media"}),
    ("backup-exec-9", (5001, 5010), (6001, 6005), {"agent"}),
    # no callback, no job engine port; the control connection's
    ("ndmp", (5001, 5006), (6001, 6005), set()),
    ("ndmp", (5001, 5005), (6001, 6005), {"media"}),
])
def test_range_too_small_for_resources_counts_as_plan_does(
        profile: str, media: tuple[int, int], agent: tuple[int, int], short: set[str]) -> None:
    config = replace(LAB, media_range=(media,), agent_range=(agent,), resources=5)
    _, findings = run([], [], config=config, profile=profile)
    too_small = [f for f in findings if f.code == "range_too_small"]
    assert {f.message.split()[1] for f in too_small} == short
    assert all("by 1 port, to at least" in f.fix for f in too_small)


def test_range_too_small_from_traffic() -> None:
    config = replace(LAB, media_range=((5001, 5002),))
    control = conn("C0", M, 5001, A, 10000, 0.0, end=20.0)
    stream = NdmpStream("C0", 4, messages=[msg(1, 0.1, "resp", "post", "NOTIFY_CONNECTED")])
    connections = [control]
    for n in range(3):
        connections.append(conn(f"D{n}", A, 6001 + n, M, 5002 + n, 3.0 + n, orig_bytes=9))
        stream.announcements.append(announce("C0", M, 5002 + n, 9 + n, 2.0 + n,
                                             "NDMP_DATA_CONNECT", "mover"))
    _, findings = run(connections, [stream], config=config, profile="ndmp")
    too_small = [f for f in findings if f.code == "range_too_small"]
    assert len(too_small) == 1 and "4 ports" in too_small[0].message  # control's too
    assert "has 2" in too_small[0].message
    wide = replace(config, media_range=((5001, 5004),))
    _, findings = run(connections, [stream], config=wide, profile="ndmp")
    assert findings == []


def test_multi_homed_data_on_other_network_keeps_its_roles() -> None:
    """Control on 10.78/24, data on 10.77/24 between the same two machines."""
    m2, a2 = "10.78.0.1", "10.78.0.2"
    control = conn("Cctl", m2, 5001, a2, 10000, 0.0, end=20.0)
    callback = conn("Ccb", a2, 6002, m2, 5002, 1.0)
    data = conn("Cdata", M, 5003, A, 7001, 3.0, resp_bytes=9000)
    stream = NdmpStream("Cctl", 4, messages=[
        msg(30, 2.5, "orig", "request", "DATA_START_BACKUP"),
        msg(31, 2.6, "resp", "reply", "DATA_START_BACKUP")])
    stream.announcements.append(announce("Cctl", A, 7001, 21, 2.1, "NDMP_DATA_LISTEN", "data"))
    config = replace(LAB, media_servers=(M, m2), remote_agents=(A, a2))
    sessions, findings = run([control, callback, data], [stream], config=config)
    # The agent end (7001) is judged against the agent range although 10.77.0.2 is not
    # the control connection's agent address; the media server opened it as expected.
    assert codes(findings) == ["port_outside_agent_range"]
    assert statuses(sessions[0]) == ["ok", "ok", "ok", "violated", "ok"]


def test_one_syn_never_resent_is_not_called_a_drop() -> None:
    """One SYN and then silence for 10 s: TCP would have resent a dropped SYN, so no
    "something drops its SYNs" and no control_unanswered: the sniffer lost the resends or
    a reject, so step 1 is unknown (trial 29 D4); retried SYNs still say it."""
    control = conn("Cctl", M, 5001, A, 10000, 0.0, how="unanswered")
    control.syn_frames, control.syn_retries = control.syn_frames[:1], 0
    later = conn("Clater", "10.77.0.9", 40000, "10.77.0.8", 22, 9.5, end=10.0)
    sessions, findings = run([control, later], [])
    assert not any(f.code == "control_unanswered" for f in findings)
    step1 = sessions[0].steps[0]
    assert step1.status == "unknown"
    assert f"its one SYN (frame {control.syn_frames[0]}) got no answer in the capture and " \
        "was never resent in the " in step1.detail
    assert "the sniffer lost packets here" in step1.detail
    retried = conn("Cctl", M, 5001, A, 10000, 0.0, how="unanswered")
    _, findings = run([retried], [])
    assert "something drops its SYNs" in findings[0].message


def test_unanswered_listen_is_missing_unless_the_stream_may_hide_its_reply() -> None:
    """The DATA_LISTEN reply absent, the session going on: step 3 missing, naming the
    request; but when the decoder reported bytes it could not read, the reply may be
    among them: no step_missing on that absence."""
    from flowcheck.model import Finding, Severity

    connections, streams = be_backup()
    streams[0].messages = [m for m in streams[0].messages
                           if not (m.type == "reply" and m.name.endswith("DATA_LISTEN"))]
    streams[0].announcements = []
    _, findings = run(connections, streams)
    assert any(f.code == "step_missing" and "DATA_LISTEN request (frame 20) was never "
               "answered" in f.message for f in findings)
    streams[0].findings.append(Finding("ndmp_undecodable", Severity.WARNING, "cut"))
    _, findings = run(connections, streams)
    assert not any("was never answered" in f.message for f in findings)


def test_counts_of_capped_evidence_say_so() -> None:
    """Frame lists keep the first EVIDENCE_CAP: a handshake whose SYN-ACK came 13 times
    (a real trial capture) said "8 SYN-ACK(s)"; the count of SYNs takes syn_retries."""
    control = conn("Cctl", M, 5001, A, 10000, 0.0, how="handshake")
    control.synack_frames = list(range(10, 30))  # capped at 20 of 23
    sessions, _ = run([control], [])
    assert "20 or more SYN-ACKs from 10.77.0.2" in sessions[0].steps[0].detail
    control.synack_frames = [10, 11]
    sessions, _ = run([control], [])
    assert "2 SYN-ACKs from" in sessions[0].steps[0].detail
    dropped = conn("Cctl", M, 5001, A, 10000, 0.0, how="unanswered")
    dropped.syn_retries = 11  # 12 SYNs, 2 frames kept
    _, findings = run([dropped], [])
    [finding] = [f for f in findings if f.code == "control_unanswered"]
    assert "sent 12 SYNs to the agent's NDMP port" in finding.message
    assert "something drops its SYNs" in finding.message


def test_a_port_reused_within_the_hold_counts_again() -> None:
    """Three data connections one after another on two media ports, 5002 used again (by
    a second job) 20 s after its first use ended (60 s hold): three ports had to be held
    at once, the range has two (a new-user trial: a reused port counted once hid
    range_too_small, while port_reused_within_hold's fix pointed at it)."""
    config = replace(LAB, media_range=((5001, 5002),), explicit=LAB.explicit)
    connections: list[Connection] = []
    streams: list[NdmpStream] = []
    for job, uses in enumerate((((5002, 3.0, 10.0), (5001, 12.0, 20.0)),
                                ((5002, 30.0, 40.0),))):
        control = conn(f"C{job}", M, 41000 + job, A, 10000, uses[0][1] - 2, end=50.0)
        stream = NdmpStream(control.uid, 4,
                            messages=[msg(1, control.ts + 0.1, "resp", "post", "NOTIFY_CONNECTED")])
        connections.append(control)
        for n, (port, start, end) in enumerate(uses):
            connections.append(conn(f"D{job}{n}", A, 6001 + 2 * job + n, M, port, start,
                                    end=end, orig_bytes=9))
            stream.announcements.append(announce(control.uid, M, port, 9 + n, start - 0.5,
                                                 "NDMP_DATA_CONNECT", "mover"))
        streams.append(stream)
    _, findings = run(connections, streams, config=config, profile="ndmp")
    [too_small] = [f for f in findings if f.code == "range_too_small"]
    # three data ports (5002 twice) and the two control connections' (outside the range)
    assert "needed 5 ports" in too_small.message and "has 2" in too_small.message
    assert "port_reused_within_hold" in codes(findings)
