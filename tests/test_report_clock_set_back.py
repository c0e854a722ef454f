"""The text report's "+N s" times across a clock set back (newuser59).

captures/lab/clean-3-resources.pcap with frames 200-300 moved back 2 s the way the user
did it (editcap -r the three pieces, editcap -t -2 the middle, mergecap -a): the job
passes with capture_clock_stepped at frame 200, but step 3's time read "-0.000s" while
step 1 read "+1.942s", and the step's finding sat at "-0.035s", before the base the
header calls the earliest connection's first packet (a connection stamped after the
step). The base is now the earliest connection before the step, and a time after the
step that falls before it says "(clock set back)"; no time reads "-0.000s". The JSON's
times stay absolute.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from flowcheck.cli.main import run
from flowcheck.config import build_config, load_file
from flowcheck.durations import signed
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.analyze import render_analysis

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
NAME = "clean-3-resources"


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's recipe, with the real editcap and mergecap."""
    folder = tmp_path_factory.mktemp("set-back")
    whole = LAB / f"{NAME}.pcap"
    count = int(subprocess.run(["capinfos", "-cMT", str(whole)], check=True,
                               capture_output=True, text=True).stdout.split()[-1])
    pieces = []
    for number, (first, last) in enumerate(((1, 199), (200, 300), (301, count))):
        piece = folder / f"piece{number}.pcap"
        subprocess.run(["editcap", "-r", str(whole), str(piece), f"{first}-{last}"],
                       check=True, capture_output=True)
        pieces.append(piece)
    moved = folder / "moved.pcap"
    subprocess.run(["editcap", "-t", "-2", str(pieces[1]), str(moved)], check=True,
                   capture_output=True)
    joined = folder / "joined.pcap"
    subprocess.run(["mergecap", "-a", "-w", str(joined), str(pieces[0]), str(moved),
                    str(pieces[2])], check=True, capture_output=True)
    return joined


@pytest.fixture(scope="module")
def stepped(joined: Path) -> Analysis:
    config = build_config(load_file(LAB / f"{NAME}.toml"))
    return analyze(read_traffic([str(joined)], config), config)


def _report(analysis: Analysis) -> str:
    console = Console(width=240, record=True, color_system=None)
    render_analysis(analysis, console, ladder=None)
    return console.export_text()


def test_times_across_a_clock_set_back_say_so(stepped: Analysis) -> None:
    [step_finding] = [f for f in stepped.findings if f.code == "capture_clock_stepped"]
    assert step_finding.frames[0] == 200 and stepped.verdict == "pass"
    report = _report(stepped)
    assert "-0.000s" not in report
    # The base is the job's first packet, before the step: step 1 at +0.000s.
    assert "started 2026-11-26T00:42:31.350Z (+0.000s)" in report
    assert "before its clock steps back at frame 200" in report
    rows = {line.split()[0]: line for line in report.splitlines()
            if re.match(r"[1-5] ", line)}
    assert re.search(r" \+0\.000s ", rows["1"]), rows["1"]
    # Step 3's time is its first DATA_LISTEN's, frame 21, the one its detail names
    # (review58n: it read frame 215's, a later resource's stamped after the step,
    # "-1.943s (clock set back)" beside "DATA_LISTEN (frame 21)").
    assert re.search(r" \+0\.013s .*DATA_LISTEN \(frame 21\)", rows["3"]), rows["3"]
    assert re.search(r"capture_clock_stepped \(frame 200, at -1\.978s \(clock set back\) = ",
                     report)


def test_the_base_reads_the_step_not_its_words(stepped: Analysis) -> None:
    """The time base follows the kind of step the reading found (Traffic.clock_step),
    not capture_clock_stepped's words: a rewording of the finding moved the base back to
    the connection stamped after the step (report.since read clock_words.SET_BACK_WORDS)."""
    from flowcheck.connections.clock_words import SET_BACK_WORDS, ClockStep

    assert stepped.traffic.clock_step == ClockStep(set_back=200)
    before = _report(stepped)
    for finding in stepped.findings:
        if finding.code == "capture_clock_stepped":
            finding.message = finding.message.replace(SET_BACK_WORDS, SET_BACK_WORDS.upper())
    try:
        after = _report(stepped)
    finally:
        for finding in stepped.findings:
            if finding.code == "capture_clock_stepped":
                finding.message = finding.message.replace(SET_BACK_WORDS.upper(), SET_BACK_WORDS)
    assert "before its clock steps back at frame 200" in after
    assert after.replace(SET_BACK_WORDS.upper(), SET_BACK_WORDS) == before


