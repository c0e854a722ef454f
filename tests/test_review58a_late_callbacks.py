"""A data connection open before the capture is no callback (review58a).

Cut late, a Backup Exec data connection's first captured packet is often the agent's
data segment, so it reads as one the agent opened toward the media server's media range:
a callback's shape. sessions.matching.attach_callbacks took it as a session's callback
(captures/lab/concurrent-jobs.pcap from frame 125: 10.77.0.2:6001 -> 10.77.0.1:5052,
134.5 kB from the agent and none back, as S2's callback; the real callback
10.77.0.2:6093 -> 10.77.0.1:5001 then went to S1's data connections). A stream one
way is a data connection's, not a callback's (sessions.callback_opened.streamed_one_way).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from frame_cuts import frame_range, stored_capture
from stored import CAPTURES
from test_sessions import conn
from test_sessions_scale import WIDE, concurrent_jobs

from flowcheck.config import build_config
from flowcheck.config_file import load_file
from flowcheck.model import Connection, connection_ends
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.profiles import load_profile
from flowcheck.sessions import build_sessions
from flowcheck.sessions.callback_opened import streamed_one_way
from flowcheck.verify.context import Context
from flowcheck.verify.tied_words import tied_words


def _analysis(capture: Path, name: str) -> Analysis:
    """`capture` analyzed with lab/NAME.toml."""
    config = build_config(load_file(CAPTURES / "lab" / f"{name}.toml"))
    return analyze(read_traffic([str(capture)], config), config)


def _roles(analysis: Analysis) -> dict[frozenset, str]:
    """Each connection's ends -> its role."""
    return {frozenset({(c.orig_h, c.orig_p), (c.resp_h, c.resp_p)}): c.role
            for c in analysis.traffic.connections}


@pytest.mark.parametrize(("name", "first"), [("concurrent-jobs", 125),
                                             ("concurrent-jobs", 150),
                                             ("concurrent-jobs-late-callback", 525)])
def test_a_data_connection_cut_late_is_no_callback(tmp_path: Path, name: str,
                                                   first: int) -> None:
    """Every connection of the whole capture keeps its kind in the cut: no data
    connection is a callback, no callback a data connection (before: from 125 and 150
    10.77.0.2:6001 -> 10.77.0.1:5052 was S2's callback and 10.77.0.2:6093 ->
    10.77.0.1:5001 a data connection; concurrent-jobs-late-callback from 525
    10.77.0.1:5052 -> 10.77.0.2:6003 a callback and 10.77.0.2:6069 -> 10.77.0.1:5051
    a data connection)."""
    capture = stored_capture("lab", name)
    whole = _roles(_analysis(capture, name))
    cut = _roles(_analysis(frame_range(capture, tmp_path / "late.pcap", first, 10000000),
                           name))
    kinds = {ends: (whole[ends], role) for ends, role in cut.items()
             if {whole[ends], role} <= {"data", "callback"}}
    assert any(kind == ("callback", "callback") for kind in kinds.values())
    assert all(before == after for before, after in kinds.values()), kinds


def _stream(orig: tuple[int, int], resp: tuple[int, int], history: str = "DaFfA"
            ) -> Connection:
    """A connection open before the capture (no SYN) from the agent to the media range:
    (bytes, packets) each side."""
    c = conn("X", "10.77.0.2", 6001, "10.77.0.1", 5052, 1.0)
    c.syn_frames, c.synack_frames, c.established, c.history = [], [], False, history
    (c.orig_bytes, c.orig_pkts), (c.resp_bytes, c.resp_pkts) = orig, resp
    return c


def test_streamed_one_way_is_a_stream_not_keepalives_nor_a_dialogue() -> None:
    """Payload one way only, more than a byte a packet: a data stream (a backup's from
    the agent, a restore's to it); keepalive probes (a byte each, or none), an idle
    callback's FINs, or messages both ways are not; nor a connection whose opening
    the capture holds (its direction known)."""
    assert streamed_one_way(_stream((134_500, 97), (0, 17)))
    assert streamed_one_way(_stream((0, 17), (200_000, 144)))
    assert not streamed_one_way(_stream((5, 6), (0, 5)))  # Windows keepalives: 1 byte
    assert not streamed_one_way(_stream((0, 2), (0, 1), "FfA"))
    assert not streamed_one_way(_stream((300, 3), (120, 3)))
    opened = _stream((134_500, 97), (0, 17), "ShADadFf")
    opened.syn_frames, opened.established = [1], True
    assert not streamed_one_way(opened)


