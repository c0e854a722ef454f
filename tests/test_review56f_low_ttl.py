"""A job's own SYNs with a low TTL are no traceroute's probes (review56f, captures/review56f).

verdicts56 read a connection whose first SYN carried TTL <= 30 as captured, no data,
as a traceroute's probe when nothing answered it, or when more than one SYN came before
the SYN-ACK and the originator reset it: step 1 `ok`, no finding. A host whose
net.ipv4.ip_default_ttl is 30 (netns lab, real ndmjob) sends every SYN so: its control
connection dropped by the agent's firewall, or given up and its late SYN-ACK reset, read
PASS, beside real traceroutes too. A connect resends its SYN with one TTL; a traceroute
varies it (verify.ttl_exceeded.probe_ttls). The probes of captures/verdicts56 stay
probes (tests/test_verdicts56_traceroute.py). And a capture of probes alone (traceroutes,
port checks) holds no job: it read PASS, and is inconclusive now (verify.probes_only).
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from stored import CAPTURES, shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

CASES = CAPTURES / "review56f"


def _codes(name: str) -> list[tuple[str, str | None]]:
    analysis = shared_analysis(CASES / name)
    return [(f.code, f.session) for f in analysis.findings]


def test_a_dropped_control_connection_from_a_ttl_30_host_fails() -> None:
    """9 SYNs from one port, each TTL 30, nothing answered: a connect's resends."""
    analysis = shared_analysis(CASES / "control-dropped-ttl30.pcap")
    assert analysis.verdict == "fail"
    assert _codes("control-dropped-ttl30.pcap") == [("control_unanswered", "S1")]
    assert "traceroute" not in analysis.sessions[0].steps[0].detail


def test_a_given_up_connect_from_a_ttl_30_host_whose_late_synack_it_reset_fails() -> None:
    """6 SYNs with TTL 30, then the late SYN-ACK and the originator's RST: no
    tcptraceroute (whose TTL rises from one port), a connect given up."""
    analysis = shared_analysis(CASES / "late-synack-reset-ttl30.pcap")
    assert analysis.verdict == "fail"
    assert _codes("late-synack-reset-ttl30.pcap") == [("handshake_incomplete", "S1")]


def test_a_ttl_30_hosts_dropped_job_beside_its_traceroutes_fails() -> None:
    """tcptraceroute and traceroute -T from M (TTL 1-9), then the job's control
    connection from M (TTL 30, 8 SYNs) dropped by A: the probes stay probes, the job's
    connection is no probe though probes of other TTLs went to the same port."""
    analysis = shared_analysis(CASES / "traceroute-beside-dropped-job-ttl30.pcap")
    assert analysis.verdict == "fail"
    assert _codes("traceroute-beside-dropped-job-ttl30.pcap") == [
        ("control_unanswered", "S27")]
    probes = [s.steps[0] for s in analysis.sessions if s.id != "S27"]
    assert len(probes) == 26
    assert all(step.status == "ok" for step in probes)
    assert all(step.detail.startswith(("a traceroute probe", "a half-open port check"))
               for step in probes), [step.detail[:60] for step in probes]


def test_a_capture_of_traceroutes_alone_judges_no_job() -> None:
    """tcptraceroute and traceroute -T to the NDMP port, no job: every session a probe,
    step 1 ok; it read PASS ("No findings: the traffic follows the profile"), as if a
    job had passed. Now no_control_session (a warning): inconclusive, exit 5."""
    analysis = shared_analysis(CASES / "traceroute-probes-only.pcap")
    assert analysis.verdict == "inconclusive"
    [finding] = [f for f in analysis.findings if f.code == "no_control_session"]
    assert finding.severity == "warning"
    assert finding.message.startswith(
        "No job in the capture: its 26 connections to the NDMP port 10000 are 10 traceroute "
        "probes and 16 half-open port checks (SYN, SYN-ACK, RST), not a job's control "
        "connection (step 1 of each says what it was), so nothing of a job was judged")
    assert {s.steps[0].status for s in analysis.sessions} == {"ok"}
    # The note under the verdict says probes, not "another job that could not be judged"
    # (mergedsets' note for a job beside sessions judged: both read no_control_session).
    from flowcheck.report.verdict_notes import inconclusive_note

    assert inconclusive_note(analysis).startswith(
        "Nothing of a job could be judged: the capture holds probes of the NDMP port only")
    # Told by its reading, not by its words' opening (task lossfield): reworded, the
    # note stays (a copy: the shared analysis is read only).
    assert finding.reading == "probes_only"
    reworded = replace(analysis, findings=[replace(f, message="reworded") if f is finding
                                           else f for f in analysis.findings])
    assert inconclusive_note(reworded).startswith(
        "Nothing of a job could be judged: the capture holds probes of the NDMP port only")


def test_a_lone_port_check_judges_no_job_but_one_beside_a_job_does(tmp_path: Path) -> None:
    """lab-trial23-probe/connect-check's first port check alone (frames 1-9, editcap):
    no job; the whole capture (two port checks beside a good job) still passes."""
    whole = CAPTURES / "lab-trial23-probe" / "connect-check.pcap"
    cut = tmp_path / "connect-check-1-9.pcap"
    subprocess.run(["editcap", "-r", str(whole), str(cut), "1-9"], check=True)
    config = build_config(load_file(whole.with_suffix(".toml")))
    alone = analyze(read_traffic([str(cut)], config), config)
    assert alone.verdict == "inconclusive"
    assert [f.code for f in alone.findings] == ["no_control_session"]
    assert alone.findings[0].message.startswith(
        "No job in the capture: its 1 connection to the NDMP port 10000 is a port check "
        "(connect and close), not a job's control connection (step 1 says what it was)")
    assert shared_analysis(whole).verdict == "pass"
