"""The bulk runs read each of the batch's per-packet columns once per call.

Nothing is timed: `bulk.apply_runs` is handed a view of the decoded batch that counts
which columns it reads (each read is then gathered for the run's rows, one numpy pass
per row). Branch dmix found the sequence numbers, ACK numbers and windows gathered two or
three times per batch (bench/README.md, 2026-12-03, "runs:"); they are gathered once and
reused, and the connections are the same as the reference path's.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from test_connections_finish_cost import CLEAN, clean
from test_connections_states import run

import flowcheck.connections.bulk as bulk
import flowcheck.connections.runs as runs
import flowcheck.connections.tracker as tracker


class CountingBatch:
    """A DecodedBatch's view that counts the reads of each attribute."""

    def __init__(self, batch: object, reads: Counter[str]) -> None:
        self._batch, self._reads = batch, reads

    def __getattr__(self, name: str) -> object:
        self._reads[name] += 1
        return getattr(self._batch, name)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Counter[str]]:
    """Per apply_runs call: how often it read each attribute of the batch."""
    calls: list[Counter[str]] = []
    real = bulk.apply_runs

    def counting(d: object, *args: object, **kwargs: object) -> int:
        calls.append(Counter())
        return real(CountingBatch(d, calls[-1]), *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tracker, "apply_runs", counting)
    monkeypatch.setattr(runs, "apply_runs", counting)
    return calls


def test_each_column_read_once_per_call(tmp_path: Path, reads: list[Counter[str]]) -> None:
    packets = [p for k in range(CLEAN) for p in clean(5001 + k)]
    connections = run(tmp_path, packets)
    assert reads, "no bulk run: the test's connections are too short"
    for call in reads:
        for column in ("tcp_seq", "tcp_ack", "tcp_window", "tcp_payload_len", "tcp_flags"):
            assert call[column] == 1, (column, call)
    assert connections == run(tmp_path, packets, fast=False)
