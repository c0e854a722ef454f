"""Trial 20 D7: in a one-direction capture (tcpdump -Q in/out) a connection whose SYN
went the way the capture does not hold opened inside the capture (its SYN-ACK is right
under it): the ladder says "(SYN not captured: one direction)", not "(open before the
capture)". And the session's header does not say "NDMP version unknown" above a
"CONNECT_OPEN v4" arrow: the version asked is named, as asked."""

from __future__ import annotations

import functools
import io
from pathlib import Path

from lab_edits import analyze_lab, lab_packets, write
from rich.console import Console

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.analyze import render_analysis
from flowcheck.report.ladder_build import build_ladders

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


@functools.cache
def _lab(name: str) -> Analysis:
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(LAB / f"{name}.pcap")], config), config)


def test_a_callback_whose_syn_the_capture_does_not_hold_opened_in_it() -> None:
    (ladder,) = build_ladders(_lab("one-direction-out"))
    labels = [a.label for a in ladder.arrows if a.step == 2]
    assert labels[0].startswith("(SYN not captured: one direction) :")
    assert labels[0].endswith(" \u2192 :5001")
    assert labels[1] == "SYN-ACK"
    assert not any("open before the capture" in a.label for a in ladder.arrows)


def test_data_connections_whose_syn_the_capture_does_not_hold_opened_in_it() -> None:
    (ladder,) = build_ladders(_lab("one-direction-in"))
    labels = [a.label for a in ladder.arrows if a.step == 4]
    assert labels == ["(SYN not captured: one direction) :5002 \u2192 :6001", "SYN-ACK",
                      "(SYN not captured: one direction) :5003 \u2192 :6002", "SYN-ACK"]


def test_a_connection_open_before_the_capture_still_says_so(tmp_path: Path) -> None:
    """No SYN and no SYN-ACK: it did open before the capture (the trial's mid-job cut,
    frames 258-714 of clean-3-resources, inside resource 2's transfer)."""
    path = write(tmp_path, "midjob", lab_packets("clean-3-resources")[257:714])
    (ladder,) = build_ladders(analyze_lab(path, "clean-3-resources"))
    labels = [a.label for a in ladder.arrows if a.kind == "syn"]
    # Which end opened it is not in the capture either (trial 20 D3).
    assert labels[0].startswith("(open before the capture, opener not in it) :")
    assert not any("SYN not captured" in label for label in labels)


def test_the_version_asked_is_named_when_its_reply_is_not_in_the_capture() -> None:
    analysis = _lab("one-direction-out")
    [session] = analysis.sessions
    assert session.version is None and session.as_dict()["version"] is None
    (ladder,) = build_ladders(analysis)
    assert ladder.title == "Session S1: backup, NDMP v4 asked"
    out = io.StringIO()
    render_analysis(analysis, Console(file=out, width=200, color_system=None))
    assert ("Session S1: backup, NDMP v4 asked (CONNECT_OPEN; the capture does not show "
            "its reply accepting it), media server") in out.getvalue()
    assert "version unknown" not in out.getvalue()
