"""A session that asked nothing is no browse (trial 14 D2, D11): one that authenticated
and closed without a single request (the DMA gave the job up on its side: a tape missing,
no free mover port, v2 swap-connect) is inconclusive with control_closed_after_auth, its
kind unknown and steps 2-4 unknown; one whose CONNECT_CLIENT_AUTH was refused keeps its
ndmp_error_reply and has its kind unknown, the refusal named. A real browse (CONFIG_GET_*
after the authentication) still passes. captures/ndmjob-nojob, and hand-built sessions."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_verify_scenarios import A, M, conn, msg, run

from flowcheck.config import build_config, load_file
from flowcheck.model import ControlPacket, Finding, NdmpStream, Session
from flowcheck.pipeline import Analysis, analyze, read_traffic

NOJOB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-nojob"
CODE = "control_closed_after_auth"


def _analyze(name: str) -> Analysis:
    capture = NOJOB / name
    config = build_config(load_file(NOJOB / (name.split(".")[0] + ".toml")))
    return analyze(read_traffic([str(capture)], config), config)


def _judged(analysis: Analysis) -> list:
    """The findings but agent_not_seen (the configurations name both lab agents; each
    job reaches one)."""
    return [f for f in analysis.findings if f.code != "agent_not_seen"]


def _closed_after_auth(session: Session, auth_frame: int) -> None:
    assert session.kind_unknown and session.as_dict()["kind"] == "browse"
    assert session.kind_words() == (
        f"kind unknown (it authenticated, the agent accepting its CONNECT_CLIENT_AUTH in "
        f"frame {auth_frame}, and closed without a single request: nothing tells a backup, "
        "a restore or a browse)")
    assert [s.status for s in session.steps] == ["ok", "unknown", "unknown", "unknown"]
    assert all(s.detail.startswith(f"unknown: the session authenticated (frame {auth_frame}) "
                                   "and closed without a single request")
               for s in session.steps[1:])


@pytest.mark.parametrize("name", ["H-v4-tapefail.pcap", "C-v2-swap.pcap"])
def test_authenticated_then_closed_is_inconclusive_not_a_browse(name: str) -> None:
    analysis = _analyze(name)
    assert analysis.verdict == "inconclusive"
    [finding] = _judged(analysis)
    assert (finding.code, str(finding.severity), finding.session) == (CODE, "warning", "S1")
    assert finding.frames == [10, 11]  # the accepted CONNECT_CLIENT_AUTH, the DMA's FIN
    assert ("the media server 10.77.0.1 closed the control connection (FIN, frame 11)"
            in finding.message)
    assert "without a single request" in finding.message
    assert "on the media server's (the DMA's) side, not in the network" in finding.message
    assert finding.fix.startswith("See the job log on the media server (the DMA)")
    _closed_after_auth(analysis.sessions[0], 10)
    # The capture is whole: the note under the verdict does not ask for a whole capture
    # (trial A of session 34, D6).
    from flowcheck.report.verdict_notes import INCONCLUSIVE_NOTE, inconclusive_note
    note = inconclusive_note(analysis)
    assert note != INCONCLUSIVE_NOTE and "the job did not get that far" in note


def test_the_sixth_back_to_back_job_only() -> None:
    """Five backups, then a sixth that gave up 50 ms after authenticating: only S6."""
    analysis = _analyze("C-b2b-reuse.pcap.gz")
    assert analysis.verdict == "inconclusive"
    [finding] = [f for f in analysis.findings if f.code == CODE]
    assert finding.session == "S6" and finding.frames == [1479, 1480]
    *jobs, last = analysis.sessions
    assert [s.kind for s in jobs] == ["backup"] * 5
    assert not any(s.kind_unknown or s.ended_before_job for s in jobs)
    assert all(step.status == "ok" for s in jobs for step in s.steps)
    _closed_after_auth(last, 1479)


def test_a_refused_authentication_is_not_a_browse() -> None:
    analysis = _analyze("C-v4-badpw-md5.pcap")
    assert analysis.verdict == "fail"
    assert [(f.code, str(f.severity)) for f in _judged(analysis)] == [
        ("ndmp_error_reply", "error")]
    [session] = analysis.sessions
    assert session.kind_unknown and session.as_dict()["kind"] == "browse"
    assert session.kind_words() == (
        "kind unknown (the agent refused its CONNECT_CLIENT_AUTH in frame 12 with "
        "NDMP_NOT_AUTHORIZED_ERR: nothing after it tells a backup, a restore or a browse)")
    assert [s.status for s in session.steps] == ["ok"] + ["not_applicable"] * 3
    assert all(s.detail.startswith("not reached: the agent refused CONNECT_CLIENT_AUTH "
                                   "(frame 12, NDMP_NOT_AUTHORIZED_ERR")
               and "browse" not in s.detail for s in session.steps[1:])


def test_a_query_is_a_browse() -> None:
    analysis = _analyze("C-v2-query.pcap")
    assert analysis.verdict == "pass" and _judged(analysis) == []
    [session] = analysis.sessions
    assert session.kind_words() == "browse" and session.ended_before_job is None


# --- hand-built sessions (ndmjob's opening, then `tail`) -------------------------------

def _session(tail: list[tuple[str, str, str]], *, closer: str | None = "orig",
             auth_error: str = "") -> tuple[Session, list[Finding]]:
    """CONNECT_OPEN, CONNECT_CLIENT_AUTH (refused with `auth_error`), then `tail`
    (direction, type, name); closed by `closer`'s FIN 0.1 s after the last message, or
    still open at the capture's end (None)."""
    control = conn("Nctl", M, 5001, A, 10000, 0.0, end=20.0, orig_bytes=200, resp_bytes=300)
    messages = [msg(4, 0.1, "orig", "request", "CONNECT_OPEN"),
                msg(6, 0.2, "resp", "reply", "CONNECT_OPEN"),
                msg(7, 0.3, "orig", "request", "CONNECT_CLIENT_AUTH"),
                msg(8, 0.4, "resp", "reply", "CONNECT_CLIENT_AUTH", error=4 if auth_error else 0,
                    error_name=auth_error or "NDMP_NO_ERR")]
    messages += [msg(9 + i, 0.5 + i / 10, d, t, n) for i, (d, t, n) in enumerate(tail)]
    stream = NdmpStream("Nctl", version=4, messages=messages)
    if closer is None:
        control.history, control.conn_state, control.last_ts = "ShADad", "S1", 60.0
    else:
        last = messages[-1]
        stream.fin = ControlPacket(closer, last.frame + 1, last.ts + 0.1, 0x11, 0)  # type: ignore[arg-type]
        control.fin_frames = [last.frame + 1]
        control.history = "ShADadFf" if closer == "orig" else "ShADadfF"
    sessions, findings = run([control], [stream], profile="ndmp")
    return sessions[0], findings


