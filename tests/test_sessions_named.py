"""Data connections of several jobs at once whose announcements the sniffer lost: each
goes to the session whose GET_STATE replies name its endpoint, and when nothing names
it and several sessions fit alike, to none (trial 14 D7: all four went to S1, the three
other good jobs read unknown)."""

from __future__ import annotations

from pathlib import Path

from test_sessions import LAB, conn

from flowcheck.config import build_config, load_file
from flowcheck.model import NdmpAddress, NdmpMessage, NdmpStream, connection_ends
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.profiles import load_profile
from flowcheck.sessions import build_sessions
from flowcheck.sessions.named import named_endpoints
from flowcheck.verify import check_all

CAPTURES = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-sniffloss"
MEDIA, AGENT = "10.0.0.1", "10.0.0.2"


def _analyse(name: str):
    config = build_config(load_file(CAPTURES / f"{name}.toml"))
    return analyze(read_traffic([str(CAPTURES / f"{name}.pcap.gz")], config), config)


def test_parallel_jobs_take_the_connections_their_get_state_replies_name() -> None:
    analysis = _analyse("par-ann-media")
    assert analysis.verdict == "pass"
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    owned = {s.id: [f"{by_uid[u].resp_h}:{by_uid[u].resp_p}" for u in s.data_connections]
             for s in analysis.sessions}
    assert owned == {"S1": ["10.77.0.1:5853"], "S2": ["10.77.0.1:5747"],
                     "S3": ["10.77.0.1:5697"], "S4": ["10.77.0.1:5831"]}
    step3 = analysis.sessions[1].steps[2]
    assert "to the endpoint the DATA_GET_STATE reply of frame 66 names" in step3.detail


def test_parallel_jobs_with_nothing_naming_their_connections_take_none() -> None:
    analysis = _analyse("par-alladdr-media")
    assert analysis.verdict == "inconclusive"
    data = [c for c in analysis.traffic.connections if c.role == "data"]
    assert len(data) == 4 and all(c.session is None for c in data)
    assert "unannounced_connection" not in {f.code for f in analysis.findings}
    for session in analysis.sessions:
        assert not session.data_connections and session.port_tied == [c.uid for c in data]
        step2 = session.steps[1]
        assert step2.status == "unknown"
        assert "fit this session and" in step2.detail and "names whose endpoint" in step2.detail


def _get_state(frame: int, ts: float, ip: str, port: int, *, error: int = 0) -> NdmpMessage:
    return NdmpMessage(frame, ts, "resp", 2, "reply", 0x400, "NDMP_DATA_GET_STATE", error, 1,
                       addresses=[NdmpAddress(ip, port)])


def test_named_endpoints_skip_error_replies_and_unset_addresses() -> None:
    stream = NdmpStream("C1", 4, messages=[
        _get_state(5, 1.0, "0.0.0.0", 0), _get_state(6, 1.5, MEDIA, 5001, error=9),
        _get_state(7, 2.0, MEDIA, 5002), _get_state(9, 3.0, MEDIA, 5002)])
    assert named_endpoints(stream) == {(MEDIA, 5002): (7, "NDMP_DATA_GET_STATE")}
    assert named_endpoints(None) == {}


def _lossy_jobs(named: dict[int, int]) -> tuple[list, list[NdmpStream]]:
    """Two jobs at once between one pair, both control streams with a hole (missed
    bytes) and no announcement read, each agent connecting to the media server (plain
    NDMP: either side may); `named`: job -> the media port its GET_STATE reply names."""
    conns, streams = [], []
    for k in (0, 1):
        control = conn(f"C{k}", MEDIA, 20000 + k, AGENT, 10000, k * 0.1, end=10.0)
        control.missed_bytes = 48
        conns.append(control)
        conns.append(conn(f"D{k}", AGENT, 6001 + k, MEDIA, 5001 + k, 1.0 + k * 0.1, end=9.0,
                          orig_bytes=100_000))
        messages = [NdmpMessage(3, k * 0.1 + 0.01, "orig", 1, "request", 0x401,
                                "NDMP_DATA_START_BACKUP", 0, 0)]
        if k in named:
            messages.append(_get_state(50 + k, 5.0, MEDIA, named[k]))
        streams.append(NdmpStream(f"C{k}", 4, messages=messages))
    return conns, streams


def test_each_session_takes_the_connection_it_names_even_crosswise() -> None:
    conns, streams = _lossy_jobs({0: 5002, 1: 5001})
    sessions = build_sessions(conns, streams, LAB, load_profile("ndmp"))
    assert [s.data_connections for s in sessions] == [["D1"], ["D0"]]
    assert sessions[0].port_named == {"D1": (50, "NDMP_DATA_GET_STATE")}


