"""`analyze --mermaid` output parses and renders with the official Mermaid CLI (mmdc from
@mermaid-js/mermaid-cli, pinned in .ci/mermaid, driving Debian's chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from browser import ARTIFACTS, mmdc, needs_mmdc

from flowcheck.cli.main import run
from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.report.ladder import Arrow, FindingMark, Ladder, Lane
from flowcheck.report.ladder_build import build_ladders
from flowcheck.report.mermaid import MERMAID_MAX_TEXT, mermaid_of, mermaid_within
from flowcheck.report.overview import SessionStatus, session_status
from flowcheck.report.since import Since

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
# A pass, every failure kind of the lab, more lanes, two sessions, browse, and NDMP v2.
CASES = ["clean-3-resources", "callback-blocked", "callback-rejected", "data-port-rejected",
         "data-port-in-use", "data-port-dropped", "control-refused", "control-dropped",
         "control-off-backup-network", "agent-connects-data", "concurrent-jobs",
         "browse-only", "ndmjob/v2-backup"]


def _lab_blocks(folder: Path) -> list[tuple[str, str]]:
    """(name, diagram) of each of CASES' captures, `analyze --mermaid` writing it into
    `folder`, and of the IPv6 ladder (brackets and colons of its endpoints, odd
    characters)."""
    blocks = []
    for name in CASES:
        group, stem = (name.split("/") if "/" in name else ("lab", name))
        capture = next((CAPTURES / group).glob(f"{stem}.pcap*"))
        config = CAPTURES / group / (f"{stem}.toml" if group == "lab" else "flowcheck.toml")
        target = folder / f"{stem}.mmd"
        assert run(["analyze", "--format", "json", "--config", str(config), str(capture),
                    "--mermaid", str(target)]) in (0, 1)
        text = target.read_text(encoding="utf-8")
        assert text.startswith("sequenceDiagram\n")
        blocks.append((name, text))
    blocks.append(("ipv6", mermaid_of([_ipv6_ladder()], "fail")))
    return blocks


def _night_blocks() -> list[tuple[str, str]]:
    """The night as one diagram, over Mermaid's limit, and as mermaid_within keeps it."""
    ladders, status = _night()
    return [("night whole", mermaid_of(ladders, "fail")),
            ("night within", mermaid_within(ladders, status, "fail"))]


# The negative control, the last block of the one file mmdc reads (each mmdc start, node
# and a browser, is about 4 CPU-s): it must stop there, and only there, with a parse error.
BAD = ("bad", "sequenceDiagram\n    H1->>>H2: SYN\n    this is not mermaid\n")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[subprocess.CompletedProcess[str], list[tuple[str, str]], Path]:
    """One markdown file with a ```mermaid block per lab capture, the IPv6 ladder and the
    night's two diagrams, then BAD: mmdc renders each block to its own SVG (ladders-N.svg,
    N from 1 in order) in one browser start, and stops with an error on the first that
    does not parse. (mmdc's result, the (name, diagram) blocks before BAD, the folder of
    the SVGs; copies go to tests/artifacts/mermaid, kept by CI.)"""
    blocks = _lab_blocks(tmp_path_factory.mktemp("mermaid")) + _night_blocks()
    source = tmp_path_factory.mktemp("ladders") / "ladders.md"
    source.write_text("\n".join(f"## {name}\n\n```mermaid\n{text}```\n"
                                for name, text in [*blocks, BAD]), encoding="utf-8")
    out_dir = source.parent / "out"
    out_dir.mkdir()
    result = mmdc(source, out_dir / "ladders.md")
    # Copies for CI's artefacts (another worker may write them too: the tests read
    # their own folder's).
    artifacts = ARTIFACTS / "mermaid"
    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.glob("ladders-*.svg"):
        old.unlink(missing_ok=True)
    for svg in out_dir.glob("ladders-*.svg"):
        shutil.copy(svg, artifacts / svg.name)
    return result, blocks, out_dir


def _svg(rendered: tuple[subprocess.CompletedProcess[str], list[tuple[str, str]], Path],
         name: str) -> str:
    """The SVG mmdc rendered of block `name` (asserted: every block before BAD rendered,
    mmdc stopping at BAD alone)."""
    result, blocks, out_dir = rendered
    assert result.returncode != 0 and "H1->>>H2" in result.stderr, result.stderr[-3000:]
    assert len(list(out_dir.glob("ladders-*.svg"))) == len(blocks), result.stderr[-3000:]
    names = [block for block, _ in blocks]
    return (out_dir / f"ladders-{names.index(name) + 1}.svg").read_text()


