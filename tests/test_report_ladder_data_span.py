"""A data arrow's evidence and duration are its own connection's data (report/
ladder_build.py): the sender's first and last data packets, and the seconds between
them, in the HTML tooltip, the Mermaid source and the text ladder alike.

A new user's report on the ndmjob lab's three-resource backup (captures/ndmjob/README.md):
the first data arrow read "data 2.0 MB in 21 ms (connection C2, frames 16, 1843)".
Frame 16 is DATA_START_BACKUP on the control connection C1, not a packet of C2: the arrow
moved down to its start request had its first evidence frame replaced by the request's.
And 21 ms was C2's life (its SYN at 0.0030 s to its last ACK at 0.0243 s), while its data
flowed from frame 20 (0.008915 s) to frame 1840 (0.023247 s, the agent's FIN with the last
504 B): 14 ms. tshark on the capture gives the same frames (`tcp.len > 0` from 6005 to
5024: first 20, last 1840; 6015 -> 5092: 1885, 3887; 6015 -> 5080: 3933, 5613).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from rich.console import Console

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.html import render_html
from flowcheck.report.ladder import Arrow
from flowcheck.report.ladder_build import _after_data_start, build_ladders
from flowcheck.report.ladder_text import render_ladder
from flowcheck.report.mermaid import render_mermaid
from flowcheck.sessions.file_order import TIME_ORDER, FileOrder

NDMJOB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
M, A = "10.77.0.1", "10.77.0.2"


@functools.cache
def _three_resources() -> Analysis:
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    capture = str(NDMJOB / "v4-three-resources.pcap")
    return analyze(read_traffic([capture], config), config)


def test_a_data_arrow_cites_its_own_first_and_last_data_packets() -> None:
    analysis = _three_resources()
    conns = {c.uid: c for c in analysis.traffic.connections}
    data = [a for ladder in build_ladders(analysis) for a in ladder.arrows
            if a.kind == "data"]
    # (frames, label) per resource: the agent's first and last data packets (tshark).
    assert [(a.uid, a.frames, a.label) for a in data] == [
        ("C2", [20, 1840], "data 2.0 MB in 14 ms"),
        ("C4", [1885, 3887], "data 2.0 MB in 17 ms"),
        ("C6", [3933, 5613], "data 2.0 MB in 14 ms")]
    for arrow in data:
        conn = conns[arrow.uid]
        assert conn.role == "data" and (arrow.src, arrow.dst) == (A, M)
        assert arrow.ts == conn.orig_first_data[1]  # drawn when its data started
        assert all(conn.first_frame <= f <= conn.last_frame for f in arrow.frames)
    # None of them is a control connection's NDMP message (DATA_START_BACKUP: 16, ...).
    messages = {m.frame for s in analysis.traffic.streams for m in s.messages}
    assert 16 in messages and not messages & {f for a in data for f in a.frames}


def test_every_form_of_the_ladder_says_the_same() -> None:
    analysis = _three_resources()
    html = render_html(analysis)
    assert "data 2.0 MB in 14 ms (connection C2, frames 20, 1840)" in html
    assert "frames 16," not in html and "in 21 ms" not in html
    mermaid = render_mermaid(analysis)
    assert re.search(r"^ +H2->>H1: \+0\.009s \[4\] data 2\.0 MB in 14 ms$", mermaid, re.M)
    # After DATA_START_BACKUP (+0.003s) and the state reply (+0.006s) that came before the
    # first data packet: in capture order.
    lines = [line.strip() for line in mermaid.splitlines()]
    start = lines.index("H1->>H2: +0.003s DATA_START_BACKUP")
    assert lines[start + 1].startswith("H2-->>H1: +0.006s DATA_GET_STATE reply")
    assert lines[start + 2] == "H2->>H1: +0.009s [4] data 2.0 MB in 14 ms"
    console = Console(width=200, record=True, color_system=None)
    for ladder in build_ladders(analysis):
        render_ladder(ladder, console)
    text = console.export_text()
    assert re.search(r"^\+0\.009s .*\[4\] data 2\.0 MB in 14 ms", text, re.M)


def test_a_data_arrow_moved_down_to_its_start_keeps_its_own_frames() -> None:
    """Data whose first packet came before its DATA_START_* (or a connection with no data
    packet of its sender, cited from its SYN-ACK) is drawn at the start request, but its
    evidence stays its own connection's frames."""
    for order in (FileOrder(frames=True), TIME_ORDER):  # one sniffer's frames; time
        start = Arrow(M, A, "ndmp", "DATA_START_BACKUP", "C1", [16], 10.5, 5)
        data = Arrow(A, M, "data", "data 2.0 MB in 14 ms", "C2", [13, 1840], 10.4, 3,
                     until=10.6)
        _after_data_start([start, data], order)
        assert data.frames == [13, 1840]
        assert (data.place, data.frame, data.ts) == (16, 16, 10.5)
        assert sorted([data, start], key=lambda a: (a.frame, a.order)) == [start, data]
