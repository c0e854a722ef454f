"""A capture started while a job ran (`editcap -r`: its first frames dropped, as a tcpdump
begun mid-job keeps them) holds neither the session's start nor the job's first start: a
resource before the capture may have failed there (flowcheck.verify.late_job). Such a
capture of a failing job must not read PASS, and a clean job's reads inconclusive, not
FAIL; a failure in the captured part stays a failure."""

from __future__ import annotations

import subprocess

import pytest
from frame_cuts import CAPTURES, cut_analysis, started_late
from stored import case_config, errors, stored_analysis

from flowcheck.report.verdict_notes import mid_job_note

LATE = "the capture started after the job began"
# The announcement step's own reason when its address came before the capture.
BEFORE = "unknown: announced before the capture started"


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(("folder", "name"), [
    # the first resource's data connection refused (data_refused), a second one used
    ("lab", "data-port-in-use"),
    ("lab-trial22-tunnels", "data-port-in-use.vxlanasym"),
    # a SYN proxy's handshake, then the agent's kernel reset the first data connection
    ("trial37b-firewall-features", "synproxy-dataport-closed-media"),
])
@pytest.mark.parametrize("dropped", [0.10, 0.25, 0.50])
def test_a_failing_job_joined_late_never_passes(tmp_path, folder: str, name: str,
                                                dropped: float) -> None:
    whole = stored_analysis(next(p for p in (CAPTURES / folder).iterdir()
                                 if p.name.startswith(f"{name}.pcap")),
                            config_path=case_config(CAPTURES / folder, name))
    assert whole.verdict == "fail"
    cut = started_late(tmp_path, folder, name, dropped)
    analysis = cut_analysis(cut, folder, name)
    assert analysis.verdict in ("fail", "inconclusive")
    if analysis.verdict == "inconclusive":
        [session] = analysis.sessions
        unknown = [s for s in session.steps if s.status == "unknown"]
        # The announcement step may be unknown for its own reason: its address came
        # before the capture (lost_announcement's one rule, new-user trial 54).
        assert unknown and all(LATE in s.detail or s.detail.startswith(BEFORE)
                               for s in unknown)
        assert any(LATE in s.detail for s in unknown)
        [info] = [f for f in analysis.findings if f.code == "capture_started_mid_session"]
        assert "The capture started after its job began, too" in _words(info.message)
        assert info.fix.startswith("Start the capture before the job starts")


@pytest.mark.parametrize(("folder", "name"), [
    ("ndmjob", "v4-backup"), ("lab", "clean-3-resources"),
])
def test_a_clean_job_joined_late_is_inconclusive(tmp_path, folder: str, name: str) -> None:
    """Each resource's step reads unknown for the job as a whole, keeping what the
    capture shows of it; the control connection's step stays ok."""
    cut = started_late(tmp_path, folder, name, 0.50)
    analysis = cut_analysis(cut, folder, name)
    assert analysis.verdict == "inconclusive", [f.code for f in errors(analysis)]
    [session] = analysis.sessions
    assert session.steps[0].status == "ok"
    data = session.steps[-1]
    assert data.status == "unknown"
    assert _words(data.detail).startswith(f"unknown for the job as a whole: {LATE}")
    assert "what the capture shows: " in data.detail and data.uids
    # The first step unknown for the whole job (the announcement may be unknown for its
    # own reason before it: its address came before the capture, new-user trial 54).
    first = next(s for s in session.steps if s.status == "unknown" and LATE in s.detail)
    assert "the session's first captured packet is frame " in _words(first.detail)
    # Under the verdict: a capture started before the job is what judges it whole.
    assert "start the capture before the job starts to judge the whole job" \
        in mid_job_note(analysis)


def test_a_job_whose_session_start_is_captured_is_unchanged(tmp_path) -> None:
    """clean-3-resources from its callback's SYN (frame 17) on: the control connection
    opened before the capture, but the callback opens before any job message, so the job
    is wholly in the capture: PASS, every step ok."""
    folder, name = "lab", "clean-3-resources"
    capture = tmp_path / "from-17.pcap"
    subprocess.run(["editcap", "-r", str(CAPTURES / folder / f"{name}.pcap"), str(capture),
                    "17-1000000"], check=True, capture_output=True)
    analysis = stored_analysis(capture, config_path=case_config(CAPTURES / folder, name))
    assert analysis.verdict == "pass"
    assert all(LATE not in s.detail for s in analysis.sessions[0].steps)


def test_a_failure_in_the_captured_part_stays_a_failure(tmp_path) -> None:
    """field35's unlisted-agent-fail-media from 10% on: S1's job ran when the capture
    began (its steps unknown for the whole job), S2's announced_not_used stays an error
    and its steps stay missing."""
    folder = next(p.parent.name for p in CAPTURES.rglob("unlisted-agent-fail-media.pcap*"))
    cut = started_late(tmp_path, folder, "unlisted-agent-fail-media", 0.10)
    analysis = stored_analysis(cut, config_path=case_config(CAPTURES / folder,
                                                            "unlisted-agent-fail-media"))
    assert analysis.verdict == "fail"
    assert {f.code for f in errors(analysis)} == {"announced_not_used"}
    first, second = analysis.sessions[:2]
    assert [s.status for s in first.steps[1:]] == ["unknown"] * (len(first.steps) - 1)
    assert all(LATE in s.detail or s.detail.startswith(BEFORE) for s in first.steps[1:])
    assert any(LATE in s.detail for s in first.steps[1:])
    assert "missing" in [s.status for s in second.steps]
    assert not any(LATE in s.detail for s in second.steps)


def test_a_handshake_a_filter_left_out_is_not_a_late_start() -> None:
    """ndmjob-filtered-packets/fin-rst-media (tcpdump -r 'tcp[tcpflags] & (tcp-fin|tcp-rst)
    != 0'): no SYN anywhere, so the missing handshake is the filter's (capture_filtered),
    not a capture that started after the job began."""
    folder = CAPTURES / "ndmjob-filtered-packets"
    analysis = stored_analysis(folder / "fin-rst-media.pcap",
                               config_path=case_config(folder, "fin-rst-media"))
    assert "capture_filtered" in {f.code for f in analysis.findings}
    assert not any(LATE in s.detail for s in analysis.sessions[0].steps)


def test_a_ring_whose_head_is_gone_mid_job_says_why_under_the_verdict(tmp_path) -> None:
    """captures/lab-ring without ring.pcap0 (the ring's oldest file, overwritten): the set
    begins mid-job, after the session's start, so late_job makes its resources' steps
    unknown, and the note under the verdict says why (it named no session after a ring's
    head before) with the ring's fix, not "start the capture before the job"."""
    ring = CAPTURES / "lab-ring"
    for name in ("ring.pcap1", "ring.pcap2"):
        (tmp_path / name).symlink_to(ring / name)
    analysis = stored_analysis(tmp_path, config_path=ring / "flowcheck.toml")
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    assert session.start_gap is not None and session.start_gap.head
    assert session.joined_late and any(LATE in s.detail for s in session.steps)
    note = _words(mid_job_note(analysis))
    assert note.startswith("The capture set starts mid-job (the ring's oldest files are gone; "
                           f"session {session.id}: capture_started_mid_session), after the "
                           f"job of {session.id} began: a resource before the capture may "
                           "have failed"), note
    assert note.endswith("make the ring hold the whole job (capture_started_mid_session's "
                         "fix) to judge the whole job."), note
