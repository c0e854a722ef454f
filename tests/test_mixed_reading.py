"""A capture set of two kinds of job, no profile given: each session judged by its own
reading (flowcheck.mixed_reading, newuser56); and a plain job's agent direction
alone, whose data connection read as Backup Exec's callback (plain_reading._named_data).

newuser56: captures/ndmjob/v4-backup.pcap given with captures/lab/clean-3-resources.pcap
(two successful jobs) read FAIL, the ndmjob session `step_missing` (a firewall rule for
the callback plain NDMP never makes) and `step_out_of_order`, "session S2 of this capture
did ... so the capture is traffic of that profile". Its agent's direction alone read
INCONCLUSIVE, step 2 "callback ... ok" on the connection that carried the job's data
beside step 3 "no data connection carried the job's data".
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from flowcheck.cli.main import run
from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, label_connections, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
MIXED = CAPTURES / "mixed-jobs"
NDMJOB = CAPTURES / "ndmjob" / "v4-backup.pcap"
LAB = CAPTURES / "lab" / "clean-3-resources.pcap"
Capsys = pytest.CaptureFixture[str]


def _analyze(*paths: Path, profile: str | None = None) -> Analysis:
    """`paths` analyzed together with flowcheck's defaults (the user gave no
    configuration), `profile` given when not None."""
    config = build_config({}, {"profile": profile} if profile else None)
    return analyze(read_traffic([str(p) for p in paths], config), config)


def _case(name: str) -> Analysis:
    """The stored case captures/mixed-jobs/NAME analyzed with its configuration."""
    config = build_config(load_file(MIXED / f"{name}.toml"))
    return analyze(read_traffic([str(MIXED / f"{name}.pcap.gz")], config), config)


def _reading(analysis: Analysis, session_id: str) -> tuple[str, list[str], list[str]]:
    """A session's profile, step statuses and finding codes (but profile_inferred and
    ndmp_vendor_message, which say how it was read)."""
    [session] = [s for s in analysis.sessions if s.id == session_id]
    codes = sorted(f.code for f in analysis.findings if f.session == session_id
                   and f.code not in ("profile_inferred", "ndmp_vendor_message"))
    return session.profile, [s.status for s in session.steps], codes


def test_two_files_of_two_kinds_of_job_each_judged_by_its_own_profile() -> None:
    """The user's command: the ndmjob session judged by ndmp as that file alone is, the
    Backup Exec session by backup-exec-9 as that file alone is; PASS, no firewall fix."""
    mixed = _analyze(NDMJOB, LAB)
    assert mixed.verdict == "pass", [f.code for f in mixed.findings]
    plain, lab = _analyze(NDMJOB), _analyze(LAB)
    assert _reading(mixed, "S1") == ("ndmp", *_reading(plain, "S1")[1:])
    assert _reading(mixed, "S2") == ("backup-exec-9", *_reading(lab, "S1")[1:])
    assert _reading(mixed, "S2")[1] == ["ok"] * 5
    assert not {"step_missing", "step_out_of_order"} & {f.code for f in mixed.findings}
    [inferred] = [f for f in mixed.findings if f.code == "profile_inferred"]
    assert inferred.session == "S1" and inferred.frames == [11]
    assert "Session(s) S2 of this capture show Backup Exec's signs" in inferred.message
    roles = {c.uid: (c.role, c.session) for c in mixed.traffic.connections}
    assert roles["C2"] == ("data", "S1")  # ndmjob's data connection, by the ndmp pass
    assert roles["C4"] == ("callback", "S2")  # the lab's callback, by the default's


def test_mixed_set_text_and_json_say_which_profile_judged_each_session(
        capsys: Capsys) -> None:
    """Exit 0; the text's profile line and the plain session's header name ndmp, the
    other header none; sessions[].profile in the JSON, `config.profile` the default."""
    code = run(["analyze", str(NDMJOB), str(LAB)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "session S1 reads as plain NDMP, judged by ndmp: profile_inferred" in out
    headers = [line for line in out.splitlines() if "Session S" in line and "media server" in
               line]
    assert "judged by the ndmp profile" in headers[0], headers
    assert "judged by" not in headers[1], headers
    assert run(["analyze", "--format", "json", str(NDMJOB), str(LAB)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["profile"] for s in data["sessions"]] == ["ndmp", "backup-exec-9"]
    assert data["config"]["profile"] == "backup-exec-9"


@pytest.mark.parametrize("profile", ["backup-exec-9", "ndmp"])
def test_a_given_profile_still_judges_every_session(profile: str) -> None:
    """--profile given: one profile for all, as before (backup-exec-9 fails the ndmjob
    session, as the user asked for it)."""
    analysis = _analyze(NDMJOB, LAB, profile=profile)
    assert [s.profile for s in analysis.sessions] == [profile, profile]
    assert not any(f.code == "profile_inferred" for f in analysis.findings)
    assert (analysis.verdict == "fail") == (profile == "backup-exec-9")


def test_stalled_ndmjob_beside_backup_exec_reads_as_alone() -> None:
    """Another host pair (10.88.0.x ndmjob, its data connection stalled) merged with the
    lab's Backup Exec job: data_stalled alone on the ndmjob session, the same words as
    that file gives alone; no step_missing or step_out_of_order."""
    mixed = _case("ndmjob-stalled-and-backup-exec")
    errors = [f for f in mixed.findings if f.severity == "error"]
    assert [(f.code, f.session) for f in errors] == [("data_stalled", "S2")]
    assert [s.profile for s in mixed.sessions] == ["backup-exec-9", "ndmp"]
    alone = CAPTURES / "trial34-big" / "agent-input-drops-mid-transfer.pcap.gz"
    [stalled] = [f for f in _analyze(alone).findings if f.code == "data_stalled"]
    words = re.compile(r"frame \d+|C\d+|[-+]?\d+\.\d+ s")  # the merged set's numbers
    assert words.sub("#", errors[0].message) == words.sub("#", stalled.message)
    assert "host firewall or IPS on 10.88.0.2 that blocks this flow" in stalled.message


def test_plain_agent_direction_alone_its_data_connection_not_the_callback() -> None:
    """The agent's packets alone (the DATA_CONNECT request not in them): the connection
    it opened to the media server is the one its DATA_GET_STATE reply names as the data
    connection: judged by ndmp, PASS, that connection the data step's, no callback."""
    analysis = _case("ndmjob-agent-direction")
    assert analysis.verdict == "pass"
    [session] = analysis.sessions
    assert session.profile == "ndmp" and session.callback_uid is None
    assert [s.status for s in session.steps] == ["ok"] * 4
    assert session.steps[3].uids == ["C2"] and "307,200 B" in session.steps[3].detail
    [inferred] = [f for f in analysis.findings if f.code == "profile_inferred"]
    assert "DATA_GET_STATE, frame 10 naming the data connection to 10.77.0.1:5002" in \
        " ".join(inferred.message.split())


