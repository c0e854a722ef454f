"""A paragraph printed with a hanging indent: the lines it wraps onto start under its
first word, not at column 0 (a finding's message and fix, piped or on a terminal). A
command in backticks (`ss -tanp 'sport = :6001'`) is not broken across lines where it
fits on one: copied from the terminal, it runs as printed."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console

# Narrower than this, the indent would leave a column of single words: it is dropped.
_LEAST_ROOM = 20
# Stands for a space inside a backticked command while wrapping: not whitespace, so the
# command wraps as one word (a private-use character, never in a finding's text).
_KEPT_SPACE = "\ue000"
_COMMAND = re.compile(r"`[^`]+`")


def print_hanging(console: Console, lead: str | Text, body: str, *, indent: int) -> None:
    """Print `lead` (its style kept; plain text, never markup) then `body`, wrapped at
    the console's width, every line after the first indented by `indent` spaces and
    none ending in a space."""
    body = _COMMAND.sub(lambda command: command[0].replace(" ", _KEPT_SPACE), body)
    text = Text.assemble(lead, body)
    room = console.width - indent
    if room < _LEAST_ROOM:
        indent, room = 0, console.width
    for number, wrapped in enumerate(text.wrap(console, room)):
        line = Text(wrapped.plain.replace(_KEPT_SPACE, " "), style=wrapped.style,
                    spans=wrapped.spans, end="")
        line.rstrip()
        console.print(Text.assemble(" " * indent, line) if number else line,
                      highlight=False, soft_wrap=True)
