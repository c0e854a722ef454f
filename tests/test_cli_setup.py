"""`firewall` and `plan`: pure functions of the configuration, through the real CLI."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess

import pytest

from flowcheck.cli.main import run

LAB = ["--media-range", "5001-5100", "--agent-range", "6001-6100",
       "--media-server", "10.77.0.1", "--remote-agent", "10.77.0.2"]


def test_firewall_nft_opens_the_three_paths(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["firewall", "--target", "nft", *LAB]) == 0
    out = capsys.readouterr().out
    assert "tcp dport { 10000 }" in out
    assert "ip saddr { 10.77.0.2 } ip daddr { 10.77.0.1 } tcp dport { 5001-5100 }" in out
    assert "ip saddr { 10.77.0.1 } ip daddr { 10.77.0.2 } tcp dport { 6001-6100 }" in out
    assert "iptables" not in out


def test_firewall_json_has_every_target_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["firewall", "--format", "json", *LAB]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document["rules"]) == {"nft", "iptables", "powershell", "netsh"}
    inbound = [line for line in document["rules"]["powershell"]["media server"]
               if "-Direction Inbound" in line]
    assert inbound and "-LocalPort 5001-5100" in inbound[0]
    assert any("--dport 6001:6100" in line
               for line in document["rules"]["iptables"]["remote agent"])


@pytest.mark.parametrize(("ranges", "unset"), [
    ([], "--media-range and --agent-range"),
    (["--agent-range", "6001-6100"], "--media-range"),
    (["--media-range", "5001-5100", "--agent-range", "6001-6100"], None)])
def test_firewall_warns_when_it_opens_the_default_range(
        ranges: list[str], unset: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    """Rules for flowcheck's default 1025-65535 open nearly every TCP port: `firewall`
    says so on standard error (one line; the rules on standard output unchanged, so a
    script that runs them still can), naming the flags not set."""
    for output in ("table", "json"):
        assert run(["firewall", "--target", "nft", "--format", output, *ranges]) == 0
        err = capsys.readouterr().err
        if unset is None:
            assert err == ""
            continue
        assert err.startswith(f"flowcheck: warning: {unset} not set: these rules open "
                              "flowcheck's default 1025-65535, nearly every TCP port; ")
        assert err.count("\n") == 1 and err.endswith("NDMP servers\n"), err


def test_plan_warns_when_it_counts_the_default_range(
        capsys: pytest.CaptureFixture[str]) -> None:
    """`plan --media-range` alone counted the default agent range 1025-65535 and said the
    ranges overlap, with no word of the default (new-user trial)."""
    run(["plan", "--resources", "5", "--media-range", "5001-5010"])
    err = capsys.readouterr().err
    assert err.startswith("flowcheck: warning: --agent-range not set: the plan counts "
                          "flowcheck's default 1025-65535, nearly every TCP port; "), err
    assert run(["plan", "--resources", "5", "--media-range", "5001-5014",
                "--agent-range", "6001-6012"]) == 0
    assert capsys.readouterr().err == ""


def test_plan_fits_and_does_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["plan", "--resources", "5", "--media-range", "5001-5014",
                "--agent-range", "6001-6012", "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    # 14 // 7 media (+ job engine + control connection), 12 // 6 agent (+ callback)
    assert plan["jobs_per_hold_period"] == 2
    assert run(["plan", "--resources", "5", "--media-range", "5001-5005",
                "--agent-range", "6001-6100"]) == 1


def test_plan_counts_overlapping_ranges_as_one_pool(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["plan", "--resources", "2", "--media-range", "5001-5010",
                "--agent-range", "5001-5010", "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert plan["shared_ports"] == 10
    assert plan["jobs_per_hold_period"] == 1  # 10 ports // (4 + 3: control, callback's source)


@pytest.mark.parametrize(("media", "agent", "short", "jobs"), [
    # (issue 11) a wide enough range is never named; the short one with its shortfall
    # (5 resources + the job engine's and the control connection's port: 7 media;
    # + the callback's source port: 6 agent)
    ("5001-5010", "6001-6003", {"agent": 3}, {"media": 1, "agent": 0}),
    ("5001-5003", "6001-6012", {"media": 4}, {"media": 0, "agent": 2}),
    ("5001-5004", "6001-6004", {"media": 3, "agent": 2}, {"media": 0, "agent": 0}),
    ("5001-5007", "6001-6006", {}, {"media": 1, "agent": 1}),  # exactly one job each
    ("5001-5021", "6001-6017", {}, {"media": 3, "agent": 2}),
])
def test_plan_names_only_the_short_ranges(media: str, agent: str, short: dict[str, int],
                                          jobs: dict[str, int],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", "--resources", "5", "--media-range", media, "--agent-range", agent]
    assert run([*argv, "--format", "json"]) == (1 if short else 0)
    ranges = json.loads(capsys.readouterr().out)["plan"]["ranges"]
    assert {r["range"]: r["shortfall"] for r in ranges if r["shortfall"]} == short
    assert {r["range"]: r["concurrent_jobs"] for r in ranges} == jobs
    assert run(argv) == (1 if short else 0)
    out = capsys.readouterr().out
    for which in ("media", "agent"):
        advice = f"widen the {which} range"
        if which in short:
            need = 7 if which == "media" else 6
            assert f"{advice} by {short[which]} " in out and f"at least {need}" in out
        else:
            assert advice not in out
    for which, count in jobs.items():
        line = next(line for line in out.splitlines() if f"{which} range" in line)
        assert (f"{count} concurrent job" if count else "no job fits") in line


def test_plan_overlapping_ranges_short_only_as_a_pool(capsys: pytest.CaptureFixture[str]) -> None:
    """Each range holds one job, but both sides draw from their 7-port union."""
    assert run(["plan", "--resources", "5", "--media-range", "5001-5007",
                "--agent-range", "5001-5007", "--format", "json"]) == 1
    ranges = json.loads(capsys.readouterr().out)["plan"]["ranges"]
    assert [(r["range"], r["ports"], r["shortfall"]) for r in ranges] == [
        ("media", 7, 0), ("agent", 7, 0), ("media+agent", 7, 6)]
    assert run(["plan", "--resources", "5", "--media-range", "5001-5007",
                "--agent-range", "5001-5007"]) == 1
    out = capsys.readouterr().out
    assert "widen the" not in out and "separate ports" in out


@pytest.mark.parametrize("argv", [
    ["plan"],  # no --resources
    ["plan", "--resources", "2", "--agent-range", "7000-6000"],
    ["firewall", "--ndmp-port", "70000"],
    ["firewall", "--target", "pf"],
    ["firewall", "--profile", "no-such-profile"],
    ["frobnicate"],
])
def test_usage_errors_exit_2_with_one_line(argv: list[str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("flowcheck: error:") and err.count("\n") == 1


def test_each_run_registers_the_commands_once(capsys: pytest.CaptureFixture[str]) -> None:
    """run() is called many times in one process (tests, scripts): the commands must not
    pile up in the app, each run building every earlier copy again."""
    from flowcheck.cli.app import app

    for _ in range(3):
        assert run(["plan", "--resources", "1"]) == 0
    names = [command.callback.__name__ for command in app.registered_commands]
    assert len(names) == len(set(names)) and "plan" in names


# The rules per profile (docs/cli.md "firewall and plan"), as nft matches on the media
# server: the profile decides the callback and the data connection's direction.
CONTROL = "output ip saddr { 10.77.0.1 } ip daddr { 10.77.0.2 } tcp dport { 10000 }"
CALLBACK = "input ip saddr { 10.77.0.2 } ip daddr { 10.77.0.1 } tcp dport { 5001-5100 }"
TO_AGENT = "output ip saddr { 10.77.0.1 } ip daddr { 10.77.0.2 } tcp dport { 6001-6100 }"
TO_MEDIA = CALLBACK  # the agent connecting to the mover's port in the media range
CONTROL_FROM_RANGE = ("output ip saddr { 10.77.0.1 } ip daddr { 10.77.0.2 } "
                      "tcp sport { 5001-5100 } tcp dport { 10000 }")
CONTROL_REPLY_PROFILE = """name = "be9-control-reply"
[callback]
mode = "control"
[data]
connector = "remote_agent"
[[steps]]
kind = "control"
[[steps]]
kind = "callback"
[[steps]]
kind = "announcement"
[[steps]]
kind = "data_connection"
[[steps]]
kind = "data_flow"
"""


def _profile_arg(profile: str, tmp_path) -> str:
    if profile != "control-reply":
        return profile
    path = tmp_path / "control-reply.toml"
    path.write_text(CONTROL_REPLY_PROFILE)
    return str(path)


def _firewall(profile: str, tmp_path, capsys: pytest.CaptureFixture[str],
              target: str = "nft") -> dict[str, list[str]]:
    argv = ["firewall", "--format", "json", "--target", target, "--profile",
            _profile_arg(profile, tmp_path), *LAB]
    assert run(argv) == 0
    return json.loads(capsys.readouterr().out)["rules"][target]


@pytest.mark.parametrize(("profile", "paths"), [
    ("backup-exec-9", [CONTROL, CALLBACK, TO_AGENT]),
    ("ndmp", [CONTROL, TO_AGENT, TO_MEDIA]),  # no callback; either side may listen
    ("control-reply", [CONTROL_FROM_RANGE, TO_MEDIA]),  # callback on the control conn
])
def test_firewall_rules_follow_the_profile(profile: str, paths: list[str], tmp_path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    rules = _firewall(profile, tmp_path, capsys)["media server"]
    opened = [line.removeprefix("nft insert rule inet filter ").removesuffix(
        " ct state new accept") for line in rules if "ct state new" in line]
    assert opened == paths


@pytest.mark.parametrize(("profile", "names"), [
    ("backup-exec-9", ["control connection (step 1)", "agent to job engine (step 2)",
                       "data connection to the agent (step 4)"]),
    ("ndmp", ["control connection (step 1)",
              "data connection to the agent, after DATA_LISTEN / MOVER_CONNECT (step 3)",
              "data connection to the media server, after MOVER_LISTEN / DATA_CONNECT "
              "(step 3)"]),
    ("control-reply", ["control connection from the job engine port, the agent's reply its "
                       "callback (steps 1-2)", "data connection to the media server (step 4)"]),
])
def test_firewall_labels_follow_the_profile(profile: str, names: list[str], tmp_path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    rules = _firewall(profile, tmp_path, capsys, target="netsh")["remote agent"]
    assert [line.split('"')[1].removeprefix("flowcheck: ") for line in rules
            if line.startswith("netsh")] == names
    if profile == "control-reply":  # the agent accepts the control connection from the range
        assert "localport=10000 remoteport=5001-5100" in rules[0]
    assert run(["firewall", "--profile", _profile_arg(profile, tmp_path), *LAB]) == 0
    out = capsys.readouterr().out
    assert ("job engine" in out) == (profile != "ndmp")


@pytest.mark.skipif(shutil.which("nft") is None or os.geteuid() != 0,
                    reason="needs nft and root (nft -c reads the kernel's ruleset cache)")
@pytest.mark.parametrize("profile", ["backup-exec-9", "ndmp", "control-reply"])
def test_firewall_nft_rules_load(profile: str, tmp_path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """nft itself checks the printed rules (-c: parsed and validated, nothing applied)."""
    rules = _firewall(profile, tmp_path, capsys)
    # Each host's list starts with the commands that create the table and chains; a
    # line of a script is the command's words without `nft` (the shell's quotes undone).
    lines = [" ".join(shlex.split(line)[1:]) for host in rules.values() for line in host]
    script = tmp_path / "rules.nft"
    script.write_text("\n".join(lines) + "\n")
    checked = subprocess.run(["nft", "-c", "-f", str(script)], capture_output=True,
                             text=True, check=False)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(("profile", "status", "media_per_job"), [
    # 5 resources + the job engine's + the control connection's port: 1 short in 6
    ("backup-exec-9", 1, 7),
    ("ndmp", 0, 6),  # no callback, no job engine port; the control connection's
    ("control-reply", 0, 6),  # the job engine port is the control connection's source
])
def test_plan_counts_the_job_engine_port_only_with_a_callback(
        profile: str, status: int, media_per_job: int, tmp_path,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", "--resources", "5", "--media-range", "5001-5006", "--agent-range",
            "6001-6010", "--profile", _profile_arg(profile, tmp_path)]
    assert run([*argv, "--format", "json"]) == status
    assert json.loads(capsys.readouterr().out)["plan"]["media_ports_per_job"] == media_per_job
    assert run(argv) == status
    assert ("+ job engine" in capsys.readouterr().out) == (
        profile != "ndmp")


def _rules(argv: list[str], target: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert run(["firewall", "--format", "json", "--target", target, *argv]) == 0
    rules = json.loads(capsys.readouterr().out)["rules"][target]
    return rules["media server"] + rules["remote agent"]


def test_firewall_ipv6_hosts_get_ip6tables(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _rules(["--media-server", "2001:db8::1", "--remote-agent", "2001:db8::2"],
                   "iptables", capsys)
    assert lines and all(line.startswith("ip6tables ") for line in lines)
    assert "ip6tables -I OUTPUT -p tcp -s 2001:db8::1 -d 2001:db8::2 --dport 10000 " in lines[0]


def test_firewall_dual_stack_hosts_get_rules_per_family(
        capsys: pytest.CaptureFixture[str]) -> None:
    hosts = ["--media-server", "10.77.0.1", "--media-server", "2001:db8::1",
             "--remote-agent", "10.77.0.2", "--remote-agent", "2001:db8::2"]
    # The connections' rules, and each version's return rules (ip6tables' ICMPv6 rules,
    # which IPv4 has no twin of, left out: trial 28 D3).
    lines = [line for line in _rules(hosts, "iptables", capsys) if "icmpv6" not in line]
    v4 = [line for line in lines if line.startswith("iptables ")]
    v6 = [line for line in lines if line.startswith("ip6tables ")]
    assert len(v4) == len(v6) == len(lines) / 2
    assert not any(":" in line.split("--dport")[0] for line in v4)
    assert not any("10.77" in line for line in v6)
    nft = _rules(hosts, "nft", capsys)
    assert not any("ip6 " in line and "10.77" in line for line in nft)
    assert not any(" ip saddr" in line and "2001:" in line for line in nft)
    assert sum("ip6 saddr { 2001:db8::1 } ip6 daddr { 2001:db8::2 }" in line
               for line in nft) == 4  # control and data connection, on each host


@pytest.mark.parametrize("hosts", [
    ["--media-server", "2001:db8::1", "--remote-agent", "10.0.0.2"],
    ["--media-server", "10.0.0.1", "--remote-agent", "10.0.0.2",
     "--remote-agent", "2001:db8::2"],
])
def test_firewall_hosts_of_different_ip_versions_are_a_usage_error(
        hosts: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    for target in ("nft", "iptables", "netsh"):
        assert run(["firewall", "--target", target, *hosts]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot join IPv" in err
        assert "2001:db8::" in err  # the address without a partner of its version


@pytest.mark.skipif(shutil.which("nft") is None or os.geteuid() != 0,
                    reason="needs nft and root (nft -c reads the kernel's ruleset cache)")
def test_firewall_dual_stack_nft_rules_load(tmp_path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    hosts = ["--media-server", "10.77.0.1", "--media-server", "2001:db8::1",
             "--remote-agent", "10.77.0.2", "--remote-agent", "2001:db8::2"]
    lines = [" ".join(shlex.split(line)[1:]) for line in _rules(hosts, "nft", capsys)]
    script = tmp_path / "rules.nft"
    script.write_text("\n".join(lines) + "\n")
    checked = subprocess.run(["nft", "-c", "-f", str(script)], capture_output=True,
                             text=True, check=False)
    assert checked.returncode == 0, checked.stderr


HOSTS = {"IPv4": LAB,
         "IPv6": ["--media-server", "2001:db8::1", "--remote-agent", "2001:db8::2"],
         "dual stack": [*LAB, "--media-server", "2001:db8::1", "--remote-agent", "2001:db8::2"]}


@pytest.mark.parametrize("hosts", list(HOSTS))
@pytest.mark.parametrize("profile", ["backup-exec-9", "ndmp", "control-reply"])
def test_firewall_json_rules_are_commands_ending_with_return_traffic_both_ways(
        profile: str, hosts: str, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each JSON rule line runs exec-style (shlex.split, Ansible `command:`): no `#` comment
    (iptables fails with "Bad argument `#'"); nft and iptables lists end with the
    return-traffic rules on the input and the output chain, per IP version for iptables,
    since the rules filter both chains (trial 16, D1)."""
    assert run(["firewall", "--format", "json", "--profile", _profile_arg(profile, tmp_path),
                *HOSTS[hosts]]) == 0
    document = json.loads(capsys.readouterr().out)
    rules = document["rules"]
    commands = {"nft": "nft", "iptables": "iptables", "powershell": "New-NetFirewallRule",
                "netsh": "netsh"}
    # A router or firewall between the hosts: its forward chain, nft and iptables only
    # (trial 17, D3), commands only, ending with the return traffic.
    assert set(document["forward"]) == {"nft", "iptables"}
    for target, lines in document["forward"].items():
        # nft's first: the table and the forward chain, created where missing.
        setup = lines[:2] if target == "nft" else []
        assert setup == [] or setup == ["nft add table inet filter",
                                        "nft add chain inet filter forward '{ type filter "
                                        "hook forward priority 0; }'"]
        assert all("#" not in line and shlex.split(line)[0] in (target, "ip6tables")
                   and (" forward " in line or " FORWARD " in line)
                   for line in lines[len(setup):])
        assert "established" in lines[-1].lower() and len(lines) > 2
    for target, per_host in rules.items():
        for lines in per_host.values():
            for line in lines:
                assert "#" not in line and shlex.split(line)[0] in (commands[target],
                                                                     "ip6tables"), line
    families = {"IPv4": ["iptables"], "IPv6": ["ip6tables"],
                  "dual stack": ["iptables", "ip6tables"]}[hosts]
    expected = {
        "nft": [f"nft insert rule inet filter {chain} ct state established,related accept"
                for chain in ("input", "output")],
        "iptables": [f"{command} -I {chain} -m conntrack --ctstate ESTABLISHED,RELATED "
                     f"-j ACCEPT" for command in families for chain in ("INPUT", "OUTPUT")]}
    for target, tail in expected.items():
        for lines in rules[target].values():
            assert lines[-len(tail):] == tail
            assert not any("ESTABLISHED" in line or "established" in line
                           for line in lines[:-len(tail)])
    for target in ("powershell", "netsh"):  # stateful: no return rule, every line a rule
        assert all(" -Action Allow" in line or " action=allow " in line
                   for lines in rules[target].values() for line in lines)
    assert run(["firewall", "--profile", _profile_arg(profile, tmp_path), *HOSTS[hosts]]) == 0
    text = capsys.readouterr().out.splitlines()  # the comments: text only, lines of their own
    assert sum(line.startswith("# return traffic of these connections") for line in text) == 4
    assert sum(line.startswith("# on a firewall or router between them") for line in text) == 2
    # The return rules are printed last but inserted at the head (nft insert, iptables -I):
    # not "come last", which newuser68 read as their place in the chain.
    assert sum(line.endswith("the return-traffic rules listed last)") for line in text) == 2
    assert not any("come last" in line for line in text)
    # Each forward section says both directions must cross the device (newuser68 item 3:
    # on a router that carried the replies alone, the SYN-ACKs matched no ct state).
    states = [i for i, line in enumerate(text) if line.startswith(
        "# these forward rules are stateful (new connections, then established,related): "
        "both directions of each connection must cross this same device. A device that "
        "sees one direction only (asymmetric routing")]
    assert [text[i - 1].startswith("# on a firewall or router between them")
            for i in states] == [True, True]
    # Where the rules go, once per target (trial 17, D1): nft/iptables insert at the head;
    # Windows Firewall has no order, its block rules win.
    assert sum(line.startswith("# each rule is inserted at the head of its chain")
               for line in text) == 2
    assert sum(line.startswith("# Windows Firewall: a block rule wins over every allow rule")
               for line in text) == 2
    assert sum(line == "# Windows Firewall is stateful: return traffic of allowed "
               "connections passes" for line in text) == 4


