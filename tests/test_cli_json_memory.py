"""Memory the JSON commands take per connection after the engine (issue 7).

Nothing is timed. `connections --format json` and `analyze --format json` run in this
process on captures of N short connections, standard output a file; python's allocation
tracer (tracemalloc, numpy's arrays included) gives the bytes held when the capture set
has been read (the engine's records: flowcheck.cli.traffic._read's result) and the most
held after that, while the command labels, checks and writes. The growth of that
difference from 1,000 to 3,000 connections, per connection, is what the command adds
per connection after the engine: over 2,000 bytes when the document held every
connection's dict (about 800 bytes) and then its whole text (about 620 bytes, twice
while joined; 200,000 connections: 440 MB over the engine's own peak), 417 once
`connections[]` is built and written a chunk of connections at a time
(flowcheck.report.json_rows): what labelling and the checks keep per connection. The
bound leaves room for that, not for a copy of every row again.
"""

from __future__ import annotations

import json
import sys
import tracemalloc
from pathlib import Path

import pytest
from test_connections_per_connection_memory import short_connections

from flowcheck.cli import traffic
from flowcheck.cli.main import run

BOUND = 1000  # bytes per connection after the engine (420 measured; see the docstring)


def held_after_engine(command: str, capture: Path, out: Path,
                      monkeypatch: pytest.MonkeyPatch) -> int:
    """The most bytes held, above what the read capture set holds, from the end of the
    read to the command's end (its JSON written to `out`)."""
    read = traffic._read
    at_read: list[int] = []

    def measured(*args: object, **kwargs: object) -> object:
        result = read(*args, **kwargs)  # type: ignore[arg-type]
        at_read.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.reset_peak()
        return result

    monkeypatch.setattr(traffic, "_read", measured)
    with out.open("w") as stream:
        monkeypatch.setattr(sys, "stdout", stream)
        tracemalloc.start()
        try:
            code = run([command, str(capture), "--format", "json"])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            monkeypatch.undo()
    assert code in (0, 1), code  # 1: analyze's verdict on connections of no session
    assert len(at_read) == 1
    return peak - at_read[0]


@pytest.mark.parametrize("command", ["connections", "analyze"])
def test_json_after_the_engine_keeps_no_row_per_connection(
        command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the command holds after the engine grows, from 1,000 to 3,000 connections,
    by less than BOUND bytes per connection; the documents list every connection."""
    few, many = 1_000, 3_000
    grown = []
    for count in (few, many):
        capture = short_connections(tmp_path / f"{count}.pcap", count)
        out = tmp_path / f"{count}.json"
        grown.append(held_after_engine(command, capture, out, monkeypatch))
        document = json.loads(out.read_text())
        assert len(document["connections"]) == count
    per_connection = (grown[1] - grown[0]) / (many - few)
    assert per_connection < BOUND, per_connection
