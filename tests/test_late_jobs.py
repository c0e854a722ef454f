"""Concurrent jobs the capture joined late: each data connection open before it goes to
its own job or, when nothing in the capture tells whose, to none (flowcheck.sessions
.late_owners, latejobs).

captures/lab/concurrent-jobs.pcap (two Backup Exec jobs between the same hosts) cut from
frame 50 read S1 (the job of control 10.77.0.1:5035) with three data connections, one
of them 10.77.0.1:5052 -> 10.77.0.2:6001, the other job's, and S2 with one (review56p,
note56 Left 11): the first session the capture joined late took every connection open
between the two hosts. A refused connect of two late jobs goes to the one whose
CONNECT error reply answered it at once, not to the first
(ndmjob-ended/v4-ended-leftovers-parallel-media: S4's, by luck before).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import sessions_reference
from frame_cuts import frame_range, stored_capture
from pcap_records import moved_back, read_records, write_records
from stored import CAPTURES
from test_sessions import conn
from test_sessions_scale import AGENTS, MEDIAS, _outcome

from flowcheck.config import build_config
from flowcheck.config_file import load_file
from flowcheck.model import (
    Connection,
    NdmpAddress,
    NdmpMessage,
    NdmpStream,
    RingGap,
    connection_ends,
)
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.profiles import load_profile
from flowcheck.sessions import build_sessions

MEDIA, AGENT = "10.77.0.1", "10.77.0.2"
# v4-ended-leftovers-parallel-media's ranges.
PARALLEL = build_config({"media_range": "5000-5999", "agent_range": "6000-6999"})


def _analysis(capture: Path) -> Analysis:
    """`capture` analyzed with lab/concurrent-jobs.toml."""
    config = build_config(load_file(CAPTURES / "lab" / "concurrent-jobs.toml"))
    return analyze(read_traffic([str(capture)], config), config)


def _ends(conn: Connection) -> frozenset:
    return frozenset({(conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p)})


def _jobs(analysis: Analysis) -> tuple[dict[frozenset, frozenset], dict[frozenset, set]]:
    """(each data connection's ends -> its session's control ends; each tied data
    connection's ends -> the control ends of the sessions it is tied between)."""
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    owned: dict[frozenset, frozenset] = {}
    tied: dict[frozenset, set] = {}
    for session in analysis.sessions:
        job = _ends(by_uid[session.control_uid])
        owned.update({_ends(by_uid[uid]): job for uid in session.data_connections})
        for uid in session.port_tied:
            tied.setdefault(_ends(by_uid[uid]), set()).add(job)
    return owned, tied


@pytest.mark.parametrize("first", [10, 20, 50])
def test_concurrent_jobs_cut_late_each_session_takes_its_own(tmp_path: Path,
                                                             first: int) -> None:
    """Cut from frame 10, 20 or 50: every data connection a session takes is its own
    job's in the whole capture, and every data connection of the whole capture is in
    the cut its own job's or tied between its job and another (from 50:
    10.77.0.1:5052 -> 10.77.0.2:6001, nothing naming it, tied between S1 and S2; before,
    S1's)."""
    capture = stored_capture("lab", "concurrent-jobs")
    whole, _ = _jobs(_analysis(capture))
    assert len(whole) == 4
    cut = _analysis(frame_range(capture, tmp_path / "late.pcap", first, 10000000))
    owned, tied = _jobs(cut)
    for ends, job in owned.items():
        assert whole[ends] == job, sorted(ends)
    for ends, job in whole.items():
        assert owned.get(ends) == job or job in tied.get(ends, ()), sorted(ends)
    assert not set(owned) & set(tied)


def test_concurrent_jobs_cut_from_frame_50_say_the_tie(tmp_path: Path) -> None:
    """The tied connection is named in each session's capture_started_mid_session, with
    the other session it fits alike, and its role stays data, of no session."""
    cut = _analysis(frame_range(stored_capture("lab", "concurrent-jobs"),
                                tmp_path / "late.pcap", 50, 10000000))
    [tied] = [c for c in cut.traffic.connections if c.resp_p == 6001]
    assert (tied.role, tied.session) == ("data", None)
    infos = {f.session: f.message for f in cut.findings
             if f.code == "capture_started_mid_session"}
    named = f"{tied.uid} ({connection_ends(tied)})"
    assert f"{named} fit this session and S2 alike" in infos["S1"], infos["S1"]
    assert f"{named} fit this session and S1 alike" in infos["S2"], infos["S2"]
    assert "so it goes to none of them" in infos["S1"]



@pytest.mark.parametrize("at", [1, 85])
def test_concurrent_jobs_cut_late_read_the_same_with_the_clock_set_back(
        tmp_path: Path, at: int) -> None:
    """Cut from frame 50, the clock set back 2 s from the cut's record `at` (0-based) on:
    each data connection goes where it goes unstepped (10.77.0.1:5052 -> 10.77.0.2:6001,
    its first packet the cut's first, tied between S1 and S2). The late jobs' windows
    (sessions.late_owners) go by frame in one file of one interface. By plain
    timestamps, stepped after the first packet, that connection was stamped after both
    control connections ended: unannounced_connection; stepped after S1's control
    connection was first seen (85), after S2's alone ended: S1's."""
    cut = frame_range(stored_capture("lab", "concurrent-jobs"), tmp_path / "late.pcap", 50,
                      10000000)
    linktype, records = read_records(cut)
    stepped = _analysis(write_records(tmp_path / "stepped.pcap", linktype,
                                      moved_back(records, at, 2_000_000)))
    assert "capture_clock_stepped" in {f.code for f in stepped.findings}
    assert "unannounced_connection" not in {f.code for f in stepped.findings}
    assert _jobs(stepped) == _jobs(_analysis(cut))
    [tied] = [c for c in stepped.traffic.connections if c.resp_p == 6001]
    assert (tied.role, tied.session) == ("data", None)

def _connect_err(frame: int, ts: float) -> NdmpMessage:
    return NdmpMessage(frame, ts, "resp", 4, "reply", 0x40A, "NDMP_DATA_CONNECT", 23, 3)


def _late(uid: str, port: int, ts: float) -> Connection:
    """A control connection open before the capture, first seen at ts (a keepalive),
    last at 12 s."""
    control = conn(uid, MEDIA, port, AGENT, 10000, ts, end=12.0)
    control.syn_frames, control.synack_frames, control.established = [], [], False
    control.history = "^dR"
    return control


@pytest.mark.parametrize(("first_reply", "second_reply", "owner"),
                         [(8.927, 10.974, "S1"), (10.974, 8.927, "S2"),
                          (8.927, 8.930, None)])
def test_a_refused_connect_goes_to_the_job_whose_connect_error_answered_it(
        first_reply: float, second_reply: float, owner: str | None) -> None:
    """Two jobs begun before the capture (their control connections first seen at 1 s
    and 2 s), the agent's data connect to the mover refused at 8.926 s: it is the job's
    whose DATA_CONNECT error reply came within a second of the refusal (the second's,
    not the first session's, when the second answered; before, the first took it by
    being first); both answering at once: tied."""
    refused = conn("R", AGENT, 6020, MEDIA, 5645, 8.926, ok=False, resp_rst=True,
                   end=8.926)
    conns = [_late("C1", 5350, 1.0), _late("C2", 5442, 2.0), refused]
    streams = [NdmpStream("C1", 4, messages=[_connect_err(875, first_reply)]),
               NdmpStream("C2", 4, messages=[_connect_err(877, second_reply)])]
    sessions = build_sessions(conns, streams, PARALLEL, load_profile("ndmp"))
    assert refused.session == owner and refused.role == "data"
    for session in sessions:
        assert session.data_connections == (["R"] if session.id == owner else [])
        assert session.port_tied == ([] if owner else ["R"])


def test_a_connect_error_reply_answers_the_last_refusal_before_it() -> None:
    """Two jobs begun before the capture, the agent's connects to the mover refused at
    8.926 s (the first job's) and 9.226 s (the second's); the second job's CONNECT error
    reply 1 ms after its refusal, the first's 1.5 s after its own (a loaded agent, past
    CONNECT_REPLY_SECONDS). The second job's reply answers the second refusal only: the
    first, named by none, fits both jobs and is tied (review58a: the second job's reply,
    0.3 s after the first refusal, took both, the first job's failure read as the
    second's)."""
    first = conn("R1", AGENT, 6020, MEDIA, 5645, 8.926, ok=False, resp_rst=True, end=8.926)
    second = conn("R2", AGENT, 6021, MEDIA, 5646, 9.226, ok=False, resp_rst=True,
                  end=9.226)
    conns = [_late("C1", 5350, 1.0), _late("C2", 5442, 2.0), first, second]
    streams = [NdmpStream("C1", 4, messages=[_connect_err(875, 10.426)]),
               NdmpStream("C2", 4, messages=[_connect_err(877, 9.227)])]
    sessions = build_sessions(conns, streams, PARALLEL, load_profile("ndmp"))
    assert (second.session, first.session) == ("S2", None)
    assert [s.data_connections for s in sessions] == [[], ["R2"]]
    assert [s.port_tied for s in sessions] == [["R1"], ["R1"]]
    fast = _outcome(conns, streams, build_sessions, "ndmp", config=PARALLEL)
    assert fast == _outcome(conns, streams, sessions_reference.build_sessions, "ndmp",
                            config=PARALLEL)


def random_late_jobs(seed: int, jobs: int = 40) -> tuple[list[Connection], list[NdmpStream],
                                                          list[RingGap]]:
    """Jobs begun before the capture on a few host pairs, overlapping: data connections
    open before it or opened in it (some refused, some given up), either way round, to
    ports that repeat; some named by a job's DATA_GET_STATE reply, some answered by a
    DATA_CONNECT error reply, and a ring hole or two: every path of late_owners."""
    rng = random.Random(seed)
    conns: list[Connection] = []
    streams: list[NdmpStream] = []
    for k in range(jobs):
        media, agent = rng.choice(MEDIAS), rng.choice(AGENTS)
        ts = round(rng.uniform(0, 20), 2)
        control = _late(f"C{k}", 20000 + k, ts)
        control.orig_h, control.resp_h, control.last_ts = media, agent, ts + rng.choice(
            [1.0, 5.0, 30.0])
        conns.append(control)
        messages = []
        for i in range(rng.randint(0, 2)):
            at = round(rng.uniform(ts - 6, control.last_ts + 1), 3)
            port = rng.choice([5001, 5002, 5003, 6001, 6002, 6003, 7000])
            outward = rng.random() < 0.7
            c = conn(f"D{k}.{i}", *((media, port - 1000 if port > 6000 else 5009, agent, port)
                                    if outward else (agent, 6009, media, port)), at,
                     ok=rng.random() > 0.25, end=at + rng.choice([0.0, 0.5, 4.0]))
            if c.conn_state == "S0" and rng.random() < 0.6:
                c.resp_rst, c.conn_state = True, "REJ"
                if rng.random() < 0.6:
                    messages.append(_connect_err(10 * k + i, round(at + rng.choice(
                        [0.001, 0.5, 2.0]), 3)))
            elif rng.random() < 0.5:
                c.syn_frames, c.synack_frames, c.established, c.history = [], [], False, "ADad"
            if rng.random() < 0.3:
                messages.append(NdmpMessage(
                    10 * k + 5, round(rng.uniform(ts, control.last_ts), 3), "resp", 2,
                    "reply", 0x400, "NDMP_DATA_GET_STATE", 0, 1,
                    addresses=[NdmpAddress(c.resp_h, c.resp_p)]))
            conns.append(c)
        if messages or rng.random() < 0.5:
            messages.append(NdmpMessage(10 * k + 9, round(ts + rng.uniform(0, 3), 3), "resp",
                                        3, "post", 0x506, "NDMP_LOG_MESSAGE", 0, 0))
            streams.append(NdmpStream(f"C{k}", 4, messages=sorted(messages,
                                                                  key=lambda m: m.ts)))
    gaps = [RingGap("r.pcap0", "r.pcap2", 8.0, 9.0)] if seed % 2 else []
    return conns, streams, gaps


@pytest.mark.parametrize("profile", ["backup-exec-9", "ndmp"])
@pytest.mark.parametrize("seed", range(8))
def test_random_late_jobs_as_the_quadratic_reference(seed: int, profile: str) -> None:
    """The late jobs' owners and ties as the quadratic reference's
    (tests/sessions_reference.py, the same rule written as a scan of every session for
    every connection)."""
    conns, streams, gaps = random_late_jobs(seed)
    fast = _outcome(conns, streams, build_sessions, profile, gaps, config=PARALLEL)
    assert fast == _outcome(conns, streams, sessions_reference.build_sessions, profile, gaps,
                            config=PARALLEL)


def test_random_late_jobs_take_every_path() -> None:
    """Over the seeds, the cases the reference is compared on occur: a connection owned
    by a GET_STATE reply naming it, one refused owned by a CONNECT error reply, one owned
    as the only fit, ties, sessions after a ring hole."""
    seen: dict[str, int] = dict.fromkeys(["named", "refused", "alone", "tied", "gap"], 0)
    for seed in range(8):
        conns, streams, gaps = random_late_jobs(seed)
        by_uid = {c.uid: c for c in conns}
        for session in build_sessions(conns, streams, PARALLEL, load_profile("ndmp"),
                                      ring_gaps=gaps):
            if session.match_reason != "capture_start":
                continue
            seen["named"] += len(session.port_named)
            seen["refused"] += sum(by_uid[u].conn_state == "REJ" for u in session.port_matched)
            seen["alone"] += sum(u not in session.port_named and by_uid[u].conn_state != "REJ"
                                 for u in session.port_matched)
            seen["tied"] += len(session.port_tied)
            seen["gap"] += session.start_gap is not None
    assert all(seen.values()), seen
