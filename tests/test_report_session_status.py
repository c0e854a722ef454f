"""`sessions[].judged` and `sessions[].status` (trial 16 D6): the JSON tells a session
the text report calls "side traffic, not judged" from a judged one, and gives each
session the status its text header starts with (docs/json.md, docs/cli.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console
from stored import case_analysis, stored_cases

from flowcheck.pipeline import Analysis
from flowcheck.regress import Case
from flowcheck.report.analyze import render_analysis
from flowcheck.report.json_doc import analysis_document

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
PROBES = CAPTURES / "ndmjob-probes" / "probes-10000-media.pcap.gz"
# The text header's first words -> the JSON's status.
TEXT_STATUS = {"FAILED": "failed", "UNKNOWN": "unknown", "ok": "ok",
               "ended before capture": "ended", "side traffic": "side_traffic"}
_HEADER = re.compile(r"^(FAILED|UNKNOWN|ok|ended before capture|side traffic)  Session (S\d+): ")


def _analysis(capture: Path, config_path: Path | None) -> Analysis:
    return case_analysis(capture, config_path)  # shared: the tests only read it


def _text_statuses(analysis: Analysis) -> dict[str, str]:
    console = Console(record=True, width=400, color_system=None)
    render_analysis(analysis, console, all_sessions=True)
    found = (_HEADER.match(line) for line in console.export_text().splitlines())
    return {m.group(2): TEXT_STATUS[m.group(1)] for m in found if m}


def test_side_traffic_sessions_are_not_judged() -> None:
    """Probes of port 10000 beside a configured job: S2, S4 and S6 were refused (step 1
    `failed`, no error finding, verdict pass): not judged, status side_traffic."""
    document = analysis_document(_analysis(PROBES, PROBES.with_name("probes-10000-media.toml")))
    sessions = {s["id"]: s for s in document["sessions"]}
    assert document["verdict"] == "pass"
    assert sessions["S1"]["judged"] is True and sessions["S1"]["status"] == "ok"
    for sid in ("S2", "S4", "S6"):
        assert sessions[sid]["steps"][0]["status"] == "failed"
        assert sessions[sid]["judged"] is False and sessions[sid]["status"] == "side_traffic"
    assert not [f for f in document["findings"] if f["severity"] == "error"]
    assert all(s["judged"] is (s["status"] != "side_traffic") for s in sessions.values())


@pytest.mark.parametrize("case", stored_cases(),
                         ids=lambda case: str(case.capture.relative_to(CAPTURES)))
def test_json_status_is_the_text_reports(case: Case) -> None:
    analysis = _analysis(case.capture, case.config_path)
    document = analysis_document(analysis)
    assert {s["id"]: s["status"] for s in document["sessions"]} == _text_statuses(analysis)
