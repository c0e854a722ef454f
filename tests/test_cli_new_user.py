"""What a new user meets first, through the real CLI: captures analyzed without a
configuration (no --config, no ./flowcheck.toml, no flags), as a new-user trial ran them.

- The error about the job leads the findings and the headline; a finding that holds only
  under the default profile (its fix asks for another profile) comes after it, and its
  hint as a note under the headline's fix.
- A fix that asks for the ranges first gives, in the headline, the fix for this job and
  the ranges as a note after it.
- The text report's header names the configuration file, or says none was found.
- `regress --update` says on standard error which configuration it recorded a case with.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flowcheck.cli.main import run

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
NDMJOB = CAPTURES / "ndmjob"
SWAP_REFUSED = NDMJOB / "v4-swap-refused.pcap"
HOSTDOWN = CAPTURES / "ndmjob-hostdown" / "v4-ifdown-stop-media.pcap.gz"
DATA_DROPPED = CAPTURES / "lab" / "data-port-dropped.pcap"


@pytest.fixture(autouse=True)
def _no_config_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder: no ./flowcheck.toml is read."""
    monkeypatch.chdir(tmp_path)


def _text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The exit code and the text report, its wrapped lines joined (words only)."""
    code = run(argv)
    return code, capsys.readouterr().out


def _words(text: str) -> str:
    return " ".join(text.split())


def _findings(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    run([*argv, "--format", "json"])
    return [f["code"] for f in json.loads(capsys.readouterr().out)["findings"]]


def _row(out: str, label: str) -> str:
    """The headline's first row labelled `label` ("cause:", "fix:", "note:"), with its
    continuation lines."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(label))
    rows = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith(" " * 11) or line.strip().endswith(":"):
            break
        rows.append(line)
    return _words(" ".join(rows)).removeprefix(label).strip()


def test_error_reply_leads_a_missing_callback_of_the_default_profile(
        capsys: pytest.CaptureFixture[str]) -> None:
    """v4-swap-refused (ndmjob): the agent answered DATA_LISTEN NOT_SUPPORTED_ERR. With no
    configuration, backup-exec-9 also misses its callback (step_missing, whose fix asks
    for --profile ndmp): the reply leads the findings and the headline, the profile's
    step_missing follows; with the profile chosen, step_missing is the job's and keeps
    its place by time."""
    assert _findings(["analyze", str(SWAP_REFUSED)], capsys) == \
        ["ndmp_error_reply", "step_missing"]
    code, out = _text(["analyze", str(SWAP_REFUSED)], capsys)
    assert code == 1
    assert "NOT_SUPPORTED_ERR" in _row(out, "cause:")
    assert "DATA_LISTEN" in _row(out, "fix:") and "--media-range" not in _row(out, "fix:")
    # The profile's hint stays on the first screen, after the job's error.
    assert _row(out, "note:") == ("step_missing holds only under the default profile: if "
                                  "the capture is not Backup Exec traffic, analyze it with "
                                  "--profile ndmp (see step_missing under Findings)")
    chosen = ["analyze", str(SWAP_REFUSED), "--profile", "backup-exec-9"]
    assert _findings(chosen, capsys) == ["step_missing", "ndmp_error_reply"]


def test_stalled_transfer_leads_the_default_profiles_findings(
        capsys: pytest.CaptureFixture[str]) -> None:
    """ndmjob-hostdown: the agent went down mid-transfer (data_stalled). No profile given
    and no Backup Exec sign: judged by the ndmp profile (profile_inferred, new-user trial
    54), so backup-exec-9's step_missing and step_out_of_order for plain NDMP's
    direction are not there; with backup-exec-9 given they are (the user's profile)."""
    codes = _findings(["analyze", str(HOSTDOWN)], capsys)
    assert codes == ["data_stalled", "profile_inferred"]
    _, out = _text(["analyze", str(HOSTDOWN)], capsys)
    assert "stopped delivering" in _row(out, "cause:")
    assert ("(see data_stalled under Findings and in "
            "'flowcheck docs findings data_stalled')") in _row(out, "fix:")
    codes = _findings(["analyze", str(HOSTDOWN), "--profile", "backup-exec-9"], capsys)
    assert set(codes) == {"data_stalled", "step_missing", "step_out_of_order"}


def test_headline_gives_the_jobs_fix_then_the_ranges_note(
        capsys: pytest.CaptureFixture[str]) -> None:
    """lab/data-port-dropped without its configuration: the fix under Findings still asks
    for the ranges first (the JSON's fix is unchanged), but the headline's fix is the rule
    for this job's port, and the ranges come after it as a note; with the ranges set
    there is no note."""
    run(["analyze", str(DATA_DROPPED), "--format", "json"])
    (finding,) = [f for f in json.loads(capsys.readouterr().out)["findings"]
                  if f["code"] == "data_unanswered"]
    assert finding["fix"].startswith("First set --media-range and --agent-range")
    _, out = _text(["analyze", str(DATA_DROPPED)], capsys)
    assert _row(out, "fix:").startswith("allow TCP from 10.77.0.1 to 10.77.0.2 port 6001")
    assert _row(out, "note:").startswith("set --media-range and --agent-range to Backup "
                                         "Exec's")
    config = CAPTURES / "lab" / "data-port-dropped.toml"
    _, out = _text(["analyze", str(DATA_DROPPED), "--config", str(config)], capsys)
    assert "note:" not in out and _row(out, "fix:").startswith("allow TCP")


