"""A night of 20 real jobs with one failing (captures/ndmjob-night, trial 12 D4, D8): the
reports name the failing session at the top, with its hosts, wall-clock start (UTC, from
the packet timestamps) and error codes; each session's header carries its status and
start; findings their wall-clock time; the HTML links the failing session; `ndmp` heads
each control connection with its endpoints and session; `regress` says which session
changed and how."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser import dump_dom, needs_chromium
from rich.console import Console

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.analyze import render_analysis
from flowcheck.report.html import render_html
from flowcheck.report.overview import grouped_lines, summary_lines

FOLDER = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-night"
CAPTURE = FOLDER / "night-datadrop.pcap.gz"
CONFIG = FOLDER / "night-datadrop.toml"
# Session S10's control connection C19, 10.77.0.1:5826 -> 10.77.1.4:10000: its first
# packet (tshark: frame.time_epoch 1796172456.191...), the job log's j10 start 00:47:36.
S10_START = "2026-12-02T00:47:36.191Z"
FIRST_PACKET = "2026-12-02T00:46:49.251Z"  # S1's control connection, the capture's first


@pytest.fixture(scope="module")
def night() -> Analysis:
    config = build_config(load_file(CONFIG))
    return analyze(read_traffic([str(CAPTURE)], config), config)


def _errors(analysis: Analysis, session: str) -> list[str]:
    return sorted({f.code for f in analysis.findings
                   if f.session == session and str(f.severity) == "error"})


def _text(analysis: Analysis, *, all_sessions: bool = False) -> list[str]:
    console = Console(record=True, width=400, color_system=None)
    render_analysis(analysis, console, all_sessions=all_sessions)
    return console.export_text().splitlines()


def test_the_failing_session_is_named_under_the_verdict(night: Analysis) -> None:
    lines = _text(night)
    assert lines[0].startswith("FAIL  20 sessions, 1 error(s)")  # kept as it was
    codes = _errors(night, "S10")
    assert codes  # whichever code the refusal gets, the summary names it
    assert lines[1] == (f"  S10 FAILED: 10.77.0.1 -> 10.77.1.4 (control C19), started "
                        f"{S10_START} (+46.940s); {', '.join(codes)}")
    # Its cause and fix (trial 20 D9: report.answer), then the counts.
    assert lines[2].startswith("    cause: ") and lines[3].startswith("    fix:   ")
    after = [line for line in lines[4:] if not line.startswith(" ")]  # the fix may wrap
    assert after[0].startswith(f"sessions: 1 failed, 19 ok; times +N s count from "
                               f"{FIRST_PACKET} (UTC)")


def test_each_session_header_carries_its_status_and_start(night: Analysis) -> None:
    headers = [line for line in _text(night, all_sessions=True) if "Session S" in line]
    assert len(headers) == 20
    [failed] = [line for line in headers if line.startswith("FAILED  ")]
    assert failed.startswith("FAILED  Session S10: ")
    assert failed.endswith(f"; started {S10_START} (+46.940s)")
    assert all(line.startswith("ok  Session S") for line in headers if line != failed)
    assert headers[0].endswith(f"started {FIRST_PACKET} (+0.000s)")


def test_a_night_shows_the_steps_of_its_failing_sessions_and_lists_the_others(
        night: Analysis) -> None:
    """Trial 23 D7: 49 good jobs' step tables buried a night's 8 failures (7,753 lines)."""
    lines = _text(night)
    assert [line for line in lines if "Session S" in line] == [
        next(line for line in lines if line.startswith("FAILED  Session S10: "))]
    at = lines.index("Sessions that passed or are side traffic (19; --all-sessions shows "
                     "their steps)")
    listed = [line.split()[0] for line in lines[at + 2:at + 21]]
    assert listed == [s.id for s in night.sessions if s.id != "S10"]
    assert lines[at + 2].split()[1:4] == ["ok", "10.77.0.1", "->"]
    assert lines[at + 2].rstrip().endswith(f"{FIRST_PACKET[11:]} (+0.000s)")
    assert lines[at + 21] == "" and lines[at + 22].startswith("Findings (")
    assert len(lines) < len(_text(night, all_sessions=True)) - 19 * 5


def test_a_summary_beyond_its_ten_lines_groups_the_rest_by_cause_and_hosts(
        night: Analysis) -> None:
    """Trial 23 D7: "... and 14 more (each session's header says its status)" hid which
    jobs failed how."""
    [line] = summary_lines(night)
    many = [replace(line, session=replace(line.session, id=f"S{100 + n}")) for n in range(12)]
    other = replace(line, session=replace(line.session, id="S200", remote_agent="10.77.1.9"),
                    codes=["control_unanswered"])
    codes = ", ".join(line.codes)
    assert grouped_lines([*many[:3], other, *many[3:]]) == [
        f"FAILED {codes}, 10.77.0.1 -> 10.77.1.4: 12 sessions (S100, S101, S102, S103, "
        "S104, S105, S106, S107, +4 more)",
        "FAILED control_unanswered, 10.77.0.1 -> 10.77.1.9: 1 session (S200)"]


def test_a_finding_gives_its_wall_clock_time_next_to_the_relative_one(night: Analysis) -> None:
    lines = _text(night)
    [error] = [f for f in night.findings if str(f.severity) == "error"]
    assert error.ts is not None
    clock = datetime.fromtimestamp(error.ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    base = min(c.ts for c in night.traffic.connections)
    [line] = [line for line in lines if line.startswith(f"ERROR {error.code} (session S10")]
    assert line.endswith(f", at +{error.ts - base:.3f}s = {clock}Z)")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: list[str] = []
        self.summary: list[str] = []
        self._in_summary = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))
        if found.get("id"):
            self.ids.append(str(found["id"]))
        if tag == "ul" and found.get("class") == "summary":
            self._in_summary = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "ul":
            self._in_summary = False

    def handle_data(self, data: str) -> None:
        if self._in_summary and data.strip():
            self.summary.append(data.strip())


def test_the_html_summary_links_the_failing_session(night: Analysis) -> None:
    html = render_html(night)
    page = _Page()
    page.feed(html)
    codes = ", ".join(_errors(night, "S10"))
    assert page.summary[0] == (f"S10 FAILED: 10.77.0.1 -> 10.77.1.4 (control C19), started "
                               f"{S10_START} (+46.940s); {codes}")
    # then its cause and fix, as under the text report's verdict (report.answer)
    assert page.summary[1::2] == ["cause:", "fix:"] and len(page.summary) == 5
    assert "#session-S10" in page.links and "session-S10" in page.ids
    assert all(link[1:] in page.ids for link in page.links if link.startswith("#"))
    # the summary comes before every session's steps, and a table lists all 20 sessions
    assert html.index('class="summary"') < html.index('id="session-S1"')
    assert "<h2>Sessions (20: 1 failed, 19 ok)</h2>" in html
    assert f"<td>{S10_START}</td>" in html and FIRST_PACKET in html


def test_ndmp_heads_each_control_connection_with_its_endpoints_and_session(
        capsys: pytest.CaptureFixture[str]) -> None:
    from flowcheck.cli.main import run

    # In the test's process, piped: 200 columns (PIPED_WIDTH), as COLUMNS=200 gave.
    assert run(["ndmp", "--config", str(CONFIG), str(CAPTURE)]) == 0
    heads = [line.rstrip() for line in capsys.readouterr().out.splitlines()
             if line.startswith("C")]
    assert len(heads) == 20
    assert (f"C19: 10.77.0.1:5826 -> 10.77.1.4:10000, session S10, NDMP v4 (connect_open), "
            f"7 messages, started {S10_START}") in heads
    assert heads[0].startswith("C1: 10.77.0.1:5818 -> 10.77.1.2:10000, session S1, NDMP v4")


def test_regress_names_the_session_that_changed(tmp_path: Path) -> None:
    """The expected result of the good night (S10 ok, no error): the change is told per
    session, in the text, --format json and the JUnit failure; the old lines kept in the
    JSON `changes`."""
    shutil.copy(CAPTURE, tmp_path / CAPTURE.name)
    shutil.copy(CONFIG, tmp_path / CONFIG.name)
    expected = json.loads((FOLDER / "night-datadrop.expected.json").read_text())
    new_codes = _errors_of(expected)
    good, failing = expected["sessions"][0]["steps"], expected["sessions"][9]["steps"]
    steps = [f"step {n} {good[n]} -> {failing[n]}" for n in sorted(good)
             if good[n] != failing[n]]
    expected["sessions"][9] = expected["sessions"][0]  # the good backup S1 is
    for code in new_codes:
        del expected["findings"][code]
    expected["verdict"] = "pass"
    (tmp_path / "night-datadrop.expected.json").write_text(json.dumps(expected))
    junit = tmp_path / "junit.xml"

    def regress(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "flowcheck", "regress", str(tmp_path),
                               *flags], capture_output=True, text=True, check=False)

    told = (", ".join(steps) + "; " + ", ".join(f"new error {code}" for code in new_codes))
    text = regress("--junit", str(junit))
    assert text.returncode == 1
    # Named by its hosts and start (trial 21 D8: the hosts alone told no session apart).
    named = re.search(r"\n      (S10 \(10\.77\.0\.1 -> 10\.77\.1\.4, started "
                      r"[0-9T:.-]+Z\): )" + re.escape(told) + "\n", text.stdout)
    assert named and "    sessions: 1 of 20 changed\n" in text.stdout, text.stdout
    line = named[1] + told
    assert max(len(row) for row in text.stdout.splitlines()) < 300  # no 5,000-char line
    failure = ET.parse(junit).getroot().find("testcase/failure")
    assert failure is not None and line in (failure.text or "")
    document = json.loads(regress("--format", "json").stdout)
    [case] = document["cases"]
    assert any(c.startswith("sessions: expected [") for c in case["changes"])  # kept
    [change] = case["session_changes"]
    assert isinstance(change.pop("started"), float)
    assert change == {
        "index": 10, "expected_index": 10, "session": "S10", "media_server": "10.77.0.1",
        "remote_agent": "10.77.1.4",
        "changes": [*steps, *(f"new error {code}" for code in new_codes)],
        "line": line}


def _errors_of(expected: dict) -> list[str]:
    """The error codes of the failing night: those not in the good night's findings."""
    return sorted(set(expected["findings"]) - {"ndmp_error_reply", "port_reused_within_hold"})


