"""`firewall` and `plan`: pure functions of the configuration, through the real CLI."""

from __future__ import annotations

import json

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


def test_plan_fits_and_does_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["plan", "--resources", "5", "--media-range", "5001-5012",
                "--agent-range", "6001-6010", "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert plan["jobs_per_hold_period"] == 2  # 12 // 6 media, 10 // 5 agent
    assert run(["plan", "--resources", "5", "--media-range", "5001-5005",
                "--agent-range", "6001-6100"]) == 1


def test_plan_counts_overlapping_ranges_as_one_pool(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["plan", "--resources", "2", "--media-range", "5001-5010",
                "--agent-range", "5001-5010", "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert plan["shared_ports"] == 10
    assert plan["jobs_per_hold_period"] == 2  # 10 ports // (3 + 2)


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
