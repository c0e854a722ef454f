"""live's snapshot (flowcheck.live: copy.deepcopy of the tracker at every check) keeps
the short pass's parked columns compacted: a column of one value is a read-only
broadcast view (flowcheck.arrays.compact) that a deep copy would expand back to one
int64 per connection and side (about 3 MB a column for 200,000 connections)."""

from __future__ import annotations

import copy
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from test_connections_per_connection_memory import CHUNK, short_connections

from flowcheck.connections import ConnectionTracker, track_connections
from flowcheck.connections.parked import Parked
from flowcheck.model import Connection


def _columns(block: Parked) -> dict[str, np.ndarray]:
    """block's array columns by name, those of its dict fields as FIELD.KEY."""
    found = {}
    for f in fields(Parked):
        value = getattr(block, f.name)
        if isinstance(value, np.ndarray):
            found[f.name] = value
        elif isinstance(value, dict):
            found |= {f"{f.name}.{k}": v for k, v in value.items()
                      if isinstance(v, np.ndarray)}
    return found


def test_a_deep_copy_of_the_tracker_keeps_parked_columns_compact(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every compacted column of every parked block is still compacted (stride 0) in
    the copy, the copy's records are its own, and the copy finishes to equal records."""
    seen: list[tuple[ConnectionTracker, list[Connection]]] = []
    finish = ConnectionTracker.finish

    def snapshot_then_finish(tracker: ConnectionTracker) -> list[Connection]:
        copied = copy.deepcopy(tracker)
        seen.append((tracker, copied))
        return finish(tracker)

    monkeypatch.setattr(ConnectionTracker, "finish", snapshot_then_finish)
    path = short_connections(tmp_path / "short.pcap", 3_000)
    records = track_connections([str(path)], chunk_size=CHUNK).connections
    tracker, copied = seen[0]
    twins = {key: block for key, block, _ in copied._parked.entries()}
    pairs = [(block, twins[key]) for key, block, _ in tracker._parked.entries()]
    assert pairs
    compacted = 0
    for original, twin in pairs:
        assert twin is not original and twin.records is not original.records
        twins = _columns(twin)
        for name, column in _columns(original).items():
            if column.ndim and 0 in column.strides:
                compacted += 1
                assert 0 in twins[name].strides, name
                assert np.array_equal(twins[name], column, equal_nan=column.dtype.kind == "f"), name
    assert compacted
    assert [c.history for c in finish(copied)] == [c.history for c in records]