SUMMARY_PROBE = """<script>
(() => {
  const links = [...document.querySelectorAll('ul.summary a')].map(a => {
    const target = document.getElementById(a.getAttribute('href').slice(1));
    return {text: a.textContent, top: a.getBoundingClientRect().top,
            target: target ? target.textContent : null,
            targetTop: target ? target.getBoundingClientRect().top : null,
            colour: getComputedStyle(a.parentElement).color};
  });
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify({links, height: window.innerHeight});
  document.body.appendChild(pre);
})();
</script>"""


@needs_chromium
def test_the_html_summary_is_on_the_first_screen_as_chromium_renders_it(
        night: Analysis, tmp_path: Path) -> None:
    """In chromium: the failing session's link is within the first screen, red, and its
    target is session S10's heading, far below it."""
    page = tmp_path / "night.probe.html"
    page.write_text(render_html(night).replace("</body>", SUMMARY_PROBE + "</body>"),
                    encoding="utf-8")
    dom = dump_dom(page, "--window-size=1280,900")
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-500:]
    probe = json.loads(found.group(1).replace("&quot;", '"').replace("&gt;", ">")
                       .replace("&lt;", "<").replace("&amp;", "&"))
    [link] = probe["links"]
    assert link["text"].startswith("S10 FAILED: 10.77.0.1 -> 10.77.1.4")
    assert link["top"] < probe["height"]
    assert link["target"].startswith("FAILED Session S10: ")
    assert link["targetTop"] > 5 * probe["height"]
    assert link["colour"] == "rgb(187, 0, 0)"  # .failed (#b00)


