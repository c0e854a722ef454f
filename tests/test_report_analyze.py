"""The analyze report (terminal and HTML) from a hand-built analysis."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from flowcheck.config import build_config
from flowcheck.model import CaptureInfo, Connection
from flowcheck.pipeline import Analysis, Traffic
from flowcheck.profiles import load_profile
from flowcheck.report.analyze import render_analysis
from flowcheck.report.html import render_html, write_html
from flowcheck.sessions import build_sessions
from flowcheck.verify import check_all

M, A = "10.77.0.1", "10.77.0.2"


def _analysis(callback: bool) -> Analysis:
    config = build_config({"media_range": "5001-5100", "agent_range": "6001-6100"})
    control = Connection("Cctl", M, 5001, A, 10000, 100.0, last_ts=110.0, syn_frames=[1],
                         synack_frames=[2], established=True, conn_state="SF",
                         first_frame=1, last_frame=40, orig_bytes=300, resp_bytes=400)
    connections = [control]
    if callback:
        connections.append(Connection("Ccb", A, 6002, M, 5002, 101.0, last_ts=109.0,
                                      syn_frames=[5], synack_frames=[6], established=True,
                                      conn_state="SF", first_frame=5, last_frame=30))
    traffic = Traffic([CaptureInfo("lab<1>.pcap", "pcap", ["EN10MB"], 40)], connections, [],
                      [])
    profile = load_profile("backup-exec-9")
    sessions = build_sessions(connections, [], config, profile)
    findings = check_all(connections, [], sessions, config, profile)
    return Analysis(traffic, config, sessions, findings)


def _render(analysis: Analysis) -> str:
    console = Console(record=True, width=200, color_system=None)
    render_analysis(analysis, console)
    return console.export_text()


def test_pass_report_starts_with_the_verdict() -> None:
    text = _render(_analysis(callback=True))
    assert text.splitlines()[0].startswith("PASS")
    assert "Session S1" in text and f"{A}:6002 -> {M}:5002" in text
    assert "not applicable" in text and "No findings" in text


def test_fail_report_lists_the_finding_with_its_fix() -> None:
    analysis = _analysis(callback=False)
    text = _render(analysis)
    lines = text.splitlines()
    assert lines[0].startswith("FAIL") and "1 error(s)" in lines[0]
    assert "step_missing" in text and "Fix:" in text
    # the summary names the failing session and its code, the timeline, then the findings
    assert lines[1].startswith("  S1 FAILED: ") and lines[1].endswith("; step_missing")
    assert text.index("Session S1") < text.index("ERROR step_missing")


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        # Self-contained: nothing to fetch; links only to anchors in the page itself.
        assert not any(name == "src" or (name == "href" and not (value or "").startswith("#"))
                       for name, value in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_and_escaped(tmp_path: Path) -> None:
    analysis = _analysis(callback=False)
    path = tmp_path / "report.html"
    write_html(analysis, path)
    html = path.read_text()
    assert html == render_html(analysis)
    parser = _Collector()
    parser.feed(html)
    text = "".join(parser.text)
    assert "Verdict: FAIL" in text and "step_missing" in text and "Fix:" in text
    assert "lab<1>.pcap" in text and "lab<1>" not in html  # escaped in the markup
    # the sessions' list, the session's steps, the connections
    assert parser.tags.count("table") == 3


def test_cli_analyze_writes_html_and_graph(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from flowcheck.cli.main import run

    root = Path(__file__).resolve().parent.parent
    capture = root / "captures" / "ndmjob" / "v4-backup-media-firewall-drop.pcap"
    html, graph = tmp_path / "r.html", tmp_path / "g.graphml"
    code = run(["analyze", str(capture), "--config", str(capture.parent / "flowcheck.toml"),
                "--html", str(html), "--graph", str(graph)])  # in the test's process
    out, err = capsys.readouterr()
    assert code == 1, err
    assert out.startswith("FAIL") and "data_unanswered" in out
    assert "Verdict: FAIL" in html.read_text() and "<graphml" in graph.read_text()


def _inconclusive() -> Analysis:
    """A control connection whose only SYN ends the capture: nothing can be judged."""
    config = build_config({"media_range": "5001-5100", "agent_range": "6001-6100"})
    control = Connection("Cctl", M, 5001, A, 10000, 100.0, last_ts=100.0, syn_frames=[1],
                         conn_state="S0", history="S", first_frame=1, last_frame=1,
                         orig_pkts=1)
    traffic = Traffic([CaptureInfo("stop.pcap", "pcap", ["EN10MB"], 1)], [control], [], [])
    profile = load_profile("backup-exec-9")
    sessions = build_sessions([control], [], config, profile)
    findings = check_all([control], [], sessions, config, profile)
    return Analysis(traffic, config, sessions, findings)


def test_inconclusive_report_shows_the_verdict_and_unknown_steps() -> None:
    analysis = _inconclusive()
    assert analysis.verdict == "inconclusive"
    text = _render(analysis)
    assert text.splitlines()[0].startswith("INCONCLUSIVE")
    assert "unknown" in text and "capture_ended_early" in text
    html = render_html(analysis)
    assert 'class="inconclusive"' in html and "Verdict: INCONCLUSIVE" in html
    assert '<td class="unknown">unknown</td>' in html


def test_inconclusive_report_without_findings_does_not_say_the_traffic_follows_the_profile(
        ) -> None:
    """A control connection seen only as the agent's RST (a one-direction capture of a
    refused job): every step unknown, no finding. The report said "No findings: the
    traffic follows the profile and the ranges" under an INCONCLUSIVE verdict."""
    config = build_config({"media_range": "5001-5100", "agent_range": "6001-6100"})
    lone_rst = Connection("C1", M, 5027, A, 10000, 100.0, last_ts=100.0, rst_frames=[1],
                          resp_rst=True, conn_state="RSTRH", history="r", first_frame=1,
                          last_frame=1)
    traffic = Traffic([CaptureInfo("one-way.pcap", "pcap", ["EN10MB"], 1)], [lone_rst], [], [])
    profile = load_profile("backup-exec-9")
    sessions = build_sessions([lone_rst], [], config, profile)
    findings = check_all([lone_rst], [], sessions, config, profile)
    analysis = Analysis(traffic, config, sessions, findings)
    assert analysis.verdict == "inconclusive" and not findings
    text = _render(analysis)
    assert "follows the profile" not in text
    assert "No findings; the steps marked unknown say what the capture could not show" in text