def test_hand_built_auth_then_close() -> None:
    session, findings = _session([])
    assert [f.code for f in findings] == [CODE] and findings[0].frames == [8, 9]
    _closed_after_auth(session, 8)


def test_the_agent_closing_after_auth_names_the_agent() -> None:
    session, findings = _session([], closer="resp")
    [finding] = findings
    assert "the agent 10.77.0.2 closed the control connection (FIN, frame 9)" in finding.message
    assert "on the agent's side (its NDMP service ended the session)" in finding.message
    assert "the agent's NDMP service log" in finding.fix
    assert session.kind_unknown


def test_connect_close_alone_is_no_request() -> None:
    session, findings = _session([("orig", "request", "CONNECT_CLOSE")])
    assert [f.code for f in findings] == [CODE] and session.kind_unknown


@pytest.mark.parametrize("query", ["CONFIG_GET_SERVER_INFO", "CONFIG_GET_HOST_INFO"])
def test_one_query_after_auth_is_a_browse(query: str) -> None:
    session, findings = _session([("orig", "request", query), ("resp", "reply", query),
                                  ("orig", "request", "CONNECT_CLOSE")])
    assert findings == [] and session.kind == "browse" and not session.kind_unknown
    assert [s.status for s in session.steps] == ["ok"] + ["not_applicable"] * 3