def test_header_names_the_configuration_or_its_absence(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The text report's header says which configuration file was read: none (and that
    flowcheck's defaults apply), the --config file, ./flowcheck.toml read without
    --config, or flags alone; the JSON's config.file the same (null for none)."""
    capture = str(NDMJOB / "v4-backup.pcap")
    _, out = _text(["analyze", capture], capsys)
    assert "configuration: none (no --config, no ./flowcheck.toml, no flags): flowcheck's " \
           "defaults" in _words(out)
    config = str(NDMJOB / "flowcheck.toml")
    _, out = _text(["analyze", capture, "--config", config], capsys)
    assert f"configuration: {config}" in _words(out)
    shutil.copy(NDMJOB / "flowcheck.toml", tmp_path / "flowcheck.toml")
    _, out = _text(["analyze", capture], capsys)
    assert "configuration: ./flowcheck.toml" in _words(out)
    run(["analyze", capture, "--format", "json"])
    assert json.loads(capsys.readouterr().out)["config"]["file"] == "./flowcheck.toml"
    (tmp_path / "flowcheck.toml").unlink()
    _, out = _text(["analyze", capture, "--profile", "ndmp"], capsys)
    assert "configuration: no file (no --config, no ./flowcheck.toml): the flags given" \
        in _words(out)
    run(["analyze", capture, "--format", "json"])
    assert json.loads(capsys.readouterr().out)["config"]["file"] is None


def test_regress_update_says_which_configuration_it_recorded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`regress --update` of a capture with no NAME.toml nor flowcheck.toml records it
    with flowcheck's defaults and says so on standard error, its own line, then one line
    counting what it wrote; with a NAME.toml only that count (it wrote a line per case
    naming its NAME.toml); a run that writes nothing says nothing of it."""
    cases = tmp_path / "cases"
    cases.mkdir()
    shutil.copy(SWAP_REFUSED, cases / "swap.pcap")
    assert run(["regress", str(cases), "--update"]) == 0
    out, err = capsys.readouterr()
    assert "updated" in out
    line, count = err.splitlines()
    assert "swap.pcap: recorded with flowcheck's defaults (profile backup-exec-9, media " \
           "and agent ranges 1025-65535)" in line and "write swap.toml" in line
    assert count == ("configuration of the 1 expected result written: 1 with flowcheck's "
                     "defaults (named above)")
    assert run(["regress", str(cases), "--update"]) == 0
    assert capsys.readouterr().err == ""  # nothing written
    shutil.copy(NDMJOB / "flowcheck.toml", cases / "swap.toml")
    shutil.copy(SWAP_REFUSED, cases / "again.pcap")
    shutil.copy(NDMJOB / "flowcheck.toml", cases / "again.toml")
    assert run(["regress", str(cases), "--update"]) == 0  # swap: the profile changed it
    out, err = capsys.readouterr()
    assert out.count("updated cases/") == 2
    assert err.splitlines() == [
        "configuration of the 2 expected results written: 2 with their NAME.toml"]


def test_port_reuse_that_opened_says_what_the_hold_is(
        capsys: pytest.CaptureFixture[str]) -> None:
    """ndmjob's back-to-back backups: the mover listened on port 5001 again 6.24 s after
    its previous data connection there ended (a listener's port: its bind can meet that
    connection's TIME-WAIT). The warning stays, and its fix says the reuse worked (C6
    opened and carried the data) and the hold under which it is none. (ndmjob's clean
    three-resource run, its agent's port 6015 connecting to another media port 3.1 s
    later, a new 4-tuple, warns no more: tests/test_port_reuse_tuple.py.)"""
    case = CAPTURES / "ndmjob-nojob"
    capture = str(case / "C-b2b-reuse.pcap.gz")
    config = ["--config", str(case / "C-b2b-reuse.toml")]
    run(["analyze", capture, *config, "--format", "json"])
    (reuse,) = [f for f in json.loads(capsys.readouterr().out)["findings"]
                if f["code"] == "port_reused_within_hold" and "10.77.0.1:5001" in f["message"]]
    assert reuse["fix"].startswith("Nothing to change in the range: C6 opened on the "
                                   "reused port and carried 204,800 B")
    assert "--port-hold 6.2 (port_hold_seconds) or less" in reuse["fix"]


@pytest.mark.parametrize(("case", "port", "words"), [
    # The media server's data connection from its reused source port 5017, unanswered.
    ("trial35-bridge/data-unanswered-bridge-any.pcap", "10.77.0.1:5017",
     "10.77.0.1 sent its SYN from it, so binding it worked"),
    # The second job's callback to the reused job engine port 5001, its SYNs dropped by
    # a limit: no RST, so something listened.
    ("trial43-callback-limit/callback-limited-second-job.pcapng.gz", "10.43.1.1:5001",
     "no RST refused it, as one refuses a port nothing listens on"),
])
def test_port_reuse_before_a_failed_connection_is_not_blamed_without_a_refusal(
        case: str, port: str, words: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A new connection on a reused port that did not work: the held port is no suspect
    when its bind evidently worked (a SYN sent from it) or nothing refused the SYN."""
    capture = CAPTURES / case
    config = capture.with_name(case.split("/")[1].split(".")[0] + ".toml")
    run(["analyze", str(capture), "--config", str(config), "--format", "json"])
    (reuse,) = [f for f in json.loads(capsys.readouterr().out)["findings"]
                if f["code"] == "port_reused_within_hold" and port in f["message"]]
    assert "did not work, but nothing shows the port as the cause: " + words in reuse["fix"]
    assert "find what holds" not in reuse["fix"]
