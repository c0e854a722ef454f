"""A PlainTable on a terminal narrower than its rows, without cutting what matters.

rich fits a table that is too wide by shrinking every column and ending each cut cell
with "…": at 80 columns the connections table showed every address as "10.…", and the
NDMP table its message names as "NDMP_CONNECT_…". A FittedTable instead hides the least
important columns first (and says which, under the table), can stack two columns in
one (the responder under the originator), and lets the free-text columns (an NDMP
message's detail) wrap at their spaces; every other cell keeps its whole line. A
table that fits is the PlainTable itself, unchanged. Narrower still (an IPv6 table at
40 columns), rich shrinks what is left, folding cells onto more lines: nothing is cut.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.report.plain_table import Cell, Justify, PlainTable

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions

# A column that wraps is counted at least this wide (or its longest word): narrower, a
# sentence becomes a column of single words.
WRAP_MIN = 24


@fields_dataclass(frozen=True, slots=True)
class Fit:
    """How a table gives way on a narrow terminal, columns named by their headers.
    steps: what gives way, in order, while the table is too wide: a header hides its
    column; a pair of headers stacks the second column under the first, in one column
    of two-line cells. wrap: the columns whose text may wrap at spaces."""

    steps: tuple[str | tuple[str, str], ...] = ()
    wrap: tuple[str, ...] = ()


def _plain(cells: Sequence[Cell]) -> Sequence[str]:
    if set(map(type, cells)) <= {str}:
        return cells  # type: ignore[return-value]
    return [cell if type(cell) is str else cell.plain for cell in cells]  # type: ignore[union-attr]


def _natural(header: str, cells: Sequence[Cell]) -> int:
    """The column's width without cutting or wrapping: its longest line. Counted in C
    for ASCII (len is the width), 20,000 rows in a few ms."""
    text = header + "\n" + "\n".join(_plain(cells))
    return max(map(len if text.isascii() else cell_len, text.split("\n")))


def _least(header: str, cells: Sequence[Cell]) -> int:
    """What a column that wraps at spaces needs at least: WRAP_MIN, or its longest
    word, and at most its natural width."""
    words = (header + " " + " ".join(_plain(cells))).split()
    return min(_natural(header, cells), max(WRAP_MIN, *map(cell_len, words)))


def _stacked(first: Cell, second: Cell) -> Cell:
    if not (second if type(second) is str else second.plain):  # type: ignore[union-attr]
        return first  # no empty line under it
    if type(first) is str and type(second) is str:
        return f"{first}\n{second}"
    return Text.assemble(first, "\n", second)


class FittedTable:
    """`table` laid out by `fit` when it does not fit the console's width."""

    def __init__(self, table: PlainTable, fit: Fit,
                 notes: dict[str, str] | None = None) -> None:
        self.table = table
        self.fit = fit
        # A line under the table for a column (a legend of its codes), printed only
        # when that column is shown; empty lines are skipped.
        self.notes = notes or {}

    def _notes(self, hidden: list[str]) -> Iterator[Text]:
        for header, note in self.notes.items():
            if note and header not in hidden:
                yield Text(note, style="dim")

    def __rich_console__(self, console: Console,
                         options: ConsoleOptions) -> Iterator[PlainTable | Text]:
        table = self.table
        widths = table.plain_widths  # PlainTable measures its one-line ASCII cells itself
        if widths is None:
            cells = list(zip(*table.rows, strict=True)) or [()] * len(table.columns)
            widths = [_natural(header, column)
                      for (header, _), column in zip(table.columns, cells, strict=True)]
        natural = dict(zip((header for header, _ in table.columns), widths, strict=True))
        if 1 + sum(3 + width for width in natural.values()) <= options.max_width:
            yield table  # the default box: a rule and one space each side of every cell
            yield from self._notes([])
            return
        columns: list[tuple[str, Justify]] = list(table.columns)
        rows: list[list[Cell]] = [list(row) for row in table.rows]
        wrapping = set(self.fit.wrap)
        least = dict(natural)  # what each column needs at least: less when it wraps
        for number, (header, _) in enumerate(columns):
            if header in wrapping:
                least[header] = _least(header, [row[number] for row in rows])

        def width() -> int:
            return 1 + sum(3 + least[header] for header, _ in columns)

        hidden = []
        for step in self.fit.steps:
            if width() <= options.max_width:
                break
            headers = [name for name, _ in columns]
            if isinstance(step, str):
                number = headers.index(step)
                hidden.append(step)
                del columns[number]
                for row in rows:
                    del row[number]
                continue
            first, second = headers.index(step[0]), headers.index(step[1])
            header = f"{step[0]}\n{step[1]}"
            least[header] = max(least[step[0]], least[step[1]])
            if wrapping & set(step):
                wrapping.add(header)
            columns[first] = (header, "left")
            del columns[second]
            for row in rows:
                row[first] = _stacked(row[first], row.pop(second))
        fits = width() <= options.max_width
        # When the rest fits, only the wrapping columns give way (no_wrap keeps rich
        # from shrinking the others); else every column folds: longer, never cut.
        column_options = [{"overflow": "fold", "no_wrap": fits and header not in wrapping}
                          for header, _ in columns]
        yield PlainTable(self.table.title, columns, rows, column_options=column_options)
        if hidden:
            yield Text(f"(not shown: {', '.join(hidden)}; widen the terminal or use "
                       "--format json)", style="dim")
        yield from self._notes(hidden)
