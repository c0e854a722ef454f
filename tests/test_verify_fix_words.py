"""Fixes that fix (trial 20 D5, D6): on real flowcheck.lab jobs (captures/lab).

- D5 a: port_reused_within_hold in a range with room to spare asked to make the range
  "large enough" and pointed at a range_too_small the report did not have;
- D5 c: "free it or widen the range" named no host, port or command;
- D5 d: no fix pointed at `flowcheck firewall`, which prints the rules a fix describes;
- D6: with no configuration (the ranges flowcheck's defaults, 1025-65535) the fixes said
  "widen" 1025-65535, "free ports in 1025-65535" and opened it both ways; the
  ILLEGAL_STATE_ERR of a DATA_LISTEN was read as a port that could not be opened.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def _findings(name: str, *, configured: bool = True) -> list[Finding]:
    config = build_config(load_file(LAB / f"{name}.toml") if configured else {})
    analysis = analyze(read_traffic([str(LAB / f"{name}.pcap")], config), config)
    return [f for f in analysis.findings if str(f.severity) != "info"]


def test_reuse_in_a_range_with_room_asks_for_nothing_but_a_failed_bind() -> None:
    findings = _findings("port-reused-within-hold")
    assert {f.code for f in findings} == {"port_reused_within_hold"}
    for finding in findings:
        assert "range_too_small" not in finding.fix, finding.fix
        assert "large enough" not in finding.fix and "Widen" not in finding.fix
        assert "Nothing to change in the range" in finding.fix
        assert "has 100 ports" in finding.fix
    [media] = [f for f in findings if "10.77.0.1:5001" in f.message]
    assert "on 10.77.0.1 find what holds TCP port 5001" in media.fix, media.fix
    assert "`netstat -ano | findstr :5001`" in media.fix
    assert "`ss -tanp 'sport = :5001'`" in media.fix


def test_a_port_in_use_names_the_host_the_port_and_the_commands() -> None:
    [refused] = _findings("data-port-in-use")
    assert refused.code == "data_refused"
    assert "free it or widen" not in refused.fix
    assert "on 10.77.0.2 find what holds TCP port 6001 and stop it" in refused.fix, refused.fix
    assert "`netstat -ano | findstr :6001`" in refused.fix
    assert "`ss -tanp 'sport = :6001'`" in refused.fix


@pytest.mark.parametrize("name", ["data-port-in-use", "callback-blocked", "data-port-dropped"])
def test_an_allow_rule_points_at_flowcheck_firewall(name: str) -> None:
    [error] = [f for f in _findings(name) if f.code.endswith(("refused", "unanswered"))]
    assert "`flowcheck firewall --media-server 10.77.0.1 --remote-agent 10.77.0.2 " \
           "--media-range 5001-5100 --agent-range 6001-6100` prints these rules" in error.fix, \
        error.fix
    # Session 34's trial A: an accept in one nftables table left another table's drop; a
    # refusal is a reject's (newuser61 6).
    rule = "reject" if error.code.endswith("refused") else "drop"
    assert f"an accept in one nftables table or chain does not undo a {rule} in another on " \
        f"the same hook (`nft list ruleset` shows them all): remove or narrow that {rule}." \
        in error.fix


def test_a_fix_without_allow_rules_gets_no_firewall_pointer() -> None:
    findings = _findings("port-reused-within-hold")
    assert not any("flowcheck firewall" in f.fix for f in findings)


@pytest.mark.parametrize("name", ["listen-error", "data-port-in-use", "callback-blocked",
                                  "data-port-rejected"])
def test_default_ranges_ask_for_the_configured_ranges_first(name: str) -> None:
    [error] = [f for f in _findings(name, configured=False) if str(f.severity) == "error"]
    assert error.fix.startswith("First set --media-range and --agent-range to Backup Exec's "
                                "media server and remote agent TCP dynamic port ranges and "
                                "re-run"), error.fix
    rest = error.fix.split("Until then, for this job: ", 1)[1]
    assert "1025-65535" not in rest and "widen" not in rest.lower(), rest
    assert "--media-range LO-HI" in error.fix or "flowcheck firewall" not in error.fix


def test_default_ranges_name_the_ports_the_job_used() -> None:
    [blocked] = _findings("callback-blocked", configured=False)
    assert "to 10.77.0.1 port 5001 (the media port this job used)" in blocked.fix, blocked.fix
    [refused] = _findings("data-port-in-use", configured=False)
    assert "to 10.77.0.2 ports 6001-6002 (the agent ports this job used)" in refused.fix, \
        refused.fix


def test_illegal_state_is_hedged_as_ndmp_defines_it() -> None:
    [error] = _findings("listen-error", configured=False)
    assert error.code == "ndmp_error_reply"
    assert "the request is not allowed in the current state" in error.fix, error.fix
    assert "Some agents answer it when they cannot bind a data port" in error.fix
    assert "The listener could not open a data port" not in error.fix
    assert "ports 6001-6002 (the agent ports this job used)" in error.fix
