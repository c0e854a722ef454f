"""A data connection that fits two sessions alike and failed: the job of one of them
failed, whichever (verify.tied_failures). Field check 47, seed 103 run 42: two TLS jobs
between dual-stack hosts, job 2's first data port in use; its refused IPv4 data
connection fitted both IPv6 sessions, so no session reported it and the run read
inconclusive where the clear run reads FAIL `data_refused`."""

from __future__ import annotations

from pathlib import Path

from test_sessions import LAB, conn
from test_sessions_named import _lossy_jobs
from test_sessions_scale import AGENTS, MEDIAS, WIDE, concurrent_jobs

from flowcheck.config import build_config, load_file
from flowcheck.findings import verdict
from flowcheck.model import Finding, Session
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.profiles import load_profile
from flowcheck.sessions import build_sessions
from flowcheck.verify import check_all
from flowcheck.verify.context import Context
from flowcheck.verify.tied_failures import _report

FIELD47 = Path(__file__).resolve().parent.parent / "captures" / "field47-tls-matrix"


def _analyze(name: str) -> Analysis:
    config = build_config(load_file(FIELD47 / f"{name}.toml"))
    return analyze(read_traffic([str(FIELD47 / f"{name}.pcap.gz")], config), config)


def _errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if str(f.severity) == "error"]


def _refused_tied(analysis: Analysis) -> Finding:
    """The one error: data_refused, of no one session, naming both."""
    (error,) = _errors(analysis.findings)
    assert error.code == "data_refused" and error.session is None
    assert "The data connection of session S1 or S2 from 10.77.0.1 to 10.77.1.3:6001 was " \
        "refused" in \
        error.message
    assert "It fits session S1 or S2 alike" in error.message
    conn = next(c for c in analysis.traffic.connections if c.uid == error.uid)
    assert (conn.resp_h, conn.resp_p, conn.conn_state) == ("10.77.1.3", 6001, "REJ")
    assert conn.session is None and conn.role == "data"
    for session in analysis.sessions:
        assert conn.uid in session.port_tied
        assert "failed" not in [s.status for s in session.steps]  # whose: unknown
    return error


def test_a_refused_connection_two_tls_jobs_fit_fails_the_run() -> None:
    """The stored run: callbacks ambiguous too (step 2 unknown for both)."""
    analysis = _analyze("two-jobs-dual-stack-callbacks-tls")
    assert analysis.verdict == "fail"
    _refused_tied(analysis)
    assert all(s.steps[1].status == "unknown" for s in analysis.sessions)


def test_callbacks_tied_by_address_give_each_its_agents_data() -> None:
    """Another run of the same draw: each callback tied to its session (C12 opened after
    S1's control connection closed, so it fits S2 alone, and S2's data address leaves
    S1 the other callback). The IPv4 data connections fitted both IPv6 sessions and were
    left to neither (data_refused "of session S1 or S2"); each agent called back from its
    own IPv4 address, so each data connection to it is its session's
    (sessions.callback_ties; lab matrix seed 112 run 5): job 2's refusal is S1's (the
    agent fd77:1::3, its callback from 10.77.1.3), S2's data all reached 10.77.1.2."""
    analysis = _analyze("two-jobs-dual-stack-data-tied-tls")
    assert analysis.verdict == "fail"
    (error,) = _errors(analysis.findings)
    conn = next(c for c in analysis.traffic.connections if c.uid == error.uid)
    assert (conn.resp_h, conn.resp_p, conn.conn_state) == ("10.77.1.3", 6001, "REJ")
    assert (error.code, error.session, conn.session) == ("data_refused", "S1", "S1")
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    for session in analysis.sessions:
        assert not session.port_tied and not session.tied_with
        source = by_uid[session.callback_uid].orig_h
        assert session.data_connections and all(
            by_uid[uid].resp_h == source for uid in session.data_connections)
    s1, s2 = analysis.sessions
    assert (s1.remote_agent, s1.steps[3].status) == ("fd77:1::3", "failed")
    assert [s.status for s in s2.steps] == ["ok", "ok", "unknown", "ok", "ok"]


def test_two_clean_tls_jobs_whose_data_fits_both_stay_inconclusive() -> None:
    """The same draw with no fault: every tied connection opened, so nothing shows a
    failure: unknown, not FAIL."""
    analysis = _analyze("two-jobs-dual-stack-clean-tls")
    assert analysis.verdict == "inconclusive"
    assert not _errors(analysis.findings)
    assert all(s.port_tied for s in analysis.sessions)


def test_a_tied_refusal_is_reported_once_for_both_sessions() -> None:
    conns, streams = _lossy_jobs({})
    failed = next(c for c in conns if c.uid == "D1")
    failed.synack_frames, failed.established, failed.conn_state = [], False, "REJ"
    failed.orig_bytes, failed.resp_rst, failed.rst_frames = 0, True, [13]
    profile = load_profile("ndmp")
    sessions = build_sessions(conns, streams, LAB, profile)
    findings = check_all(conns, streams, sessions, LAB, profile)
    (error,) = _errors(findings)
    assert (error.code, error.session, error.uid) == ("data_refused", None, "D1")
    assert error.message.startswith("The data connection of session S1 or S2 from 10.0.0.2")
    assert verdict(findings, sessions) == "fail"
    assert [s.steps[2].status for s in sessions] == ["unknown", "unknown"]


