"""A full agent range where other jobs of the capture worked (newuser66,
captures/newuser66 and its README).

Four 1-resource jobs 0.5 s apart to an agent whose range (and OS range) is 6001-6004:
jobs 1-2 worked, jobs 3-4's callback found no source port ("Cannot assign requested
address": the earlier jobs' ports in TIME_WAIT). The failed steps read the full range as
their likely cause, yet their fix led with firewall rules: verify.profile_followed
swapped each step_missing for a dataclasses.replace copy (a job of the capture followed
the profile), and verify.range_stops wrote "Widen ... first" on the discarded original.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flowcheck.cli.main import run
from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic

CASES = Path(__file__).resolve().parent.parent / "captures" / "newuser66"
WIDEN = "Widen the agent range 6001-6004 (agent range) first, to at least"


@pytest.fixture(scope="module")
def results() -> dict[str, Analysis]:
    out = {}
    for name in ("agent-range-timewait", "agent-range-timewait-on-agent",
                 "agent-range-widened-to-5"):
        config = build_config(load_file(CASES / f"{name}.toml"))
        out[name] = analyze(read_traffic([str(CASES / f"{name}.pcap.gz")], config), config)
    return out


def missing(result: Analysis) -> list[Finding]:
    return [f for f in result.findings if f.code == "step_missing"]


@pytest.mark.parametrize("name", ["agent-range-timewait", "agent-range-timewait-on-agent"])
def test_a_full_range_leads_the_fix_beside_a_job_that_worked(results, name) -> None:  # noqa: ANN001
    """Both stopped callbacks (S3, S4) read the full range as their cause, name the job
    that followed the profile (the rewrite that copied the finding), and their fix widens
    the range first, the firewall rules after it."""
    found = missing(results[name])
    assert [f.session for f in found] == ["S3", "S4"]
    for finding in found:
        assert "likely because its agent range 6001-6004 had no port left" in finding.message
        assert "session S1 of this capture did, every step of the backup-exec-9 profile ok" \
            in finding.message
        assert finding.fix.startswith(WIDEN), finding.fix
        assert "If the job still fails with the range widened: " in finding.fix
        assert "allow TCP from 10.66.2.2 to 10.66.1.1 ports 5001-5100" in finding.fix


def test_a_capture_on_the_agent_is_not_sent_to_the_agent(results) -> None:  # noqa: ANN001
    """Taken on the agent (its packets with TTL 64, the media server's 63): no SYN of the
    callback left it, so the step says the agent never sent it or its own outbound rules
    dropped it, and no finding's words ask for a capture on the agent (the fix ended
    "capture on the agent to see its SYNs leave"). The TTLs alone cannot tell the agent
    from a point on its segment: only a router between is ruled out, and a bridging
    firewall before the capture point is named with the agent's own rules (it said "nor
    a device between them": review63e). The same jobs captured on the media server keep
    that advice."""
    on_agent = results["agent-range-timewait-on-agent"]
    for finding in missing(on_agent):
        assert "This capture was taken on the agent 10.66.2.2 (or on its network segment: " \
               "10.66.2.2's packets arrive with TTL 64" in finding.message
        assert "no SYN of the callback left it, so neither the media server's firewall " \
               "nor a router between them is the cause: the agent never sent the callback " \
               "SYN out of this interface, its own firewall's output rule dropping or " \
               "rejecting it" in finding.message
        assert "or its connect failing locally (no source port: \"Cannot assign requested " \
               "address\"); the agent's log says which; or, were this capture taken on its " \
               "segment rather than on the agent, a bridging (layer 2) firewall between the " \
               "agent and this capture point dropped it" in finding.message
        assert "and in any bridging firewall between the agent and this capture point " \
               "(the TTLs cannot tell the agent from its segment)" in finding.fix
        assert "If the job still fails with the range widened: read the agent " \
               "10.66.2.2's log at that time" in finding.fix
        assert "in the agent's own outbound rules" in finding.fix
    for finding in on_agent.findings:
        assert "capture on the agent" not in f"{finding.message} {finding.fix}".lower()
    on_media = missing(results["agent-range-timewait"])
    assert all("capture on the agent to see its SYNs leave" in f.fix for f in on_media)


@pytest.mark.parametrize(("name", "size", "held", "owed"), [
    ("agent-range-timewait", 4, 4, "2 for S3 and 2 for S4"),
    ("agent-range-widened-to-5", 5, 5, "1 for S3 and 2 for S4")])
def test_the_range_needed_counts_every_stopped_job(results, name, size, held, owed  # noqa: ANN001
                                                   ) -> None:
    """range_too_small counts what the capture shows was needed at once: the range's
    ports held as the last stopped job stopped, and what each job that stopped on the
    full range within the hold still needed (a job binds 2 agent ports: its callback's
    and one data port per resource, 1 resource each job here: neither announced more),
    less its own ports held. It read ports held + 1 ("at least 5"; widened to 5, job 3 failed at its
    data port and job 4 at its callback: "at least 6"). The lab (newuser66-evidence/
    nu66a/tw.sh) ran the four jobs with 6001-6007: job 4 failed; with 6001-6008 all
    passed. Both stopped steps' fixes widen to the same number."""
    result = results[name]
    [small] = [f for f in result.findings if f.code == "range_too_small"]
    assert ("10.66.2.2 needed 8 ports of the range at once (as the session's last NDMP "
            "message (frame") in small.message
    assert (f"session S4: the {held} of the range in use or held 60 s after use, and the "
            f"ports still needed by the 2 jobs that stopped on the full range within 60 s: "
            f"{owed} (a job binds one port per resource + the callback's source port there, "
            "less the "
            "ports of its own already held; its resources those it showed (the data ports it "
            "announced and the one it asked for) or, when more, the fewest another job of "
            "the same two hosts that stopped on no range announced, at least 1: --resources "
            "not given))"
            ) in small.message
    assert small.fix.startswith(f"Widen the agent range by {8 - size} port"
                                f"{'s' * (8 - size != 1)}, to at least 8 (what 10.66.2.2 "
                                "needed at once")
    for finding in missing(result):
        assert finding.fix.startswith(f"Widen the agent range 6001-600{size} (agent range) "
                                      "first, to at least 8 ports"), finding.fix



