"""The ladder model (report/ladder.py, built by report/ladder_build.py) and its text and
Mermaid forms, on the lab captures."""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path

import pytest
from rich.console import Console

from flowcheck.cli.main import run
from flowcheck.config import build_config, load_file
from flowcheck.model import Finding, Severity
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.html import render_html
from flowcheck.report.ladder import Ladder, spacing
from flowcheck.report.ladder_build import build_ladders, human_bytes
from flowcheck.report.ladder_svg import render_svg
from flowcheck.report.ladder_text import ladder_width, render_ladder
from flowcheck.report.mermaid import render_mermaid

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
M, A = "10.77.0.1", "10.77.0.2"


@functools.cache
def _lab(name: str) -> Analysis:
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(LAB / f"{name}.pcap")], config), config)


def _ladder(name: str) -> Ladder:
    (ladder,) = build_ladders(_lab(name))
    return ladder


def _arrows(ladder: Ladder, kind: str) -> list:
    return [a for a in ladder.arrows if a.kind == kind]


def test_clean_job_shows_the_five_steps_in_order() -> None:
    ladder = _ladder("clean-3-resources")
    assert [(lane.role, lane.host) for lane in ladder.lanes] == [("media server", M),
                                                                 ("remote agent", A)]
    steps = [a.step for a in ladder.arrows if a.step is not None]
    assert steps[:2] == [1, 1] and steps.index(2) < steps.index(3) < steps.index(4)
    assert {a.status for a in ladder.arrows} <= {"ok", "neutral"}
    data = _arrows(ladder, "data")
    assert len(data) == 3 and all(a.step == 5 and (a.src, a.dst) == (A, M) for a in data)
    assert all(re.fullmatch(r"data 200\.\d kB in \d+ ms", a.label) for a in data)
    announced = [a.label for a in ladder.arrows if a.step == 3]
    assert announced == [f"DATA_LISTEN reply {A}:{port}" for port in (6001, 6002, 6003)]
    labels = [a.label for a in _arrows(ladder, "ndmp")]
    assert "CONNECT_OPEN v4" in labels and labels.count("DATA_START_BACKUP") == 3
    assert labels.count("NOTIFY_DATA_HALTED SUCCESSFUL") == 3
    assert any(label.startswith("CONNECT_CLIENT_AUTH TEXT") for label in labels)
    # Time goes down: every arrow with a time is no earlier than the one before it.
    times = [a.ts for a in ladder.arrows if a.ts is not None]
    assert times == sorted(times)
    assert not any(a.findings for a in ladder.arrows)


@pytest.mark.parametrize(("name", "code", "kind", "step", "repeats"), [
    ("data-port-dropped", "data_unanswered", "syn", 4, 4),
    ("callback-blocked", "callback_unanswered", "syn", 2, 4),
    ("control-dropped", "control_unanswered", "syn", 1, 4),
    ("control-refused", "control_refused", "rst", 1, 1),
    ("data-port-in-use", "data_refused", "rst", 4, 1),
    ("callback-rejected", "callback_refused", "icmp", 2, 1),
    ("data-port-rejected", "data_refused", "icmp", 4, 1),
])
def test_the_failing_arrow_carries_its_finding(name: str, code: str, kind: str, step: int,
                                               repeats: int) -> None:
    analysis = _lab(name)
    ladder = _ladder(name)
    (failing,) = [a for a in ladder.arrows if any(m.code == code for m in a.findings)]
    assert (failing.kind, failing.step, failing.status) == (kind, step, "failed")
    index = next(i for i, f in enumerate(analysis.findings, 1) if f.code == code)
    assert failing.findings[0].anchor == f"finding-{index}"
    (syn,) = [a for a in _arrows(ladder, "syn") if a.uid == failing.uid]
    assert syn.repeats == repeats and (f"\u00d7{repeats}" in syn.label) == (repeats > 1)
    if kind in ("rst", "icmp"):  # the answer comes back from the host that was called
        assert (failing.src, failing.dst) == (syn.dst, syn.src) and failing.reply


def test_a_failed_step_does_not_paint_the_connection_that_worked() -> None:
    ladder = _ladder("data-port-in-use")
    by_port = {a.label: a.status for a in _arrows(ladder, "syn") if a.step == 4}
    assert by_port == {"SYN :5002 \u2192 :6001": "failed", "SYN :5003 \u2192 :6002": "ok"}
    (data,) = _arrows(ladder, "data")
    assert data.status == "ok" and data.step == 5


def test_violated_step_and_the_agent_opening_data() -> None:
    ladder = _ladder("agent-connects-data")
    syns = [a for a in _arrows(ladder, "syn") if a.step == 4]
    assert len(syns) == 2 and all((a.src, a.status) == (A, "violated") for a in syns)
    assert any(m.code == "step_out_of_order" for a in ladder.arrows for m in a.findings)


