"""Step 2's tie note (verify.callback_tie) and sessions[].callback_tied_with bounded,
and its work linear, with many sessions tied by order (tiecap, after lastread58c: with
300 jobs' callbacks open before the capture each note named all 299 other sessions,
10.6 KB, and asked evidence.judged 4 times a pair of sessions). Nothing is timed: the
judged calls are counted."""

from __future__ import annotations

import pytest
from test_sessions_scale import WIDE, concurrent_jobs

import flowcheck.verify.callback_tie as callback_tie
from flowcheck.model import Connection, NdmpStream
from flowcheck.profiles import load_profile
from flowcheck.sessions import build_sessions
from flowcheck.verify.callback_tie import tie_note
from flowcheck.verify.checks import check_all
from flowcheck.verify.context import Context

PROFILE = load_profile("backup-exec-9")


def _midstream_jobs(jobs: int) -> tuple[list[Connection], list[NdmpStream]]:
    """concurrent_jobs begun before the capture, their callbacks too (no SYN seen): each
    callback in every other job's window, so each may be any of them (_swappable). The
    callbacks' agent ports in WIDE's agent range: each worked, so the note asks every
    one (a callback that did not would end the asking)."""
    conns, streams = concurrent_jobs(jobs, started_before_capture=True)
    for c in conns:
        if c.uid.startswith("B"):
            c.syn_frames, c.synack_frames, c.established, c.history = [], [], False, "ADad"
            c.orig_p = 23000 + int(c.uid[1:])
    return conns, streams


def test_300_midstream_callbacks_ask_judged_once_a_session_and_name_a_few(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each note names 8 of the 299 others and how many more; judged is asked once a
    session, not for every pair (358,800 calls before)."""
    conns, streams = _midstream_jobs(300)
    sessions = build_sessions(conns, streams, WIDE, PROFILE)
    ctx = Context(conns, streams, sessions, WIDE, PROFILE)
    calls = []
    judged = callback_tie.judged
    monkeypatch.setattr(callback_tie, "judged",
                        lambda *args: calls.append(args[1].uid) or judged(*args))
    notes = {s.id: tie_note(ctx, s, ctx.by_uid[s.callback_uid]) for s in sessions
             if s.callback_uid is not None}
    assert len(notes) == 300
    assert len(calls) <= 300, len(calls)
    words, ids = notes["S6"]
    assert ids == ["S1", "S2", "S3", "S4", "S5", "S7", "S8", "S9"]
    assert words.startswith("tied to this session by order: S1 (control C0, callback B0), "
                            "S2 (control C1, callback B1), "), words
    assert "S9 (control C8, callback B8) and 291 other sessions were open too" in words
    assert "S10" not in words
    assert words.endswith("the verdict does not hang on it"), words
    assert max(len(w) for w, _ in notes.values()) < 1000


def test_a_callback_tied_with_eleven_sessions_names_eight_in_words_and_json() -> None:
    """Twelve jobs open at once, only the last's callback seen, after all opened: the
    session that took it is tied with 11 without one. Step 2's detail names 8 and "3
    other sessions", and sessions[].callback_tied_with the same 8 (docs/json.md); the
    same shape with 9 others names all 9."""
    for jobs, shown in ((12, 8), (10, 9)):
        conns, streams = concurrent_jobs(jobs)
        last = f"B{jobs - 1}"
        conns = [c for c in conns if not c.uid.startswith("B") or c.uid == last]
        sessions = build_sessions(conns, streams, WIDE, PROFILE)
        check_all(conns, streams, sessions, WIDE, PROFILE)
        tied = [s for s in sessions if s.callback_uid == last]
        assert len(tied) == 1
        others = [s for s in sessions if s is not tied[0]][:shown]
        assert tied[0].as_dict()["callback_tied_with"] == [s.id for s in others]
        detail = tied[0].steps[1].detail
        named = ", ".join(f"{s.id} (control {s.control_uid})" for s in others)
        more = " and 3 other sessions were" if jobs == 12 else " were"
        assert f"tied to this session by order: {named}{more} open too" in detail, detail
