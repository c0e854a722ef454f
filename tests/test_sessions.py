"""build_sessions: which connection belongs to which session, and in which role."""

from __future__ import annotations

from dataclasses import replace

from test_profiles import CONTROL_REPLY

from flowcheck.config import build_config
from flowcheck.model import Announcement, Connection, NdmpMessage, NdmpStream
from flowcheck.profiles import load_profile, parse_profile
from flowcheck.sessions import announcement_groups, build_sessions, connection_outcome
from flowcheck.verify import check_all

M, A = "10.77.0.1", "10.77.0.2"
LAB = build_config({"media_range": "5001-5100", "agent_range": "6001-6100"})


def conn(uid: str, orig: str, oport: int, resp: str, rport: int, ts: float, *,
         ok: bool = True, end: float | None = None, **fields: object) -> Connection:
    c = Connection(uid, orig, oport, resp, rport, ts, last_ts=ts + 5 if end is None else end,
                   syn_frames=[int(ts * 10) + 1], **fields)  # type: ignore[arg-type]
    if ok:
        c.synack_frames, c.established, c.conn_state = [int(ts * 10) + 2], True, "SF"
    else:
        c.conn_state = "S0"
    return c


def ann(control: str, ip: str, port: int, frame: int, ts: float,
        message: str = "NDMP_DATA_CONNECT", listener: str = "mover") -> Announcement:
    return Announcement(control, ip, port, frame, ts, message, listener)  # type: ignore[arg-type]


def request(name: str, ts: float) -> NdmpMessage:
    return NdmpMessage(5, ts, "orig", 1, "request", 0, name, 0, 0)


def test_outcomes() -> None:
    assert connection_outcome(conn("a", M, 1, A, 2, 0.0)) == "established"
    assert connection_outcome(conn("b", M, 1, A, 2, 0.0, ok=False)) == "unanswered"
    refused = conn("c", M, 1, A, 2, 0.0, ok=False, resp_rst=True)
    assert connection_outcome(refused) == "refused"
    half = conn("d", M, 1, A, 2, 0.0, ok=False, synack_frames=[3])
    assert connection_outcome(half) == "handshake_incomplete"
    midstream = Connection("e", M, 1, A, 2, 0.0, conn_state="OTH", orig_bytes=10)
    assert connection_outcome(midstream) == "midstream"


def test_alternatives_share_a_frame_and_same_endpoint_merges() -> None:
    groups = announcement_groups([ann("c", M, 5002, 10, 1.0), ann("c", "192.168.1.1", 5002,
                                                                   10, 1.0),
                                  ann("c", M, 5002, 30, 2.0), ann("c", M, 5009, 40, 3.0)])
    assert [len(g) for g in groups] == [3, 1]


def test_v4_multi_address_alternative_reached() -> None:
    control = conn("C", M, 5001, A, 10000, 0.0, end=20.0)
    # closed by both sides: a transfer open at the capture's end would be unknown
    data = conn("D", A, 6001, M, 5002, 3.0, orig_bytes=5, history="ShADadFf")
    stream = NdmpStream("C", 4, announcements=[ann("C", "192.168.9.1", 5002, 9, 2.0),
                                               ann("C", M, 5002, 9, 2.0)])
    (session,) = build_sessions([control, data], [stream], LAB, load_profile("ndmp"))
    assert session.data_connections == ["D"]
    assert [a.used_by for a in stream.announcements] == [None, "D"]
    profile = load_profile("ndmp")
    findings = check_all([control, data], [stream], [session], LAB, profile)
    assert findings == []  # the unused alternative is not announced_not_used


def test_connection_before_announcement_is_not_attached() -> None:
    control = conn("C", M, 5001, A, 10000, 0.0, end=20.0)
    early = conn("E", A, 6001, M, 5002, 1.0)
    late = conn("L", A, 6002, M, 5002, 3.0)
    stream = NdmpStream("C", 4, announcements=[ann("C", M, 5002, 9, 2.0)])
    (session,) = build_sessions([control, early, late], [stream], LAB, load_profile("ndmp"))
    assert session.data_connections == ["L"] and early.role == "other"


def test_failed_retries_from_new_ports_belong_to_the_expectation() -> None:
    control = conn("C", M, 5001, A, 10000, 0.0, end=30.0)
    tries = [conn(f"T{n}", A, 6001 + n, M, 5002, 3.0 + n, ok=False) for n in range(3)]
    stream = NdmpStream("C", 4, announcements=[ann("C", M, 5002, 9, 2.0)])
    (session,) = build_sessions([control, *tries], [stream], LAB, load_profile("ndmp"))
    assert session.data_connections == ["T0", "T1", "T2"]
    findings = check_all([control, *tries], [stream], [session], LAB, load_profile("ndmp"))
    assert [f.code for f in findings] == ["data_unanswered"]
    assert "3 attempts" in findings[0].message