def test_backup_exec_agent_direction_alone_keeps_the_default(tmp_path: Path) -> None:
    """A Backup Exec job's agent direction alone (no vendor message: the media server
    sends it) keeps backup-exec-9: its DATA_LISTEN replies have the agent listening and
    its GET_STATE replies, if any, name no callback endpoint."""
    one_way = tmp_path / "a.pcap"
    subprocess.run(["tshark", "-r", str(LAB), "-Y", "ip.src==10.77.0.2", "-w",
                    str(one_way)], check=True, capture_output=True)
    analysis = _analyze(one_way)
    assert [s.profile for s in analysis.sessions] == ["backup-exec-9"]
    assert not any(f.code == "profile_inferred" for f in analysis.findings)


def test_connections_labels_agree_with_analyze_in_a_mixed_set(tmp_path: Path) -> None:
    """`connections` and `ndmp` label as `analyze` does (pipeline.label_connections):
    ndmjob's agent direction (its data connection read as the callback by the default
    profile) beside the lab's Backup Exec job: C2 is S1's data connection in both, the
    lab's callback C4 S2's callback."""
    one_way = tmp_path / "a.pcap"
    subprocess.run(["tshark", "-r", str(NDMJOB), "-Y", "ip.src==10.77.0.2", "-w",
                    str(one_way)], check=True, capture_output=True)
    config = build_config({})
    traffic = read_traffic([str(one_way), str(LAB)], config)
    analysis = analyze(traffic, config)
    assert [s.profile for s in analysis.sessions] == ["ndmp", "backup-exec-9"]
    judged = [(c.uid, c.role, c.session) for c in traffic.connections]
    traffic = read_traffic([str(one_way), str(LAB)], config)
    label_connections(traffic, config)
    assert [(c.uid, c.role, c.session) for c in traffic.connections] == judged
    assert judged[1] == ("C2", "data", "S1") and judged[3] == ("C4", "callback", "S2")


