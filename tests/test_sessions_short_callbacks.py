"""Jobs at once that outnumber the callbacks that could be theirs: one callback under
another address of the agents (dual-stack hosts) fits two waiting sessions, so neither
is tied (step 2 unknown), yet one of the two jobs had none (sessions.callback_elsewhere
._mark_short, verify.short_callbacks)."""

from __future__ import annotations

from test_sessions import conn

from flowcheck.config import build_config
from flowcheck.findings import verdict
from flowcheck.model import Connection, NdmpMessage, NdmpStream
from flowcheck.profiles import load_profile
from flowcheck.sessions import build_sessions
from flowcheck.verify import check_all

CONFIG = build_config({"media_range": "5001-5100", "agent_range": "6001-6100",
                       "media_servers": ["10.77.0.1", "fd77::1"],
                       "remote_agents": ["10.77.0.2", "10.77.0.3", "fd77::2", "fd77::3"]})


def _control(uid: str, agent: str, port: int, ts: float) -> Connection:
    """A control connection over IPv6, both directions captured, closed after 20 s."""
    control = conn(uid, "fd77::1", port, agent, 10000, ts, end=ts + 20, orig_pkts=10,
                   resp_pkts=10, orig_bytes=500, resp_bytes=500)
    control.fin_frames = [int(ts * 10) + 900]
    return control


def _stream(uid: str, ts: float) -> NdmpStream:
    """CONNECT_OPEN, the job engine's vendor message (the callback may come after it),
    CONNECT_CLOSE 15 s later: a job that waited for its callback."""
    return NdmpStream(uid, 4, messages=[
        NdmpMessage(10, ts + 0.1, "orig", 1, "request", 0x900, "NDMP_CONNECT_OPEN", 0, 0),
        NdmpMessage(11, ts + 0.11, "resp", 1, "reply", 0x900, "NDMP_CONNECT_OPEN", 0, 1),
        NdmpMessage(12, ts + 0.5, "orig", 2, "request", 0xF001, "NDMP_VENDOR_0xF001", 0, 0),
        NdmpMessage(13, ts + 0.51, "resp", 2, "reply", 0xF001, "NDMP_VENDOR_0xF001", 0, 2),
        NdmpMessage(14, ts + 15, "orig", 3, "request", 0x900, "NDMP_CONNECT_CLOSE", 0, 0)])


def _jobs(*callbacks: Connection):
    conns = [_control("C1", "fd77::2", 5010, 0.0), _control("C2", "fd77::3", 5011, 0.1),
             *callbacks]
    streams = [_stream("C1", 0.0), _stream("C2", 0.1)]
    profile = load_profile("backup-exec-9")
    sessions = build_sessions(conns, streams, CONFIG, profile)
    return sessions, check_all(conns, streams, sessions, CONFIG, profile)


def _callback(uid: str, agent: str, port: int, ts: float) -> Connection:
    return conn(uid, agent, port, "10.77.0.1", 5051, ts, end=10.0, orig_pkts=5, resp_pkts=5)


def test_one_callback_for_two_jobs_is_one_step_missing_for_either() -> None:
    sessions, findings = _jobs(_callback("K", "10.77.0.3", 6050, 1.0))
    assert [(s.callback_uid, s.callback_ambiguous, s.callback_short) for s in sessions] == \
        [(None, ["K"], ["S1", "S2"])] * 2
    assert [s.steps[1].status for s in sessions] == ["unknown", "unknown"]
    assert "so at least one of session S1 or S2 had none" in sessions[0].steps[1].detail
    (missing,) = [f for f in findings if f.code == "step_missing"]
    assert missing.session is None and missing.uid is None
    assert "is missing in session S1 or S2: 2 sessions wait for a callback, and only 1 " \
        "connection in the capture may be one (K from 10.77.0.3" in missing.message
    assert verdict(findings, sessions) == "fail"


def test_two_callbacks_for_two_jobs_stay_unknown() -> None:
    sessions, findings = _jobs(_callback("K", "10.77.0.3", 6050, 1.0),
                               _callback("L", "10.77.0.2", 6051, 1.1))
    assert all(s.callback_uid is None and not s.callback_short for s in sessions)
    assert not [f for f in findings if str(f.severity) == "error"]
    assert verdict(findings, sessions) == "inconclusive"