def test_control_without_stream_is_a_session() -> None:
    control = conn("C", M, 5001, A, 10000, 0.0, ok=False)
    (session,) = build_sessions([control], [], LAB, load_profile("backup-exec-9"))
    assert session.control_uid == "C" and session.version is None
    assert control.role == "control" and control.session == session.id


def test_callback_prefers_media_range_and_stays_within_control() -> None:
    control = conn("C", M, 5001, A, 10000, 0.0, end=10.0)
    outside = conn("O", A, 6001, M, 445, 0.5)
    inside = conn("I", A, 6002, M, 5002, 1.0)
    after = conn("X", A, 6003, M, 5003, 30.0)
    connections = [control, outside, inside, after]
    (session,) = build_sessions(connections, [], LAB, load_profile("backup-exec-9"))
    assert session.callback_uid == "I" and inside.role == "callback"
    assert outside.role == after.role == "other"


def test_overlapping_sessions_do_not_cross_callbacks() -> None:
    """Job 1's callback comes late, after job 2's: each session keeps its own."""
    be9 = load_profile("backup-exec-9")
    control1 = conn("K1", M, 5010, A, 10000, 0.0, end=10.0)
    control2 = conn("K2", M, 5011, A, 10000, 0.1, end=10.0)
    callback2 = conn("B2", A, 6001, M, 5051, 0.2)
    data2 = conn("D2", M, 5052, A, 6002, 0.4)
    callback1 = conn("B1", A, 6003, M, 5001, 0.6)
    data1 = conn("D1", M, 5002, A, 6004, 0.8)
    streams = [NdmpStream("K1", 4, announcements=[ann("K1", A, 6004, 7, 0.7,
                                                      "NDMP_DATA_LISTEN", "data")]),
               NdmpStream("K2", 4, announcements=[ann("K2", A, 6002, 5, 0.3,
                                                      "NDMP_DATA_LISTEN", "data")])]
    connections = [control1, control2, callback2, data2, callback1, data1]
    first, second = build_sessions(connections, streams, LAB, be9)
    assert (first.callback_uid, first.data_connections) == ("B1", ["D1"])
    assert (second.callback_uid, second.data_connections) == ("B2", ["D2"])
    codes = {f.code for f in check_all(connections, streams, [first, second], LAB, be9)}
    assert "step_out_of_order" not in codes


M2, A2 = "10.77.0.3", "10.77.0.4"


def test_an_announcement_is_matched_only_to_its_own_sessions_connector() -> None:
    """Two jobs whose agents both announce 10.77.0.2:6001 (the second behind a NAT that
    did not translate its DATA_LISTEN reply): the second, announced first, does not take
    the first job's connection (opened by the other media server); it takes its own, to
    its agent's control address. A second interface of its media server (an address no
    session uses) may still connect."""
    be9 = load_profile("backup-exec-9")
    control1 = conn("K1", M, 5010, A, 10000, 0.0, end=10.0)
    control2 = conn("K2", M2, 5011, A2, 10000, 0.1, end=10.0)
    data1 = conn("D1", M, 5002, A, 6001, 0.5)
    data2 = conn("D2", M2, 5002, A2, 6001, 0.6, ok=False)
    streams = [NdmpStream("K1", 4, announcements=[ann("K1", A, 6001, 7, 0.4,
                                                      "NDMP_DATA_LISTEN", "data")]),
               NdmpStream("K2", 4, announcements=[ann("K2", A, 6001, 5, 0.3,
                                                      "NDMP_DATA_LISTEN", "data")])]
    connections = [control1, control2, data1, data2]
    first, second = build_sessions(connections, streams, LAB, be9)
    assert first.data_connections == ["D1"] and streams[0].announcements[0].used_by == "D1"
    assert second.data_connections == ["D2"] and second.address_matched == [("D2", A)]
    # Alone, the second job's announcement is reached from its media server's other
    # interface: still its connection.
    other_nic = conn("D3", "10.88.0.3", 5002, A, 6001, 0.5)
    (alone,) = build_sessions([control2, other_nic], streams[1:], LAB, be9)
    assert alone.data_connections == ["D3"]


