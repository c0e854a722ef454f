"""Ladders follow time in a pcapng of several interfaces (flowcheck.report.ladder_order).

dumpcap writes each interface's packets in blocks, so a file of two interfaces goes back
in time at each turn; its frame numbers are no event order (docs/formats.md). New-user
trial 63: `dumpcap -i rm -i ra` on a router whose forward chain drops the data SYN-ACKs
(captures/newuser63) drew the data SYN above the callback and above the DATA_LISTEN
reply that announced its port, in the text ladder, the Mermaid diagram and the HTML SVG.
The same with the lab's two-NIC capture (captures/lab-pcapng-interfaces), whose data
connections' interface was written first: their SYNs went to the top, and the second
data arrow was placed at the first DATA_START_BACKUP. One file of one interface keeps
its frame order (a clock set back: tests/test_report_clock_set_back.py).
"""

from __future__ import annotations

import functools
from pathlib import Path

from rich.console import Console

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.ladder import Ladder
from flowcheck.report.ladder_build import build_ladders
from flowcheck.report.ladder_svg import render_svg
from flowcheck.report.ladder_text import render_ladder
from flowcheck.report.mermaid import render_mermaid

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
ROUTER = CAPTURES / "newuser63" / "router-return-drop-dumpcap.pcapng.gz"
TWO_NICS = CAPTURES / "lab-pcapng-interfaces" / "two-nics-data-block-first.pcapng.gz"


@functools.cache
def _analysis(capture: Path) -> Analysis:
    config = build_config(load_file(capture.with_name(
        capture.name.removesuffix(".pcapng.gz") + ".toml")))
    return analyze(read_traffic([str(capture)], config), config)


def _ladder(capture: Path) -> Ladder:
    (ladder,) = build_ladders(_analysis(capture))
    return ladder


def _times(ladder: Ladder) -> list[float]:
    """The times the arrows are drawn with, top to bottom (a SYN-ACK has none)."""
    return [a.ts for a in ladder.arrows if a.ts is not None]


def _index(text: str, *parts: str) -> list[int]:
    found = [text.find(part) for part in parts]
    assert -1 not in found, (parts, found)
    return found


def test_router_dumpcap_ladder_goes_down_in_time() -> None:
    ladder = _ladder(ROUTER)
    assert _times(ladder) == sorted(_times(ladder))
    labels = [a.label for a in ladder.arrows]
    callback = next(i for i, a in enumerate(ladder.arrows)
                    if a.kind == "syn" and a.step == 2)
    announced = labels.index("DATA_LISTEN reply 10.63.2.2:6001")
    data_syn = next(i for i, a in enumerate(ladder.arrows) if a.kind == "syn" and a.step == 4)
    assert callback < announced < data_syn
    # Each SYN-ACK follows its own SYN (the callback's was drawn from the media server
    # above the callback SYN).
    for uid in {a.uid for a in ladder.arrows if a.kind == "synack"}:
        kinds = [a.kind for a in ladder.arrows if a.uid == uid and a.kind in ("syn", "synack")]
        assert kinds == ["syn", "synack"], uid


def test_router_dumpcap_drawings_follow_time() -> None:
    """The text ladder, Mermaid and the HTML SVG draw the announcement, then the data SYN."""
    analysis = _analysis(ROUTER)
    (ladder,) = build_ladders(analysis)
    console = Console(width=200, record=True, color_system=None)
    render_ladder(ladder, console)
    for out in (console.export_text(), render_mermaid(analysis), render_svg(ladder)):
        callback, announced, data_syn = _index(
            out, ":5001", "DATA_LISTEN reply 10.63.2.2:6001", ":5002 \u2192 :6001")
        assert callback < announced < data_syn


def test_two_nics_data_arrows_at_their_own_start() -> None:
    """Data written in a block before the control connection: each data arrow follows
    its own DATA_START_BACKUP, at its first data packet's time."""
    ladder = _ladder(TWO_NICS)
    assert _times(ladder) == sorted(_times(ladder))
    kinds = [a.label if a.kind == "ndmp" else a.kind for a in ladder.arrows]
    assert kinds[0] == "syn" and ladder.arrows[0].step == 1
    starts = [i for i, k in enumerate(kinds) if k == "DATA_START_BACKUP"]
    data = [i for i, k in enumerate(kinds) if k == "data"]
    assert len(starts) == len(data) == 2
    assert starts[0] < data[0] < starts[1] < data[1]
    assert len({ladder.arrows[i].ts for i in data}) == 2  # not both at the first start
