"""The document's `connections[]` (docs/json.md) written a chunk of connections at a time,
each chunk built column-wise: the text of `[c.as_dict() for c in connections]` as
json.dumps(indent=2) writes it, without a dict per connection and never all at once.

Why: the document held every connection's dict (about 800 bytes each) and then its whole
text (about 620 bytes a connection, in pieces and joined): 200,000 short connections
added some 440 MB after the engine, and `as_dict`'s dicts and the check that they were
flat records took about a third of the time after it.

A chunk of CHUNK connections is read one field at a time (`attrgetter` over the chunk,
C-level), each field's values encoded by one call of json's C encoder with a newline
between items (json escapes every newline inside a string, so the text splits back into
the values' own texts, exactly json's: `float.__repr__`, `null`, escapes), and the rows
laid out in one list (keys by a list repeat, each field's texts by a slice assignment)
joined once, also in C. A field holding a value that is not
a scalar (no field of Connection.as_dict does) or a connection whose class is not
Connection itself (its `as_dict` may differ) makes the chunk go through `as_dict` and
flowcheck.report.json_text instead: the same text, the old way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from itertools import compress, repeat
from json.encoder import encode_basestring_ascii
from math import copysign, isfinite
from operator import attrgetter, is_not, sub
from typing import Any

from flowcheck.model.traffic import Connection
from flowcheck.report.float_texts import float_texts
from flowcheck.report.json_text import INDENT, iter_indented

CHUNK = 1024  # connections per chunk: about a MB of columns and text at once

# Connection.as_dict's keys, in its order. tests/test_report_json_rows.py checks that
# they are as_dict's; a run whose first connection's as_dict has other keys writes every
# row through as_dict (ConnectionRows.pieces).
FIELDS = ("uid", "orig_h", "orig_p", "resp_h", "resp_p", "ts", "duration", "conn_state",
          "history", "orig_pkts", "resp_pkts", "orig_bytes", "resp_bytes", "orig_unique_bytes",
          "resp_unique_bytes", "missed_bytes",
          "gaps", "retransmits", "syn_retries", "first_frame", "last_frame", "rtt",
          "icmp_unreachable", "tunnel", "role", "session")

_ENCODE_VALUES = json.JSONEncoder(separators=("\n", ": ")).encode
# Types whose json text has no newline: json writes subclasses of str, int and float
# as those (str escaped, int.__repr__, float.__repr__), in any container.
_SCALAR_BASES = (str, int, float, type(None))
# A field's values all of one of these types: each value's text by one C function
# (json's own: its C encoder calls these), no encoding and splitting of the list.
_DIRECT: dict[type, Callable[[Any], str]] = {
    int: int.__repr__, str: encode_basestring_ascii, float: float.__repr__}
# The plain fields, as one getter: a tuple of them per connection.
_PLAIN = tuple(name for name in FIELDS if name not in (
    "duration", "icmp_unreachable", "orig_unique_bytes", "resp_unique_bytes"))
_GET_PLAIN = attrgetter(*_PLAIN)


def _durations(chunk: Sequence[Connection]) -> list:
    """`duration` as as_dict gives it, max(0.0, last_ts - ts), for each connection."""
    ends = map(attrgetter("last_ts"), chunk)
    starts = map(attrgetter("ts"), chunk)
    return list(map(max, repeat(0.0), map(sub, ends, starts)))


def _unique_bytes(chunk: Sequence[Connection], sent: Sequence[int], side: str) -> list:
    """`orig_unique_bytes` / `resp_unique_bytes` (side "orig", "resp") as as_dict gives
    them (Connection.unique_sent), from the chunk's `sent` column (orig_bytes or
    resp_bytes): only a record with rare fields can have copies or bytes repeated (a
    property call per record cost 0.3 s a column on 200,000 connections). `sent`
    itself when no record's differs (almost every chunk): _by_columns then reuses its
    texts."""
    unique: list | None = None
    for i in compress(range(len(chunk)), map(is_not, map(attrgetter("rare"), chunk),
                                             repeat(None))):
        value = chunk[i].unique_sent(side)  # type: ignore[arg-type]
        if value != sent[i]:
            if unique is None:
                unique = list(sent)
            unique[i] = value
    return sent if unique is None else unique


def _icmp_counts(chunk: Sequence[Connection]) -> list:
    """`icmp_unreachable` as as_dict gives it: len(icmp_frames)."""
    return list(map(len, map(attrgetter("icmp_frames"), chunk)))


def _texts(values: Sequence) -> Sequence[str] | None:
    """Each value's json text; None when a value is not a scalar (its text could hold
    the newline the values are split at). One value n times: its text n times. Few
    distinct values: each one's text once, looked up per value (_table). All exact
    ints or strs: one C function per value; all finite floats: float_texts, float's
    repr column-wise (json writes inf and nan otherwise than repr). Else one call of
    json's C encoder with a newline between the items, split there (json escapes every
    newline inside a string)."""
    kinds = set(map(type, values))
    direct = None
    if len(kinds) == 1:
        kind = next(iter(kinds))
        if kind is type(None):
            return ("null",) * len(values)
        direct = _DIRECT.get(kind)
        if direct is not None and kind is not float:
            first = values[0]
            if values.count(first) == len(values):
                return (direct(first),) * len(values)
        if kind is float and not all(map(isfinite, values)):
            direct = None
    table = _table(values, kinds)
    if table is not None:
        return list(map(table.__getitem__, values))
    if direct is float.__repr__:  # finite floats: capture times column-wise
        return float_texts(values)
    if direct is not None:
        return list(map(direct, values))
    if not all(issubclass(kind, _SCALAR_BASES) for kind in kinds):
        return None
    texts = _ENCODE_VALUES(list(values))[1:-1].split("\n")
    return texts if len(texts) == len(values) else None


# Values looked at to guess whether a column has few distinct values (_table).
_SAMPLE = 64
# Exact types whose values _table may key a dict by: no two of them hold equal values
# of different text (1 == 1.0 == True: at most one of int and float, no bool).
_KEYED = frozenset({str, int, float, type(None)})


def _table(values: Sequence, kinds: set[type]) -> dict[Any, str] | None:
    """Each distinct value's json text, when the column has few (a connection state,
    a host, a duration of a few ticks: at most a quarter as many as values); else None.

    Why: a dict lookup (about 30 ns) instead of a float's repr (about 300 ns) or a
    string's escape per value: `duration` and `rtt` of 200,000 short connections are a
    few hundred distinct floats. Equal keys must have one text: no int with float
    (1 == 1.0) and no bool (not in _KEYED); a float column holding a zero only without
    negative values (0.0 == -0.0), and finite (json writes inf and nan otherwise than
    repr)."""
    if not kinds <= _KEYED or (int in kinds and float in kinds):
        return None
    sample = values[:_SAMPLE]
    seen = len(set(sample))
    # Mostly distinct (uids, frames): a text per value anyway. A float's text costs as
    # much as some 60 lookups, so a float column is tried unless its sample is all
    # distinct (times): short connections' durations are ~80 distinct values a chunk,
    # 44-51 of them in its first 64.
    if seen == len(sample) or (float not in kinds and seen * 4 > len(sample) * 3):
        return None
    distinct = set(values)
    if len(distinct) * 4 > len(values):
        return None
    if float in kinds:
        floats = [value for value in distinct if type(value) is float]
        if not all(map(isfinite, floats)):
            return None
        # One key stands for 0.0 and -0.0: only when no value is below zero (a float
        # column alone: None has no sign).
        if 0.0 in distinct and (len(kinds) > 1
                                or min(map(copysign, repeat(1.0), values)) < 0):
            return None
    return {value: _KEYED_TEXT[type(value)](value) for value in distinct}


_KEYED_TEXT: dict[type, Callable[[Any], str]] = {
    **_DIRECT, type(None): lambda _: "null"}


class ConnectionRows:
    """`connections[]` of a document (flowcheck.report.json_doc, streamed=True): written
    by flowcheck.report.json_text a chunk at a time (`json_pieces`); compact writers
    take `as_list()`."""

    def __init__(self, connections: Sequence[Connection]) -> None:
        self.connections = connections

    def as_list(self) -> list[dict]:
        """The array as a list of dicts (`Connection.as_dict`), all at once."""
        return [c.as_dict() for c in self.connections]

    def json_pieces(self, depth: int) -> Iterator[str]:
        """The array's indented text (json.dumps(indent=2) of as_list() at `depth`), one
        piece per chunk of CHUNK connections."""
        connections = self.connections
        if not connections:
            yield "[]"
            return
        inner = "\n" + INDENT * (depth + 1)
        items = "\n" + INDENT * (depth + 2)
        separator = "," + inner
        # Before each field's text: the record's opening or the previous item's end,
        # then the key; after the last, the record's end and the separator to the next.
        keys = ["{" + items + json.dumps(FIELDS[0]) + ": "]
        keys += ["," + items + json.dumps(name) + ": " for name in FIELDS[1:]]
        ending = inner + "}" + separator
        by_columns = list(connections[0].as_dict()) == list(FIELDS)
        opening = "[" + inner
        for start in range(0, len(connections), CHUNK):
            chunk = connections[start:start + CHUNK]
            text = _by_columns(chunk, keys, ending) if by_columns else None
            if text is None:
                records = ["".join(iter_indented(c.as_dict(), depth + 1)) for c in chunk]
                text = separator.join(records) + separator
            if start + CHUNK >= len(connections):
                text = text[:-len(separator)] + "\n" + INDENT * depth + "]"
            yield opening + text
            opening = ""


def _by_columns(chunk: Sequence[Connection], keys: list[str], ending: str) -> str | None:
    """The chunk's records' text, each followed by `ending`, built column-wise: each
    field's texts (_texts) interleaved with `keys` (what goes before each field's text)
    in one join; None if the chunk needs as_dict (its class or its values: module
    doc)."""
    if set(map(type, chunk)) != {Connection}:
        return None
    plain = dict(zip(_PLAIN, zip(*map(_GET_PLAIN, chunk), strict=True), strict=True))
    plain["duration"] = _durations(chunk)
    plain["icmp_unreachable"] = _icmp_counts(chunk)
    plain["orig_unique_bytes"] = _unique_bytes(chunk, plain["orig_bytes"], "orig")
    plain["resp_unique_bytes"] = _unique_bytes(chunk, plain["resp_bytes"], "resp")
    # The pieces in row order: each row's keys and ending laid out by one list repeat,
    # each field's texts put in their places by one slice assignment (C-level; zipping
    # the columns and chaining the rows cost ~100 instructions a piece, 49 a row).
    width = 2 * len(FIELDS) + 1
    pieces: list[str | None] = [None] * width
    pieces[0:width - 1:2] = keys
    pieces[-1] = ending
    pieces *= len(chunk)
    done: dict[int, Sequence[str]] = {}  # a column's texts by the values' id: reused
    for column, name in enumerate(FIELDS):
        values = plain[name]
        texts = done.get(id(values))
        if texts is None:
            texts = _texts(values)
            if texts is None:
                return None
            done[id(values)] = texts
        pieces[2 * column + 1::width] = texts
    return "".join(pieces)  # type: ignore[arg-type]  # every None replaced
