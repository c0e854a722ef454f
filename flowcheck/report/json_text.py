"""`json.dumps(document, indent=2)`, the same text, mostly made by json's C encoder.

json's indenting encoder is pure Python (CPython runs its C encoder only without an
indent): on a report of 20,000 connections it was 0.45 s, a fifth of the whole run.
The C encoder takes any separators, so a container whose items are all scalars (a
connection's record, a list of frame numbers) is encoded in one C call whose item
separator is a newline and the items' indent; only containers holding containers are
walked here. json escapes every newline inside a string, so the only newlines in its
text are separators and the result is exactly json's.

A list of such records (a report's `connections`: one per connection) is encoded a
thousand records per C call (ROWS): the records' items at their depth, the same
separator between records, then the one text every record boundary is (`},` NEWLINE
indent `{`: a string holds no raw newline) moved to the records' own depth. One
Python-level step per record cost 25 microseconds a connection: the report of 20,000
connections took longer to write than the engine took to read the capture.

A value with a `json_pieces(depth)` method (flowcheck.report.json_rows.ConnectionRows:
a report's `connections`, built and written a chunk of records at a time) gives its own
text at its depth.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from itertools import chain
from json.encoder import encode_basestring_ascii
from typing import IO

INDENT = "  "
_SCALARS = frozenset({str, int, float, bool, type(None)})
ROWS = 1024  # records of a list of records encoded per C call


def dumps_indented(document: object) -> str:
    """The text of `json.dumps(document, indent=2)` (ensure_ascii, allow_nan: json's
    defaults). Raises what json raises for what it cannot encode (TypeError)."""
    return "".join(iter_indented(document))


def write_indented(document: object, stream: IO[str], *, pieces: int = 1024,
                   size: int = 1 << 20) -> None:
    """dumps_indented's text written to `stream` in few writes: `pieces` pieces (keys,
    brackets, records, chunks of records) or `size` characters at a time, whichever
    comes first. The whole text (a hundred MB on large captures) is never held at once.
    """
    batch: list[str] = []
    held = 0
    for piece in iter_indented(document):
        batch.append(piece)
        held += len(piece)
        if len(batch) >= pieces or held >= size:
            stream.write("".join(batch))
            batch.clear()
            held = 0
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
        if _flat_records(value):  # type: ignore[arg-type]
            yield from _records(value, depth)  # type: ignore[arg-type]
            return
        separator = "[" + inner
        for item in value:  # type: ignore[attr-defined]
            yield separator
            separator = "," + inner
            yield from iter_indented(item, depth + 1)
        yield closing + "]"
    elif kind in _SCALARS:
        yield json.dumps(value)  # a scalar's text does not depend on the indent
    elif hasattr(kind, "json_pieces"):
        # A list written a chunk at a time (flowcheck.report.json_rows.ConnectionRows).
        yield from value.json_pieces(depth)  # type: ignore[attr-defined]
    else:
        # Empty containers, tuples, subclasses (enums), dicts with keys json converts:
        # json's own indenting encoder, its lines moved to this depth.
        yield json.dumps(value, indent=len(INDENT)).replace("\n", closing)



def _flat_records(rows: list) -> bool:
    """Whether every item of `rows` is a non-empty dict of str keys and scalar values
    (the records iter_indented encodes in one C call each), checked in C-level passes."""
    if set(map(type, rows)) != {dict} or not all(rows):
        return False
    if set(map(type, chain.from_iterable(rows))) != {str}:
        return False
    values = chain.from_iterable(map(dict.values, rows))
    return set(map(type, values)) <= _SCALARS


def _records(rows: list[dict], depth: int) -> Iterator[str]:
    """The text of the list `rows` of flat records at `depth`, ROWS records per piece:
    each chunk encoded in one C call with the records' items at depth + 2, every record
    boundary then moved to depth + 1 (its own, json's) by one replace."""
    encode = _items_at(depth + 2)
    inner = "\n" + INDENT * (depth + 1)
    items = "\n" + INDENT * (depth + 2)
    boundary = "}," + items + "{"
    moved = inner + "}," + inner + "{" + items
    separator = "[" + inner + "{" + items
    for start in range(0, len(rows), ROWS):
        text = encode(rows[start:start + ROWS])  # "[{" ... "}]"
        yield separator + text[2:-2].replace(boundary, moved)
        separator = inner + "}," + inner + "{" + items
    yield inner + "}" + "\n" + INDENT * depth + "]"
