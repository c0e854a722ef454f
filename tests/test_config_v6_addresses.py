"""IPv6 forms of configured hosts and dual-stack backup networks (new-user trial 28: D11
IPv4-mapped addresses, D12 zone ids, D13 a second --backup-network silently dropped)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from flowcheck.cli.main import run
from flowcheck.config import build_config, load_file
from flowcheck.errors import UsageError

STORED = Path(__file__).resolve().parent.parent / "captures" / "lab-trial28-addresses"
# Control over IPv6 (fd77::1 -> fd77::2), callback and data over IPv4 (10.77.0.x).
DUALSTACK = STORED / "dualstack-v6ctl-v4data.pcap.gz"


@pytest.mark.parametrize(("given", "read"), [
    ("::ffff:10.77.0.2", "10.77.0.2"),   # ss / netstat on a dual-stack socket
    ("::FFFF:a4d:2", "10.77.0.2"),
    ("fe80::b4d7:8ff:fef0:4399%m0", "fe80::b4d7:8ff:fef0:4399"),  # ip addr, Linux
    ("fe80::b4d7:8ff:fef0:4399%12", "fe80::b4d7:8ff:fef0:4399"),  # ipconfig, Windows
    ("FD77::0:1", "fd77::1"),
])
def test_a_configured_host_is_the_address_the_wire_carries(given: str, read: str) -> None:
    """A mapped address is its IPv4 host (RFC 4291 2.5.5.2: the wire carries IPv4), a
    zone id is dropped (a capture carries none): both must match the captured host."""
    for key in ("media_servers", "remote_agents"):
        assert getattr(build_config({key: [given]}), key) == (read,)
        assert getattr(build_config(flag_values={key: [given]}), key) == (read,)


def test_mapped_and_zoned_hosts_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text('media_servers = ["::ffff:10.77.0.1", "FD77::1"]\n'
                    'remote_agents = ["fe80::b4d7:8ff:fef0:4399%12"]\n')
    config = build_config(load_file(path))
    assert config.media_servers == ("10.77.0.1", "fd77::1")
    assert config.remote_agents == ("fe80::b4d7:8ff:fef0:4399",)


def test_firewall_rules_for_mapped_hosts_are_ipv4_rules(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Trial 28 D11: `ip6 saddr { ::ffff:a4d:1 }` never matches (the traffic is IPv4), and
    a mapped media server with an IPv4 agent was "cannot join IPv6 to IPv4"."""
    assert run(["firewall", "--media-server", "::ffff:10.77.0.1", "--remote-agent",
                "10.77.0.2", "--target", "nft"]) == 0
    out = capsys.readouterr().out
    assert "ip saddr { 10.77.0.1 } ip daddr { 10.77.0.2 }" in out
    assert "ffff" not in out and "ip6" not in out


def test_firewall_rules_for_zoned_hosts_have_no_zone(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["firewall", "--media-server", "fe80::4c6d:7fff:fec2:5031%m0",
                "--remote-agent", "fe80::b4d7:8ff:fef0:4399%12", "--target", "nft"]) == 0
    out = capsys.readouterr().out
    assert "ip6 saddr { fe80::4c6d:7fff:fec2:5031 }" in out and "%" not in out


def test_mapped_configured_hosts_match_the_job(capsys: pytest.CaptureFixture[str]) -> None:
    """Trial 28 D11: configured as ::ffff:10.77.0.1 / ::ffff:10.77.0.2, the hosts were
    "not among the configured media servers (::ffff:a4d:1)": now read as configured by
    their IPv4 addresses, word for word."""
    reports = []
    for media, agent in (("::ffff:10.77.0.1", "::ffff:10.77.0.2"), ("10.77.0.1", "10.77.0.2")):
        run(["analyze", str(DUALSTACK), "--format", "json", "--media-server", media,
             "--remote-agent", agent])
        reports.append(json.loads(capsys.readouterr().out))
    mapped, plain = reports
    assert mapped["findings"] == plain["findings"] and mapped["config"] == plain["config"]
    assert "the same session shows its media server at 10.77.0.1 too" in json.dumps(
        mapped["findings"])


def test_backup_networks_repeatable_and_comma_separated() -> None:
    """Trial 28 D13: a second --backup-network silently replaced the first; a dual-stack
    backup NIC has an IPv4 network and an IPv6 prefix, and both are kept."""
    both = (ipaddress.ip_network("10.77.0.0/24"), ipaddress.ip_network("fd77::/64"))
    for flags in (["10.77.0.0/24", "fd77::/64"], ["10.77.0.0/24,fd77::/64"]):
        config = build_config(flag_values={"backup_network": flags})
        assert config.backup_network == both
        assert config.as_dict()["backup_network"] == "10.77.0.0/24,fd77::/64"
    assert build_config({"backup_network": ["10.77.0.0/24", "fd77::/64"]}
                        ).backup_network == both


@pytest.mark.parametrize(("value", "words"), [
    (["10.77.0.0/24", "10.77.0.0/16"], "10.77.0.0/24 lies inside 10.77.0.0/16, also given"),
    ([], "no network given"),
    ("10.77.0.0/24,", "empty item"),
    (["10.77.0.0/24", 5], "5 is not a CIDR network"),
    (["10.77.0.0/24", "10.77.0.1/24"], "has host bits set: give the network, 10.77.0.0/24"),
])
def test_bad_backup_network_lists(value: object, words: str) -> None:
    with pytest.raises(UsageError, match="backup_network: .*" + words.replace("/", ".")):
        build_config({"backup_network": value})


@pytest.mark.parametrize("order", [["10.77.0.0/24", "fd77::/64"], ["fd77::/64", "10.77.0.0/24"]])
def test_a_dual_stack_job_inside_its_dual_stack_backup_network(
        order: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Control over IPv6 (fd77::/64), callback and data over IPv4 (10.77.0.0/24): inside."""
    argv = ["analyze", str(DUALSTACK), "--format", "json"]
    for network in order:
        argv += ["--backup-network", network]
    code = run(argv)
    report = json.loads(capsys.readouterr().out)
    assert code == 0, [f["message"] for f in report["findings"]]
    assert report["config"]["backup_network"] == ",".join(order)


def test_outside_a_dual_stack_backup_network_names_the_network_of_its_version(
        capsys: pytest.CaptureFixture[str]) -> None:
    run(["analyze", str(DUALSTACK), "--format", "json", "--backup-network",
         "fd77::/64,10.78.0.0/24"])
    report = json.loads(capsys.readouterr().out)
    found = [f for f in report["findings"] if f["code"] == "control_off_backup_network"]
    assert found and all("10.78.0.0/24" in f["message"] and "fd77::/64" not in f["message"]
                         for f in found)
