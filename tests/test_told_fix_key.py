"""Which fixes a report tells "as under the verdict" is decided by data
(report.answer._told_key: the finding's code and its connection's drawn ports,
Finding.drawn_ports), not by a pattern of the fix's words: rewording the words that say
a port is drawn anew cannot tell a rule twice, and a fix of another code is never "as
for" one it reads like (captures/newuser66-twojobs: C6 from 5004 and C8 from 5005)."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pytest
from rich.console import Console

import flowcheck.report.answer
import flowcheck.verify.allow_rules
from flowcheck.config import build_config
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.analyze import render_analysis
from flowcheck.report.answer import finding_rows

TWOJOBS = Path(__file__).resolve().parents[1] / "captures" / "newuser66-twojobs" / \
    "twojobs-s96.pcap"
RANGES = {"media_range": "5001-5100", "agent_range": "6001-6100"}


@functools.cache
def _twojobs() -> Analysis:
    config = build_config(RANGES)
    return analyze(read_traffic([str(TWOJOBS)], config), config)


def _report(analysis: Analysis) -> str:
    console = Console(width=100, record=True, color_system=None)
    render_analysis(analysis, console, ladder=None)
    return " ".join(console.export_text().split())


def test_reworded_drawn_port_words_still_tell_the_rule_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def reworded(port: int | None, *, source: bool = False) -> str:
        which = "source port" if source else "port"
        return f"a new {which}{'' if port is None else f' ({port})'} every connection"

    monkeypatch.setattr(flowcheck.verify.allow_rules, "drawn_words", reworded)
    monkeypatch.setattr(flowcheck.report.answer, "drawn_words", reworded)
    config = build_config(RANGES)
    report = _report(analyze(read_traffic([str(TWOJOBS)], config), config))
    assert "a new source port (5004) every connection" in report, report
    assert "(5005)" not in report, report  # C8's rule: as under the verdict
    assert report.count("Fix: as under the verdict (S1).") == 2, report


def test_a_fix_of_another_code_is_not_told_as_the_first() -> None:
    first = next(f for f in _twojobs().findings if f.code == "data_unanswered")
    told: dict[str, str] = {}
    given = dict(finding_rows(first, told=told, name="S1"))["fix:"]
    same = dict(finding_rows(first, told=told, name="S1"))["fix:"]
    assert same.startswith("as for S1 "), same
    other = dataclasses.replace(first, code="callback_unanswered")
    again = dict(finding_rows(other, told=told, name="S2"))["fix:"]
    assert again.split(" (see ")[0] == given.split(" (see ")[0], again


def test_only_the_connection_s_own_drawn_port_is_left_out() -> None:
    first, second = [f for f in _twojobs().findings if f.code == "data_unanswered"
                     and f.drawn_ports][:2]
    assert first.drawn_ports != second.drawn_ports
    told: dict[str, str] = {}
    finding_rows(first, told=told, name="S1")
    # The second's words without its ports as data: the port its words name is not one
    # it drew, so its rule is told whole (a pattern of words left any port out).
    swapped = dataclasses.replace(second, drawn_ports=(0, 0))
    fix = dict(finding_rows(swapped, told=told, name="S2"))["fix:"]
    assert not fix.startswith("as for "), fix
    fix = dict(finding_rows(second, told=told, name="S2"))["fix:"]
    assert fix.startswith("as for S1 "), fix