def test_one_callback_for_two_jobs_in_a_capture_that_ended_too_soon_is_no_failure() -> None:
    """Both control connections still open when the capture ends 0.4 s after the lone
    callback: the other job's callback may have come later, so no step_missing (a
    second read: the capture-ended step still named the sessions to one)."""
    conns = []
    for uid, agent, port, ts in (("C1", "fd77::2", 5010, 0.0), ("C2", "fd77::3", 5011, 0.1)):
        conns.append(conn(uid, "fd77::1", port, agent, 10000, ts, end=1.4, orig_pkts=10,
                          resp_pkts=10, orig_bytes=500, resp_bytes=500))
    conns.append(_callback("K", "10.77.0.3", 6050, 1.0))
    conns[-1].last_ts = 1.4
    streams = [NdmpStream(s.uid, 4, messages=s.messages[:4])
               for s in (_stream("C1", 0.0), _stream("C2", 0.1))]
    profile = load_profile("backup-exec-9")
    sessions = build_sessions(conns, streams, CONFIG, profile)
    findings = check_all(conns, streams, sessions, CONFIG, profile)
    assert [s.callback_short for s in sessions] == [["S1", "S2"]] * 2
    assert all("the callback may have come later" in s.steps[1].detail for s in sessions)
    assert not [f for f in findings if f.code == "step_missing"]
    assert verdict(findings, sessions) == "inconclusive"


def test_twelve_jobs_short_of_callbacks_name_eight_of_each() -> None:
    """Twelve dual-stack jobs at once (control over IPv6), ten callbacks from one IPv4
    agent address that fit every one of them: each step 2 named all ten callbacks and
    all 11 other sessions, then 8 of those same sessions ("this session and S2, ...,
    S12 are more than ..., so at least one of session S1, ..., S8 or 4 other sessions
    had none": tiescale capped the second list alone), and the step_missing all ten
    callbacks; each list now names 8 and how many more (review58i)."""
    jobs = 12
    config = build_config({"media_range": "5001-5100", "agent_range": "6001-6100",
                           "media_servers": ["10.77.0.1", "fd77::1"],
                           "remote_agents": [f"{net}{k}" for net in ("10.77.0.", "fd77::")
                                             for k in range(2, 2 + jobs)]})
    conns = [_control(f"C{k}", f"fd77::{k + 1}", 5010 + k, 0.1 * k)
             for k in range(1, jobs + 1)]
    conns += [_callback(f"K{j}", "10.77.0.3", 6050 + j, 2.0 + 0.01 * j) for j in range(10)]
    streams = [_stream(f"C{k}", 0.1 * k) for k in range(1, jobs + 1)]
    profile = load_profile("backup-exec-9")
    sessions = build_sessions(conns, streams, config, profile)
    assert all(len(s.callback_short) == jobs and len(s.callback_ambiguous) == 10
               for s in sessions)
    findings = check_all(conns, streams, sessions, config, profile)
    detail = sessions[0].steps[1].detail
    assert detail.startswith("unknown: K0 from 10.77.0.3 to 10.77.0.1:5051 or ") and \
        "K7 from 10.77.0.3 to 10.77.0.1:5051 or 2 more may be this session's callback" \
        in detail and "K8" not in detail, detail
    assert "; this session and S2, S3, S4, S5, S6, S7, S8, S9 and 3 other sessions are " \
        "more than the connections that may be their callbacks, so at least one of " \
        "session S1, S2, S3, S4, S5, S6, S7, S8 or 4 other sessions had none" in detail, \
        detail
    (missing,) = [f for f in findings if f.code == "step_missing"]
    assert "is missing in session S1, S2, S3, S4, S5, S6, S7, S8 or 4 other sessions: 12 " \
        "sessions wait for a callback, and only 10 connections in the capture may be " \
        "one (K0 from 10.77.0.3 to 10.77.0.1:5051, " in missing.message
    assert "K7 from 10.77.0.3 to 10.77.0.1:5051 and 2 more, fitting each of them" in \
        missing.message and "K8" not in missing.message, missing.message
