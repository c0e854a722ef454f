"""A callback paired to its session by order says so in the JSON and the words
(newuser59).

captures/lab/concurrent-jobs.pcap cut from frame 50 without its control connections' FINs
and their last ACKs (`editcap -r ... 50-893 895 898-899 902 906-907`; with them each
callback's FIN, just before its own control connection's, tells whose it is:
sessions.only_closing, cbmix63), nor the 5035 job's last two messages (frames 900-901,
DATA_STOP's reply and CONNECT_CLOSE: with them the 6087 callback's FIN, before them, is
not that job's, sessions.closing_unheld; test_closing_unheld reads that cut): both jobs'
callbacks are open before the capture and
fit either job, so the sweep pairs them by order, here the reverse of the whole
capture's (S1, control 10.77.0.1:5035, takes 10.77.0.2:6087 -> 10.77.0.1:5051).
Step 2 said so (review58a), but `sessions[].callback_uid` read as known, with no mark
of the tie; the words did not say that both callbacks worked, so the pairing changes
no verdict; capture_started_mid_session named the tied data connection by uid alone
("C1 fit this session and S2 alike") and ended in a double negative ("no connection
whose announcement ... was matched").
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from frame_cuts import stored_capture
from stored import CAPTURES

from flowcheck.config import build_config
from flowcheck.config_file import load_file
from flowcheck.model import connection_ends
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.json_doc import analysis_document


def _analysis(capture: Path, **settings: object) -> Analysis:
    """`capture` analyzed with lab/concurrent-jobs.toml, `settings` over it."""
    config = build_config({**load_file(CAPTURES / "lab" / "concurrent-jobs.toml"),
                           **settings})
    return analyze(read_traffic([str(capture)], config), config)


@pytest.fixture(scope="module")
def cut_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The capture from frame 50 on, without its control connections' FINs."""
    out = tmp_path_factory.mktemp("cut") / "cut.pcap"
    subprocess.run(["editcap", "-r", str(stored_capture("lab", "concurrent-jobs")), str(out),
                    "50-893", "895", "898-899", "902", "906-907"], check=True,
                   capture_output=True)
    return out


@pytest.fixture(scope="module")
def cut(cut_file: Path) -> Analysis:
    """The cut analyzed once for the module."""
    return _analysis(cut_file)


def test_json_names_the_sessions_a_callback_was_paired_against(cut: Analysis) -> None:
    """Each session's callback_tied_with names the other session (the callback may be
    its); the whole capture, the callbacks' handshakes in it, ties none."""
    document = analysis_document(cut)
    assert document["verdict"] == "inconclusive"
    tied = {s["id"]: (s["callback_uid"], s["callback_tied_with"])
            for s in document["sessions"]}
    assert tied == {"S1": ("C7", ["S2"]), "S2": ("C8", ["S1"])}, tied
    whole = analysis_document(_analysis(stored_capture("lab", "concurrent-jobs")))
    assert [s["callback_tied_with"] for s in whole["sessions"]] == [[], []]
    assert all(s["callback_uid"] for s in whole["sessions"])


def test_step2_says_both_callbacks_worked_so_the_pairing_changes_no_verdict(
        cut: Analysis) -> None:
    """Both callbacks opened with their ports in range: either pairing gives each job's
    step 2 `ok`, and the words say the verdict does not hang on the pairing."""
    for session in cut.sessions:
        step = next(s for s in session.steps if s.step == 2)
        assert step.status == "ok"
        assert "tied to this session by order" in step.detail
        assert ("each callback worked (opened, its ports in range), so either pairing "
                "gives every job's step 2 the same status: the verdict does not hang on "
                "it") in step.detail, step.detail


def test_a_tie_whose_callbacks_did_not_both_work_does_not_say_the_verdict_holds(
        cut_file: Path) -> None:
    """With the job engine port 5051 outside the media range, one callback of the tie is
    `violated` whichever job it is: the pairing decides which job's step 2 fails, so no
    session's words say the verdict does not hang on it, and the violated step says it
    is tied by order too (it said only "port outside the configured range")."""
    narrow = _analysis(cut_file, media_range="5001-5050,5052-5100")
    steps = {s.id: next(step for step in s.steps if step.step == 2) for s in narrow.sessions}
    assert sorted(step.status for step in steps.values()) == ["ok", "violated"], steps
    for step in steps.values():
        assert "tied to this session by order" in step.detail, step.detail
        assert "the verdict does not hang on it" not in step.detail, step.detail
    assert [s.callback_tied_with for s in narrow.sessions] == [["S2"], ["S1"]]


def test_mid_session_names_the_tied_connection_s_ends_without_a_double_negative(
        cut: Analysis) -> None:
    """capture_started_mid_session names the connection both sessions fit by its ends,
    and says no connection was matched by ports without "no connection ... was"."""
    tied = [c for c in cut.traffic.connections if c.role == "data" and c.session is None]
    assert len(tied) == 1
    ends = f"{tied[0].uid} ({connection_ends(tied[0])})"
    assert ends == "C1 (10.77.0.1:5052 -> 10.77.0.2:6001)"
    messages = {f.session: f.message for f in cut.findings
                if f.code == "capture_started_mid_session"}
    for own, other in (("S1", "S2"), ("S2", "S1")):
        message = messages[own]
        assert f"{ends} fit this session and {other} alike" in message, message
        assert "no connection whose announcement" not in message
        assert ("matching by direction and ports (for a connection whose announcement "
                "the capture may have missed (already open, or opened before its control "
                "stream shows)) gave it none of its own.") in message, message