def test_more_hosts_get_more_lanes() -> None:
    ladder = _ladder("control-off-backup-network")
    assert [(lane.role, lane.host) for lane in ladder.lanes] == [
        ("media server", "10.78.0.1"), ("media server", M),
        ("remote agent", "10.78.0.2"), ("remote agent", A)]
    assert {(a.src, a.dst) for a in _arrows(ladder, "data")} == {(A, M)}


def test_media_server_and_agent_on_one_address_keep_two_lanes() -> None:
    """A job on one machine (or a loopback test): lanes by role, never a self-arrow."""
    analysis = copy.deepcopy(_lab("data-port-in-use"))
    local = "127.0.0.1"
    for conn in analysis.traffic.connections:
        conn.orig_h = conn.resp_h = local
    for session in analysis.sessions:
        session.media_server = session.remote_agent = local
        for announcement in session.announced:
            announcement.ip = local
    (ladder,) = build_ladders(analysis)
    assert [(lane.role, lane.host) for lane in ladder.lanes] == [("media server", local),
                                                                 ("remote agent", local)]
    media, agent = (lane.key for lane in ladder.lanes)
    assert all(a.src != a.dst for a in ladder.arrows)
    syns = {a.label: (a.src, a.dst) for a in _arrows(ladder, "syn")}
    assert syns["SYN :5057 → :10000"] == (media, agent)  # control
    assert syns["SYN :6023 → :5001"] == (agent, media)  # callback
    assert syns["SYN :5002 → :6001"] == (media, agent)  # data to the agent's port
    assert _arrows(ladder, "data")[0].src == agent
    assert render_mermaid(analysis).count("participant") == 2


def test_unknown_status_is_drawn_as_such() -> None:
    """Status `unknown` (a step the capture cannot judge) keeps its own colour and mark."""
    analysis = copy.deepcopy(_lab("data-port-dropped"))
    session = analysis.sessions[0]
    for step in session.steps[3:]:
        step.status = "unknown"  # type: ignore[assignment]
    analysis.findings = [f for f in analysis.findings if f.severity != Severity.ERROR]
    (ladder,) = build_ladders(analysis)
    (syn,) = [a for a in _arrows(ladder, "syn") if a.step == 4]
    assert syn.status == "unknown" and not syn.findings
    svg = render_svg(ladder)
    assert 'data-status="unknown"' in svg and "var(--unknown)" in svg
    console = Console(width=200, record=True, color_system=None)
    render_ladder(ladder, console)
    assert "[4] SYN :5002 \u2192 :6001 \u00d74 ?" in console.export_text()


def test_long_gaps_are_compressed() -> None:
    ladder = _ladder("data-port-dropped")
    gaps = spacing(ladder)
    assert all(0 <= g.extra <= 2 for g in gaps)
    (broken,) = [g for g in gaps if g.broken]
    assert 3.0 < broken.seconds < 4.0 and broken.extra > 1.5
    assert sum(g.extra for g in gaps) < 4  # 3.5 s of waiting costs under two rows


def test_no_secret_reaches_any_output() -> None:
    """Only whitelisted body fields make labels: a password in a decoded body (the decoder
    never keeps one; a future one might) appears in no ladder, SVG, text or Mermaid."""
    analysis = copy.deepcopy(_lab("clean-3-resources"))
    stream = analysis.traffic.streams[0]
    auth = next(m for m in stream.messages if m.name.endswith("CONNECT_CLIENT_AUTH"))
    auth.body.update({"password": "hunter2-secret", "auth_data": "hunter2-secret",
                      "digest": "hunter2-secret"})
    console = Console(width=300, record=True)
    (ladder,) = build_ladders(analysis)
    render_ladder(ladder, console)
    outputs = [render_svg(ladder), render_mermaid(analysis), console.export_text()]
    assert all("hunter2" not in out for out in outputs)
    assert all("CONNECT_CLIENT_AUTH TEXT" in out for out in outputs)


def test_halt_reason_and_error_replies_are_labelled() -> None:
    analysis = copy.deepcopy(_lab("clean-3-resources"))
    stream = analysis.traffic.streams[0]
    halted = next(m for m in stream.messages if m.name.endswith("NOTIFY_DATA_HALTED"))
    halted.body["reason"] = "ABORTED"
    start = next(m for m in stream.messages
                 if m.name.endswith("DATA_START_BACKUP") and m.type == "reply")
    start.error, start.error_name = 5, "NDMP_ILLEGAL_STATE_ERR"
    analysis.findings.append(Finding("ndmp_error_reply", Severity.ERROR, "x", session="S1",
                                     uid=stream.uid, frames=[start.frame]))
    (ladder,) = build_ladders(analysis)
    labels = [a.label for a in _arrows(ladder, "ndmp")]
    assert "NOTIFY_DATA_HALTED ABORTED" in labels
    (reply,) = [a for a in _arrows(ladder, "ndmp") if a.frames == [start.frame]]
    assert reply.label == "DATA_START_BACKUP reply NDMP_ILLEGAL_STATE_ERR" and reply.reply
    assert reply.status == "failed" and reply.findings[0].code == "ndmp_error_reply"


