"""A data connection opened the other way under the default profile, in a capture that
cannot show which product ran the job, is `unknown`, not step_out_of_order
(flowcheck.verify.profile_doubt, latestart).

captures/ndmjob/v4-backup.pcap kept from frame 7 or 8 (the greeting and the DMA's
CONNECT_OPEN request gone: the capture joined the session after its first NDMP message,
so a Backup Exec vendor message or callback may have come before it) keeps the default
profile, and read FAIL step_out_of_order though the job is a good ndmjob backup: an
error that holds only under a profile no one gave and the capture cannot confirm. Now
INCONCLUSIVE, step 4 `unknown`, a step_unknown warning carrying the `--profile ndmp`
advice. A profile given keeps the error; so does a Backup Exec job whose callback shows.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from frame_cuts import frame_range, kept_from
from stored import CAPTURES

from flowcheck.config import build_config
from flowcheck.config_file import load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

V4 = CAPTURES / "ndmjob" / "v4-backup.pcap"
LAB = CAPTURES / "lab"


def _analysis(capture: Path, values: dict | None = None) -> Analysis:
    """`capture` analyzed with `values` (configuration keys; none: the defaults)."""
    config = build_config(values or {})
    return analyze(read_traffic([str(capture)], config), config)


def _step4(analysis: Analysis) -> tuple[str, str]:
    [session] = analysis.sessions
    step = next(s for s in session.steps if s.step == 4)
    return step.status, step.detail


@pytest.mark.parametrize("first", [7, 8])
def test_v4_backup_joined_late_is_inconclusive_not_failed(tmp_path: Path,
                                                         first: int) -> None:
    """No profile given: INCONCLUSIVE (before: FAIL step_out_of_order), step 4 unknown
    saying who opened it and why the profile is in doubt, a step_unknown warning with the
    conditional --profile ndmp advice; --profile backup-exec-9 given: FAIL as before."""
    cut = kept_from(V4, tmp_path / "late.pcap", first)
    analysis = _analysis(cut)
    codes = [f.code for f in analysis.findings]
    assert analysis.verdict == "inconclusive", codes
    assert "step_out_of_order" not in codes
    [warning] = [f for f in analysis.findings if f.code == "step_unknown"]
    assert str(warning.severity) == "warning" and warning.session == "S1"
    assert "opened by 10.77.0.2" in warning.message
    assert "joined the session after its first NDMP message" in warning.message
    assert warning.fix.startswith("If this is plain NDMP") and "--profile ndmp" in warning.fix
    # The Backup Exec user's definite reading (review56i: only --profile ndmp was said).
    assert ("; if it is backup-exec-9 traffic, analyze it with --profile backup-exec-9, "
            "which judges step 4 (unknown without it); then: first set --media-range"
            ) in warning.fix, warning.fix
    status, detail = _step4(analysis)
    assert status == "unknown" and "opened by 10.77.0.2" in detail, detail
    given = _analysis(cut, {"profile": "backup-exec-9"})
    assert given.verdict == "fail"
    assert "step_out_of_order" in [f.code for f in given.findings]
    assert _step4(given)[0] == "violated"


def test_backup_exec_without_its_signs_is_inconclusive_never_pass(tmp_path: Path) -> None:
    """lab/agent-connects-data (Backup Exec, its agent connecting to the mover) from frame
    20 on, its callback's packets filtered out (tshark -Y 'not tcp.port==5001'), profile
    line removed: nothing in it tells Backup Exec, so no FAIL, but never PASS either;
    its profile given: FAIL step_out_of_order. From frame 20 with its idle callback kept
    (a sign: its FIN at the job's end), the default profile's FAIL stays."""
    settings = load_file(LAB / "agent-connects-data.toml")
    late = kept_from(LAB / "agent-connects-data.pcap", tmp_path / "late.pcap", 20)
    quiet = tmp_path / "quiet.pcap"
    subprocess.run(["tshark", "-r", str(late), "-Y", "not tcp.port==5001", "-w", str(quiet)],
                   check=True, capture_output=True)
    unset = {key: value for key, value in settings.items() if key != "profile"}
    doubted = _analysis(quiet, unset)
    assert doubted.verdict == "inconclusive"
    assert "profile_inferred" not in [f.code for f in doubted.findings]
    assert _step4(doubted)[0] == "unknown"
    [warning] = [f for f in doubted.findings if f.code == "step_unknown"]
    assert "analyze it with --profile backup-exec-9, which judges step 4" in warning.fix
    assert _analysis(quiet, settings).verdict == "fail"
    signed = _analysis(late, unset)
    assert signed.verdict == "fail"
    assert "step_out_of_order" in [f.code for f in signed.findings]


def test_the_doubt_says_the_session_shows_no_sign_not_the_capture(tmp_path: Path) -> None:
    """v4-backup.pcap from frame 7 merged with lab/clean-3-resources.pcap, a Backup Exec
    job (vendor message, callback) between the same hosts: S1's doubt looks for signs in
    S1 alone, so its warning says "this session shows no sign of Backup Exec", not that
    the capture holds none (review56p: "it holds no sign of Backup Exec", the vendor
    message being S2's)."""
    cut = frame_range(V4, tmp_path / "late.pcap", 7, 10_000_000, "-F", "pcap")
    merged = tmp_path / "merged.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(merged), str(cut),
                    str(LAB / "clean-3-resources.pcap")], check=True, capture_output=True)
    analysis = _analysis(merged)
    assert any(f.code == "ndmp_vendor_message" and f.session != "S1"
               for f in analysis.findings)
    [warning] = [f for f in analysis.findings if f.code == "step_unknown"]
    assert warning.session == "S1"
    assert "this session shows no sign of Backup Exec" in warning.message, warning.message
    assert "it holds no sign" not in warning.message


def test_the_doubt_finds_its_step_and_fork_by_data(tmp_path: Path) -> None:
    """judge_in_doubt finds the step violated for its opener by Step.wrong_way and puts
    the definite reading where Finding.fork says, not by the words: a step reworded is
    still made unknown, and a fix whose fork words are not its lead's (fork 0) gets the
    reading after it."""
    import dataclasses

    from flowcheck.verify.profile_doubt import judge_in_doubt

    cut = kept_from(V4, tmp_path / "late.pcap", 7)
    fork = "; if it is backup-exec-9 traffic: "
    definite = ("if it is backup-exec-9 traffic, analyze it with --profile backup-exec-9, "
                "which judges step 4 (unknown without it)")
    for forked in (True, False):
        given = _analysis(cut, {"profile": "backup-exec-9"})
        assert given.profile is not None
        [session] = given.sessions
        step = next(s for s in session.steps if s.step == 4)
        assert step.status == "violated" and step.wrong_way
        step.detail = "the agent connected, the profile expects the media server to"
        [error] = [f for f in given.findings if f.code == "step_out_of_order"]
        at = error.fork
        assert at and error.fix[at:].startswith(fork), error.fix
        finding = error if forked else dataclasses.replace(error, fork=0)
        doubted = judge_in_doubt(given.sessions, [finding], given.profile,
                                 {"S1": "why not"})
        assert doubted is not None
        assert next(s for s in session.steps if s.step == 4).status == "unknown"
        [unknown] = doubted
        assert unknown.fix == (
            f"{error.fix[:at]}; {definite}; then: {error.fix[at + len(fork):]}" if forked
            else f"{error.fix.rstrip('.')}. I{definite[1:]}."), unknown.fix
