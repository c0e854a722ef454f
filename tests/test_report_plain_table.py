"""PlainTable prints exactly what rich prints for the same table, only faster."""

from __future__ import annotations

import io
import random

import pytest
from rich.console import Console
from rich.text import Text

from flowcheck.model import CaptureInfo
from flowcheck.report.connections import COLUMNS, FIT, render_captures
from flowcheck.report.plain_table import PlainTable
from flowcheck.report.table_fit import FittedTable

CELLS = ["C1", "+0.001s", "10.77.0.2:20000", "[fe80::1]:80", "[2001:db8::1]:10000", "SF",
         "ShADadFf", "4/3", "1.5 KB/90.0 MB", "0", "control S1", "12-1084", "", " x ",
         ":smile:", "[bold]not markup[/]", "\u00e9t\u00e9", "tab\there", "two\nlines"]


STYLED = [Text.assemble(("BAD_ARGS", "red")), Text("base", style="bold"),
          Text.assemble("a:5 ", ("partial", "yellow")),
          Text.assemble(("a", "red"), ("b", "red"), "c")]


def rows(seed: int, count: int, cells: list) -> list[tuple]:
    rng = random.Random(seed)
    return [tuple(rng.choice(cells) for _ in COLUMNS) for _ in range(count)]


class AsciiOut(io.StringIO):
    """An output whose encoding is ASCII: rich draws its boxes in ASCII there."""

    encoding = "ascii"  # type: ignore[assignment]


def printed(table: object, **console: object) -> str:
    out = AsciiOut() if console.pop("ascii", False) else io.StringIO()
    Console(file=out, highlight=False, **console).print(table)  # type: ignore[arg-type]
    return out.getvalue()


CONSOLES = [
    {"width": 200},  # piped (the CLI's PIPED_WIDTH)
    {"width": 200, "force_terminal": True, "color_system": "truecolor"},  # styles
    {"width": 60, "force_terminal": True, "color_system": "256"},  # too narrow: wraps
    {"width": 200, "safe_box": True, "legacy_windows": True},
    {"width": 200, "force_terminal": True, "color_system": "standard", "emoji": True},
    {"width": 200, "ascii": True},
]


def counted(table: PlainTable) -> list[int]:
    """The rows of each rich Table the PlainTable builds, from now on."""
    built: list[int] = []
    original = table.rich_table

    def counting(table_rows, widths=None):  # type: ignore[no-untyped-def]
        built.append(len(table_rows))
        return original(table_rows, widths)

    table.rich_table = counting  # type: ignore[method-assign]
    return built


SHORT = [c for c in CELLS if c.isascii() and c.isprintable() and len(c) < 12
         and c == c.strip()]


@pytest.mark.parametrize("console", CONSOLES)
@pytest.mark.parametrize(("seed", "count", "cells", "fast"), [
    (0, 0, SHORT, False), (1, 1, SHORT, False), (2, 2, SHORT, True), (3, 30, SHORT, True),
    (4, 50, SHORT + ["a-longer-cell-than-most:65535"], False),  # too wide for 200
    (5, 50, CELLS, False), (6, 3, CELLS, False),
    (7, 20, SHORT + [" x "], False), (8, 20, SHORT + ["x "], False),
    (9, 20, SHORT + [""], True),
    (10, 40, SHORT + STYLED, False),  # a Text with a base style
    (11, 40, SHORT + STYLED[:1] + STYLED[2:], True)])
def test_same_text_as_rich(console: dict, seed: int, count: int, cells: list,
                           fast: bool) -> None:
    body = rows(seed, count, cells)
    table = PlainTable(f"{count} TCP connections", COLUMNS, body)
    expected = printed(table.rich_table(body), **dict(console))
    built = counted(table)
    assert printed(table, **dict(console)) == expected
    if fast and console["width"] == 200:
        assert built == [1]  # the rows after the first were drawn here


def test_rows_are_plain_text_not_markup() -> None:
    body = [("C1", "+0.000s", "[fe80::1]:80", "[2001:db8::5]:10000", "SF", "ShAFf", "4/3",
             "0 B/0 B", "0", "[bold]other[/]", "1-7"), ("C2",) + ("x",) * 10]
    text = printed(PlainTable("2 TCP connections", COLUMNS, body), width=200)
    assert "[fe80::1]:80" in text and "[2001:db8::5]:10000" in text
    assert "[bold]other[/]" in text


def test_capture_paths_and_errors_are_not_markup() -> None:
    info = CaptureInfo(path="/tmp/[red]job/a.pcap", format="pcap", packets=3, truncated=True,
                       error="[bold]record length 99999 at offset 24")
    out = io.StringIO()
    render_captures([info], Console(file=out, width=200))
    assert out.getvalue().startswith("/tmp/[red]job/a.pcap: pcap")
    assert "[bold]record length" in out.getvalue()


@pytest.mark.parametrize("console", CONSOLES)
def test_a_fitted_table_that_fits_is_the_plain_table(console: dict) -> None:
    """FittedTable changes nothing while the rows fit (here all but the 60 columns)."""
    body = rows(3, 30, SHORT)
    plain = printed(PlainTable("30 TCP connections", COLUMNS, body), **dict(console))
    fitted = printed(FittedTable(PlainTable("30 TCP connections", COLUMNS, body), FIT),
                     **dict(console))
    assert (fitted == plain) is (console["width"] == 200)


def test_a_narrow_fitted_table_keeps_every_address() -> None:
    """At 80 columns the kept columns are whole, and a note says which were left out."""
    body = [(f"C{n}", "+0.001s", f"192.168.100.{n}:{40000 + n}", "10.77.0.2:10000", "SF",
             "ShADadFf", "4/3", "1.5 KB/90.0 MB", "0", "control S1", "12-1084")
            for n in range(200)]
    fitted = FittedTable(PlainTable("200 TCP connections", COLUMNS, body), FIT)
    text = printed(fitted, width=80)
    assert all(len(line) <= 80 for line in text.splitlines())
    assert all(f"│ {row[0]} " in text and row[2] in text for row in body)
    assert " ".join(text.split()).endswith(
        "(not shown: frames, history, pkts o/r, start, retx; widen the terminal or use "
        "--format json)")


def test_the_title_is_printed_as_it_is() -> None:
    """An IPv6 endpoint `[fd77::1]:5025` in a title is no style tag (trial 19 D14: the
    `ndmp` heading read `C1: :5025 -> :10000`)."""
    title = "C1: [fd77::1]:5025 -> [fd77::2]:10000, [bold]x[/]"
    out = printed(PlainTable(title, [(header, "left") for header, _ in COLUMNS[:2]],
                             [("a" * 60, "b"), ("c", "d")]), width=120)
    assert title in out
