"""A paragraph printed with a hanging indent: the lines it wraps onto start under its
first word, not at column 0 (a finding's message and fix, piped or on a terminal)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console

# Narrower than this, the indent would leave a column of single words: it is dropped.
_LEAST_ROOM = 20


def print_hanging(console: Console, lead: str | Text, body: str, *, indent: int) -> None:
    """Print `lead` (its style kept; plain text, never markup) then `body`, wrapped at
    the console's width, every line after the first indented by `indent` spaces and
    none ending in a space."""
    text = Text.assemble(lead, body)
    room = console.width - indent
    if room < _LEAST_ROOM:
        indent, room = 0, console.width
    for number, line in enumerate(text.wrap(console, room)):
        line.rstrip()
        console.print(Text.assemble(" " * indent, line) if number else line,
                      highlight=False, soft_wrap=True)
