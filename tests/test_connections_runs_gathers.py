"""The bulk runs read each of the batch's per-packet columns once per call, and a batch
makes one call per round of its walk.

Nothing is timed: `bulk.apply_runs` is handed a view of the decoded batch that counts
which columns it reads (each read is then gathered for the run's rows, one numpy pass
per row). Branch dmix found the sequence numbers, ACK numbers and windows gathered two or
three times per batch (bench/README.md, 2026-12-03, "runs:"); they are gathered once and
reused, and the connections are the same as the reference path's. Branch sdmix found
each batch of (d) mixed-sizes making a call for its bulk flows and another for the
walk's first round (a fixed cost of about 1.5 M instructions a call): the bulk flows'
runs now join that round.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from test_connections_finish_cost import CLEAN, clean
from test_connections_states import run

import flowcheck.connections.bulk as bulk
import flowcheck.connections.runs as runs


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


def test_bulk_flows_join_the_first_round(tmp_path: Path, reads: list[Counter[str]]) -> None:
    """Batches of 66 packets: the first holds A's handshake and first data and all of
    C (both walked, one run each: one call); the second A's middle data (a bulk flow) and
    all of B (walked, one run): one call, not one for A and one for B; the third A's
    close (6 packets, one at a time)."""
    a, b, c = clean(5001), clean(5002), clean(5003)
    assert len(a) == 46
    packets = a[:20] + c + a[20:40] + b + a[40:]
    connections = run(tmp_path, packets, chunk=66)
    assert len(reads) == 2
    assert connections == run(tmp_path, packets, chunk=66, fast=False)
