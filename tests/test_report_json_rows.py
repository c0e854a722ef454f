"""ConnectionRows writes exactly json.dumps(indent=2)'s text of the connections' as_dict."""

from __future__ import annotations

import io
import json
import math
import random
from dataclasses import dataclass

import pytest

from flowcheck.model import Connection
from flowcheck.report import json_rows
from flowcheck.report.json_doc import write_json
from flowcheck.report.json_rows import FIELDS, ConnectionRows
from flowcheck.report.json_text import dumps_indented

TEXTS = ["", "C1", "quote \" \\", "line\nbreak", "},\n      {", "%s %", "\u00e9\u2192\U0001f600"]
FLOATS = [0.0, -0.0, 1.5, 1764547200.123456, 1e-300, math.inf, -math.inf, math.nan]


def connection(rng: random.Random, n: int) -> Connection:
    """A connection with varied values in every field as_dict writes."""
    c = Connection(uid=f"C{n}", orig_h=rng.choice(["10.0.0.1", "2001:db8::1"]),
                   orig_p=rng.randrange(65536), resp_h=rng.choice(TEXTS),
                   resp_p=rng.randrange(65536), ts=rng.choice(FLOATS + [n / 7]))
    c.last_ts = rng.choice(FLOATS + [c.ts + n / 3, c.ts - 1.0])
    c.history = rng.choice(TEXTS)
    c.orig_pkts, c.resp_bytes, c.gaps = rng.randrange(10), 2 ** 70 * n, rng.choice([0, 1])
    c.rtt = rng.choice([None, 0.000125, math.nan, n / 11])
    c.icmp_frames = list(range(rng.randrange(3)))
    c.tunnel = rng.choice([None, "vxlan", "\u00e9"])
    c.session = rng.choice([None, "S1", TEXTS[3]])
    c.syn_retries = rng.choice([0, True, False])  # a bool where an int goes: json's
    return c


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("chunk", [1, 3, 1024])
def test_same_text_as_json(seed: int, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_rows, "CHUNK", chunk)
    rng = random.Random(seed)
    connections = [connection(rng, n) for n in range(rng.choice([1, 2, 7, 40]))]
    if seed % 2:  # some fields of one value across the chunk
        for c in connections:
            c.orig_p, c.history, c.ts = 10000, "ShAFf", 1.25
    expected = {"a": 1, "connections": [c.as_dict() for c in connections], "z": []}
    streamed = {"a": 1, "connections": ConnectionRows(connections), "z": []}
    assert dumps_indented(streamed) == json.dumps(expected, indent=2)
    assert dumps_indented([streamed]) == json.dumps([expected], indent=2)  # deeper


def test_fields_are_as_dicts() -> None:
    assert tuple(Connection("C1", "a", 1, "b", 2, 0.0).as_dict()) == FIELDS


def test_empty_and_compact() -> None:
    assert dumps_indented({"connections": ConnectionRows([])}) == json.dumps(
        {"connections": []}, indent=2)
    connections = [connection(random.Random(1), n) for n in range(5)]
    stream, expected = io.StringIO(), io.StringIO()
    write_json({"connections": ConnectionRows(connections)}, stream, compact=True)
    write_json({"connections": [c.as_dict() for c in connections]}, expected, compact=True)
    assert stream.getvalue() == expected.getvalue()


@dataclass(slots=True)
class Tagged(Connection):
    """A subclass whose as_dict differs: its rows go through as_dict."""

    def as_dict(self) -> dict:
        return {**Connection.as_dict(self), "tag": [1, {"x": None}]}


def test_other_classes_and_values_through_as_dict() -> None:
    rng = random.Random(3)
    mixed: list[Connection] = [connection(rng, n) for n in range(4)]
    mixed.append(Tagged("C9", "a", 1, "b", 2, 0.5))
    odd = connection(rng, 5)
    odd.tunnel = ["not", "a scalar"]  # type: ignore[assignment]
    for connections in (mixed, [*mixed[:3], odd]):
        expected = json.dumps({"connections": [c.as_dict() for c in connections]}, indent=2)
        assert dumps_indented({"connections": ConnectionRows(connections)}) == expected


# Columns of few distinct values (json_rows._table looks each one's text up): equal
# values of different texts among them (0.0 and -0.0, 1 and 1.0 and True), None, inf.
FEW = [[0.0, -0.0, 0.25], [0.0, 0.5, None], [-0.0, 0.5], [1, 1.0, True], [1, True, 2],
       [0.5, math.inf], [0.125, None, 0.0], ["SF", "S0", None, "\u00e9"], [3, None, 7],
       [2 ** 70, 2 ** 70 + 1]]


@pytest.mark.parametrize("choices", FEW)
def test_few_distinct_values_same_text_as_json(choices: list) -> None:
    rng = random.Random(7)
    for size in (4, 100, 1024):
        values = [rng.choice(choices) for _ in range(size)]
        texts = json_rows._texts(values)
        assert texts is not None
        assert "\n".join(texts) == json.dumps(values, indent=0)[2:-2].replace(",\n", "\n")
