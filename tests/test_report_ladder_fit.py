"""Trial 20 D10: the text ladder needed 81-84 columns, so an 80-column terminal never
got it, and `--ladder` there cut the agent's lane title to "remot". The last lane's
title now ends at its lifeline, and a label longer than its arrow wraps under it (at
spaces), so the ladder fits 80 columns with every title, address and code whole."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pytest
from rich.console import Console

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding, Severity
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.analyze import render_analysis
from flowcheck.report.ladder import Arrow, Ladder, Lane
from flowcheck.report.ladder_build import build_ladders
from flowcheck.report.ladder_text import arrow_text, ladder_width, render_ladder
from flowcheck.report.since import Since

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


@functools.cache
def _lab(name: str) -> Analysis:
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(LAB / f"{name}.pcap")], config), config)


def _ladder_lines(out: str) -> list[str]:
    """The text between the ladder's title and the findings."""
    start = out.index("\n          media server")
    return out[start:out.index("\nFindings")].strip("\n").splitlines()


@pytest.mark.parametrize("name", ["clean-3-resources", "callback-blocked", "listen-error",
                                  "data-port-dropped", "one-direction-in"])
@pytest.mark.parametrize("forced", [None, True])
def test_the_ladder_fits_an_80_column_terminal(name: str, forced: bool | None) -> None:
    console = Console(width=80, record=True, force_terminal=True, color_system=None)
    render_analysis(_lab(name), console, ladder=forced)
    out = console.export_text()
    assert "the sequence needs" not in out
    lines = _ladder_lines(out)
    assert "media server 10.77.0.1" in lines[0] and "remote agent 10.77.0.2" in lines[0]
    assert all(len(line.rstrip()) <= 80 for line in lines)
    (ladder,) = build_ladders(_lab(name))
    words = " ".join(lines)
    for arrow in ladder.arrows:  # every word of every label, none cut
        assert all(word in words.split() for word in arrow_text(arrow).split())


def test_a_label_longer_than_its_arrow_wraps_under_it() -> None:
    analysis = _lab("data-port-dropped")
    extra = Finding("port_outside_agent_range", Severity.WARNING, "x", session="S1",
                    uid=next(c.uid for c in analysis.traffic.connections if c.role == "data"),
                    frames=[])
    analysis = dataclasses.replace(analysis, findings=[*analysis.findings, extra])
    (ladder,) = build_ladders(analysis)
    (arrow,) = [a for a in ladder.arrows if "data_unanswered" in arrow_text(a)]
    assert "port_outside_agent_range" in arrow_text(arrow)
    assert ladder_width(ladder) > 80 >= ladder_width(ladder, 80)
    console = Console(width=80, record=True, color_system=None)
    render_ladder(ladder, console)
    lines = console.export_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "[4] SYN :5002" in line)
    assert lines[at].rstrip().endswith("\u25b6\u2502")
    assert lines[at + 1].startswith("          \u2502   ")  # under the arrow, no time
    assert lines[at + 1].rstrip().endswith("\u2502")
    assert "port_outside_agent_range" in lines[at] + lines[at + 1]
    assert all(len(line) <= 80 for line in lines)


def test_titles_that_would_touch_go_on_lines_of_their_own() -> None:
    """With lifelines MIN_GAP apart the two titles cannot share a line: the agent's goes
    under the media server's, whole."""
    (ladder,) = build_ladders(_lab("clean-3-resources"))
    console = Console(width=36, record=True, color_system=None)
    render_ladder(ladder, console)
    lines = console.export_text().splitlines()
    assert lines[1].strip() == "media server 10.77.0.1"
    assert lines[2].strip() == "remote agent 10.77.0.2"
    assert all(len(line) <= 36 for line in lines)


def test_a_terminal_too_narrow_for_any_ladder_is_told_its_width() -> None:
    console = Console(width=30, record=True, force_terminal=True, color_system=None)
    render_analysis(_lab("clean-3-resources"), console, ladder=None)
    assert "(the sequence needs 36 columns" in " ".join(console.export_text().split())


def test_four_lanes_fit_80_columns_with_every_title_whole() -> None:
    """A session over two networks (a lane per address): the lanes come closer than
    MIN_GAP, never closer than the longest word on an arrow between them needs."""
    console = Console(width=80, record=True, force_terminal=True, color_system=None)
    render_analysis(_lab("control-off-backup-network"), console, ladder=None)
    out = console.export_text()
    assert "the sequence needs" not in out
    lines = _ladder_lines(out)
    header = [line for line in lines[:3] if "\u2502" not in line]
    titles = {lane.title for lane in build_ladders(_lab("control-off-backup-network"))[0].lanes}
    assert len(titles) == 4
    assert all(any(title in line for line in header) for title in titles)
    assert all(len(line.rstrip()) <= 80 for line in lines)
    assert any(line.split("\u2502")[1].strip() == "control_off_backup_network"
               for line in lines if line.count("\u2502") >= 2)


def test_a_time_past_10000_s_does_not_write_over_the_first_lifeline() -> None:
    """A capture that ran hours (a long backup's FIN at +12345.000s): the time column
    widens to the longest time and a space, as it did only for a clock set back
    (report.ladder_text.time_width); "+12345.000s" took the first lifeline's column."""
    lanes = [Lane("10.77.0.1", "10.77.0.1", "media server"),
             Lane("10.77.0.2", "10.77.0.2", "remote agent")]
    arrows = [Arrow("10.77.0.1", "10.77.0.2", "syn", "SYN", "C1", [1], 5.0),
              Arrow("10.77.0.2", "10.77.0.1", "fin", "FIN", "C1", [2], 12345.0)]
    console = Console(width=100, record=True, color_system=None)
    render_ladder(Ladder("S1", "Session S1", lanes, arrows, Since(0.0)), console)
    rows = [line for line in console.export_text().splitlines() if line.startswith("+")]
    assert rows[0].startswith("+5.000s ") and rows[1].startswith("+12345.000s ")
    assert rows[0].index("\u2502") == rows[1].index("\u2502") == len("+12345.000s ")
