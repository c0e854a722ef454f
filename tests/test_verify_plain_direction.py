"""A plain NDMP job analyzed with no profile given is judged by the ndmp profile
(flowcheck.verify.plain_reading, new-user trial 54); analyzed with backup-exec-9 given,
or where the capture cannot show it is plain NDMP, the first fix names `--profile ndmp`
(flowcheck.verify.plain_direction).

Amanda's ndmjob (captures/ndmjob, README "what a verifier should see") announces with
MOVER_LISTEN + DATA_CONNECT (v2: the mover's address inside DATA_START_BACKUP): the media
server's mover listens and the agent connects, plain NDMP's direction; Backup Exec 9's
agent listens and the media server connects (docs/flow-model.md). The summary's first
"fix:" line said "set --media-range and --agent-range"; the hint that `--profile ndmp`
fits came only further down, under Findings. A Backup Exec job that called back stays
Backup Exec's, whatever its pairing (captures/lab/agent-connects-data).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from flowcheck.cli.main import run

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
Capsys = pytest.CaptureFixture[str]
_FIX = re.compile(r"^\s+fix:\s+(.*)$", re.MULTILINE)


def _analyze(capsys: Capsys, capture: Path,
             *flags: str) -> subprocess.CompletedProcess[str]:
    """`flowcheck analyze` as a user runs it piped, no configuration: the default profile
    and ranges unless `flags` set them, the report as wide as a pipe's (PIPED_WIDTH,
    whatever COLUMNS says). In the test's process (cli.main.run, standard output and
    error captured): the words are what these tests read, and a `python -m flowcheck`
    start was most of each run."""
    capsys.readouterr()  # what the test printed before
    code = run(["analyze", str(capture), *flags])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["flowcheck", "analyze", str(capture), *flags], code,
                                       out, err)


def _first_fix(capsys: Capsys, capture: Path, *flags: str) -> str:
    done = _analyze(capsys, capture, *flags)
    assert done.returncode == 1, done.stdout + done.stderr  # FAIL
    found = _FIX.search(done.stdout)
    assert found, done.stdout
    return found.group(1)


def _first_advice(capsys: Capsys, capture: Path) -> str:
    """The first failing session's fix and the notes under it (report.answer: the
    profile's note when the job's own error leads)."""
    done = _analyze(capsys, capture)
    found = _FIX.search(done.stdout)
    assert found, done.stdout
    rows = [found.group(1)]
    for line in done.stdout[found.end():].splitlines()[1:]:
        if line.startswith(" " * 11):
            continue  # a row's wrapped rest
        if not line.strip().startswith("note:"):
            break
        rows.append(line.strip())
    return "\n".join(rows)


PLAIN = ["v4-backup", "v3-backup", "v2-backup", "v4-three-resources", "v4-agent-out-of-range",
         "v4-backup-media-firewall-drop"]


@pytest.mark.parametrize("name", PLAIN)
def test_plain_ndmp_job_with_no_profile_given_is_judged_as_plain_ndmp(name: str,
        capsys: Capsys) -> None:
    """No profile given: no Backup Exec sign, the mover listening, so the ndmp profile
    judges it (flowcheck.verify.plain_reading; new-user trial 54: v4-backup, a job that
    worked, read FAIL for the callback it never needs): the verdict, exit code and
    findings of --profile ndmp, and profile_inferred."""
    capture = CAPTURES / "ndmjob" / f"{name}.pcap"
    default = _analyze(capsys, capture, "--format", "json")
    plain = _analyze(capsys, capture, "--profile", "ndmp", "--format", "json")
    inferred, given = json.loads(default.stdout), json.loads(plain.stdout)
    assert default.returncode == plain.returncode
    assert inferred["verdict"] == given["verdict"]
    assert sorted(f["code"] for f in inferred["findings"]) == sorted(
        [f["code"] for f in given["findings"]] + ["profile_inferred"])
    assert [[s["status"] for s in session["steps"]] for session in inferred["sessions"]] == \
        [[s["status"] for s in session["steps"]] for session in given["sessions"]]


@pytest.mark.parametrize("name", PLAIN)
def test_plain_ndmp_job_under_backup_exec_given_names_profile_ndmp_first(name: str,
        capsys: Capsys) -> None:
    """With --profile backup-exec-9 given, the user's profile judges it: step_missing
    (the callback), and each fix that suggests --profile ndmp says it before the ranges,
    once; the first fix names it unless an error of the job itself leads
    (v4-backup-media-firewall-drop: its data connection dropped, which no profile
    explains away)."""
    capture = CAPTURES / "ndmjob" / f"{name}.pcap"
    if name != "v4-backup-media-firewall-drop":
        assert "--profile ndmp" in _first_fix(capsys, capture, "--profile", "backup-exec-9")
    done = _analyze(capsys, capture, "--profile", "backup-exec-9", "--format", "json")
    findings = json.loads(done.stdout)["findings"]
    assert "profile_inferred" not in {f["code"] for f in findings}
    suggesting = [f for f in findings if "--profile ndmp" in f["fix"]]
    assert {f["code"] for f in suggesting} >= {"step_missing"}
    for finding in suggesting:
        # The profile before the ranges: a re-run with it needs no ranges to pass.
        fix = finding["fix"]
        assert fix.index("--profile ndmp") < fix.find("--media-range") or \
            "--media-range" not in fix, fix
        assert fix.count("--profile ndmp") == 1, fix


@pytest.mark.parametrize("name", ["v4-backup", "v2-backup", "v4-three-resources"])
def test_the_named_profile_passes_the_job(name: str, capsys: Capsys) -> None:
    done = _analyze(capsys, CAPTURES / "ndmjob" / f"{name}.pcap", "--profile", "ndmp")
    assert done.returncode == 0 and done.stdout.startswith("PASS"), done.stdout


def test_with_profile_ndmp_a_failing_job_is_not_sent_to_another_profile(capsys: Capsys) -> None:
    fix = _first_fix(capsys, CAPTURES / "ndmjob" / "v4-backup-media-firewall-drop.pcap",
                     "--profile", "ndmp")
    assert "--profile" not in fix, fix


def test_a_backup_exec_job_that_called_back_keeps_its_profile(capsys: Capsys) -> None:
    """The other pairing (DATA_CONNECT, the agent connects) in a job whose agent called the
    job engine back: Backup Exec traffic in the wrong direction, not plain NDMP."""
    done = _analyze(capsys, CAPTURES / "lab" / "agent-connects-data.pcap", "--format", "json")
    [wrong_way] = [f for f in json.loads(done.stdout)["findings"]
                   if f["code"] == "step_out_of_order"]
    assert wrong_way["fix"].startswith("First set --media-range and --agent-range"), \
        wrong_way["fix"]


def test_a_callback_open_before_the_capture_keeps_its_profile(tmp_path: Path,
                                                              capsys: Capsys) -> None:
    """The same job cut to frames 20-414 (`editcap -r`): its callback 10.77.0.2:6009 ->
    10.77.0.1:5001 without its handshake, its first captured packet (the idle callback's
    FIN at the job's end) long after the announcements. It opened before the capture, so
    before them or at a time the capture cannot place: Backup Exec's sign all the same
    (review56p: told "Analyze the capture again with --profile ndmp")."""
    cut = tmp_path / "from-20.pcap"
    subprocess.run(["editcap", "-r", str(CAPTURES / "lab" / "agent-connects-data.pcap"),
                    str(cut), "20-414"], check=True, capture_output=True)
    done = _analyze(capsys, cut, "--format", "json")
    report = json.loads(done.stdout)
    [session] = report["sessions"]
    assert session["steps"][1]["status"] == "ok", session["steps"][1]
    [wrong_way] = [f for f in report["findings"] if f["code"] == "step_out_of_order"]
    assert wrong_way["fix"].startswith("First set --media-range and --agent-range"), \
        wrong_way["fix"]
    assert "Analyze the capture again" not in done.stdout


def test_a_job_without_announcement_is_not_read_as_plain_ndmp(capsys: Capsys) -> None:
    """v4-swap-refused: DATA_LISTEN refused, nothing announced: no direction to read, so
    step_missing's fix asks for the ranges first, not for --profile ndmp. (The headline
    is the NOT_SUPPORTED_ERR reply's, the job's own error: tests/test_cli_new_user.py.)"""
    done = _analyze(capsys, CAPTURES / "ndmjob" / "v4-swap-refused.pcap", "--format", "json")
    [missing] = [f for f in json.loads(done.stdout)["findings"] if f["code"] == "step_missing"]
    assert missing["fix"].startswith("First set --media-range and --agent-range"), \
        missing["fix"]


def test_a_refused_callback_is_no_proof_of_backup_exec(capsys: Capsys) -> None:
    """ndmjob-ended/v4-ended-at-start-then-good-media: the capture began as an earlier
    job ended; its last data connection into the media range, its announcement not in
    the capture, read as S1's refused callback until leftover61: S1 is a job ended before
    the capture (status ended, judged false), its late connect no callback_refused. S2, a
    whole ndmjob backup (DATA_CONNECT), is plain NDMP's all the same: judged by the ndmp
    profile, each session by its own reading (flowcheck.mixed_reading, newuser56; was:
    step_missing, its first fix naming --profile ndmp), its profile_inferred's fix naming
    --profile ndmp."""
    capture = CAPTURES / "ndmjob-ended" / "v4-ended-at-start-then-good-media.pcap.gz"
    done = _analyze(capsys, capture, "--format", "json")
    report = json.loads(done.stdout)
    s1 = report["sessions"][0]
    assert (s1["status"], s1["judged"]) == ("ended", False), s1
    assert not any(f["code"] == "callback_refused" for f in report["findings"])
    assert not any(f["session"] == "S2" and f["severity"] != "info"
                   for f in report["findings"])
    s2 = report["sessions"][1]
    assert s2["profile"] == "ndmp" and s2["status"] == "ok", s2
    [inferred] = [f for f in report["findings"] if f["code"] == "profile_inferred"]
    assert inferred["session"] == "S2" and "--profile ndmp" in inferred["fix"], inferred


def test_a_callback_not_in_the_capture_makes_the_lead_conditional(tmp_path: Path,
        capsys: Capsys) -> None:
    """captures/lab/agent-connects-data with its callback (port 6009 <-> 5001) left out by
    a capture filter: step 2 is `unknown`, no evidence either way (the media server named
    its job engine in a vendor message, Backup Exec's), so the lead says "if this is
    plain NDMP" instead of telling the user to analyze again with --profile ndmp (review
    of today's change)."""
    capture = tmp_path / "no-callback.pcap"
    subprocess.run(["tcpdump", "-r", str(CAPTURES / "lab" / "agent-connects-data.pcap"),
                    "-w", str(capture), "not port 6009"], check=True, capture_output=True)
    done = _analyze(capsys, capture, "--config",
                    str(CAPTURES / "lab" / "agent-connects-data.toml"), "--format", "json")
    report = json.loads(done.stdout)
    [session] = report["sessions"]
    assert session["steps"][1]["status"] == "unknown"
    [wrong_way] = [f for f in report["findings"] if f["code"] == "step_out_of_order"]
    fix = wrong_way["fix"]
    assert fix.startswith("If this is plain NDMP ("), fix
    assert "analyze it with --profile ndmp" in fix
    assert "Analyze the capture again" not in fix
    # Its data connections worked (verify.wrong_way): Backup Exec's next jobs need the
    # media range kept open, no rule to add.
    assert ("if it is backup-exec-9 traffic: the 2 data connections themselves worked"
            in fix), fix
    assert "keep TCP from 10.77.0.2 to 10.77.0.1 ports 5001-5100 (media range) allowed" in fix
    assert "must allow" not in fix
    assert fix.count("--profile ndmp") == 1, fix
