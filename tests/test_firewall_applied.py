"""`flowcheck firewall`'s rules applied exactly as printed, then a real job through them.

Both lab hosts get input and output policies that drop (loopback accepted, as any host
needs), then every line of the JSON rule list for their role, each run exec-style
(shlex.split, as Ansible's `command:`), then a lab job: the Backup Exec peers under
backup-exec-9, ndmjob's three-way backup under ndmp. The job must succeed and flowcheck
must pass its capture (trial 16, D1: without an output return-traffic rule the agent's
SYN-ACK died in its own output chain; the iptables line carried a `#` comment that
iptables rejects as an argument). With `existing = "drop rules"` each host also already
has a rule dropping every port range it is reached on (the callback's media range, the
data connection's range; no ct state, so a reply to a port in the range is dropped too),
as trial 17 set them: the printed rules must land ahead of it (trial 17, D1: appended
accepts below such a drop changed nothing). The lab's NDMP peers speak IPv4 only (NDMP v4's
addresses are IPv4), so the IPv6 rules (nft `ip6`, ip6tables) carry the sequence's
connections opened with plain sockets instead: each path of required_paths, a request and
its answer. Root, namespaces, tcpdump: marked `lab`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowcheck.cli.main import run
from flowcheck.config import build_config, load_file
from flowcheck.lab.capture import capture_scenario, write_sidecar
from flowcheck.lab.netns import Lab, lab_network
from flowcheck.lab.scenarios import SCENARIOS
from flowcheck.lab.shell import run as lab_run
from flowcheck.rules import required_paths

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
    "ip6tables": ("ip6tables -A INPUT -i lo -j ACCEPT", "ip6tables -A OUTPUT -o lo -j ACCEPT",
                  "ip6tables -P INPUT DROP", "ip6tables -P OUTPUT DROP"),
}
# The rule a host already has, appended after its policies, per port range `lo`-`hi`.
EXISTING_DROP = {
    "nft": "nft add rule inet filter {chain} tcp dport {lo}-{hi} drop",
    "iptables": "iptables -A {chain} -p tcp --dport {lo}:{hi} -j DROP",
}
JOBS = {
    "backup-exec-9": SCENARIOS["clean-3-resources"],
    # ndmjob's DMA in M with its resident tape agent; A's data agent connects to M's
    # mover (MOVER_LISTEN + DATA_CONNECT). Killed after 60 s should a rule be missing.
    "ndmp": dataclasses.replace(SCENARIOS["v4-backup-port-10500"], kill_after=60),
}


def _printed_rules(target: str, config: Path,
                   capsys: pytest.CaptureFixture[str]) -> dict[str, list[str]]:
    """`flowcheck firewall --format json --target TARGET --config CONFIG`: per host role,
    the rule lines."""
    assert run(["firewall", "--format", "json", "--target", target, "--config",
                str(config)]) == 0
    return json.loads(capsys.readouterr().out)["rules"][target]


def _existing_drops(target: str, config: Path) -> dict[str, list[str]]:
    """Per host role, drop rules for the ranges (not the NDMP port) the sequence's
    connections reach that host on: on input, as trial 17's breakages."""
    drops: dict[str, list[str]] = {"media server": [], "remote agent": []}
    chain = "input" if target == "nft" else "INPUT"
    for path in required_paths(build_config(load_file(config))):
        for lo, hi in path.ports:
            if lo != hi:
                drops[path.destination_role].append(
                    EXISTING_DROP[target].format(chain=chain, lo=lo, hi=hi))
    return drops


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")
@pytest.mark.parametrize("existing", ["policies", "drop rules"])
@pytest.mark.parametrize("target", ["nft", "iptables"])
@pytest.mark.parametrize("profile", ["backup-exec-9", "ndmp"])
def test_printed_rules_let_the_job_through_drop_policies(
        target: str, profile: str, existing: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which(target) is None:
        pytest.skip(f"{target} is not installed")
    scenario = JOBS[profile]
    assert scenario.sidecar()["profile"] == profile
    config = tmp_path / "job.toml"
    write_sidecar(config, scenario)
    rules = _printed_rules(target, config, capsys)
    drops = (_existing_drops(target, config) if existing == "drop rules"
             else {"media server": [], "remote agent": []})
    assert existing == "policies" or all(drops.values())
    commands = tuple((host, line) for host, role in (("m", "media server"),
                                                      ("a", "remote agent"))
                     for line in (*DROP_POLICIES[target], *drops[role], *rules[role]))
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


M6, A6 = "2001:db8:77::1", "2001:db8:77::2"
# One connection of the sequence: the destination listens on the first free port of the
# range, says which, accepts, reads "ping", answers "pong". The first port may be taken:
# the lab sets each host's ephemeral range to its dynamic range, so the agent's own
# connection of step 2 may have left its source port 6001 in TIME_WAIT (EADDRINUSE).
LISTEN = """import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
for port in range(int(sys.argv[2]), int(sys.argv[3]) + 1):
    try:
        s.bind((sys.argv[1], port)); break
    except OSError:
        if port == int(sys.argv[3]): raise
s.listen(1); s.settimeout(15)
print("ready", port, flush=True)
c, _ = s.accept(); c.settimeout(5)
c.sendall(b"pong" if c.recv(4) == b"ping" else b"bad!")
"""
# Both scripts run by an interpreter without `site` (-S): they need only the standard
# library, and site's work (site-packages, the editable installs' finders) was more than
# half of each start's CPU (20 starts: 1.5 CPU-s, -S 0.65), two starts a path of each test.
_PYTHON = (sys.executable, "-S", "-c")
CONNECT = """import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
c.sendall(b"ping"); c.settimeout(3); print(c.recv(4).decode())
"""


def _ipv6_link(lab: Lab) -> None:
    """M6 on M's backup link, A6 on A's. The hosts find each other by neighbour
    discovery, as any IPv6 host does: the printed rules must let it through (trial 28
    D3: with input and output policies of drop, the solicitations were dropped and the
    job failed with "No route to host"; this test used to add each other's MAC as a
    permanent neighbour)."""
    for host, ifname, address in _ipv6_ends(lab):
        lab_run(lab.exec_argv(host, ["ip", "addr", "add", f"{address}/64", "dev", ifname,
                                     "nodad"]))


def _ipv6_ends(lab: Lab) -> tuple[tuple[str, str, str], ...]:
    """(host, its backup link's interface, its IPv6 address) of M and A."""
    link = lab.backup_link
    return ("m", link.media_if, M6), ("a", link.agent_if, A6)


def _ipv6_usable(lab: Lab) -> None:
    """Until the link's carrier is up (the kernel tells it up to a second late) an address
    stays tentative, nodad or not, and cannot be bound (under load the listener failed
    so: EADDRNOTAVAIL): wait until neither end's is."""
    deadline = time.monotonic() + 20
    for host, ifname, _ in _ipv6_ends(lab):
        while lab_run(lab.exec_argv(host, ["ip", "-6", "addr", "show", "dev", ifname,
                                           "tentative"])).stdout.strip():
            assert time.monotonic() < deadline, f"{ifname}: IPv6 address still tentative"
            time.sleep(0.05)


def _listen(lab: Lab, host: str, address: str, ports: tuple[int, int]
            ) -> tuple[subprocess.Popen, int]:
    """The one-connection listener on `host` once it listens, and the port of `ports`
    (first, last) it listens on."""
    listener = subprocess.Popen(lab.exec_argv(host, [*_PYTHON, LISTEN, address,
                                                     *map(str, ports)]),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert listener.stdout is not None
    words = listener.stdout.readline().split()
    if words[:1] == ["ready"]:
        return listener, int(words[1])
    listener.kill()
    error = listener.communicate(timeout=30)[1].strip() or f"exit {listener.returncode}"
    raise AssertionError(f"the listener on {address} ports {ports} did not start: {error}")


def _connect(lab: Lab, source: str, destination: str, address: str,
             ports: tuple[int, int]) -> str:
    """A connection from host `source` to `address` on host `destination`, at a port of
    `ports`; what the client printed ("pong" when request and answer both passed) or its
    error."""
    listener, port = _listen(lab, destination, address, ports)
    try:
        client = subprocess.run(lab.exec_argv(source, [*_PYTHON, CONNECT,
                                                       address, str(port)]),
                                capture_output=True, text=True, timeout=30, check=False)
        return client.stdout.strip() or client.stderr.strip().splitlines()[-1]
    finally:
        listener.kill()
        listener.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")
@pytest.mark.parametrize("target", ["nft", "iptables"])
@pytest.mark.parametrize("profile", ["backup-exec-9", "ndmp"])
@pytest.mark.parametrize("addresses", [True, False])
def test_printed_ipv6_rules_carry_the_sequence_through_drop_policies(
        target: str, profile: str, addresses: bool, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Without addresses too: the rules then match any host, and iptables' come for
    ip6tables as well (new-user trial: IPv4's only, silently, while nft's `inet` rules
    cover both)."""
    if shutil.which(target) is None or (target == "iptables" and not shutil.which("ip6tables")):
        pytest.skip(f"{target} is not installed")
    config_path = tmp_path / "job.toml"
    hosts = f'media_servers = ["{M6}"]\nremote_agents = ["{A6}"]\n' if addresses else ""
    config_path.write_text(f'profile = "{profile}"\n{hosts}media_range = "5001-5100"\n'
                           f'agent_range = "6001-6100"\n')
    rules = _printed_rules(target, config_path, capsys)
    if target == "iptables" and addresses:
        assert all(line.startswith("ip6tables ") for lines in rules.values()
                   for line in lines)
    hosts = {"media server": "m", "remote agent": "a"}
    addresses = {"m": M6, "a": A6}
    with lab_network() as lab:
        _ipv6_link(lab)
        setup = "nft" if target == "nft" else "ip6tables"
        for role, host in hosts.items():
            for line in (*DROP_POLICIES[setup], *rules[role]):
                lab_run(lab.exec_argv(host, shlex.split(line)))
        _ipv6_usable(lab)  # the rules were applied while the carrier came up
        for path in required_paths(build_config(load_file(config_path))):
            source, destination = hosts[path.source_role], hosts[path.destination_role]
            answer = _connect(lab, source, destination, addresses[destination],
                              path.ports[0])
            assert answer == "pong", f"{path.name}: {answer}"