def test_a_blocked_backup_exec_callback_still_fails_beside_a_plain_job(tmp_path: Path) -> None:
    """lab/callback-blocked (Backup Exec, its callback's SYNs dropped) given with ndmjob's
    backup: the plain job is judged by ndmp, the Backup Exec job still fails
    callback_unanswered under backup-exec-9 (its vendor message and callback SYNs are
    its own signs); the HTML report's session header names the ndmp profile."""
    blocked = CAPTURES / "lab" / "callback-blocked.pcap"
    analysis = _analyze(NDMJOB, blocked)
    assert analysis.verdict == "fail"
    assert [(f.code, f.session) for f in analysis.findings if f.severity == "error"] == [
        ("callback_unanswered", "S2")]
    assert [s.profile for s in analysis.sessions] == ["ndmp", "backup-exec-9"]
    html = tmp_path / "r.html"
    run(["analyze", "--html", str(html), str(NDMJOB), str(blocked)])
    headers = dict(re.findall(r'<h2 id="session-(S\d+)">(.*?)</h2>', html.read_text()))
    assert "judged by the ndmp profile" in headers["S1"], headers
    assert "judged by" not in headers["S2"], headers


def test_a_profile_file_given_is_no_inferred_profile(tmp_path: Path, capsys: Capsys) -> None:
    """--profile FILE (a profile of the user's, its own `name`): every session judged by
    it, as the user asked; the text says no "no profile given" and no session header
    "judged by" another profile, and sessions[].profile is `config.profile` (review56d:
    the sessions carried the file's `name`, which is not the run's `config.profile` (the
    path), so ndmjob's backup read "profile FILE (no profile given; session S1 reads as
    plain NDMP, judged by ndmp: profile_inferred)" and "judged by the my-filer profile")."""
    text = (Path(__file__).resolve().parent.parent / "flowcheck" / "profiles" / "ndmp.toml"
            ).read_text()
    own = tmp_path / "filer.toml"
    own.write_text(re.sub(r'(?m)^name = "ndmp"$', 'name = "my-filer"', text, count=1))
    assert run(["analyze", "--profile", str(own), "--no-ladder", str(NDMJOB)]) == 0
    out = capsys.readouterr().out
    assert "no profile given" not in out and "judged by" not in out, out
    assert run(["analyze", "--profile", str(own), "--format", "json", str(NDMJOB)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["profile"] for s in data["sessions"]] == [data["config"]["profile"]]
    html = tmp_path / "r.html"
    run(["analyze", "--profile", str(own), "--html", str(html), str(NDMJOB)])
    assert "judged by" not in html.read_text()


def _inferred_words(analysis: Analysis) -> str:
    """The profile_inferred finding's message, its white space folded."""
    [inferred] = [f for f in analysis.findings if f.code == "profile_inferred"]
    return " ".join(inferred.message.split())


def test_inferred_words_say_which_sessions_show_backup_exec_signs() -> None:
    """ndmjob's job, a refused control connection (lab/control-refused: no NDMP message,
    so no sign either way) and the lab's Backup Exec job: the words name S2 alone as
    showing Backup Exec's signs, S3 as showing neither reading (review56d: "Session(s)
    S2, S3 of this capture show Backup Exec's signs")."""
    analysis = _analyze(NDMJOB, CAPTURES / "lab" / "control-refused.pcap", LAB)
    assert [s.profile for s in analysis.sessions] == ["ndmp", "backup-exec-9",
                                                      "backup-exec-9"]
    words = _inferred_words(analysis)
    assert "Session(s) S2 of this capture show Backup Exec's signs" in words, words
    assert "session(s) S3 show neither reading (no mover listening, no sign of Backup " \
        "Exec) and keep the default, backup-exec-9" in words, words


def test_inferred_words_when_the_only_sign_is_side_traffic() -> None:
    """ndmjob's job between the configured hosts beside a Backup Exec job between
    other addresses (review56d had lab-trial19-network/dns1-control-other-nic, whose
    data connections run between the configured hosts, so since mergedsets it is their
    job, judged; here lab-trial28-addresses/allv6-wire, every connection between
    fd77::1 and fd77::2: side traffic beside a job of the configured hosts), no profile
    given: its vendor message keeps the capture from reading as plain NDMP as a whole,
    and the words said "Session(s)  of this capture show Backup Exec's signs", naming
    none (review56d)."""
    config = build_config({"media_servers": ["10.77.0.1"], "remote_agents": ["10.77.0.2"],
                           "backup_network": "10.77.0.0/24"})
    other = CAPTURES / "lab-trial28-addresses" / "allv6-wire.pcap.gz"
    analysis = analyze(read_traffic([str(NDMJOB), str(other)], config), config)
    assert [(s.profile, s.side) for s in analysis.sessions] == [
        ("ndmp", False), ("backup-exec-9", True)]
    words = _inferred_words(analysis)
    assert "Session(s) of this capture" not in words, words  # (folded) none named
    assert "Session(s) S2, side traffic (host_not_configured), are not judged" in words, words
