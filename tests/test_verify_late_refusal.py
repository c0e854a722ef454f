"""A data connection refused only after its job ended is not data_refused (trial 12 D3).

captures/ndmjob-night12: the media server's input rule dropped the agent's data SYNs
(mediadrop-late-rst-media: 10 SYNs unanswered over 35.6 s, the DMA closed the control
connection after 40 s, the agent's next retry 28.4 s later got a RST from a port nobody
listened on any more), or the agent's output rule dropped them (agentdrop-late-rst-media:
none in this capture on the media server, only the late retry and its RST). Before, both
read data_refused ("port already in use ... or a firewall rejects it"). A refusal while
the job runs stays data_refused (captures/lab data-port-rejected, data-port-in-use:
regress).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

NIGHT = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-night12"


def _analyze(name: str) -> Analysis:
    config = build_config(load_file(NIGHT / f"{name}.toml"))
    return analyze(read_traffic([str(NIGHT / f"{name}.pcap")], config), config)


def _errors(analysis: Analysis) -> list:
    return [f for f in analysis.findings if str(f.severity) == "error"]


def test_syns_dropped_while_the_job_ran_are_data_unanswered() -> None:
    analysis = _analyze("mediadrop-late-rst-media")
    [error] = _errors(analysis)
    assert error.code == "data_unanswered", [f.code for f in analysis.findings]
    assert "never answered while the job ran" in error.message
    assert ("its SYN retry 28.4 s after the media server 10.77.0.1 closed the control "
            "connection (FIN, frame 23) was answered with a RST (frame 26)") in error.message
    step = analysis.sessions[0].steps[2]
    assert step.status == "failed"
    assert "unanswered while the job ran" in step.detail and "refused" not in step.detail


def test_an_attempt_only_after_the_close_leaves_the_endpoint_unused() -> None:
    analysis = _analyze("agentdrop-late-rst-media")
    [error] = _errors(analysis)
    assert error.code == "announced_not_used", [f.code for f in analysis.findings]
    assert "no connection in the capture tried it while the job ran" in error.message
    assert "28.1 s after the media server 10.77.0.1 closed the control connection (FIN, " \
           "frame 13) was answered with a RST (frame 16)" in error.message
    assert "answered DATA_CONNECT only after that close (frame 17" in error.message
    step = analysis.sessions[0].steps[2]
    assert step.status == "missing"
    assert step.detail.startswith("an announced endpoint got no connection while the job ran")


ENDED = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-ended"


@pytest.mark.parametrize(("name", "asked"), [("v4-ended-late-rst-media", "DATA_CONNECT"),
                                               ("v2-ended-late-rst-media", "DATA_START_BACKUP")])
def test_refusal_of_a_job_ended_before_the_capture_is_no_error(name: str, asked: str) -> None:
    """Trial 14 D10 (captures/ndmjob-ended): the close is not captured, but the media
    server's RST without ACK, its only packet on the control connection, answering the
    agent's reply, shows it had no connection any more: the refusal (frame 2) and the
    reply's error are the closed job's answer. Before: data_refused (and, v2, the reply's
    UNDEFINED_ERR) as errors. Not a job in the capture: its steps after the control
    connection are unknown, as before trial 15: the capture holds no job that ran in it,
    so nothing says whether the job meant works (beside such a job they are
    not_applicable: test_leftovers_of_earlier_jobs_leave_the_verdict_to_the_jobs_that_ran)."""
    config = build_config(load_file(ENDED / f"{name}.toml"))
    analysis = analyze(read_traffic([str(ENDED / f"{name}.pcap")], config), config)
    assert _errors(analysis) == [], [f.code for f in analysis.findings]
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    assert [s.status for s in session.steps] == ["ok"] + ["unknown"] * 3
    assert "the capture holds no job that ran in it" in session.steps[1].detail
    assert ("not a job in the capture: its job had ended before the capture started: the "
            "media server 10.77.0.1 had closed the control connection by then (its only "
            "packet on it, frame 4, is a RST without ACK") in session.steps[1].detail
    reply = next(f for f in analysis.findings if f.code == "ndmp_error_reply")
    assert reply.message.startswith(f"{asked} was answered")
    assert "the answer of a job already closed" in reply.message
    note = next(f for f in analysis.findings if f.code == "capture_started_mid_session")
    assert "Its job had ended" in note.message


def _ended(name: str) -> Analysis:
    config = build_config(load_file(ENDED / f"{name}.toml"))
    return analyze(read_traffic([str(ENDED / f"{name}.pcap.gz")], config), config)


def test_a_job_ended_as_the_capture_began_fails_nothing() -> None:
    """Trial 15 D1 (captures/ndmjob-ended/v4-ended-at-start-then-good-media, from H01):
    the old job's DMA FIN is the capture's first packet; the agent's connect retries
    (frames 3, 311) and its CONNECT_ERR (313) come after it. Before: ndmp_error_reply an
    error (fail) while step 3 called the RST the answer of a job already closed; as when
    the close came before the capture (captures/ndmjob-ended v4-ended-late-rst), the
    reply is a warning and the session no job of the capture."""
    analysis = _ended("v4-ended-at-start-then-good-media")
    assert _errors(analysis) == [], [f.code for f in analysis.findings]
    assert analysis.verdict == "pass"
    old, new = analysis.sessions
    assert [s.status for s in old.steps] == ["ok"] + ["not_applicable"] * 3
    assert [s.status for s in new.steps] == ["ok"] * 4
    assert ("its job had ended as the capture began: the media server 10.77.0.1 closed the "
            "control connection (FIN, frame 1), the first packet the capture holds of the "
            "job") in old.steps[1].detail
    # Every SYN of the late connect is named, the dropped one too (frame 3).
    assert "its SYNs (C2, frames 3, 311), after the close, were answered only by a RST " \
           "(frame 312)" in old.steps[2].detail
    [reply] = [f for f in analysis.findings if f.code == "ndmp_error_reply"]
    assert str(reply.severity) == "warning" and reply.frames == [313]
    assert "so this is the answer of a job already closed" in reply.message


def test_leftovers_of_earlier_jobs_leave_the_verdict_to_the_jobs_that_ran() -> None:
    """Trial 15 D6 (captures/ndmjob-ended/v4-ended-leftovers-parallel-media, from G01):
    three jobs ok; two earlier jobs' late CONNECT_ERRs on control connections their DMA
    had closed before the capture. Before: inconclusive (their steps unknown)."""
    analysis = _ended("v4-ended-leftovers-parallel-media")
    assert _errors(analysis) == []
    assert analysis.verdict == "pass"
    statuses = [[s.status for s in session.steps] for session in analysis.sessions]
    assert statuses == [["ok"] * 4] * 3 + [["ok"] + ["not_applicable"] * 3] * 2
    assert sorted(f.code for f in analysis.findings if str(f.severity) == "warning") == \
        ["ndmp_error_reply", "ndmp_error_reply"]


def test_a_lone_syn_of_an_earlier_attempt_is_not_the_jobs_second_error() -> None:
    """Trial 15 D1/C14 (captures/ndmjob-ended/v4-lone-syn-earlier-job-media): the job's
    own dropped SYNs fail it; a lone SYN to another port, never resent in the 30.7 s
    after it (its connector's last try), is not matched to the job by ports. Before: a
    second data_unanswered whose own words said a drop was not the likely reading."""
    analysis = _ended("v4-lone-syn-earlier-job-media")
    [error] = _errors(analysis)
    assert error.code == "data_unanswered" and "10.77.0.1:5645" in error.message
    [session] = analysis.sessions
    assert session.data_connections == ["C1"]
    [other] = [f for f in analysis.findings if f.code == "unannounced_connection"]
    assert other.uid == "C2" and other.frames == [5] and other.session is None
    assert "Its one SYN (frame 5) was never resent in the 30.7 s of capture after it" \
        in other.message


def test_a_connect_of_a_job_ended_as_the_capture_began_unanswered_fails_nothing(
        tmp_path: Path) -> None:
    """The same without the RST that refused the late retry (frame 312 removed): the
    closed job's SYNs (frames 3, 311) go unanswered after its close, not while it ran.
    Not data_unanswered of a job the capture holds: the step names them."""
    source = ENDED / "v4-ended-at-start-then-good-media.pcap.gz"
    cut = tmp_path / "no-rst.pcap"
    subprocess.run(["editcap", str(source), str(cut), "312"], check=True,
                   capture_output=True)
    config = build_config(load_file(ENDED / "v4-ended-at-start-then-good-media.toml"))
    analysis = analyze(read_traffic([str(cut)], config), config)
    assert _errors(analysis) == [], [f.code for f in analysis.findings]
    assert analysis.verdict == "pass"
    step = analysis.sessions[0].steps[2]
    assert step.status == "not_applicable"
    assert "its 2 SYNs (C2, to 10.77.0.1:5789) came only after the close and got no " \
           "answer" in step.detail
