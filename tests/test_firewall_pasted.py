"""`flowcheck firewall`'s text output pasted whole into a shell on a fresh host, and its
warnings (new-user trial).

Each output is run with `sh -e` (stops at the first line that fails) in a network
namespace the test creates and deletes: (1) on a host without an `inet filter` table,
`nft insert rule` failed "No such file or directory" and nothing said the table and
chains had to exist: the output now creates them, and on a host whose chains drop, the
policy stays drop (a chain added with `policy accept` would turn it); the heading lines
failed as commands; (2) `--target iptables` without addresses printed IPv4 rules only,
silently, while nft's `inet` rules cover both: ip6tables now gets the same rules and the
ICMPv6 an IPv6 host needs; (3) a range holding the NDMP port is warned of (standard error,
one line, exit code unchanged); (4) an address given twice is one host (iptables made
each rule twice), and a host both media server and agent is said to be a local job.
Root and nft / iptables / ip6tables: skipped without them.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from flowcheck.cli.main import run

RANGES = ["--media-range", "5001-5100", "--agent-range", "6001-6100"]
_names = itertools.count()

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


@contextmanager
def fresh_host() -> Iterator[str]:
    """A network namespace of its own (no table, no rule), deleted afterwards."""
    name = f"fwpaste-{os.getpid()}-{next(_names)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _in(host: str, *argv: str, script: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", host, *argv], input=script,
                          capture_output=True, text=True, check=False)


def _printed(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """`flowcheck firewall ARGV`'s text output and standard error (exit 0)."""
    assert run(["firewall", *argv]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def _paste(host: str, text: str) -> None:
    pasted = _in(host, "sh", "-e", script=text)
    assert pasted.returncode == 0, pasted.stderr


@needs_root
@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")
@pytest.mark.parametrize("before", ["fresh", "chains that drop"])
@pytest.mark.parametrize("hosts", [[], ["--media-server", "10.77.0.1", "--remote-agent",
                                        "10.77.0.2"]])
def test_nft_output_pasted_whole_applies(before: str, hosts: list[str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    text, _ = _printed(["--target", "nft", *RANGES, *hosts], capsys)
    assert all(line.startswith(("#", "nft ")) for line in text.splitlines() if line)
    with fresh_host() as host:
        if before != "fresh":
            _paste(host, "nft add table inet filter\n" + "".join(
                f"nft add chain inet filter {chain} '{{ type filter hook {chain} priority 0; "
                f"policy drop; }}'\nnft add rule inet filter {chain} tcp dport 22 accept\n"
                for chain in ("input", "output", "forward")))
        _paste(host, text)
        for chain in ("input", "output", "forward"):
            listed = _in(host, "nft", "list", "chain", "inet", "filter", chain).stdout
            policy = "accept" if before == "fresh" else "drop"
            assert f"policy {policy};" in listed, listed
            assert "tcp dport 22 accept" in listed or before == "fresh"
            # Both hosts' rules and the router's, each inserted ahead of what was there.
            rules = [line.strip() for line in listed.splitlines() if "accept" in line
                     and "policy" not in line]
            assert rules[0] == "ct state established,related accept"
            assert any("tcp dport 6001-6100 ct state new accept" in rule for rule in rules)


@needs_root
@pytest.mark.skipif(not (shutil.which("iptables") and shutil.which("ip6tables")),
                    reason="iptables / ip6tables are not installed")
def test_iptables_output_without_addresses_covers_ipv6(
        capsys: pytest.CaptureFixture[str]) -> None:
    text, _ = _printed(["--target", "iptables", *RANGES], capsys)
    with fresh_host() as host:
        _paste(host, text)
        for command in ("iptables", "ip6tables"):
            listed = _in(host, command, "-S").stdout
            for chain, port in (("INPUT", "6001:6100"), ("OUTPUT", "10000"),
                                ("INPUT", "5001:5100"), ("FORWARD", "10000")):
                assert re.search(rf"-A {chain} -p tcp .*--dport {port} ", listed), (
                    command, chain, port, listed)
            assert f"-A {'INPUT'} -m conntrack --ctstate RELATED,ESTABLISHED" in listed
        # The ICMPv6 the nft output has: neighbour discovery in and out (135, 136).
        listed = _in(host, "ip6tables", "-S").stdout
        for chain in ("INPUT", "OUTPUT"):
            for kind in (135, 136):
                assert f"-A {chain} -p ipv6-icmp -m icmp6 --icmpv6-type {kind} " in listed


@needs_root
@pytest.mark.skipif(shutil.which("iptables") is None, reason="iptables is not installed")
def test_an_address_given_twice_makes_each_rule_once(
        capsys: pytest.CaptureFixture[str]) -> None:
    text, err = _printed(["--target", "iptables", *RANGES, "--media-server", "10.77.0.1",
                          "--media-server", "10.77.0.1", "--remote-agent", "10.77.0.2"],
                         capsys)
    assert "10.77.0.1,10.77.0.1" not in text and err == ""
    with fresh_host() as host:
        _paste(host, text)
        # The connections' rules (each host's return-traffic rules are alike).
        rules = [rule for rule in _in(host, "iptables", "-S").stdout.splitlines()
                 if "--dport" in rule]
        assert len(rules) == len(set(rules)) > 3, rules


@needs_root
@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")
@pytest.mark.parametrize(("agents", "alone"), [(["10.77.0.1"], True),
                                               (["10.77.0.1", "10.77.0.2"], False)])
def test_a_host_both_media_server_and_agent_is_a_local_job(
        agents: list[str], alone: bool, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--media-server", "10.77.0.1", "--media-server", "10.77.0.1",
            *(word for agent in agents for word in ("--remote-agent", agent))]
    text, err = _printed(["--target", "nft", *RANGES, *argv], capsys)
    assert "10.77.0.1, 10.77.0.1" not in text
    [line] = err.splitlines()
    assert line.startswith("flowcheck: warning: 10.77.0.1 is both media server and remote "
                           "agent: a job there is local")
    assert ("needs none of the rules below" in line) is alone
    with fresh_host() as host:
        _paste(host, text)


@pytest.mark.parametrize(("command", "argv", "warned", "status"), [
    ("plan", ["--resources", "2", "--media-range", "9990-10010", "--agent-range",
              "10000-10100"], "the media range 9990-10010 and the agent range 10000-10100 "
     "hold the NDMP port 10000", 0),
    ("firewall", ["--media-range", "9990-10010", "--agent-range", "10000-10100"],
     "the media range 9990-10010 and the agent range 10000-10100 hold the NDMP port 10000", 0),
    ("firewall", ["--media-range", "5001-5100", "--agent-range", "10400-10600",
                  "--ndmp-port", "10500"], "the agent range 10400-10600 holds the NDMP port "
     "10500", 0),
    ("plan", ["--resources", "200", "--media-range", "9000-9100", "--agent-range",
              "6001-6100,10000"], "the agent range 6001-6100,10000 holds the NDMP port 10000",
     1),  # does not fit: exit 1, as without the warning
    ("firewall", RANGES, "", 0),
    ("firewall", ["--media-range", "5001-5100", "--agent-range", "6001-6100",
                  "--ndmp-port", "6050"], "the agent range 6001-6100 holds the NDMP port "
     "6050", 0),
])
def test_a_range_holding_the_ndmp_port_is_warned_of(
        command: str, argv: list[str], warned: str, status: int,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run([command, *argv]) == status
    err = capsys.readouterr().err
    if not warned:
        assert "NDMP port" not in err
        return
    [line] = err.splitlines()
    assert line.startswith(f"flowcheck: warning: {warned}: a listener given that port of "
                           "the range takes it from the NDMP service"), line
    assert "typo" in line


def test_the_default_range_is_not_said_to_hold_the_ndmp_port(
        capsys: pytest.CaptureFixture[str]) -> None:
    """1025-65535 holds 10000 too: the default-range warning alone speaks of it."""
    assert run(["firewall", "--media-range", "5001-5100"]) == 0
    [line] = capsys.readouterr().err.splitlines()
    assert "--agent-range not set" in line and "NDMP port" not in line


# firewalld's own parser (Debian's python3-firewall, for the system's python3): each rich
# rule as firewall-cmd would read it, checked; each --add-port's port.
FIREWALLD_CHECK = """import shlex, sys
from firewall.core.rich import Rich_Rule
from firewall.functions import check_port
for line in sys.stdin:
    for word in shlex.split(line.removeprefix("#   ")):
        if word.startswith("--add-rich-rule="):
            Rich_Rule(rule_str=word.split("=", 1)[1]).check()
        elif word.startswith("--add-port="):
            port, protocol = word.split("=", 1)[1].split("/")
            assert check_port(port) and protocol == "tcp", word
"""


SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, which python3-firewall installs for


def _firewalld_parser() -> bool:
    return os.path.exists(SYSTEM_PYTHON) and subprocess.run(
        [SYSTEM_PYTHON, "-c", "import firewall.core.rich"], capture_output=True,
        check=False).returncode == 0


@pytest.mark.skipif(not _firewalld_parser(), reason="python3-firewall is not installed")
@pytest.mark.parametrize("hosts", [[], ["--media-server", "10.77.0.1", "--media-server",
                                        "2001:db8::1", "--remote-agent", "10.77.0.2",
                                        "--remote-agent", "2001:db8::2", "--remote-agent",
                                        "10.77.0.3", "--profile", "ndmp"]])
def test_firewalld_rich_rules_parse(hosts: list[str],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The nft output's firewall-cmd lines for firewalld hosts, read by firewalld."""
    text, _ = _printed(["--target", "nft", *RANGES, *hosts], capsys)
    commands = [line for line in text.splitlines() if line.startswith("#   firewall-cmd ")]
    assert sum(line.endswith(" --reload") for line in commands) == 2  # one per host
    assert any("--add-rich-rule=" in line or "--add-port=" in line for line in commands)
    checked = subprocess.run([SYSTEM_PYTHON, "-c", FIREWALLD_CHECK], input="\n".join(commands),
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