def test_a_mover_listen_is_matched_only_to_its_own_sessions_agent() -> None:
    """MOVER_LISTEN: the agent connects. Two jobs whose media servers announce one
    endpoint: each job's agent connection stays its own, whatever the order."""
    ndmp = load_profile("ndmp")
    control1 = conn("K1", M, 5010, A, 10000, 0.0, end=10.0)
    control2 = conn("K2", M, 5011, A2, 10000, 0.1, end=10.0)
    data1 = conn("D1", A, 6001, M, 5002, 0.5)
    data2 = conn("D2", A2, 6001, M, 5002, 0.6)
    streams = [NdmpStream(uid, 4, announcements=[ann(uid, M, 5002, frame, ts,
                                                     "NDMP_MOVER_LISTEN", "mover")])
               for uid, frame, ts in (("K1", 7, 0.45), ("K2", 5, 0.3))]
    first, second = build_sessions([control1, control2, data1, data2], streams, LAB, ndmp)
    assert (first.data_connections, second.data_connections) == (["D1"], ["D2"])


def test_a_callback_after_the_data_connection_is_still_out_of_order() -> None:
    be9 = load_profile("backup-exec-9")
    control = conn("K1", M, 5010, A, 10000, 0.0, end=10.0)
    data = conn("D1", M, 5002, A, 6004, 0.8)
    callback = conn("B1", A, 6003, M, 5001, 1.5)
    streams = [NdmpStream("K1", 4, announcements=[ann("K1", A, 6004, 7, 0.7,
                                                      "NDMP_DATA_LISTEN", "data")])]
    (session,) = build_sessions([control, data, callback], streams, LAB, be9)
    assert session.callback_uid == "B1"
    codes = {f.code for f in check_all([control, data, callback], streams, [session],
                                       LAB, be9)}
    assert "step_out_of_order" in codes


def test_every_data_connection_opened_by_the_agent_is_named_once() -> None:
    be9 = load_profile("backup-exec-9")
    control = conn("K1", M, 5010, A, 10000, 0.0, end=10.0)
    callback = conn("B1", A, 6003, M, 5001, 0.2)
    first = conn("D1", A, 6001, M, 5002, 0.8)
    second = conn("D2", A, 6002, M, 5003, 1.8)
    streams = [NdmpStream("K1", 4, announcements=[
        ann("K1", M, 5002, 7, 0.7), ann("K1", M, 5003, 17, 1.7)])]
    connections = [control, callback, first, second]
    sessions = build_sessions(connections, streams, LAB, be9)
    findings = check_all(connections, streams, sessions, LAB, be9)
    (finding,) = [f for f in findings if f.code == "step_out_of_order"]
    assert "10.77.0.2:6001 -> 10.77.0.1:5002, 10.77.0.2:6002 -> 10.77.0.1:5003" in \
        finding.message
    # Trial 20 D5 b: the rule names the media range, not the job's one-off ports.
    assert f"TCP from {A} to {M} ports 5001-5100 (media range)." in finding.fix, finding.fix
    assert "5002, 5003" not in finding.fix
    assert set(finding.frames) == {9, 10, 19, 20}  # both openings
    assert sessions[0].steps[3].status == "violated"


def test_kind_restore_and_browse() -> None:
    control = conn("C", M, 5001, A, 10000, 0.0, end=10.0)
    stream = NdmpStream("C", 4, messages=[request("DATA_START_RECOVER", 1.0)])
    (session,) = build_sessions([control], [stream], LAB, load_profile("ndmp"))
    assert session.kind == "restore"
    stream = NdmpStream("C", 4, messages=[request("CONFIG_GET_HOST_INFO", 1.0)])
    (session,) = build_sessions([control], [stream], LAB, load_profile("ndmp"))
    assert session.kind == "browse"


def test_kind_from_the_movers_mode_before_data_start() -> None:
    """A three-way restore whose data connection failed before DATA_START_RECOVER: the
    MOVER_LISTEN request's mode WRITE (the tape's data onto the connection) says restore;
    READ says backup, whatever bytes went each way."""
    for mode, kind, to_agent in (("WRITE", "restore", 0), ("READ", "backup", 90_000)):
        control = conn("C", M, 5001, A, 10000, 0.0, end=10.0)
        data = conn("D", A, 6001, M, 5002, 2.0, ok=False, resp_bytes=to_agent)
        listen = request("NDMP_MOVER_LISTEN", 1.0)
        listen.body["mode"] = mode
        stream = NdmpStream("C", 4, messages=[listen, request("NDMP_DATA_CONNECT", 1.5)],
                            announcements=[ann("C", M, 5002, 9, 1.0, "NDMP_MOVER_LISTEN")])
        (session,) = build_sessions([control, data], [stream], LAB, load_profile("ndmp"))
        assert session.kind == kind