def test_text_ladder_has_lanes_arrows_and_times() -> None:
    ladder = _ladder("data-port-dropped")
    console = Console(width=ladder_width(ladder), record=True, color_system=None)
    render_ladder(ladder, console)
    lines = console.export_text().splitlines()
    # No DATA_START_* and no data (the data SYNs were dropped): the kind is not known.
    assert lines[0] == "Session S1: backup or restore, NDMP v4"
    assert "media server 10.77.0.1" in lines[1] and "remote agent 10.77.0.2" in lines[1]
    failing = next(line for line in lines if "data_unanswered" in line)
    assert failing.startswith("+0.003s") and "[4] SYN :5002 \u2192 :6001 \u00d74 \u2717" in failing
    assert failing.rstrip().endswith("\u25b6\u2502")  # media server -> agent
    assert any(line.strip() == "\u22ee 3.5 s" for line in lines)
    assert all(len(line) <= ladder_width(ladder) for line in lines)


def test_cli_ladder_flag_and_mermaid_file(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    capture, config = LAB / "callback-blocked.pcap", LAB / "callback-blocked.toml"
    target = tmp_path / "seq.mmd"
    assert run(["analyze", "--config", str(config), str(capture), "--ladder",
                "--mermaid", str(target)]) == 1
    out = capsys.readouterr().out
    assert "callback_unanswered" in out.split("Findings")[0]  # on the ladder, before findings
    assert "\u25c0" in out  # the callback goes from the agent back to the media server
    text = target.read_text()
    assert text.startswith("sequenceDiagram\n") and "-xH1: " in text
    # Piped (not a terminal) without --ladder: the table report stays as it was.
    assert run(["analyze", "--config", str(config), str(capture)]) == 1
    assert "\u2502" not in capsys.readouterr().out
    assert run(["analyze", "--config", str(config), str(capture), "--mermaid",
                str(tmp_path / "missing" / "x.mmd")]) == 2


def test_mermaid_structure() -> None:
    text = render_mermaid(_lab("control-off-backup-network"))
    lines = text.splitlines()
    assert lines[0] == "sequenceDiagram" and lines[1].startswith("    title flowcheck: verdict")
    participants = [line for line in lines if line.strip().startswith("participant")]
    assert len(participants) == 4
    texts = [line.split(": ", 1)[1] for line in lines[1:] if ": " in line]
    assert len(texts) > 20 and not any(c in text for text in texts for c in ";#<>")


def test_html_links_arrows_to_findings() -> None:
    analysis = _lab("data-port-rejected")
    html = render_html(analysis)
    anchors = set(re.findall(r'<a href="#(finding-\d+)">', html))
    assert anchors and all(f'<li id="{anchor}">' in html for anchor in anchors)
    assert html.count('<svg class="ladder"') == len(analysis.sessions)
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 999, 1000, 204800, 3_500_000_000)] == [
        "0 B", "999 B", "1.0 kB", "204.8 kB", "3.5 GB"]


def test_a_huge_session_keeps_its_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond MAX_ARROWS only arrows that show a finding or a bad step stay, and every
    renderer says how many were left out."""
    full = _ladder("data-port-in-use")
    monkeypatch.setattr("flowcheck.report.ladder_build.MAX_ARROWS", 5)
    (ladder,) = build_ladders(_lab("data-port-in-use"))
    assert ladder.arrows[:5] == full.arrows[:5]
    assert [a.label for a in ladder.arrows[5:]] == [
        "SYN :5002 \u2192 :6001", "RST (refused)"]  # the refused data connection
    assert ladder.omitted == len(full.arrows) - 7
    console = Console(width=200, record=True, color_system=None)
    render_ladder(ladder, console)
    assert f"{ladder.omitted} more arrows" in console.export_text()
    assert f"{ladder.omitted} more arrows" in render_svg(ladder)


def test_help_keeps_bracketed_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """Typer's rich markup once ate every "[default: ...]" in the help."""
    assert run(["analyze", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "[default: when the terminal is wide enough]" in out.replace("│ ", "")


@pytest.mark.parametrize(("width", "shown"), [(200, True), (30, False)])
def test_terminal_ladder_only_when_wide_enough(width: int, shown: bool) -> None:
    from flowcheck.report.analyze import render_analysis

    console = Console(width=width, record=True, force_terminal=True, color_system=None)
    render_analysis(_lab("data-port-dropped"), console, ladder=None)
    out = console.export_text()
    assert ("\u22ee 3.5 s" in out) == shown
    assert ("the sequence needs" in out) != shown