@pytest.mark.parametrize("name", ["agent-range-timewait", "agent-range-widened-to-5"])
def test_jobs_begun_one_after_another_each_count_with_resources_given(name: str) -> None:
    """The same four jobs with `resources = 1` (what the lab ran: media --resources 1):
    each began after the one before had ended, so job 4, begun 1.2 s after job 3 stopped
    on the range with its hosts and resources, was taken for job 3 run again and counted
    once (words64: "needed 6 ... a retry of S3's job, counted once", "to at least 6").
    The lab ran these jobs with 6001-6007 (newuser66-evidence/nu66a/tw7.pcap): job 4
    failed; 6001-6008 carried all four. The count stays 8, the retry reading said beside
    as the smaller count it would be."""
    config = build_config({**load_file(CASES / f"{name}.toml"), "resources": 1})
    result = analyze(read_traffic([str(CASES / f"{name}.pcap.gz")], config), config)
    [small] = [f for f in result.findings if f.code == "range_too_small"]
    assert "10.66.2.2 needed 8 ports of the range at once" in small.message, small.message
    assert "to at least 8 (what 10.66.2.2 needed at once" in small.fix, small.fix
    assert "or start fewer jobs within port_hold_seconds (60 s) of each other" in small.fix
    assert ("S4 began after S3 stopped on the range, within 60 s, with the same two hosts "
            "and resources: counted as a job of its own (the capture cannot tell a retry "
            "from another job; were it S3's job run again because S3 failed, 6 ports at "
            "once)") in small.message, small.message
    for finding in missing(result):
        assert ", to at least 8 ports" in finding.fix, finding.fix