THREE_WAY = ["--media-server", "10.77.0.1", "--remote-agent", "10.77.0.2",
             "--remote-agent", "10.77.0.3", "--media-range", "5001-5100",
             "--agent-range", "6001-6100,7001-7100", "--profile", "ndmp"]


def test_firewall_ndmp_with_two_agents_opens_agent_to_agent(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Trial 27 D7: a three-way job's data connection runs from one agent to the other's
    mover: with profile ndmp and several agents, the agents get it inbound and outbound
    (the media server none of it)."""
    assert run(["firewall", "--format", "json", "--target", "nft", *THREE_WAY]) == 0
    rules = json.loads(capsys.readouterr().out)["rules"]["nft"]
    between = ("ip saddr { 10.77.0.2, 10.77.0.3 } ip daddr { 10.77.0.2, 10.77.0.3 } "
               "tcp dport { 6001-6100, 7001-7100 }")
    agent = [line for line in rules["remote agent"] if between in line]
    assert [line.split()[5] for line in agent] == ["input", "output"]
    assert not any(between in line for line in rules["media server"])


def test_firewall_one_agent_has_no_agent_to_agent_rule(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["firewall", "--format", "json", "--target", "nft", "--profile", "ndmp",
                *LAB]) == 0
    rules = json.loads(capsys.readouterr().out)["rules"]["nft"]
    assert not any("daddr { 10.77.0.2 } tcp dport { 6001-6100 }" in line and
                   "saddr { 10.77.0.2 }" in line for line in rules["remote agent"])