@pytest.mark.parametrize(("flag", "headers"), [([], 1), (["--all-sessions"], 20)])
def test_all_sessions_shows_every_session_s_steps(
        capsys: pytest.CaptureFixture[str], flag: list[str], headers: int) -> None:
    from flowcheck.cli.main import run

    assert run(["analyze", "--config", str(CONFIG), str(CAPTURE), "--no-ladder", *flag]) == 1
    out = capsys.readouterr().out
    assert len(re.findall(r"^(?:FAILED|ok)  Session S\d+: ", out, re.M)) == headers
    assert ("Sessions that passed or are side traffic (19;" in out) == (not flag)


def test_an_info_said_alike_in_several_sessions_is_printed_once() -> None:
    """Trial 23 D7: a night's vendor message, the same info in each of 163 jobs, was 326
    lines of the report. Printed once, naming its sessions; the JSON keeps each one."""
    lab = FOLDER.parent / "lab"
    config = build_config(load_file(lab / "concurrent-jobs.toml"))
    analysis = analyze(read_traffic([str(lab / "concurrent-jobs.pcap")], config), config)
    infos = [f for f in analysis.findings if f.code == "ndmp_vendor_message"]
    assert [f.session for f in infos] == ["S1", "S2"] and infos[0].message == infos[1].message
    lines = _text(analysis)
    printed = [line for line in lines if line.startswith("INFO ndmp_vendor_message")]
    assert len(printed) == 1
    assert printed[0].startswith("INFO ndmp_vendor_message (the same in 2 sessions: S1, S2; "
                                 f"the first: session S1, connection {infos[0].uid}, frames ")
    assert lines.count(f"  {infos[0].message}") == 1
    assert any(line.startswith(f"Findings ({len(analysis.findings)})") for line in lines)
