"""Review 56c: a second read of branch lonesyn (flowcheck.verify.unseen_tries, a lone SYN
that may be a resend; flowcheck.verify.limit_words, another job's connection).

Lab captures made in network namespaces (captures/review56c, each `.toml` says how):
a slow connector whose first SYN, 3 s after the DATA_LISTEN reply, was rejected, the
reject not in the capture (one direction; a `tcp` capture filter and an ICMP reject),
read INCONCLUSIVE "may be a resend"; a job still moving its data, its control
connection silent, read "an earlier job"; a TLS session's data SYN read as coming 2 s
after the CONNECT_CLIENT_AUTH reply "as TCP's resends do".
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from stored import stored_analysis

from flowcheck.model import Finding
from flowcheck.pipeline import Analysis

CASES = Path(__file__).resolve().parents[1] / "captures" / "review56c"
LAB = CASES.parent / "lab"


def _one(analysis: Analysis, code: str) -> Finding:
    [found] = [f for f in analysis.findings if f.code == code]
    return found


def _words(text: str) -> str:
    return " ".join(text.split())


def test_a_slow_connects_reset_captured_one_way_reads_rejected() -> None:
    """M's one SYN 3 s after the DATA_LISTEN request, refused by A's RST, CONNECT_CLOSE
    0.15 ms later, captured -Q out: the RST travels the uncaptured way, while earlier
    SYNs would travel the captured one, so the reject reading needs no loss."""
    analysis = stored_analysis(CASES / "data-reset-slow-connect-one-direction-out.pcap")
    assert analysis.verdict == "fail"
    [session] = analysis.sessions
    assert session.steps[3].status == "failed"
    message = _words(_one(analysis, "data_unanswered").message)
    assert "0.152 ms after it with no data moved" in message
    assert ("one direction only), the way one would travel), or when its program gives it "
            "up on its own; most likely rejected") in message
    assert "resend whose earlier tries" not in message


def test_a_slow_connects_icmp_reject_filtered_out_reads_rejected() -> None:
    """The capture filter `tcp` left A's ICMP port unreachable out; M's one SYN 3 s after
    the DATA_LISTEN reply and its CONNECT_CLOSE 0.55 ms after it: a stop within a round
    trip of the SYN is a reject's, not a connect timer's right after a resend."""
    analysis = stored_analysis(CASES / "data-icmp-rejected-slow-connect-tcp-filter.pcap")
    assert analysis.verdict == "fail"
    error = _one(analysis, "data_unanswered")
    message = _words(error.message)
    assert "closed the session (CONNECT_CLOSE, frame 24) 0.553 ms after it" in message
    assert "most likely rejected" in message
    assert "resend whose earlier tries" not in message
    assert not [f for f in analysis.findings if f.code == "capture_ended_early"]


def test_the_trials_cut_stays_inconclusive_and_says_both_readings(tmp_path: Path) -> None:
    """data-port-dropped less frames 22-25: the stop 438 ms after the fourth SYN, both
    directions captured, so it may still be a resend (unseen_tries); the words now name
    the other reading too, a connector that sent its first SYN late."""
    cut = tmp_path / "cut.pcap"
    subprocess.run(["editcap", str(LAB / "data-port-dropped.pcap"), str(cut), "22-25"],
                   check=True, capture_output=True)
    analysis = stored_analysis(cut, config_path=LAB / "data-port-dropped.toml")
    assert analysis.verdict == "inconclusive"
    early = _words(_one(analysis, "capture_ended_early").message)
    assert ("where a connect's first SYN usually follows what asked for it within "
            "milliseconds: it may be a resend whose earlier tries the capture lacks, the "
            "connect unanswered since, or its connector's first SYN, sent late") in early


def test_a_job_still_running_is_not_an_earlier_job() -> None:
    """S1's backup still flowed on C3 when S2's data SYNs went unanswered (a drop rule
    added meanwhile), the capture cut before S1 ended; its control connection was silent
    since DATA_START_BACKUP, so its last packet came before S2's SYN. S1 never closed in
    the capture: it ran alongside, and the words stay those of one job."""
    analysis = stored_analysis(CASES / "second-job-dropped-first-still-running-cut.pcap.gz")
    error = _one(analysis, "data_unanswered")
    message, fix = _words(error.message), _words(error.fix)
    assert "Yet C3, from 10.77.0.1 to 10.77.0.2 port 6001, opened 4.21 s before" in message
    assert "more likely a limit on new connections" in message
    assert "earlier job" not in message and "since session S1's job" not in fix


def test_a_tls_sessions_data_syn_is_not_timed_from_the_last_clear_message() -> None:
    """TLS from frame 11; the callback 2.09 s after the CONNECT_CLIENT_AUTH reply (the
    agent slow to call back), the data SYN 1.1 ms after the callback (the DATA_LISTEN
    reply asking for it inside TLS), the capture ending there: no clock, no resend words."""
    analysis = stored_analysis(CASES / "tls-data-syn-2s-after-auth-cut.pcap")
    assert analysis.verdict == "inconclusive"
    early = _words(_one(analysis, "capture_ended_early").message)
    assert "The capture ended right after the SYN of the data connection" in early
    assert "as TCP's resends do" not in early and "CONNECT_CLIENT_AUTH" not in early
    [session] = analysis.sessions
    assert "as TCP's resends do" not in session.steps[3].detail
