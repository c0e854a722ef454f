"""The fault matrix's newer axes (flowcheck.lab.matrix_axes, field check 46): the address
family, the capture's link type and two jobs at once are drawn from the seed, the same
seed drawing the same runs, without changing the earlier axes' draws; the fault rules
and the judging follow them; and one run per axis made for real (root, namespaces,
tcpdump/dumpcap) gets the answer its injected fault dictates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tshark_fork

from flowcheck.lab.matrix import expect, fault_rules, judge, plan
from flowcheck.lab.matrix_axes import AXES, CONTROLS, FAMILIES, JOBS, LINKS, TLS_FORMS
from flowcheck.lab.matrix_run import capture_run, scenario_for
from flowcheck.lab.netns import list_namespaces

PREFIX = "f46x"  # this test's namespaces and nft tables
NEW_KEYS = ("family", "family_drawn", "link", "jobs", "jobs_drawn", "fault_job", "control",
            "control_drawn")


def test_the_axes_are_drawn_from_the_seed_and_leave_the_other_draws_alone() -> None:
    runs = plan(90, 60, axes=AXES)
    assert runs == plan(90, 60, axes=AXES)  # seeded: the same again
    assert plan(91, 60, axes=AXES) != runs
    # The runs' other draws are the plan's without the axes.
    assert [{k: v for k, v in run.items() if k not in NEW_KEYS} for run in runs] \
        == plan(90, 60)
    assert {run["family"] for run in runs} == set(FAMILIES)
    assert {run["link"] for run in runs} == set(LINKS)
    assert {run["jobs"] for run in runs} == set(JOBS)
    assert {run["control"] for run in runs} == set(CONTROLS) | set(TLS_FORMS)
    for run in runs:
        if run["peer"] == "ndmjob" or run["fault"] == "nat":
            assert run["family"] == "ipv4"
        assert ("fault_job" in run) == (run["jobs"] == 2 and run["fault"] != "none")
        assert run["peer"] == "be" or run["control"] == "clear"  # ndmjob has no TLS
    only_link = plan(90, 5, axes=("link",))
    assert all(set(run) & set(NEW_KEYS) == {"link"} for run in only_link)
    assert [run["link"] for run in only_link] == [run["link"] for run in runs[:5]]


def test_matrix_plan_command_draws_the_axes_asked_for() -> None:
    out = subprocess.run([sys.executable, "-m", "flowcheck.lab", "matrix", "plan", "90", "3",
                          "--axes", "family,link,jobs,control"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert [json.loads(line.split(" -> ")[0]) for line in out] == plan(90, 3, axes=AXES)


def test_an_ipv6_reject_is_icmpv6_and_a_second_jobs_fault_names_its_agent() -> None:
    """An `icmp type` reject in an inet table matches IPv4 packets only: an IPv6 step's
    reject is ICMPv6's. With two jobs the rule holds the faulted job's agent address, as
    destination toward A, as source from A (the callback's SYNs come from it)."""
    run = {"peer": "be", "routed": False, "fault": "syn-reject", "step": "data",
           "where": "receiver", "reject": "host-unreachable", "family": "ipv6",
           "jobs": 2, "fault_job": 2}
    rule = fault_rules(run, PREFIX)["a"]
    assert "ip6 daddr fd77::3 tcp dport { 6001-6100 }" in rule
    assert "reject with icmpv6 type addr-unreachable" in rule
    callback = fault_rules({**run, "step": "callback", "family": "dual"}, PREFIX)["m"]
    assert "ip saddr 10.77.0.3 tcp dport { 5001-5100 }" in callback
    assert "reject with icmp type host-unreachable" in callback  # dual: IPv4 callback
    control = fault_rules({**run, "step": "control", "family": "dual"}, PREFIX)["a"]
    assert "ip6 daddr fd77::3 tcp dport { 10000 }" in control
    assert "icmpv6 type addr-unreachable" in control


def test_a_second_job_whose_session_does_not_read_fine_is_a_mismatch() -> None:
    run = {"index": 0, "peer": "be", "op": "backup", "resources": 1, "routed": False,
           "fault": "syn-drop", "step": "data", "where": "receiver", "point": "m",
           "form": "whole", "family": "ipv4", "jobs": 2, "fault_job": 1}
    exp = expect(run)
    assert exp["fine_agents"] == ["10.77.0.3"]
    fine = {"id": "S2", "remote_agent": "10.77.0.3", "steps": {"1": "ok", "2": "ok",
                                                                "3": "ok", "4": "ok"}}
    failing = {"id": "S1", "remote_agent": "10.77.0.2", "steps": {"1": "ok", "3": "failed"}}
    assert judge(exp, "fail", ["data_unanswered"], 1, (), [failing, fine], ["S1"])
    assert not judge(exp, "fail", ["data_unanswered"], 1, (), [failing, fine], ["S2"])
    bad = {**fine, "steps": {**fine["steps"], "3": "failed"}}
    assert not judge(exp, "fail", ["data_unanswered"], 1, (), [failing, bad], ["S1"])
    assert not judge(exp, "fail", ["data_unanswered"], 1, (), [failing], ["S1"])


def _lab(tmp_path: Path, run: dict) -> dict:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    result = capture_run(run, tmp_path, PREFIX)
    assert not [n for n in list_namespaces() if n.startswith(f"{PREFIX}{os.getpid()}-")]
    assert result["match"], json.dumps(result["got"])
    return result


def _fields(path: Path, display_filter: str, *fields: str) -> list[str]:
    """Every value tshark prints for `fields` (of the frames the filter shows), in order,
    as one list of words (tshark's output split at whitespace)."""
    rows = tshark_fork.fields(path, display_filter, *fields)
    return [word for row in rows for value in row for word in value.split()]


BASE = {"index": 0, "peer": "be", "op": "backup", "resources": 1, "routed": False,
        "point": "m", "form": "whole", "seed": 46}


@pytest.mark.lab
def test_an_ipv6_job_refused_by_icmpv6(tmp_path: Path) -> None:
    """Every connection over IPv6, the agent's firewall rejecting the data connection's
    SYNs with ICMPv6 administratively prohibited: data_refused."""
    run = {**BASE, "fault": "syn-reject", "step": "data", "where": "receiver",
           "reject": "admin-prohibited", "family": "ipv6"}
    result = _lab(tmp_path, run)
    assert "data_refused" in result["got"]["errors"]
    capture = tmp_path / "run00.pcap"
    assert _fields(capture, "icmpv6.type == 1 && icmpv6.code == 1", "ipv6.src") \
        and not _fields(capture, "ip && tcp", "frame.number")
    assert [s["remote_agent"] for s in result["got"]["sessions"]] == ["fd77::2"]


@pytest.mark.lab
@pytest.mark.parametrize(("link", "encapsulation", "name"), [
    ("sll2", "Linux cooked-mode capture v2", "run00.pcap"),
    ("pcapng", "Ethernet", "run00.pcapng")])
def test_a_capture_as_another_link_type(tmp_path: Path, link: str, encapsulation: str,
                                        name: str) -> None:
    """tcpdump -i any (SLL2) and dumpcap (pcapng) on both hosts, merged, a clean job in
    IPv6: pass, no warning."""
    run = {**BASE, "fault": "none", "point": "both", "family": "ipv6", "link": link}
    result = _lab(tmp_path, run)
    assert result["got"]["verdict"] == "pass" and not result["got"]["warnings"]
    info = subprocess.run(["capinfos", "-t", "-E", str(tmp_path / name)],
                          capture_output=True, text=True, check=True).stdout
    assert encapsulation in info and (("pcapng" in info) == (link == "pcapng"))


@pytest.mark.lab
def test_two_jobs_at_once_the_second_ones_data_unanswered(tmp_path: Path) -> None:
    """Two jobs at once from M, to A's two agent addresses; A drops the second job's data
    SYNs: data_unanswered on its session, the first job's session all ok."""
    run = {**BASE, "fault": "syn-drop", "step": "data", "where": "receiver",
           "family": "ipv4", "jobs": 2, "fault_job": 2}
    result = _lab(tmp_path, run)
    got = result["got"]
    assert "data_unanswered" in got["errors"]
    by_agent = {s["remote_agent"]: s for s in got["sessions"]}
    assert set(by_agent) == {"10.77.0.2", "10.77.0.3"}
    assert set(by_agent["10.77.0.2"]["steps"].values()) <= {"ok", "not_applicable"}
    assert got["error_sessions"] == [by_agent["10.77.0.3"]["id"]]
    assert result["run"]["job_exit_codes"][0] == 0
    # Each agent calls back from its own address, not from A's first one.
    callbacks = _fields(tmp_path / "run00.pcap", "tcp.flags == 0x002 && tcp.dstport <= 5100",
                        "ip.src")
    assert sorted(set(callbacks)) == ["10.77.0.2", "10.77.0.3"]


def test_earlier_axes_draw_the_same_with_the_control_axis() -> None:
    """The control axis is drawn after the others from the run's generator: asking for
    it leaves every earlier axis's draw as it was."""
    without = plan(93, 40, axes=("family", "link", "jobs"))
    with_control = plan(93, 40, axes=AXES)
    assert [{k: v for k, v in run.items() if k not in ("control", "control_drawn")}
            for run in with_control] == without


def test_the_tls_form_splits_the_tls_runs_and_leaves_the_clear_ones() -> None:
    """The TLS form ("tls" or "tls-start") is drawn after the control axis: a run drawn
    clear before it still is, the TLS ones are either form; two dual-stack jobs keep
    "tls" (nothing pairs their addresses for sessions.tls_start's proof)."""
    runs = plan(94, 80, axes=AXES)
    assert {run["control"] for run in runs} == {"clear", "tls", "tls-start"}
    for run in runs:
        if run["control"] == "tls-start":
            assert not (run["family"] == "dual" and run["jobs"] == 2)
    drawn = [run.get("control_drawn", run["control"]) for run in runs]
    assert [c == "clear" for c in drawn] == [
        c == "clear" for c in _controls_as_before(94, 80)]


def _controls_as_before(seed: int, count: int) -> list[str]:
    """Each run's control draw as CONTROLS alone gives it (the draw before TLS_FORMS)."""
    import random

    out = []
    for run in plan(seed, count):
        rng = random.Random(f"axes-{run['seed']}")
        for values in (FAMILIES, LINKS, JOBS, [1, 2]):
            rng.choice(values)
        out.append(rng.choice(CONTROLS))
    return out


def test_a_tls_start_run_gives_both_peers_tls_from_the_first_byte() -> None:
    """control "tls-start": both Backup Exec peers get --tls start, and the judge
    accepts what it accepts of a "tls" run (a clean job inconclusive, a port in use
    still a failure)."""
    run = {"index": 0, "peer": "be", "op": "backup", "resources": 2, "routed": False,
           "fault": "none", "point": "m", "form": "whole", "family": "ipv4",
           "control": "tls-start"}
    scenario = scenario_for(run)
    for args in (scenario.media_args, scenario.agent_args or ()):
        assert list(args)[-2:] == ["--tls", "start"]
    assert judge(expect(run), "inconclusive", [], 5, ["ndmp_undecodable"])
    in_use = expect({**run, "fault": "port-in-use"})
    assert in_use["accept"] == ["fail"] and in_use["codes"] == ["data_refused"]
    # Seed 107 run 30: ack-in on the callback's media range stalls the control
    # connection's own TLS handshake (its port on M is in that range) before any other
    # connection opens: nothing proves the TLS the job's, so no session, inconclusive.
    stalled = {**run, "fault": "ack-in", "step": "callback", "where": "receiver"}
    assert judge(expect(stalled), "inconclusive", [], 5)
    assert not judge(expect({**stalled, "control": "tls"}), "inconclusive", [], 5)


def test_a_tls_run_gives_both_peers_tls_and_accepts_what_tls_hides() -> None:
    """control "tls": both Backup Exec peers get --tls (one job and each of two); a
    clean job may read inconclusive (its announcement step unknown) and warn of the TLS
    (ndmp_undecodable), a NAT's encrypted announcement may read inconclusive, a port in
    use must still fail (the refusal is TCP's)."""
    run = {"index": 0, "peer": "be", "op": "backup", "resources": 2, "routed": False,
           "fault": "none", "point": "m", "form": "whole", "family": "ipv4",
           "control": "tls"}
    scenario = scenario_for(run)
    assert "--tls" in scenario.media_args and "--tls" in (scenario.agent_args or ())
    assert "--tls" not in scenario_for({**run, "control": "clear"}).media_args
    assert judge(expect(run), "inconclusive", [], 5, ["ndmp_undecodable"])
    assert not judge(expect({**run, "control": "clear"}), "inconclusive", [], 5,
                     ["ndmp_undecodable"])
    assert judge(expect({**run, "fault": "nat"}), "inconclusive", [], 5)
    in_use = expect({**run, "fault": "port-in-use"})
    assert in_use["accept"] == ["fail"] and in_use["codes"] == ["data_refused"]


@pytest.mark.lab
def test_a_tls_job_with_a_port_in_use_fails(tmp_path: Path) -> None:
    """The session secured in band, the agent's first data port held: the refusal (a
    RST) is seen without the announcement: data_refused."""
    result = _lab(tmp_path, {**BASE, "resources": 2, "fault": "port-in-use",
                             "family": "ipv4", "control": "tls"})
    assert "data_refused" in result["got"]["errors"]
    assert "ndmp_undecodable" in result["got"]["warnings"]


def test_drops_the_capture_tool_reported_are_sniffer_loss() -> None:
    """tcpdump -i any dropped the tail of each 64 KB burst ("packets dropped by kernel",
    kept in lab_log): a clean run may then warn of loss and read inconclusive."""
    run = {"index": 0, "peer": "be", "op": "backup", "resources": 2, "routed": False,
           "fault": "none", "point": "a", "form": "whole", "link": "sll2"}
    assert not judge(expect(run), "pass", [], 0, ["capture_loss"])
    dropped = {**run, "lab_log": ["capture: tcpdump: 70 packets dropped by kernel"]}
    assert judge(expect(dropped), "pass", [], 0, ["capture_loss"])
    assert judge(expect(dropped), "inconclusive", [], 5, ["capture_loss"])


def test_a_second_job_the_capture_cannot_hold_leaves_the_first_to_pass() -> None:
    """The second agent's control SYNs dropped by A, captured -Q in on M (seed 91 run
    22): nothing of the second job is in the capture, the first alone is judged."""
    run = {"index": 22, "peer": "be", "op": "backup", "resources": 1, "routed": False,
           "fault": "syn-drop", "step": "control", "where": "receiver", "point": "m",
           "form": "dir-in", "family": "dual", "jobs": 2, "fault_job": 2}
    fine = {"id": "S1", "remote_agent": "fd77::2", "steps": {"1": "ok", "2": "unknown"}}
    assert judge(expect(run), "pass", [], 0, ["capture_one_direction"], [fine], [])
    assert "pass" not in expect({**run, "jobs": 1, "fault_job": None})["accept"]


def test_a_second_job_the_capture_cannot_hold_leaves_a_tls_first_job_to_its_tls_reading(
) -> None:
    """Seed 115 run 32: two TLS backups over IPv6, the router rejecting the second
    job's control SYN (ICMPv6 no route: the media server gave up at once), captured on
    A: only the first job, clean, in the capture, its announcement in TLS (step 3
    unknown), inconclusive as a clean TLS job may be; judged a mismatch."""
    run = {"index": 32, "peer": "be", "op": "backup", "resources": 2, "routed": True,
           "fault": "syn-reject", "step": "control", "where": "router",
           "reject": "net-unreachable", "point": "a", "form": "whole", "family": "ipv6",
           "jobs": 2, "fault_job": 2, "control": "tls"}
    fine = {"id": "S1", "remote_agent": "fd77:1::2",
            "steps": {"1": "ok", "2": "ok", "3": "unknown", "4": "ok", "5": "ok"}}
    assert judge(expect(run), "inconclusive", [], 5, ["ndmp_undecodable"], [fine], [])
    clear = {**run, "control": "clear"}
    assert not judge(expect(clear), "inconclusive", [], 5, [], [fine], [])


@pytest.mark.lab
def test_a_one_direction_pcapng_holds_the_jobs_opening(tmp_path: Path) -> None:
    """pcapng with -Q out on M: made by tcpdump -Q out and editcap -F pcapng (dumpcap's
    `outbound` filter lost the capture's first second: seeds 91-93), so it begins with
    the control connection's SYN."""
    run = {**BASE, "fault": "none", "form": "dir-out", "family": "ipv4", "link": "pcapng"}
    result = _lab(tmp_path, run)
    assert result["run"]["pcapng_by"] == "editcap"
    first = _fields(tmp_path / "run00.pcapng", "tcp", "tcp.dstport", "tcp.flags")[:2]
    assert first == ["10000", "0x0002"]