def test_a_refused_auth_retried_and_accepted_then_closed() -> None:
    """The last CONNECT_CLIENT_AUTH decides: accepted the second time, then nothing. The
    first refusal is the session's error already (ndmp_error_reply): no warning on top."""
    session, findings = _session([("orig", "request", "CONNECT_CLIENT_AUTH"),
                                  ("resp", "reply", "CONNECT_CLIENT_AUTH")],
                                 auth_error="NDMP_NOT_AUTHORIZED_ERR")
    assert [f.code for f in findings] == ["ndmp_error_reply"]
    assert session.ended_before_job is not None and session.ended_before_job.frame == 10
    _closed_after_auth(session, 10)


def test_a_refused_auth_is_its_cause_and_no_warning() -> None:
    session, findings = _session([], auth_error="NDMP_NOT_AUTHORIZED_ERR")
    assert [(f.code, str(f.severity)) for f in findings] == [("ndmp_error_reply", "error")]
    assert session.kind_words().startswith("kind unknown (the agent refused its "
                                           "CONNECT_CLIENT_AUTH in frame 8 with ")
    assert [s.status for s in session.steps] == ["ok"] + ["not_applicable"] * 3


def test_still_open_at_the_capture_end_is_not_this() -> None:
    """No close in the capture: a request may have come after it, as before."""
    session, findings = _session([], closer=None)
    assert CODE not in [f.code for f in findings]
    assert session.ended_before_job is None and not session.kind_unknown


def test_a_control_stream_with_lost_bytes_is_not_judged_so() -> None:
    """A request may be in the bytes the capture lost: not "closed without a request"."""
    from flowcheck.sessions.before_job import ended_before_job
    control = conn("Nctl", M, 5001, A, 10000, 0.0, end=20.0, orig_bytes=200, resp_bytes=300)
    stream = NdmpStream("Nctl", version=4, messages=[
        msg(7, 0.3, "orig", "request", "CONNECT_CLIENT_AUTH"),
        msg(8, 0.4, "resp", "reply", "CONNECT_CLIENT_AUTH")])
    stream.fin = ControlPacket("orig", 9, 0.5, 0x11, 0)
    assert ended_before_job(control, stream) is not None
    control.missed_bytes = 40
    assert ended_before_job(control, stream) is None


def test_a_refused_connect_open_is_its_last_word() -> None:
    """CONNECT_OPEN refused (the version) and nothing after it but the close."""
    from flowcheck.sessions.before_job import ended_before_job, ended_words
    control = conn("Nctl", M, 5001, A, 10000, 0.0, end=20.0, orig_bytes=60, resp_bytes=80)
    stream = NdmpStream("Nctl", version=4, messages=[
        msg(4, 0.1, "orig", "request", "CONNECT_OPEN"),
        msg(6, 0.2, "resp", "reply", "CONNECT_OPEN", error=1,
            error_name="NDMP_NOT_SUPPORTED_ERR"),
        msg(7, 0.3, "orig", "request", "CONNECT_CLOSE")])
    refusal = ended_before_job(control, stream)
    assert refusal is not None and refusal.frame == 6
    assert ended_words(refusal).startswith("the agent refused its CONNECT_OPEN in frame 6 with "
                                           "NDMP_NOT_SUPPORTED_ERR")
    stream.messages.insert(2, msg(6, 0.25, "orig", "request", "CONNECT_OPEN"))  # retried
    assert ended_before_job(control, stream) is None
