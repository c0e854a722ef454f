"""A lone SYN that may itself be a resend, its connect's earlier tries cut from the capture
(flowcheck.verify.unseen_tries), and another job's connection read as a limit's evidence
(flowcheck.verify.limit_words): new user trial 56.

The cuts are made at test time with editcap from stored lab cases, as a sniffer that
lost those frames would have left them: data-port-dropped less frames 22-25 (the data
connection's first three SYNs and the control connection's ACK), callback-blocked less
frames 17-20 (the callback's first three SYNs and that ACK).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from stored import stored_analysis

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis
from flowcheck.verify.context import Context
from flowcheck.verify.unseen_tries import earlier_tries

LAB = Path(__file__).resolve().parents[1] / "captures" / "lab"


def _cut(tmp_path: Path, name: str, frames: str, **settings: object) -> Analysis:
    """LAB/NAME.pcap less `frames` (editcap's ranges), analysed with its sidecar
    (`settings` overriding its values)."""
    out = tmp_path / f"{name}-cut.pcap"
    subprocess.run(["editcap", str(LAB / f"{name}.pcap"), str(out), frames], check=True,
                   capture_output=True)
    return stored_analysis(out, config_path=LAB / f"{name}.toml", **settings)


def _one(analysis: Analysis, code: str) -> Finding:
    [found] = [f for f in analysis.findings if f.code == code]
    return found


def _words(text: str) -> str:
    return " ".join(text.split())


def test_a_data_syn_three_seconds_late_is_not_read_rejected(tmp_path: Path) -> None:
    """Its fourth SYN alone, 3.07 s after the DATA_LISTEN reply, the job closed 438 ms
    later: it read data_unanswered, "most likely rejected", the fix "if the port was in
    use"; the earlier tries may be missing, so the step is unknown, as the callback's."""
    analysis = _cut(tmp_path, "data-port-dropped", "22-25")
    assert analysis.verdict == "inconclusive"
    assert not [f for f in analysis.findings if f.severity == "error"]
    [session] = analysis.sessions
    assert session.steps[3].status == "unknown"
    early = _words(_one(analysis, "capture_ended_early").message)
    assert ("Its SYN (frame 22) came 3.07 s after the DATA_LISTEN reply (frame 21), as "
            "TCP's resends do") in early
    assert "it may be a resend whose earlier tries the capture lacks" in early
    assert "came 3.07 s after the DATA_LISTEN reply" in _words(session.steps[3].detail)
    assert "rejected" not in early


def test_a_callback_syn_three_seconds_late_reads_alike(tmp_path: Path) -> None:
    """The same cut of the callback: unknown before as now, and now it says why the lone
    SYN may not be the connect's first, as the data connection's does."""
    analysis = _cut(tmp_path, "callback-blocked", "17-20")
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    assert session.steps[1].status == "unknown"
    early = _words(_one(analysis, "capture_ended_early").message)
    assert ("Its SYN (frame 17) came 3.08 s after the vendor message 0xF001's reply (frame "
            "16)") in early


def test_never_resent_words_say_the_syn_may_be_a_resend(tmp_path: Path) -> None:
    """The callback's cut with a 2 s retransmission timeout: the capture ran 2.42 s past
    the SYN and the job stopped, so step 2 failed on "never resent" (verify.unresent),
    with both readings; the words add that the SYN may itself be a resend."""
    analysis = _cut(tmp_path, "callback-blocked", "17-20", retransmission_timeout=2.0)
    error = _one(analysis, "callback_unanswered")
    message, fix = _words(error.message), _words(error.fix)
    assert ("never resent in the 2.42 s of capture after it, although TCP resends an "
            "unanswered SYN within 2 s") in message
    assert ("it came 3.08 s after the vendor message 0xF001's reply (frame 16), as TCP's "
            "resends do") in message
    assert "a later resend may wait longer than the first" in message
    assert "If dropped:" in fix and "If rejected:" in fix


def test_a_first_syn_right_after_its_listen_keeps_its_reading(tmp_path: Path) -> None:
    """The same capture less the resends only (frames 24-26): the SYN left 0.1 ms after
    the DATA_LISTEN reply, a connect's first, so no earlier tries are read; with a 4 s
    retransmission timeout the job's close 3.5 s later came before TCP's first resend,
    and the reading stays verify.gave_up's "most likely rejected"."""
    analysis = _cut(tmp_path, "data-port-dropped", "24-26", retransmission_timeout=4.0)
    assert analysis.profile is not None
    config = build_config({**load_file(LAB / "data-port-dropped.toml"),
                           "retransmission_timeout": 4.0})
    ctx = Context(analysis.traffic.connections, analysis.traffic.streams,
                  analysis.sessions, config, analysis.profile)
    [conn] = [c for c in ctx.connections if c.role == "data"]
    assert conn.syn_frames == [22] and earlier_tries(ctx, conn) is None
    message = _words(_one(analysis, "data_unanswered").message)
    assert "its one SYN (frame 22)" in message and "most likely rejected" in message
    assert "resend whose earlier tries" not in message


def test_another_jobs_connection_is_no_sign_of_a_limit_alone(tmp_path: Path) -> None:
    """clean-3-resources and data-port-dropped read together (two runs, one with a drop
    rule): C5 of the first job reached 6003 10 s before the second's SYNs to 6001. It read
    "more likely a limit on new connections"; a rule changed between the jobs reads as
    well, and the fix looks for it."""
    (tmp_path / "none.toml").write_text("")
    analysis = stored_analysis(LAB / "clean-3-resources.pcap", LAB / "data-port-dropped.pcap",
                               config_path=tmp_path / "none.toml",
                               media_range="5001-5100", agent_range="6001-6100")
    error = _one(analysis, "data_unanswered")
    message, fix = _words(error.message), _words(error.fix)
    assert ("Yet C5, from 10.77.0.1 to 10.77.0.2 port 6003, opened 10 s before through the "
            "same path, in an earlier job (session S1; this is S2)") in message
    assert "or a rule changed between the two jobs" in message
    assert "more likely" not in message
    assert "and for a rule added or changed since session S1's job" in fix


def test_a_job_running_alongside_keeps_the_limit_reading() -> None:
    """trial41-paths/concurrent-jobs-one-blocked: five jobs started within 50 ms, C9 of
    S4 opened 1.97 ms before S5's blocked one; S4 still ran, so no rule changed "between"
    them: the words stay those of one job (flowcheck.verify.limit_words.other_job)."""
    capture = LAB.parent / "trial41-paths" / "concurrent-jobs-one-blocked.pcap.gz"
    message = _words(_one(stored_analysis(capture), "data_unanswered").message)
    assert "Yet C9, from 10.77.0.2 to 10.77.0.1 port 5068, opened 1.97 ms before" in message
    assert "earlier job" not in message and "more likely a limit" in message
