"""Announced addresses beside IPv6 (new-user trial 28): D4 an IPv4 address announced beside
a control connection over IPv6 and reached over IPv6 at the same port was "a NAT rewrote
the address" with a fix NDMP cannot carry out; D6 IPv4-mapped addresses in IPv6 headers
were not the announced IPv4 endpoint; D8 a DATA_LISTEN reply of an address type
flowcheck cannot read hid the data connections that followed ("no data moved").

Real captures of the trial's lab (flowcheck's lab peers over IPv6 sockets) and its
rewrites, in captures/lab-trial28-addresses (README.md there).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowcheck.cli.main import run

STORED = Path(__file__).resolve().parent.parent / "captures" / "lab-trial28-addresses"
RANGES = ["--media-range", "5001-5100", "--agent-range", "6001-6100"]


def _analyze(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    run(["analyze", str(path), "--format", "json", *RANGES, *extra])
    return json.loads(capsys.readouterr().out)


def _errors(report: dict) -> list[str]:
    return sorted(f["code"] for f in report["findings"] if f["severity"] == "error")


def _step(report: dict, number: int) -> dict:
    return report["sessions"][0]["steps"][number - 1]


def _said(report: dict) -> str:
    return json.dumps([report["findings"], report["sessions"]])


def test_unknown_address_type_does_not_hide_the_data_connections(
        capsys: pytest.CaptureFixture[str]) -> None:
    """D8: both DATA_LISTEN replies of allv6-wire with address type 4 (NDMP defines 0-3;
    a vendor's IPv6 extension): the announcements are there and the data moved; it
    was step_missing, "no data connection opened, so no data moved" and "capture the
    whole job from its start"."""
    report = _analyze(STORED / "v6-addrtype-4.pcap.gz", capsys)
    assert report["verdict"] == "pass", _said(report)
    assert [_step(report, n)["status"] for n in (3, 4, 5)] == ["ok", "ok", "ok"]
    assert ("DATA_LISTEN replies (frames 21, 250) answered NDMP_NO_ERR with address type 4, "
            "which flowcheck cannot read") in _step(report, 3)["detail"]
    assert "C3 matched by direction and ports" in _step(report, 4)["detail"]
    assert "400000 B agent -> media server" in _step(report, 5)["detail"]
    codes = [f["code"] for f in report["findings"]]
    assert "unannounced_connection" not in codes and "step_missing" not in codes
    undecodable = next(f for f in report["findings"] if f["code"] == "ndmp_undecodable")
    assert "address type 4, which flowcheck cannot read" in undecodable["message"]