def _step2(analysis: Analysis) -> dict[str, str]:
    """Each session's step 2 (backup-exec-9: the callback) detail, by session id."""
    return {s.id: next(step.detail for step in s.steps if step.step == 2)
            for s in analysis.sessions}


def test_late_jobs_callbacks_open_before_the_capture_say_they_are_paired_by_order(
        tmp_path: Path) -> None:
    """Cut from frame 50 without the control connections' FINs (and their last ACKs),
    both jobs' callbacks are open before the capture (their FINs alone in it) and fit
    either job: the sweep pairs them by order (here crossed: S1, control
    10.77.0.1:5035, took 10.77.0.2:6087 -> 10.77.0.1:5051, the other job's), and step 2
    read `ok` with no word of it. Each now says it is tied by order and names the other
    session; the whole capture, its callbacks' handshakes in it, says not. With the
    control connections' FINs (cut from 50 alone) each callback's FIN comes just before
    its own job's control connection's close, no job message between
    (sessions.only_closing, cbmix63): each job has its own, none tied by order. The
    5035 job's last two messages (frames 900-901) are left out too: the 6087 callback's
    FIN before them is no callback of that job (sessions.closing_unheld), which leaves
    the tie one-sided (test_closing_unheld)."""
    capture = stored_capture("lab", "concurrent-jobs")
    assert not any("by order" in d for d in _step2(_analysis(capture, "concurrent-jobs"))
                   .values())
    nofin = tmp_path / "late-nofin.pcap"
    subprocess.run(["editcap", "-r", str(capture), str(nofin), "50-893", "895", "898-899",
                    "902", "906-907"], check=True, capture_output=True)
    details = _step2(_analysis(nofin, "concurrent-jobs"))
    assert sorted(details) == ["S1", "S2"]
    for own, other in (("S1", "S2"), ("S2", "S1")):
        assert f"tied to this session by order: {other} (control" in details[own], \
            details[own]
        assert "which job the agent called back on each the capture cannot tell" in \
            details[own]
    cut = _analysis(frame_range(capture, tmp_path / "late.pcap", 50, 10000000),
                    "concurrent-jobs")
    assert not any("by order" in d for d in _step2(cut).values())
    by_uid = {c.uid: c for c in cut.traffic.connections}
    assert {by_uid[s.control_uid].orig_p: by_uid[s.callback_uid].resp_p
            for s in cut.sessions if s.callback_uid} == {5021: 5051, 5035: 5001}


def test_tied_words_name_a_few_of_many_late_jobs_ties() -> None:
    """Thirty jobs begun before the capture, nothing naming whose each data connection
    is: the 29th fits 29 connections and 29 other sessions alike. Its words name 8 of
    each and how many more, not all (review58a: 1,000 such jobs named 500,000
    connections and 999,000 sessions in their messages in all, quadratic)."""
    conns, streams = concurrent_jobs(30, started_before_capture=True, named=False)
    profile = load_profile("backup-exec-9")
    sessions = build_sessions(conns, streams, WIDE, profile)
    ctx = Context(conns, streams, sessions, WIDE, profile)
    assert len(sessions[28].port_tied) == 29 and len(sessions[28].tied_with) == 29
    words = tied_words(ctx, sessions[28])
    named = [f"D{k} ({connection_ends(ctx.by_uid[f'D{k}'])})" for k in range(8)]
    assert words.startswith(f"{', '.join(named)} and 21 more fit this "
                            "session and S1, S2, S3, S4, S5, S6, S7, S8 or 21 other "
                            "sessions alike"), words
    assert "D8" not in words and "S10" not in words
    assert tied_words(ctx, sessions[0]).startswith(f"{named[0]} fit this session and S2, S3, "
                                                   "S4, S5, S6, S7, S8, S9 or 21 other "
                                                   "sessions")