def test_ladders_mark_times_after_the_step(stepped: Analysis) -> None:
    """The ladders (text, SVG, Mermaid) count from the same base as the report and mark
    a time after the step that falls before it: the second resource's arrows, stamped
    after the step, read "-1.943s (clock set back)" (Ladder.base was the base's float and
    each drawing wrote signed(), unmarked: "-1.943s"); a time before the step is not
    marked, and the text ladder's time column is as wide as the mark."""
    from flowcheck.report.ladder_build import build_ladders
    from flowcheck.report.ladder_svg import render_svg
    from flowcheck.report.ladder_text import render_ladder
    from flowcheck.report.mermaid import mermaid_of

    [ladder] = build_ladders(stepped)
    console = Console(width=240, record=True, color_system=None)
    render_ladder(ladder, console)
    text = console.export_text()
    drawn = {"text": text, "svg": render_svg(ladder), "mermaid": mermaid_of([ladder])}
    for name, drawing in drawn.items():
        negative = re.findall(r"-\d+\.\d{3}s(?: \(clock set back\))?", drawing)
        assert negative, (name, drawing)
        assert all(time.endswith("(clock set back)") for time in negative), (name, negative)
    [first] = [line for line in text.splitlines() if "[1] SYN " in line]
    assert first.startswith("+0.000s ") and "clock set back" not in first
    marked = [line for line in text.splitlines() if "(clock set back)" in line]
    assert all(line.index("\u2502") > line.index("(clock set back)") for line in marked)


def test_the_connections_table_counts_as_analyze(joined: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`flowcheck connections` counts from the same moment as analyze, and marks the
    connection stamped after the step that starts before it (C4, frame 217)."""
    assert run(["connections", str(joined), "--config", str(LAB / f"{NAME}.toml")]) == 0
    out = capsys.readouterr().out
    assert "times +N s count from 2026-11-26T00:42:31.350Z (UTC)" in out
    [c1] = [line for line in out.splitlines() if " C1 " in line]
    [c4] = [line for line in out.splitlines() if " C4 " in line]
    assert "+0.000s" in c1 and "clock set back" not in c1
    assert re.search(r"-1\.9\d\ds \(clock set back\)", c4), c4


def _written_late(path: Path) -> None:
    """Three connections, 0.6 s apart; the second's six records written 0.5 s late (after
    the first's, stamped before them), the third's 1.1 s after: records written out of
    time order, no clock set back (the time jumps forward past where it was)."""
    from scapy.all import IP, TCP, Ether, wrpcap

    packets = []
    for t, sport in ((1000.0, 40000), (999.5, 40001), (1000.6, 40002)):
        for i, (src, flags) in enumerate((("A", "S"), ("B", "SA"), ("A", "A"), ("A", "FA"),
                                          ("B", "FA"), ("A", "A"))):
            a, b = ("10.0.0.1", "10.0.0.2") if src == "A" else ("10.0.0.2", "10.0.0.1")
            ports = (sport, 5001) if src == "A" else (5001, sport)
            packet = Ether() / IP(src=a, dst=b) / TCP(sport=ports[0], dport=ports[1],
                                                      flags=flags, seq=100, ack=0)
            packet.time = t + i * 0.0001
            packets.append(packet)
    wrpcap(str(path), packets)


def test_records_written_late_keep_the_earliest_base(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """review58n: capture_clock_stepped telling only of records written out of time order
    moved the base to C1 and read C2 "-0.500s (clock set back)": its time is right, the
    clock was not set back. The earliest connection (C2) is the base, nothing marked."""
    path = tmp_path / "written.pcap"
    _written_late(path)
    assert run(["connections", str(path)]) == 0
    out = capsys.readouterr().out
    assert "clock set back" not in out and "clock steps back" not in out
    rows = {line.split()[1]: line for line in out.splitlines() if re.match(r"\W C\d ", line)}
    assert "+0.500s" in rows["C1"] and "+0.000s" in rows["C2"], out
    config = build_config(load_file(LAB / f"{NAME}.toml"))
    analysis = analyze(read_traffic([str(path)], config), config)
    [step] = [f for f in analysis.findings if f.code == "capture_clock_stepped"]
    assert "records written out of time order" in step.message
    assert analysis.traffic.clock_step is not None
    assert not analysis.traffic.clock_step.set_back and not analysis.traffic.clock_step.joined
    assert "clock set back" not in _report(analysis)


def test_times_without_a_step_read_as_before() -> None:
    """No step: the earliest connection is the base, nothing marked; a time that rounds
    to zero reads +0.000s either side of it."""
    config = build_config(load_file(LAB / f"{NAME}.toml"))
    report = _report(analyze(read_traffic([str(LAB / f"{NAME}.pcap")], config), config))
    assert "clock set back" not in report and "clock steps back" not in report
    assert "(+0.000s)" in report
    assert signed(-0.0004) == signed(0.0004) == "+0.000s"
    assert signed(-0.0006) == "-0.001s"
