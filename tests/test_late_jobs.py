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

from pathlib import Path

import pytest
from frame_cuts import frame_range, stored_capture
from stored import CAPTURES
from test_sessions import conn

from flowcheck.config import build_config
from flowcheck.config_file import load_file
from flowcheck.model import Connection, NdmpMessage, NdmpStream
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
    assert f"{tied.uid} fit this session and S2 alike" in infos["S1"], infos["S1"]
    assert f"{tied.uid} fit this session and S1 alike" in infos["S2"], infos["S2"]
    assert "so it goes to none of them" in infos["S1"]


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
