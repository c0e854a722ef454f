"""`flowcheck firewall`'s forward rules applied exactly as printed on a router between the
hosts that already drops the job's port ranges, then a real lab job through it.

Three namespaces: M (10.79.0.1) -- router R (10.79.0.254 / 10.79.1.254, forwarding) -- A
(10.79.1.2), M's and A's dynamic ports in the media and agent ranges. R's forward chain
drops TCP to the media and agent ranges (no ct state: the replies to M's and A's own
ports in those ranges die too), as trial 17's B3 router did; M and A filter nothing. The
JSON `forward` list, each line run exec-style (shlex.split) in R, must let a Backup Exec
lab job (control, callback, data) through (trial 17, D3: the host rules alone left the
router's drop in place). Root, namespaces: marked `lab`.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from router_lab import routed_namespaces, sh

from flowcheck.cli.main import run

pytestmark = pytest.mark.lab

M, R_M, R_A, A = "10.79.0.1", "10.79.0.254", "10.79.1.254", "10.79.1.2"
MEDIA, AGENT = "5001-5100", "6001-6100"
ROUTER_DROPS = {
    "nft": ("nft add table inet filter",
            "nft add chain inet filter forward { type filter hook forward priority 0 ; "
            "policy accept ; }",
            "nft add rule inet filter forward tcp dport 5001-5100 drop",
            "nft add rule inet filter forward tcp dport 6001-6100 drop"),
    "iptables": ("iptables -A FORWARD -p tcp --dport 5001:5100 -j DROP",
                 "iptables -A FORWARD -p tcp --dport 6001:6100 -j DROP"),
}


@pytest.fixture
def routed() -> Iterator[dict[str, str]]:
    """The three namespaces, by host letter; deleted afterwards."""
    with routed_namespaces(f"fcfw{os.getpid()}", M, R_M, R_A, A) as names:
        sh("ip", "netns", "exec", names["m"], "sysctl", "-qw",
           "net.ipv4.ip_local_port_range=5001 5100")
        sh("ip", "netns", "exec", names["a"], "sysctl", "-qw",
           "net.ipv4.ip_local_port_range=6001 6100")
        yield names


def _job(names: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A Backup Exec lab job: the agent in A, the media server in M (2 resources)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    agent = subprocess.Popen(["ip", "netns", "exec", names["a"], sys.executable, "-m",
                              "flowcheck.lab", "agent", "--agent-range", AGENT,
                              "--sessions", "1", "--bytes", "20000"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    try:
        for _ in range(100):  # until the agent listens on its NDMP port
            listening = subprocess.run(["ip", "netns", "exec", names["a"], "ss", "-Htln",
                                        "sport = :10000"], capture_output=True, text=True,
                                       check=False)
            if listening.stdout.strip():
                break
            subprocess.run(["sleep", "0.1"], check=False)
        return subprocess.run(["ip", "netns", "exec", names["m"], sys.executable, "-m",
                               "flowcheck.lab", "media", "--agent", A, "--media-range",
                               MEDIA, "--resources", "2",
                               "--connect-timeout", "3"],
                              env=env, capture_output=True, text=True, timeout=60,
                              check=False)
    finally:
        agent.kill()
        agent.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")
@pytest.mark.parametrize("target", ["nft", "iptables"])
def test_printed_forward_rules_let_the_job_through_a_router_that_drops(
        target: str, routed: dict[str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which(target) is None or shutil.which("ss") is None:
        pytest.skip(f"{target} or ss is not installed")
    config = tmp_path / "job.toml"
    config.write_text(f'profile = "backup-exec-9"\nmedia_servers = ["{M}"]\n'
                      f'remote_agents = ["{A}"]\nmedia_range = "{MEDIA}"\n'
                      f'agent_range = "{AGENT}"\n')
    assert run(["firewall", "--format", "json", "--target", target, "--config",
                str(config)]) == 0
    forward = json.loads(capsys.readouterr().out)["forward"][target]
    # nft's list starts by creating the table (and the forward chain) where missing.
    assert forward and all(" FORWARD " in line or " forward " in line
                           or line == "nft add table inet filter" for line in forward)
    for line in ROUTER_DROPS[target]:
        sh("ip", "netns", "exec", routed["r"], *shlex.split(line))
    blocked = _job(routed)
    assert blocked.returncode != 0, "the router's drop should break the job"
    for line in forward:
        sh("ip", "netns", "exec", routed["r"], *shlex.split(line))
    job = _job(routed)
    assert job.returncode == 0, (job.stdout + job.stderr)[-500:]
