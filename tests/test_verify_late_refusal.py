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
    assert "no connection tried it while the job ran" in error.message
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
    UNDEFINED_ERR) as errors."""
    config = build_config(load_file(ENDED / f"{name}.toml"))
    analysis = analyze(read_traffic([str(ENDED / f"{name}.pcap")], config), config)
    assert _errors(analysis) == [], [f.code for f in analysis.findings]
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    assert [s.status for s in session.steps][2:] == ["unknown", "unknown"]
    assert ("had closed the control connection before the capture started (its only packet "
            "on it, frame 4, is a RST without ACK") in session.steps[2].detail
    reply = next(f for f in analysis.findings if f.code == "ndmp_error_reply")
    assert reply.message.startswith(f"{asked} was answered")
    assert "the answer of a job already closed" in reply.message
    note = next(f for f in analysis.findings if f.code == "capture_started_mid_session")
    assert "Its job had ended" in note.message