def test_kind_from_bytes_without_data_start() -> None:
    control = conn("C", M, 5001, A, 10000, 0.0, end=10.0)
    data = conn("D", M, 5002, A, 6001, 2.0, orig_bytes=90_000, resp_bytes=10)
    stream = NdmpStream("C", 4, announcements=[ann("C", A, 6001, 9, 1.0, "NDMP_DATA_LISTEN",
                                                   "data")])
    (session,) = build_sessions([control, data], [stream], LAB, load_profile("backup-exec-9"))
    assert session.kind == "restore"


def test_control_reply_reading_of_the_technote() -> None:
    profile = parse_profile(CONTROL_REPLY)
    config = replace(LAB, profile=profile.name)
    control = conn("C", M, 5001, A, 10000, 0.0, resp_bytes=100, resp_pkts=3)
    sessions = build_sessions([control], [], config, profile)
    assert check_all([control], [], sessions, config, profile) == []
    assert [s.status for s in sessions[0].steps] == ["ok", "ok"]
    control.orig_p = 40000
    findings = check_all([control], [], sessions, config, profile)
    assert [f.code for f in findings] == ["port_outside_media_range"]
    assert [s.status for s in sessions[0].steps] == ["ok", "violated"]


def test_building_again_gives_the_same_answer() -> None:
    control = conn("C", M, 5001, A, 10000, 0.0, end=20.0)
    data = conn("D", A, 6001, M, 5002, 3.0)
    stream = NdmpStream("C", 4, announcements=[ann("C", M, 5002, 9, 2.0)])
    first = build_sessions([control, data], [stream], LAB, load_profile("ndmp"))
    second = build_sessions([control, data], [stream], LAB, load_profile("ndmp"))
    assert first == second and data.role == "data"
    # Under backup-exec-9 the same traffic is read again from scratch, not on top.
    (session,) = build_sessions([control, data], [stream], LAB, load_profile("backup-exec-9"))
    assert session.data_connections == ["D"] and session.callback_uid is None


def test_a_three_way_jobs_two_announcements_share_one_data_connection() -> None:
    """One DMA (M), two control connections: MOVER_LISTEN's reply from the tape server T,
    DATA_CONNECT to the data server A with that endpoint; A connects to T. Both are
    reached by it, and it is the data server's session's, whatever the order of the
    sessions (the tape server's MOVER_LISTEN was left unused)."""
    tape_host = "10.77.0.3"
    tape = conn("Ktape", M, 5010, tape_host, 10000, 0.0, end=20.0)
    data_ctl = conn("Kdata", M, 5011, A, 10000, 0.1, end=20.0)
    data = conn("D", A, 6001, tape_host, 5040, 2.1, orig_bytes=5)
    streams = [NdmpStream("Ktape", 4, announcements=[
                   ann("Ktape", tape_host, 5040, 9, 2.0, "NDMP_MOVER_LISTEN")]),
               NdmpStream("Kdata", 4, announcements=[
                   ann("Kdata", tape_host, 5040, 12, 2.05, "NDMP_DATA_CONNECT")])]
    first, second = build_sessions([tape, data_ctl, data], streams, LAB, load_profile("ndmp"))
    assert [a.used_by for s in (first, second) for a in s.announced] == ["D", "D"]
    assert (data.session, first.data_connections, second.data_connections) == (
        second.id, [], ["D"])


def test_a_stale_listen_reply_is_not_a_later_jobs_half() -> None:
    """The tape server answers MOVER_LISTEN with the same endpoint for two jobs of one
    DMA; the first job's went unused. The second job's DATA_CONNECT carries the second
    reply's endpoint: the first reply keeps its own (missing) connection."""
    tape_host = "10.77.0.3"
    tape1 = conn("Ktape1", M, 5010, tape_host, 10000, 0.0, end=5.0)
    tape2 = conn("Ktape2", M, 5012, tape_host, 10000, 8.0, end=20.0)
    data_ctl = conn("Kdata", M, 5011, A, 10000, 8.1, end=20.0)
    data = conn("D", A, 6001, tape_host, 5040, 10.2, orig_bytes=5)
    streams = [NdmpStream("Ktape1", 4, announcements=[
                   ann("Ktape1", tape_host, 5040, 9, 1.0, "NDMP_MOVER_LISTEN")]),
               NdmpStream("Ktape2", 4, announcements=[
                   ann("Ktape2", tape_host, 5040, 90, 10.0, "NDMP_MOVER_LISTEN")]),
               NdmpStream("Kdata", 4, announcements=[
                   ann("Kdata", tape_host, 5040, 95, 10.1, "NDMP_DATA_CONNECT")])]
    sessions = build_sessions([tape1, tape2, data_ctl, data], streams, LAB,
                              load_profile("ndmp"))
    used = {s.control_uid: [a.used_by for a in s.announced] for s in sessions}
    assert used == {"Ktape1": [None], "Ktape2": ["D"], "Kdata": ["D"]}
