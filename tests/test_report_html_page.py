"""The HTML page as a browser shows it (trial 20 D14): an arrow "->" never breaks across
lines, the page fits a phone's width, and the tab names the verdict and the capture."""

from __future__ import annotations

import re

from flowcheck.config import build_config
from flowcheck.model import CaptureInfo, Connection
from flowcheck.pipeline import Analysis, Traffic
from flowcheck.profiles import load_profile
from flowcheck.report.html import render_html
from flowcheck.sessions import build_sessions
from flowcheck.verify import check_all

M, A = "10.77.0.1", "10.77.0.2"


def _analysis(paths: list[str]) -> Analysis:
    config = build_config({"media_range": "5001-5100", "agent_range": "6001-6100"})
    control = Connection("Cctl", M, 5001, A, 10000, 100.0, last_ts=110.0, syn_frames=[1],
                         synack_frames=[2], established=True, conn_state="SF",
                         first_frame=1, last_frame=40, orig_bytes=300, resp_bytes=400)
    traffic = Traffic([CaptureInfo(path, "pcap", ["EN10MB"], 40) for path in paths],
                      [control], [], [])
    profile = load_profile("backup-exec-9")
    sessions = build_sessions([control], [], config, profile)
    findings = check_all([control], [], sessions, config, profile)
    return Analysis(traffic, config, sessions, findings)


def test_no_arrow_can_break_between_its_dash_and_its_head() -> None:
    html = render_html(_analysis(["/tmp/x/lab.pcap"]))
    # the ladder's SVG draws its own arrows; the summary's lines are links (not cells)
    body = re.sub(r"<svg.*?</svg>|<ul class=\"summary\">.*?</ul>", "",
                  html.split("<body>", 1)[1], flags=re.S)
    assert "Findings" in body and "Connections" in body
    assert "-&gt;" in body
    # every "->" of the page's text sits inside a span that does not wrap
    assert not re.search(r"(?<!<span class=\"nowrap\">)-&gt;", body)
    assert ".nowrap { white-space: nowrap; }" in html


def test_the_page_has_a_viewport_for_phones() -> None:
    html = render_html(_analysis(["lab.pcap"]))
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


def test_the_title_names_the_verdict_and_the_capture() -> None:
    assert "<title>flowcheck FAIL: lab.pcap</title>" in render_html(
        _analysis(["/tmp/x/lab.pcap"]))
    assert "<title>flowcheck FAIL: a&lt;1&gt;.pcap, b.pcap</title>" in render_html(
        _analysis(["/x/a<1>.pcap", "/y/b.pcap"]))
    assert "<title>flowcheck FAIL: a.pcap and 3 more</title>" in render_html(
        _analysis(["a.pcap", "b.pcap", "c.pcap", "d.pcap"]))
    assert "<title>flowcheck FAIL: standard input</title>" in render_html(_analysis(["-"]))
    assert "<title>flowcheck FAIL: live capture</title>" in render_html(
        _analysis(["<stream>"]))
