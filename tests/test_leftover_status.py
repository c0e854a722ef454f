"""The leftover of a job that ended before the capture is not an `ok` job (newuser61 3).

captures/ndmjob-ended/v4-ended-at-start-then-good-media (trial 15 H01): the old job's DMA
FIN is the capture's first packet, its agent's late connect and CONNECT_ERR follow; then
a new job runs, ok. Before: "sessions: 2 ok", the leftover's JSON `status` "ok" and
`judged` true (a script counting ok sessions counted a job that never ran), and the
header called it a capture "started mid-job (session S1" while its steps said its job
had ended. Now: status `ended` ("ended before capture"), `judged` false, its findings
kept, the header says it is not a job in the capture. Alone in its capture
(v4-ended-late-rst-media) the leftover stays `unknown` (the verdict inconclusive).
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.analyze import render_analysis
from flowcheck.report.json_doc import analysis_document

ENDED = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-ended"


def _ended(name: str, suffix: str) -> Analysis:
    config = build_config(load_file(ENDED / f"{name}.toml"))
    return analyze(read_traffic([str(ENDED / f"{name}{suffix}")], config), config)


def test_a_leftover_beside_a_job_is_ended_not_ok() -> None:
    analysis = _ended("v4-ended-at-start-then-good-media", ".pcap.gz")
    document = analysis_document(analysis)
    assert [(s["id"], s["status"], s["judged"]) for s in document["sessions"]] == \
        [("S1", "ended", False), ("S2", "ok", True)]
    assert document["verdict"] == "pass"
    # The leftover's evidence stays: its steps and its findings.
    assert [s["status"] for s in document["sessions"][0]["steps"]] == \
        ["ok"] + ["not_applicable"] * 3
    assert sorted(f["code"] for f in document["findings"] if f["session"] == "S1") == \
        ["capture_started_mid_session", "ndmp_error_reply"]
    out = io.StringIO()
    render_analysis(analysis, Console(file=out, width=200, color_system=None))
    text = " ".join(out.getvalue().split())  # the console's wrapping undone
    assert "sessions: 1 ok, 1 ended before capture;" in text
    assert "The capture started mid-job" not in text, text
    assert "Session S1 is not a job in the capture (status ended before capture, judged " \
           "false)" in text
    assert "ended before capture Session S1:" in text
    assert "(control C1); not a job in the capture, not judged" in text


def test_a_leftover_alone_stays_unknown() -> None:
    analysis = _ended("v4-ended-late-rst-media", ".pcap")
    document = analysis_document(analysis)
    assert [(s["status"], s["judged"]) for s in document["sessions"]] == [("unknown", True)]
    assert document["verdict"] == "inconclusive"


def test_a_leftover_after_the_live_job_began_is_not_called_mid_job() -> None:
    """newuser61's lab (v4-leftover-retry-into-live-job-media): a killed job's agent
    retried its data connection 2.5 s into the next job's capture. The note said "The
    capture started mid-job (session S2 ..." while S2's steps said its job had ended
    before the capture started."""
    analysis = _ended("v4-leftover-retry-into-live-job-media", ".pcap.gz")
    document = analysis_document(analysis)
    assert [(s["id"], s["status"], s["judged"]) for s in document["sessions"]] == \
        [("S1", "ok", True), ("S2", "ended", False)]
    assert "had ended before the capture started" in analysis.sessions[1].steps[1].detail
    out = io.StringIO()
    render_analysis(analysis, Console(file=out, width=200, color_system=None))
    text = " ".join(out.getvalue().split())
    assert "started mid-job" not in text
    assert "Session S2 is not a job in the capture" in text
    assert "sessions: 1 ok, 1 ended before capture;" in text


@pytest.mark.parametrize(("name", "late"), [
    ("v4-leftover-retry-into-live-job-media", "its SYN (C3, frame 16332, to 10.77.0.1:5042), "
     "after the close, was answered with a RST (frame 16333): that closed job's connect"),
    ("v4-ended-at-start-then-good-media", "(C2, frames 3, 311, to 10.77.0.1:5789), after the "
     "close, were answered with a RST (frame 312)")])
def test_with_no_profile_given_a_leftovers_late_connect_is_no_refused_callback(
        name: str, late: str) -> None:
    """With no profile given (backup-exec-9 by default), the live job reads as plain NDMP
    (ndmp profile) while the leftover, no announcement of it in the capture, kept the
    default: its late data connect, refused, was taken for its callback and read
    callback_refused, FAIL, though its steps said it was not a job in the capture
    (newuser61, found building the case). Now a job ended before the capture has no
    failed callback either: the step names the connect as that closed job's."""
    values = load_file(ENDED / f"{name}.toml")
    values.pop("profile")
    config = build_config(values)
    analysis = analyze(read_traffic([str(ENDED / f"{name}.pcap.gz")], config), config)
    assert analysis.verdict == "pass", [f.code for f in analysis.findings]
    assert not [f for f in analysis.findings if f.code.startswith("callback_")]
    [leftover] = [s for s in analysis.sessions if s.ended]
    assert leftover.profile == "backup-exec-9"
    step = leftover.steps[1]
    assert step.status == "not_applicable" and late in step.detail, step.detail


def test_a_late_job_whose_tied_data_ran_before_its_close_is_not_ended(tmp_path: Path) -> None:
    """review61e: captures/lab/concurrent-jobs (two Backup Exec jobs to one agent at
    once) from frame 300, job C1 (media port 5021)'s control packets left out until its
    FIN (frame 894; a control connection silent while the data ran, as a killed DMA's):
    its data connections ran in the capture, tied between the two jobs begun before it.
    The job read "ended before capture" (judged false, "not a job in the capture")
    though what ran may be its own; now it is judged, its steps unknown."""
    lab = Path(__file__).resolve().parent.parent / "captures" / "lab"
    cut = tmp_path / "cut.pcap"
    subprocess.run(["tshark", "-r", str(lab / "concurrent-jobs.pcap"), "-Y",
                    "frame.number >= 300 && !(tcp.port == 5021 && frame.number < 894)",
                    "-w", str(cut)], check=True, capture_output=True)
    config = build_config(load_file(lab / "concurrent-jobs.toml"))
    analysis = analyze(read_traffic([str(cut)], config), config)
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    [late] = [s for s in analysis.sessions if by_uid[s.control_uid].orig_p == 5021]
    assert late.port_tied, "the cut no longer ties its data connections"
    assert not late.ended
    document = analysis_document(analysis)
    assert {(s["status"], s["judged"]) for s in document["sessions"]} == {("unknown", True)}
    out = io.StringIO()
    render_analysis(analysis, Console(file=out, width=200, color_system=None))
    assert "ended before capture" not in out.getvalue()


def test_a_callback_retried_before_a_silent_close_is_judged(tmp_path: Path) -> None:
    """review61e: captures/lab/callback-blocked (the agent's callback SYNs dropped) from
    its second SYN (frame 19), the CONNECT_CLOSE (frame 22) left out (a DMA killed: its
    FIN the control connection's first packet in the capture), beside a good job
    (lab/clean-3-resources moved to start 0.5 s after it). The callback retried while
    the job's control connection was open, yet the job read "ended before capture" and
    its callback "late": PASS. It is the job's failed callback: callback_unanswered."""
    lab = Path(__file__).resolve().parent.parent / "captures" / "lab"
    cut, good, both = tmp_path / "cut.pcap", tmp_path / "good.pcap", tmp_path / "both.pcap"
    subprocess.run(["tshark", "-r", str(lab / "callback-blocked.pcap"), "-Y",
                    "frame.number >= 19 && frame.number != 22", "-w", str(cut)],
                   check=True, capture_output=True)

    def first(path: Path) -> float:
        return float(subprocess.run(["tshark", "-r", str(path), "-c", "1", "-T", "fields",
                                     "-e", "frame.time_epoch"], check=True,
                                    capture_output=True, text=True).stdout)

    shift = first(cut) - first(lab / "clean-3-resources.pcap") + 0.5
    subprocess.run(["editcap", "-t", f"{shift:.6f}", str(lab / "clean-3-resources.pcap"),
                    str(good)], check=True, capture_output=True)
    subprocess.run(["mergecap", "-w", str(both), str(cut), str(good)], check=True,
                   capture_output=True)
    config = build_config(load_file(lab / "callback-blocked.toml"))
    analysis = analyze(read_traffic([str(both)], config), config)
    assert analysis.verdict == "fail"
    assert "callback_unanswered" in {f.code for f in analysis.findings}
    assert not any(s.ended for s in analysis.sessions)
