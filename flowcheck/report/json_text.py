"""`json.dumps(document, indent=2)`, the same text, mostly made by json's C encoder.

json's indenting encoder is pure Python (CPython runs its C encoder only without an
indent): on a report of 20,000 connections it was 0.45 s, a fifth of the whole run.
The C encoder takes any separators, so a container whose items are all scalars (a
connection's record, a list of frame numbers) is encoded in one C call whose item
separator is a newline and the items' indent; only containers holding containers are
walked here. json escapes every newline inside a string, so the only newlines in its
text are separators and the result is exactly json's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from json.encoder import encode_basestring_ascii
from typing import IO

INDENT = "  "
_SCALARS = frozenset({str, int, float, bool, type(None)})


def dumps_indented(document: object) -> str:
    """The text of `json.dumps(document, indent=2)` (ensure_ascii, allow_nan: json's
    defaults). Raises what json raises for what it cannot encode (TypeError)."""
    return "".join(iter_indented(document))


def write_indented(document: object, stream: IO[str], *, pieces: int = 1024) -> None:
    """dumps_indented's text written to `stream` about a thousand pieces (records) at
    a time: the whole text (tens of MB on large captures) is never held at once."""
    batch: list[str] = []
    for piece in iter_indented(document):
        batch.append(piece)
        if len(batch) >= pieces:
            stream.write("".join(batch))
            batch.clear()
    stream.write("".join(batch))


@cache
def _items_at(depth: int) -> Callable[[object], str]:
    """json's C encoder for a container of scalars whose items sit at `depth`: its text
    is the container's own minus the newline after the opening bracket and before the
    closing one."""
    return json.JSONEncoder(separators=(",\n" + INDENT * depth, ": ")).encode


def iter_indented(value: object, depth: int = 0) -> Iterator[str]:
    """dumps_indented's text in pieces (a record, a bracket, a key) for `value` at
    `depth`."""
    kind = type(value)
    inner = "\n" + INDENT * (depth + 1)
    closing = "\n" + INDENT * depth
    if kind is dict and value and set(map(type, value)) == {str}:  # type: ignore[arg-type]
        if set(map(type, value.values())) <= _SCALARS:  # type: ignore[attr-defined]
            yield "{" + inner + _items_at(depth + 1)(value)[1:-1] + closing + "}"
            return
        separator = "{" + inner
        for key, item in value.items():  # type: ignore[attr-defined]
            yield separator + encode_basestring_ascii(key) + ": "
            separator = "," + inner
            yield from iter_indented(item, depth + 1)
        yield closing + "}"
    elif kind is list and value:
        if set(map(type, value)) <= _SCALARS:  # type: ignore[arg-type]
            yield "[" + inner + _items_at(depth + 1)(value)[1:-1] + closing + "]"
            return
        separator = "[" + inner
        for item in value:  # type: ignore[attr-defined]
            yield separator
            separator = "," + inner
            yield from iter_indented(item, depth + 1)
        yield closing + "]"
    elif kind in _SCALARS:
        yield json.dumps(value)  # a scalar's text does not depend on the indent
    else:
        # Empty containers, tuples, subclasses (enums), dicts with keys json converts:
        # json's own indenting encoder, its lines moved to this depth.
        yield json.dumps(value, indent=len(INDENT)).replace("\n", closing)