def test_the_one_session_naming_nothing_takes_what_the_others_do_not_name() -> None:
    conns, streams = _lossy_jobs({1: 5001})  # S2 names D0's endpoint; S1 names none
    sessions = build_sessions(conns, streams, LAB, load_profile("ndmp"))
    assert [s.data_connections for s in sessions] == [["D1"], ["D0"]]
    assert not any(s.port_tied for s in sessions)


def test_connections_nothing_names_are_tied_not_given_to_the_first() -> None:
    conns, streams = _lossy_jobs({})
    sessions = build_sessions(conns, streams, LAB, load_profile("ndmp"))
    assert [s.data_connections for s in sessions] == [[], []]
    assert [(s.port_tied, s.tied_with) for s in sessions] == [(["D0", "D1"], ["S2"]),
                                                             (["D0", "D1"], ["S1"])]
    assert {(c.uid, c.role, c.session) for c in conns if c.uid.startswith("D")} == {
        ("D0", "data", None), ("D1", "data", None)}


def test_one_lossy_session_keeps_every_connection_that_fits() -> None:
    conns, streams = _lossy_jobs({})
    alone = [c for c in conns if c.uid != "C1"]  # today's rule: no other session fits
    sessions = build_sessions(alone, streams[:1], LAB, load_profile("ndmp"))
    assert sessions[0].data_connections == ["D0", "D1"] and not sessions[0].port_tied


def test_a_tied_connection_that_failed_is_named_in_each_sessions_announcement_step() -> None:
    conns, streams = _lossy_jobs({})
    failed = next(c for c in conns if c.uid == "D1")
    failed.synack_frames, failed.established, failed.conn_state = [], False, "S0"
    failed.orig_bytes, failed.resp_rst = 0, True
    profile = load_profile("ndmp")
    sessions = build_sessions(conns, streams, LAB, profile)
    findings = check_all(conns, streams, sessions, LAB, profile)
    assert "unannounced_connection" not in {f.code for f in findings}
    for session in sessions:
        step2 = session.steps[1]
        assert step2.status == "unknown"
        ends = {c.uid: connection_ends(c) for c in conns}
        assert f"D0 ({ends['D0']}), D1 ({ends['D1']}) fit this session and" in step2.detail
        assert "of them failed: D1 (10.0.0.1:5002: refused" in step2.detail, step2.detail


def test_a_connection_whose_handshake_was_lost_fits_its_session_once() -> None:
    # Trial 30 D1: `tcpdump -i any` on a router (each packet twice, a third lost) cut a
    # cancelled job's control stream and the data connection's handshake. Plain NDMP
    # lets either side listen, so the connection fitted the session as the mover's (A to
    # M, the way its first packet went) and, turned round, as the data agent's: the
    # session was tied with itself and the report ended in an IndexError.
    conns, streams = _lossy_jobs({})
    alone = [c for c in conns if c.uid not in ("C1", "D1")]
    data = next(c for c in alone if c.uid == "D0")
    data.syn_frames, data.synack_frames, data.established, data.history = [], [], False, "DdR"
    profile = load_profile("ndmp")
    sessions = build_sessions(alone, streams[:1], LAB, profile)
    assert sessions[0].data_connections == ["D0"] and not sessions[0].port_tied
    assert sessions[0].port_listener == {"D0": "mover"}
    findings = check_all(alone, streams[:1], sessions, LAB, profile)
    assert "unannounced_connection" not in {f.code for f in findings}


def test_a_connection_another_session_names_is_not_taken_by_ports() -> None:
    """A lossy session (its announcement may be in the lost bytes) and a session whose
    start the capture lacks (a ring buffer's hole) whose GET_STATE reply names D1's
    endpoint: D1 is the second's, not taken by the first for fitting its direction and
    ports (third new-user trial: the first job took the second job's data connection and
    added its bytes to its own)."""
    conns, streams = _lossy_jobs({1: 5002})
    second = next(c for c in conns if c.uid == "C1")
    second.missed_bytes = 0
    for c in (second, next(c for c in conns if c.uid == "D1")):  # open before the capture
        c.syn_frames, c.synack_frames, c.established, c.history = [], [], False, "ADad"
    sessions = build_sessions(conns, streams, LAB, load_profile("ndmp"))
    assert [s.data_connections for s in sessions] == [["D0"], ["D1"]]
