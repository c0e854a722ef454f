"""A job that ended as the capture began reads the same whichever of its FINs comes first
(leftover62, found by newuser62).

captures/lab/port-reused-within-hold (two Backup Exec jobs one after the other) cut with
`editcap -r ... 250-600` starts at the first job's callback FIN (frame 250), the control
connection's FIN a packet later: the job read INCONCLUSIVE, `unknown`, its callback
taken for a running data connection ("a resource before the capture may have failed").
Cut from 251 it read `ended` with a WARNING unannounced_connection on the callback
("the capture may miss the control connection that announced it") beside that very
control connection. A connection of which the capture holds only its closing is the
job's closing (sessions.only_closing.close_only, verify.after_close.job_ended), and it is
the job's (sessions.late_closes): every cut from 250 to 252 reads PASS, the first job
`ended`, its callback its own. A job whose control connection carries messages after a
data connection's close stays judged (cut from 241). lab/concurrent-jobs and
concurrent-jobs-late-callback, cut at the first-ending job's close, likewise.
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
from flowcheck.report.overview import session_status

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def _cut(tmp_path: Path, name: str, first: int, last: int = 100_000) -> Analysis:
    """lab/NAME.pcap from frame `first` to `last` (past its end: to the end), cut by
    editcap -r (which takes no open range)."""
    cut = tmp_path / f"{name}-{first}.pcap"
    subprocess.run(["editcap", "-r", str(LAB / f"{name}.pcap"), str(cut),
                    f"{first}-{last}"], check=True,
                   capture_output=True)
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(cut)], config), config)


@pytest.mark.parametrize("first", [250, 251, 252])
def test_a_job_closing_reads_ended_whichever_fin_comes_first(tmp_path: Path,
                                                              first: int) -> None:
    analysis = _cut(tmp_path, "port-reused-within-hold", first, 600)
    document = analysis_document(analysis)
    assert analysis.verdict == "pass", first
    assert [(s["status"], s["judged"]) for s in document["sessions"]] == \
        [("ended", False), ("ok", True)]
    codes = {f.code for f in analysis.findings}
    assert "unannounced_connection" not in codes
    assert "port_reused_within_hold" in codes  # the second job's callback reuses 5001
    ended = analysis.sessions[0]
    [callback] = [c for c in analysis.traffic.connections
                  if {c.orig_p, c.resp_p} == {6059, 5001}]
    assert callback.session == ended.id
    # From its FIN, the agent's (250): its callback by direction and ports, no data
    # connection (newuser65, sessions.only_closing.name_closing_callbacks); from the media
    # server's FIN (251, 252) its first sender is no callback's: the job's closing, none
    # of its data connections (docs/json.md `status`; only_closing.claim_closing_only).
    assert (callback.uid == ended.callback_uid) == (first == 250)
    assert callback.uid not in ended.data_connections
    assert (callback.uid in ended.closing_only) == (first != 250)


def test_the_callbacks_fin_first_is_named_beside_the_close(tmp_path: Path) -> None:
    analysis = _cut(tmp_path, "port-reused-within-hold", 250, 600)
    detail = analysis.sessions[0].steps[1].detail
    assert "closed the control connection (FIN, frame 2), the first packet the capture " \
        "holds of the job but the FIN of C1 (frame 1), a connection it holds only " \
        "closing" in detail, detail
    out = io.StringIO()
    render_analysis(analysis, Console(file=out, width=200, color_system=None))
    assert "a resource before the capture may have failed" not in out.getvalue()


@pytest.mark.parametrize("first", [893, 895])
def test_a_concurrent_job_closing_callback_first_is_ended(tmp_path: Path, first: int) -> None:
    """lab/concurrent-jobs from the first-ending job's callback FIN (frame 893) or the
    media server's ACK of it (895): that job (media port 5021) had ended, as read from
    its control connection's FIN (894, 896); its callback (6087 -> 5051), which fits
    both jobs begun before the capture by direction and ports, is its own by its close
    (just after that job's CONNECT_CLOSE, the other job still speaking:
    sessions.only_closing); the other job runs on, judged."""
    analysis = _cut(tmp_path, "concurrent-jobs", first)
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    status = {by_uid[s.control_uid].orig_p: session_status(s, analysis.findings)
              for s in analysis.sessions}
    assert status == {5021: "ended", 5035: "unknown"}, (first, status)


@pytest.mark.parametrize("first", [761, 762])
def test_a_job_closing_beside_a_running_one_is_ended(tmp_path: Path, first: int) -> None:
    """lab/concurrent-jobs-late-callback from the first-ending job's callback FIN (frame
    761) or its control connection's FIN (762), the callback's other FIN (765) after
    the control connection's last packet: both read the job (media port 5065) `unknown`
    ("a resource before the capture may have failed"); it had ended."""
    analysis = _cut(tmp_path, "concurrent-jobs-late-callback", first)
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    status = {by_uid[s.control_uid].orig_p: session_status(s, analysis.findings)
              for s in analysis.sessions}
    assert status[5065] == "ended", (first, status)
    assert list(status.values()).count("ended") == 1


def test_a_job_whose_control_speaks_after_a_data_close_stays_judged(tmp_path: Path) -> None:
    """From frame 241 the first job's data connection shows only its close, and its
    control connection its last NDMP messages (from 245) before its FIN: the job ran in
    the capture, so it is judged, not ended."""
    analysis = _cut(tmp_path, "port-reused-within-hold", 241, 600)
    assert [session_status(s, analysis.findings) for s in analysis.sessions] == \
        ["unknown", "ok"]
    assert not any(s.ended for s in analysis.sessions)
