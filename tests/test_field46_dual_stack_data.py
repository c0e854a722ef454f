"""Field check 46 (captures/field46-matrix, README.md there): dual-stack jobs whose
control connection runs over IPv6 and whose data connections, NDMP v4 announcing IPv4
only, run to the agent's IPv4 address. A failed data connection to that address read
announced_address_mismatch ("make the agent announce an IPv4 address of its own"),
though the address is proven the agent's own: its callback came from it, the session's
other data connections to it worked. It now reads as the same fault in IPv4: the
router's ICMP net unreachable and the agent's own RST (its port in use) are data_refused,
and agent_not_seen no longer names the agent's IPv4 address, which the callback used.

Real lab captures (the lab's fault matrix, seeds 91 and 93), each with its .toml.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowcheck.cli.main import run

STORED = Path(__file__).resolve().parent.parent / "captures" / "field46-matrix"


def _analyze(stem: str, capsys: pytest.CaptureFixture[str]) -> dict:
    case = STORED / stem
    run(["analyze", str(case.with_suffix(".pcap")), "--config", str(case.with_suffix(".toml")),
         "--format", "json"])
    return json.loads(capsys.readouterr().out)


def _codes(report: dict, severity: str) -> list[str]:
    return sorted(f["code"] for f in report["findings"] if f["severity"] == severity)


def test_router_net_unreachable_reads_data_refused(capsys: pytest.CaptureFixture[str]
                                                   ) -> None:
    """The router 10.77.0.254 rejects the three data SYNs to 10.77.1.2 with ICMP network
    unreachable; 10.77.1.2 is the agent's (its callback C2 came from it): data_refused
    naming the router, not the address."""
    report = _analyze("data-router-net-unreachable-dual-stack", capsys)
    assert report["verdict"] == "fail"
    assert _codes(report, "error") == ["data_refused"] * 3
    refused = [f for f in report["findings"] if f["code"] == "data_refused"]
    assert all("10.77.0.254" in f["message"] for f in refused)
    assert all("forward chain of 10.77.0.254" in f["fix"] for f in refused)
    # Why the IPv4 address is no fault: the callback came from it.
    assert "10.77.1.2 is the agent's own IPv4 address (its callback C2 came from it)" \
        in refused[0]["message"]


def test_callback_address_counts_as_seen(capsys: pytest.CaptureFixture[str]) -> None:
    """10.77.1.2, configured beside fd77:1::2, is the address the session's callback came
    from: agent_not_seen does not name it ("not seen" though its callback came from it)."""
    report = _analyze("data-router-net-unreachable-dual-stack", capsys)
    assert "agent_not_seen" not in [f["code"] for f in report["findings"]]
    step2 = report["sessions"][0]["steps"][1]
    assert step2["status"] == "ok" and "10.77.1.2" in step2["detail"]


def test_port_in_use_reads_data_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """The agent's port 6001 held by another socket: its RST refuses the SYN to
    10.77.1.2:6001 while the four other data connections to 10.77.1.2 carry the data, and
    the callback came from it: data_refused (the port in use), not "10.77.1.2 is not the
    agent ... but another remote agent as configured"."""
    report = _analyze("data-port-in-use-dual-stack", capsys)
    assert report["verdict"] == "fail"
    assert _codes(report, "error") == ["data_refused"]
    refused = next(f for f in report["findings"] if f["code"] == "data_refused")
    assert "10.77.1.2:6001 answered the SYN with a RST" in refused["message"]
    assert "already in use" in refused["message"]
    assert "find what holds TCP port 6001" in refused["fix"]
    assert "another remote agent" not in json.dumps(report["findings"])
    assert "agent_not_seen" not in [f["code"] for f in report["findings"]]