@needs_mmdc
def test_every_lab_capture_renders_with_the_mermaid_cli(rendered: tuple) -> None:
    """Every lab capture's diagram and the IPv6 ladder parse and render (mmdc stops on
    the first that does not); the failing job's as a sequence with its finding, every
    arrow a message line."""
    _result, blocks, _out_dir = rendered
    failing = _svg(rendered, "data-port-dropped")
    assert 'aria-roledescription="sequence"' in failing
    assert "data_unanswered" in failing and "remote agent 10.77.0.2" in failing
    # Every arrow became a message line: as many as the source has arrows.
    arrows = len(re.findall(r"^\s+H\d+-{1,2}(?:>>|x)H\d+: ", dict(blocks)["data-port-dropped"],
                            re.M))
    assert failing.count('class="messageText"') == arrows
    assert all(_svg(rendered, name) for name in [*CASES, "ipv6"])


def _ipv6_ladder() -> Ladder:
    m, a = "fd00:77::1", "fd00:77::2"
    lanes = [Lane(m, m, "media server"), Lane(a, a, "remote agent")]
    arrows = [
        Arrow(m, a, "syn", "SYN :5001 \u2192 :10000", "C1", [1], 10.0, step=1, status="ok"),
        Arrow(a, m, "ndmp", "DATA_LISTEN reply [fd00:77::2]:6001; #1 <b>%%", "C1", [5],
              10.5, step=3, status="ok", reply=True),
        Arrow(m, a, "syn", "SYN :5002 \u2192 :6001 \u00d73", "C2", [6], 12.0, step=4,
              status="failed", repeats=3,
              findings=[FindingMark("data_unanswered", "error", "finding-1")]),
    ]
    return Ladder("S1", "Session S1: backup, NDMP v4", lanes, arrows, Since(10.0))


@needs_mmdc
def test_the_mermaid_check_can_fail(rendered: tuple) -> None:
    """Negative control: mmdc rejects a diagram that does not parse (BAD, after the others:
    none of it drawn)."""
    result, blocks, out_dir = rendered
    assert result.returncode != 0 and "Parse error" in result.stderr
    assert not (out_dir / f"ladders-{len(blocks) + 1}.svg").exists()


@cache  # two tests read it (neither changes it): one analysis of the night
def _night() -> tuple[list[Ladder], dict[str, SessionStatus]]:
    """The stored night (20 ndmjob sessions, some failing) three times over: 60 ladders,
    more than Mermaid's 50,000 characters in one diagram."""
    folder = CAPTURES / "ndmjob-night"
    config = build_config(load_file(folder / "night-datadrop.toml"))
    analysis = analyze(read_traffic([str(folder / "night-datadrop.pcap.gz")], config), config)
    status = {s.id: session_status(s, analysis.findings) for s in analysis.sessions}
    ladders = []
    for copy in range(3):
        for ladder in build_ladders(analysis):
            name = f"{ladder.session}-{copy}"
            ladders.append(replace(ladder, session=name, title=f"{ladder.title} ({copy})"))
            status[name] = status[ladder.session]
    return ladders, status


def test_a_night_too_long_for_mermaid_keeps_its_failing_sessions() -> None:
    """Trial 23 D5: a night's one diagram of 56,554 characters drew only "Maximum text
    size in diagram exceeded" (Mermaid's maxTextSize, GitHub's and GitLab's too)."""
    ladders, status = _night()
    assert len(mermaid_of(ladders, "fail")) > MERMAID_MAX_TEXT  # the case this is about
    text = mermaid_within(ladders, status, "fail")
    assert len(text) <= MERMAID_MAX_TEXT
    failing = [ladder.title for ladder in ladders if status[ladder.session] == "failed"]
    assert failing and all(title in text for title in failing)
    drawn = len(re.findall(r"^    Note over H\d+(?:,H\d+)?: Session ", text, re.M))
    left = len(ladders) - drawn
    assert 0 < left <= len(ladders) - len(failing)
    assert re.search(rf"^    Note over H1,H\d+: {left} of {len(ladders)} sessions left out "
                     rf"\({left} ok\): Mermaid draws at most 50,000 characters", text, re.M)
    # A small limit keeps the failing ones before any other, drawn in capture order.
    small = mermaid_within(ladders, status, "fail", limit=6000)
    kept = re.findall(r"^    Note over H\d+(?:,H\d+)?: (Session .*)", small, re.M)
    assert set(failing) <= set(kept) and len(kept) < len(ladders) // 2
    titles = [ladder.title for ladder in ladders]
    assert kept == sorted(kept, key=titles.index)


@needs_mmdc
def test_a_night_too_long_for_mermaid_renders(rendered: tuple) -> None:
    """Both diagrams as blocks of the markdown file the lab's are in: each rendered to its
    own SVG, with the limits of a diagram of its own."""
    for name in ("night whole", "night within"):
        svg = _svg(rendered, name)
        # The negative control: Mermaid's refusal is an SVG too.
        assert ("Maximum text size in diagram exceeded" in svg) == (name == "night whole")