def test_plan_says_fits_is_one_job_and_back_to_back_jobs_count(capsys) -> None:  # noqa: ANN001
    """`plan --resources 1 --agent-range 6001-6004` says "fits" (exit 0) for one job; the
    four back-to-back jobs of agent-range-timewait need four jobs' ports. Its line on the
    jobs it carries says that jobs started within the hold of another's end count as at
    once, and that "fits" is for one job (it read "jobs at once (a job's ports stay held
    60 s after it ends): 2")."""
    assert run(["plan", "--resources", "1", "--agent-range", "6001-6004",
                "--media-range", "5001-5100"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "jobs at once: 2 (a job's ports stay held 60 s after it ends, so every job " \
           "started within 60 s of another's end counts: back-to-back jobs need ports of " \
           "their own; \"fits\" is for one job)" in out


@pytest.mark.parametrize(("name", "frames", "said"), [
    ("agent-range-timewait-on-agent", "532-534",
     "its own outbound rules likely drop it: this capture was taken on the sender "
     "10.66.2.2 (or on its network segment: 10.66.2.2's packets arrive with TTL 64, an "
     "initial value, and 10.66.1.1's with 63: a router between them), which sees its "
     "leaving packets only after them"),
    ("agent-range-timewait", "488-490",
     "capture on the agent as well: something between the hosts drops it")])
def test_a_job_not_yet_sending_is_not_sent_to_the_capture_point(
        tmp_path: Path, name: str, frames: str, said: str) -> None:
    """Job 1 to its DATA_START_BACKUP's reply (frames 1-26: the data connection open, no
    byte on it yet) and job 4's control opening 10 s later, so the capture runs on:
    step 5 is unknown, "the data may not have started yet", and where to look next
    follows the capture point the TTLs show. Taken on the agent, the sender of a
    backup's data, it said "capture on the agent as well"; now its own outbound rules
    (its tap sees leaving packets after them), with the TTLs' words: they cannot tell the
    agent from a point on its segment (it said "taken on the sender" bare: review63e).
    Taken on the media server: unchanged."""
    cut = tmp_path / f"{name}-not-sending.pcap"
    subprocess.run(["editcap", "-F", "pcap", "-r", str(CASES / f"{name}.pcap.gz"), str(cut),
                    "1-26", frames], check=True, capture_output=True)
    config = build_config(load_file(CASES / f"{name}.toml"))
    result = analyze(read_traffic([str(cut)], config), config)
    step = result.sessions[0].steps[4]
    assert step.status == "unknown" and "the data may not have started yet" in step.detail
    assert step.detail.endswith(f"If the job log shows data sent in that time, {said}"), \
        step.detail


@pytest.mark.parametrize(("name", "size", "held", "owed"), [
    ("agent-range-2-resources", "6001-6006", 6, 3),
    ("agent-range-2-resources-widened-to-8", "6201-6208", 8, 1)])
def test_a_job_stopped_at_its_callback_counts_the_resources_its_hosts_jobs_showed(
        name: str, size: str, held: int, owed: int) -> None:
    """Three 2-resource jobs 0.5 s apart, agent range 6001-6006 (review63e's lab, as
    newuser66's): job 3's callback found no source port. It had shown no resource, so
    with --resources not given it counted 1: "at least 8". Widened to 8, job 3 stopped at
    its second data port and the count said 9; with 9 all three passed. Now a stopped job
    counts at least the fewest resources another job of the same two hosts announced
    (jobs 1 and 2: 2 each): 9 at once, the 6 held and job 3's callback and 2 data ports;
    the widened capture reads 9 too (job 3 showed its 2: 1 announced, 1 asked for)."""
    config = build_config(load_file(CASES / f"{name}.toml"))
    result = analyze(read_traffic([str(CASES / f"{name}.pcap.gz")], config), config)
    [small] = [f for f in result.findings if f.code == "range_too_small"]
    assert "10.63.52.2 needed 9 ports of the range at once" in small.message, small.message
    assert (f"the {held} of the range in use or held 60 s after use, and the ports still "
            f"needed by the job that stopped on the full range: {owed} for S3 (a job "
            "binds ") in small.message
    assert "the fewest another job of the same two hosts that stopped on no range " \
           "announced" in small.message
    [step] = missing(result)
    assert step.fix.startswith(f"Widen the agent range {size} (agent range) first, to at "
                               "least 9 ports"), step.fix


def test_a_port_used_again_within_the_hold_counts_again_where_a_job_stopped() -> None:
    """Three 2-resource restores in 6401-6406 (review63e's lab): the agent's kernel gave
    jobs 2 and 3's callbacks data ports closed a second or two before (the media server
    closes a restore's data connection first: no TIME_WAIT on the agent), and job 3
    stopped at its second data port. The stop's count took the 6 ports of the range, one
    connection each, and read "at least 7", below the peak of 8 it replaced (every use
    within the hold counted: port_reused_within_hold's fix widens "as range_too_small
    says", said 3 times). Counted as the peak counts them, the 8 uses and S3's 1: 9, the model's 3
    jobs of 3 agent ports."""
    name = "agent-range-2-resources-restore"
    config = build_config(load_file(CASES / f"{name}.toml"))
    result = analyze(read_traffic([str(CASES / f"{name}.pcap.gz")], config), config)
    [small] = [f for f in result.findings if f.code == "range_too_small"]
    assert ("10.63.52.2 needed 9 ports of the range at once (as the DATA_LISTEN request "
            "(frame 187) came, session S3: the 8 uses of the range's 6 ports (a port used "
            "again within the hold counts again") in small.message, small.message
    assert "the job that stopped on the full range: 1 for S3 (a job binds " in small.message
    assert [f.session for f in result.findings if f.code == "port_reused_within_hold"] \
        == ["S2", "S2", "S3"]
    [step] = missing(result)
    assert step.fix.startswith("Widen the agent range 6401-6406 (agent range) first, to "
                               "at least 9 ports"), step.fix