def test_a_tied_port_outside_its_range_is_reported_for_both_sessions() -> None:
    conns, streams = _lossy_jobs({})
    odd = next(c for c in conns if c.uid == "D0")
    odd.orig_p = 7001  # the agent's end, outside 6001-6100
    profile = load_profile("ndmp")
    sessions = build_sessions(conns, streams, LAB, profile)
    findings = check_all(conns, streams, sessions, LAB, profile)
    (error,) = _errors(findings)
    assert (error.code, error.session, error.uid) == ("port_outside_agent_range", None, "D0")
    assert "of session S1 or S2" in error.message


def test_tied_connections_that_opened_stay_unknown() -> None:
    conns, streams = _lossy_jobs({})
    profile = load_profile("ndmp")
    sessions = build_sessions(conns, streams, LAB, profile)
    findings = check_all(conns, streams, sessions, LAB, profile)
    assert not _errors(findings)
    assert verdict(findings, sessions) == "inconclusive"


def test_a_failed_callback_two_tls_jobs_fit_fails_the_run() -> None:
    """Seed 93 run 11's draw in TLS, captured whole on the media server: job 1's callback
    answers dropped by the media server's own rules (its agent's 4 SYNs unanswered); both
    IPv4 callbacks fit both IPv6 sessions, so neither was tied: it read inconclusive."""
    config = build_config(load_file(FIELD47 / "two-jobs-dual-stack-callback-unanswered-tls.toml"))
    analysis = analyze(read_traffic(
        [str(FIELD47 / "two-jobs-dual-stack-callback-unanswered-tls.pcapng.gz")], config), config)
    assert analysis.verdict == "fail"
    (error,) = _errors(analysis.findings)
    assert error.code == "callback_unanswered" and error.session is None
    assert error.message.startswith("The agent 10.77.0.2 of session S1 or S2 tried to call")
    conn = next(c for c in analysis.traffic.connections if c.uid == error.uid)
    assert (conn.orig_h, conn.resp_h, conn.resp_p) == ("10.77.0.2", "10.77.0.1", 5001)
    assert conn.syn_retries > 0 and not conn.established
    assert not [f for f in analysis.findings
                if f.code == "unannounced_connection" and f.uid == conn.uid]
    for session in analysis.sessions:
        assert conn.uid in session.callback_ambiguous
        assert session.steps[1].status == "unknown"


def test_a_refused_connection_thirty_late_jobs_fit_names_eight_of_them() -> None:
    """Thirty jobs begun before the capture between two hosts, nothing naming whose each
    data connection is, and a connect refused at their start: it fits all thirty, and
    its data_refused named every one of them, twice (tiescale: a busy media server's
    thousand jobs named a thousand); it names 8 and how many others, as tied_words do."""
    conns, streams = concurrent_jobs(30, started_before_capture=True, named=False,
                                     shared=True)
    conns.append(conn("R0", MEDIAS[0], 5050, AGENTS[0], 6050, 0.0, ok=False, end=0.0,
                      resp_rst=True))
    profile = load_profile("backup-exec-9")
    sessions = build_sessions(conns, streams, WIDE, profile)
    assert all("R0" in s.port_tied for s in sessions)
    findings = check_all(conns, streams, sessions, WIDE, profile)
    (error,) = [f for f in _errors(findings) if f.uid == "R0"]
    assert error.code == "data_refused" and error.session is None
    who = "session S1, S2, S3, S4, S5, S6, S7, S8 or 22 other sessions"
    assert error.message.startswith(f"The data connection of {who} from 10.77.0.1 to "
                                    "10.77.0.2:6050 was refused"), error.message
    assert f"It fits {who} alike" in error.message and "S9" not in error.message


def test_the_sessions_go_after_the_subject_its_check_measured() -> None:
    """The sessions a failed connection fits alike go where the check that wrote the
    message says its subject ends (Finding.subject), never found by the message's first
    words (note61 "Left" 2): a subject no list of heads knew is named, and a message
    whose check measured none is left as it is, whatever its words."""
    conns, streams = _lossy_jobs({})
    profile = load_profile("ndmp")
    sessions = build_sessions(conns, streams, LAB, profile)
    ctx = Context(conns, streams, sessions, LAB, profile)
    failed = next(c for c in conns if c.uid == "D1")
    subject = "A data connection "

    def check(session: Session) -> None:
        ctx.add("data_unanswered", f"{subject}to 10.0.0.1:5002 was never answered.",
                session=session, conn=failed, subject=len(subject))
        ctx.add("data_refused", "The data connection from 10.0.0.2 was refused.",
                session=session, conn=failed)

    _report(ctx, sessions, [failed], check)
    unanswered, refused = ctx.findings[-2:]
    assert unanswered.message.startswith(
        "A data connection of session S1 or S2 to 10.0.0.1:5002 was never answered."), \
        unanswered.message
    assert refused.message.startswith("The data connection from 10.0.0.2 was refused. It "
                                      "fits session S1 or S2 alike"), refused.message
    assert unanswered.session is None and refused.session is None
