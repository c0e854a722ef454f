"""A rich table of one-line cells whose rows are drawn here, not by rich's layout.

rich lays every cell out through its generic renderables (measure, wrap, pad, crop):
about 1.5 ms a row, 30 s for the 20,000 rows of `flowcheck connections` on a capture of
short connections. When every cell is one line of ASCII (plain, or a Text with styled
spans) and the table fits the width, the widths are just the longest cells: rich still
draws the title, the header and the first row (at those widths, with its styles and
box), and the other rows are made here the way rich made that first row, which is
checked character by character, style by style; anything else (a table too wide, which
rich would wrap, other cells, another box) is drawn by rich whole. Either way the
output is rich's.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from rich.markup import escape
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions

Justify = Literal["left", "right"]
Cell = str | Text


class PlainTable:
    """Renders as `rich.table.Table(title=title, title_justify="left")` with these
    columns ((header, justify)) and rows whose cells are plain text (str: never read as
    markup, nor is the title: `[fd77::1]:5025` is no style tag) or rich Text (styled
    spans). `column_options`: more of rich's add_column arguments per column (no_wrap,
    overflow; report/table_fit.py sets them)."""

    def __init__(self, title: str, columns: Sequence[tuple[str, Justify]],
                 rows: Sequence[Sequence[Cell]], *,
                 column_options: Sequence[Mapping[str, Any]] | None = None) -> None:
        self.title = title
        self.columns = list(columns)
        self.rows = rows
        self.column_options = column_options

    def rich_table(self, rows: Sequence[Sequence[Cell]],
                   widths: Sequence[int] | None = None) -> Table:
        """The rich Table of `rows`, its columns at least `widths` wide."""
        table = Table(title=escape(self.title), title_justify="left")
        for number, (header, justify) in enumerate(self.columns):
            table.add_column(header, justify=justify,
                             min_width=widths[number] if widths else None,
                             **(self.column_options[number] if self.column_options else {}))
        for row in rows:
            table.add_row(*(Text(cell) if type(cell) is str else cell for cell in row))
        return table

    def __rich_console__(self, console: Console,
                         options: ConsoleOptions) -> Iterator[Table | Segment]:
        widths = self.plain_widths if len(self.rows) > 1 else None
        if widths is None or sum(widths) + 3 * len(widths) + 1 > options.max_width:
            yield self.rich_table(self.rows)
            return
        lines = list(Segment.split_lines(console.render(
            self.rich_table(self.rows[:1], widths), options)))
        head, first, bottom = lines[:-2], lines[-2], lines[-1]
        drawn = "".join(segment.text for segment in first)
        # The box's characters as rich drew them (ASCII on some terminals).
        edges = (drawn[:1], drawn[widths[0] + 3:widths[0] + 4], drawn[-1:])
        if _styled(first) != _styled(self._segments(self.rows[0], widths, edges, console)):
            yield self.rich_table(self.rows)  # rich laid it out otherwise
            return
        for line in (*head, first):
            yield from line
            yield Segment.line()
        for row in self.rows[1:]:
            yield from self._segments(row, widths, edges, console)
            yield Segment.line()
        yield from bottom
        yield Segment.line()

    @functools.cached_property
    def plain_widths(self) -> list[int] | None:
        """The width of each column (its longest cell or header), or None when a cell
        is not one line of printable ASCII, starts or ends with a space, or is a Text
        with more than styled spans (rich lays those out its own way). Measured once:
        the rows are not changed after the table is made."""
        if not self.rows:
            return None
        if any(len(row) != len(self.columns) for row in self.rows):
            return None
        widths = []
        for (header, _), column in zip(self.columns, zip(*self.rows, strict=True),
                                       strict=True):
            cells = [cell if type(cell) is str else _spans_only(cell) for cell in column]
            if None in cells:
                return None
            text = "\n" + "\n".join(cells) + "\n"
            if not text.isascii() or not text[1:-1].replace("\n", "").isprintable() or \
                    " \n" in text or "\n " in text:
                return None
            widths.append(max(len(header), *map(len, cells)))
        return widths

    def _segments(self, row: Sequence[Cell], widths: Sequence[int],
                  edges: tuple[str, str, str], console: Console) -> list[Segment]:
        """A row as rich draws it: (left edge, column divider, right edge), each cell
        padded by one space and justified in its column's width, styled spans as rich
        renders them; plain stretches in one segment each."""
        left, divider, right = edges
        segments: list[Segment] = []
        plain = left + " "
        last = len(row) - 1
        for number, (cell, width, (_, justify)) in enumerate(
                zip(row, widths, self.columns, strict=True)):
            if type(cell) is str:
                plain += cell.rjust(width) if justify == "right" else cell.ljust(width)
            else:
                pad = " " * (width - len(cell.plain))  # type: ignore[union-attr]
                if justify == "right":
                    plain += pad
                segments.append(Segment(plain))
                segments.extend(cell.render(console))  # type: ignore[union-attr]
                plain = pad if justify != "right" else ""
            plain += f" {right}" if number == last else f" {divider} "
        segments.append(Segment(plain))
        return [segment for segment in segments if segment.text]


def _styled(line: Sequence[Segment]) -> list[tuple[str, Style | None]]:
    """Each character of a line with its style (None when it has none)."""
    return [(char, segment.style or None) for segment in line for char in segment.text]


def _spans_only(cell: Text) -> str | None:
    """The text of a Text whose only styles are its spans (no base style, justify or
    overflow of its own: the padding rich adds around it is then unstyled); else None."""
    if cell.style or cell.justify or cell.overflow or cell.no_wrap:
        return None
    return cell.plain
