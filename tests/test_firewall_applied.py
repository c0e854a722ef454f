"""`flowcheck firewall`'s rules applied exactly as printed, then a real job through them.

Both lab hosts get input and output policies that drop (loopback accepted, as any host
needs), then every line of the JSON rule list for their role, each run exec-style
(shlex.split, as Ansible's `command:`), then a lab job: the Backup Exec peers under
backup-exec-9, ndmjob's three-way backup under ndmp. The job must succeed and flowcheck
must pass its capture (trial 16, D1: without an output return-traffic rule the agent's
SYN-ACK died in its own output chain; the iptables line carried a `#` comment that
iptables rejects as an argument). Root, namespaces, tcpdump: marked `lab`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest

from flowcheck.cli.main import run
from flowcheck.lab.capture import capture_scenario, write_sidecar
from flowcheck.lab.scenarios import SCENARIOS, Scenario

pytestmark = pytest.mark.lab

# What a host with input and output policies of drop looks like before the rules.
DROP_POLICIES = {
    "nft": ("nft add table inet filter",
            "nft add chain inet filter input { type filter hook input priority 0 ; "
            "policy drop ; }",
            "nft add chain inet filter output { type filter hook output priority 0 ; "
            "policy drop ; }",
            "nft add rule inet filter input iif lo accept",
            "nft add rule inet filter output oif lo accept"),
    "iptables": ("iptables -A INPUT -i lo -j ACCEPT", "iptables -A OUTPUT -o lo -j ACCEPT",
                 "iptables -P INPUT DROP", "iptables -P OUTPUT DROP"),
}
JOBS = {
    "backup-exec-9": SCENARIOS["clean-3-resources"],
    # ndmjob's DMA in M with its resident tape agent; A's data agent connects to M's
    # mover (MOVER_LISTEN + DATA_CONNECT). Killed after 60 s should a rule be missing.
    "ndmp": dataclasses.replace(SCENARIOS["v4-backup-port-10500"], kill_after=60),
}


def _printed_rules(target: str, scenario: Scenario, config: Path,
                   capsys: pytest.CaptureFixture[str]) -> dict[str, list[str]]:
    """`flowcheck firewall --format json --target TARGET` for the lab's hosts and ranges."""
    assert run(["firewall", "--format", "json", "--target", target, "--config",
                str(config)]) == 0
    return json.loads(capsys.readouterr().out)["rules"][target]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")
@pytest.mark.parametrize("target", ["nft", "iptables"])
@pytest.mark.parametrize("profile", ["backup-exec-9", "ndmp"])
def test_printed_rules_let_the_job_through_drop_policies(
        target: str, profile: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which(target) is None:
        pytest.skip(f"{target} is not installed")
    scenario = JOBS[profile]
    assert scenario.sidecar()["profile"] == profile
    config = tmp_path / "job.toml"
    write_sidecar(config, scenario)
    rules = _printed_rules(target, scenario, config, capsys)
    commands = tuple((host, line) for host, role in (("m", "media server"),
                                                      ("a", "remote agent"))
                     for line in (*DROP_POLICIES[target], *rules[role]))
    job = dataclasses.replace(scenario, name=f"firewall-{target}-{profile}",
                              host_commands=(*scenario.host_commands, *commands))
    result = capture_scenario(job, tmp_path / "job.pcap", sidecar=False)
    assert result.job_exit_codes and not any(result.job_exit_codes), result.log[-500:]
    assert run(["analyze", str(result.path), "--config", str(config), "--format",
                "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["verdict"] == "pass"
    assert all(step["status"] != "failed" for session in document["sessions"]
               for step in session["steps"])
