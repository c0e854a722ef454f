"""Sessions and verification when the snap length cut an announcement's address."""

from __future__ import annotations

from test_sessions import LAB, A, M, conn

from flowcheck.findings import make_finding
from flowcheck.model import NdmpAddress, NdmpMessage, NdmpStream, Session
from flowcheck.profiles import load_profile
from flowcheck.sessions import build_sessions, cut_announcements
from flowcheck.verify import check_all


def cut_message(name: str, ts: float, frame: int, *, reply: bool = False) -> NdmpMessage:
    return NdmpMessage(frame, ts, "resp" if reply else "orig", 1,
                       "reply" if reply else "request", 0, name, 0, 0, partial=True)


def cut_stream(*messages: NdmpMessage) -> NdmpStream:
    stream = NdmpStream("C", 4, messages=list(messages), snap_cut=100)
    stream.snap_finding = make_finding("ndmp_partial", "cut.", uid="C")
    stream.findings = [stream.snap_finding]
    return stream


def test_cut_data_listen_reply_matches_the_next_media_to_agent_connection() -> None:
    control = conn("C", M, 5001, A, 10000, 0.0, end=20.0)
    callback = conn("B", A, 6050, M, 5050, 0.5)
    # Resent SYNs: a drop (one SYN never resent proves none: trial 25 D4).
    dropped = conn("D", M, 5002, A, 6001, 3.0, ok=False, syn_retries=2)
    other = conn("X", M, 5003, A, 80, 3.5)  # outside the agent range: not a data port
    stream = cut_stream(cut_message("NDMP_DATA_LISTEN", 2.0, 9, reply=True),
                        cut_message("NDMP_DATA_START_BACKUP", 2.5, 11))
    profile = load_profile("backup-exec-9")
    conns = [control, callback, dropped, other]
    (session,) = build_sessions(conns, [stream], LAB, profile)
    assert session.data_connections == ["D"] and session.port_matched == ["D"]
    assert session.cut_announcements == [(9, "NDMP_DATA_LISTEN", "D")]
    findings = check_all(conns, [stream], [session], LAB, profile)
    assert {f.code for f in findings if str(f.severity) == "error"} == {"data_unanswered"}
    assert "step_missing" not in {f.code for f in findings}
    announcement = next(s for s in session.steps if s.name.startswith("agent's data port"))
    assert announcement.status == "ok" and "snap length" in announcement.detail
    assert "matched by direction and ports" in stream.snap_finding.message


def _cut_connect_then(name: str) -> tuple[Session, list[str]]:
    """A session whose DATA_CONNECT's address the snap length cut, followed by `name`
    and no connection: (the session, its error codes)."""
    control = conn("C", M, 5001, A, 10000, 0.0, end=20.0)
    stream = cut_stream(cut_message("NDMP_DATA_CONNECT", 2.0, 9), cut_message(name, 2.5, 11))
    profile = load_profile("ndmp")
    (session,) = build_sessions([control], [stream], LAB, profile)
    findings = check_all([control], [stream], [session], LAB, profile)
    return session, [f.code for f in findings if str(f.severity) == "error"]


def test_cut_announcement_without_a_connection_is_still_an_error() -> None:
    """A cut DATA_CONNECT, no connection, and the job never started after it."""
    assert _cut_connect_then("NDMP_DATA_GET_STATE")[1] == ["announced_not_used"]


def test_cut_announcement_the_job_started_after_is_unknown() -> None:
    """The same with DATA_START_BACKUP after it: a DMA starts the job once the data
    connection is made (NDMP v4: DATA_START_* needs the data server CONNECTED), so it
    ran where the capture does not see it: step unknown, no error (cut_unjudged)."""
    session, codes = _cut_connect_then("NDMP_DATA_START_BACKUP")
    assert codes == []
    step = next(s for s in session.steps if s.name.startswith("data connection"))
    assert step.status == "unknown"
    assert "the session started its job after it (DATA_START_BACKUP, frame 11)" in step.detail


def test_same_resource_decoded_elsewhere_or_full_capture_matches_nothing_by_ports() -> None:
    decoded = cut_stream(cut_message("NDMP_MOVER_LISTEN", 1.0, 7, reply=True),
                         cut_message("NDMP_DATA_CONNECT", 2.0, 9))
    decoded.messages[0].addresses = [NdmpAddress(M, 5002)]  # the MOVER_LISTEN reply fit
    assert cut_announcements(decoded) == []
    full = NdmpStream("C", 4, messages=[cut_message("NDMP_DATA_CONNECT", 2.0, 9)])
    assert cut_announcements(full) == []  # a hole, not the snap length: today's rules
    assert cut_announcements(NdmpStream("C", None, snap_cut=10)) is None


def test_two_listens_before_one_start_are_two_resources() -> None:
    stream = cut_stream(cut_message("NDMP_DATA_LISTEN", 1.0, 7, reply=True),
                        cut_message("NDMP_DATA_LISTEN", 2.0, 9, reply=True),
                        cut_message("NDMP_DATA_START_BACKUP", 2.5, 11))
    assert [m.frame for m in cut_announcements(stream) or []] == [7, 9]


def test_unreadable_control_stream_matches_every_candidate_by_ports() -> None:
    control = conn("C", M, 5001, A, 10000, 0.0, end=20.0)
    callback = conn("B", A, 6050, M, 5050, 0.5)
    data = conn("D", M, 5002, A, 6001, 3.0, orig_bytes=10, resp_bytes=90_000,
                history="ShADadFf")  # closed: an open transfer at the end is unknown
    stream = NdmpStream("C", None, snap_cut=10)  # not one message could be read
    profile = load_profile("backup-exec-9")
    conns = [control, callback, data]
    (session,) = build_sessions(conns, [stream], LAB, profile)
    assert session.match_reason == "snap_length" and session.port_matched == ["D"]
    assert session.cut_announcements == []  # no message, so no cut message to name
    findings = check_all(conns, [stream], [session], LAB, profile)
    assert not [f for f in findings if str(f.severity) == "error"]
    announcement = next(s for s in session.steps if s.name.startswith("agent's data port"))
    # Nothing ties the data connection to an announcement no message of which could be
    # read: the data it carried does not make step 3 ok (issue 9: -s 54 is unknown).
    assert announcement.status == "unknown"
    assert "no NDMP message could be read" in announcement.detail
    assert [s.status for s in session.steps if s.step != announcement.step] == ["ok"] * 4


def test_a_version_the_snap_length_hides_is_not_stated() -> None:
    """Every body that tells v3 from v4 cut: the stream decodes as v4 ("likely"), the
    session's version is unknown (a new user's v3 job was reported as NDMP v4)."""
    control = conn("C", M, 5001, A, 10000, 0.0, end=20.0)
    stream = cut_stream(cut_message("NDMP_DATA_CONNECT", 2.0, 9))
    stream.version_source = "likely"
    (session,) = build_sessions([control], [stream], LAB, load_profile("ndmp"))
    assert session.version is None
    stream.version_source = "inferred"
    (session,) = build_sessions([control], [stream], LAB, load_profile("ndmp"))
    assert session.version == 4
