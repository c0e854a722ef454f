"""A busy media server's failing sessions, one block per cause, agent and fix (field check
trial 35 D5).

captures/trial35-many (README): 12 failing sessions of 3 agents, interleaved in time.
The text report's summary gave each its own cause/fix block in time order (A2, A2, A5,
A2, A5, A12, ...: 10 nearly identical blocks, then "... and 2 more"); now the sessions
with the same first error code, media server -> agent and fix share one block that names
them and their starts (report.answer.summary_blocks), so the answer fits the first
screen. The JSON keeps one finding per session.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from rich.console import Console

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, analyze_with_profile, read_traffic
from flowcheck.profiles import load_profile
from flowcheck.report.analyze import render_analysis
from flowcheck.report.html import render_html
from flowcheck.report.json_doc import analysis_document

CAPTURE = (Path(__file__).resolve().parent.parent / "captures" / "trial35-many"
           / "three-agents-failing")
AGENTS = {"10.77.0.12": ("data_unanswered", ["S1", "S2", "S4", "S8"]),
          "10.77.0.15": ("callback_refused", ["S3", "S5", "S7", "S10"]),
          "10.77.0.22": ("announced_address_mismatch", ["S6", "S9", "S11", "S12"])}


def _analysis() -> Analysis:
    config = build_config(load_file(CAPTURE.with_suffix(".toml")))
    return analyze(read_traffic([str(CAPTURE.with_suffix(".pcap"))], config), config)


def test_one_block_per_cause_agent_and_fix_naming_its_sessions() -> None:
    analysis = _analysis()
    console = Console(record=True, width=400, color_system=None, file=io.StringIO())
    render_analysis(analysis, console)
    lines = console.export_text().splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("sessions: "))
    summary = lines[1:end]
    heads = [line for line in summary if not line.startswith("    ")]
    assert len(heads) == 3, summary
    for head, (agent, (code, ids)) in zip(heads, AGENTS.items(), strict=True):
        assert head.startswith(f"  {', '.join(ids)} FAILED: 10.77.0.1 -> {agent} "
                               "(4 sessions), started 2026-"), head
        assert len(re.findall(r"Z \(\+\d+\.\d{3}s\)", head)) == 4  # each one's start
        assert f"; {code}" in head
    assert [line.split()[0] for line in summary
            if line.startswith(("    cause:", "    fix:"))] == ["cause:", "fix:"] * 3
    assert not any("as for S" in line or "more:" in line for line in summary)
    # Nearly fits the first screen of a 120x24 terminal: verdict, 3 blocks, the counts
    # (it took 50 lines; 24 with each fix cut to a gist, 27 since each is its first
    # sentence whole: newuser56, a cut fix left out its return rule's qualifier).
    narrow = Console(record=True, width=120, color_system=None, file=io.StringIO())
    render_analysis(analysis, narrow)
    screen = narrow.export_text().splitlines()[:27]
    assert any(line.startswith("sessions: 12 failed") for line in screen), screen


def test_the_json_keeps_one_finding_per_session() -> None:
    document = json.loads(json.dumps(analysis_document(_analysis()), default=str))
    for code, ids in AGENTS.values():
        sessions = [f["session"] for f in document["findings"] if f["code"] == code]
        assert sorted(set(sessions), key=lambda s: int(s[1:])) == ids


def test_the_html_summary_has_the_same_blocks_each_id_linked() -> None:
    html = render_html(_analysis())
    summary = re.search(r'<ul class="summary">(.*?)</ul>', html, re.S)
    assert summary is not None
    items = re.findall(r'<li class="failed">(.*?)</li>', summary.group(1), re.S)
    assert len(items) == 3, items  # was one per session (12)
    for item, (agent, (code, ids)) in zip(items, AGENTS.items(), strict=True):
        assert re.findall(r'<a href="#session-(S\d+)">', item) == ids
        assert f"10.77.0.1 -&gt; {agent} (4 sessions)" in item and f"; {code}" in item
        assert item.count("cause:</span>") == 1 and item.count("fix:</span>") == 1


def test_blocks_of_the_jobs_own_errors_come_before_the_default_profiles() -> None:
    """ndmjob-night/night-datadrop analysed with no configuration: no profile given and
    no Backup Exec sign, so the ndmp profile judges it (profile_inferred, new-user trial
    54): S10 fails on its own announced_not_used, the 19 good jobs pass. Read with the
    default profile kept (analyze_with_profile: what analyze does where the capture does
    not read as plain NDMP), they fail only on Backup Exec's missing callback and data
    connections opened the other way (errors that hold under the default profile only:
    Finding.under_default): S10's block heads the summary, in the text and in the HTML
    report, as its finding heads the findings (pipeline.finding_order); it came fourth,
    after three blocks of the profile's."""
    capture = (Path(__file__).resolve().parent.parent / "captures" / "ndmjob-night"
               / "night-datadrop.pcap.gz")
    config = build_config({})
    traffic = read_traffic([str(capture)], config)
    inferred = analyze(traffic, config)
    assert "profile_inferred" in {f.code for f in inferred.findings}
    assert [s.id for s in inferred.sessions
            if any(step.status == "missing" for step in s.steps)] == ["S10"]
    analysis = analyze_with_profile(traffic, config, load_profile(config.profile))
    console = Console(record=True, width=400, color_system=None, file=io.StringIO())
    render_analysis(analysis, console)
    lines = console.export_text().splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("sessions: "))
    heads = [line for line in lines[1:end] if not line.startswith("    ")]
    assert len(heads) == 4
    assert heads[0].startswith("  S10 FAILED: 10.77.0.1 -> 10.77.1.4 (control C19)")
    assert "announced_not_used" in heads[0]
    assert all(head.startswith("  S1, S4") or "step_missing, step_out_of_order" in head
               for head in heads[1:])
    assert heads[1].startswith("  S1, S4, S5")  # the others keep capture order
    html = render_html(analysis)
    assert html.index("#session-S10") < html.index("#session-S1\"")
