"""Where flowcheck.connections.acked_early searches for its proof of a clock set back.

Only a batch in which a stretch behind the time already reached begins (and the batch
after it) can hold a record acknowledging bytes written before the stretch: the
search, a join over two batches, runs there, not on every batch the stretch goes on
through (a capture set back 1000 s with no proof, one direction of it: every batch to
the end of the file was searched). The proof is kept to one file of one interface.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from lab_edits import lab_packets, write
from scapy.all import IP

from flowcheck.connections import acked_early
from flowcheck.connections.clock import ClockSteps
from flowcheck.decode import decode_batch
from flowcheck.sources import iter_batches

NAME = "clean-3-resources"


def _one_way_set_back(tmp_path: Path, back: str) -> tuple[Path, str]:
    """The lab capture's packets from its busiest sender only (the data agent: no
    acknowledgement of bytes the file holds, no proof), every timestamp from the middle
    on moved back `back` seconds."""
    packets = lab_packets(NAME)
    (sender, _), = Counter(p[IP].src for p in packets if IP in p).most_common(1)
    packets = [p for p in packets if IP in p and p[IP].src == sender]
    for packet in packets[len(packets) // 2:]:
        packet.time = Decimal(packet.time) - Decimal(back)
    return write(tmp_path, f"{NAME}-one-way-back-{back}", packets), sender


def _searches(monkeypatch: pytest.MonkeyPatch, paths: list[Path]) -> tuple[int, int, ClockSteps]:
    """(searches run, batches behind the time reached, the clock) reading `paths` in
    small batches."""
    calls = []
    search = acked_early._acked_early
    monkeypatch.setattr(acked_early, "_acked_early",
                        lambda *args: calls.append(1) or search(*args))
    clock, behind = ClockSteps(), 0
    for batch in iter_batches([str(p) for p in paths], chunk_size=2048):
        reached = clock.reached if clock._high else None
        clock.see(batch, decode_batch(batch))
        behind += reached is not None and float(batch.ts.min()) < max(clock._high.values()) - 1
    return len(calls), behind, clock


def test_a_stretch_behind_is_searched_where_it_begins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = _one_way_set_back(tmp_path, "1000")
    searches, behind, clock = _searches(monkeypatch, [path])
    assert clock.acks.found is None
    assert behind > 20
    assert 1 <= searches <= 2


def _decoded(path: Path) -> list:
    return [decode_batch(batch) for batch in iter_batches([str(path)])]


@pytest.mark.parametrize("source", [(0, -1), (1, -1), (0, 2)],
                         ids=["same file", "next file", "other interface"])
def test_the_proof_is_sought_in_one_file_of_one_interface(
        tmp_path: Path, source: tuple[int, int]) -> None:
    """The lab capture cut in two, the second half moved back 10 s: its records
    acknowledge bytes of the first half stamped 10 s after them. That proves the clock
    set back when the halves are one file of one interface (read in two batches), not
    when the second is the next file of a set or another interface's records: a set's
    files were not written one after the other by one sniffer."""
    packets = lab_packets(NAME)
    half = len(packets) // 2
    for packet in packets[half:]:
        packet.time = Decimal(packet.time) - Decimal(10)
    first = _decoded(write(tmp_path, "first", packets[:half]))
    second = _decoded(write(tmp_path, "second", packets[half:]))
    acks = acked_early.AckedEarly()
    for d in first:
        acks.see(d, 0.128, None, (0, -1))
    reached = float(max(d.tcp_ts.max() for d in first))
    for d in second:
        acks.see(d, 0.128, reached, source)
    assert (acks.found is not None) == (source == (0, -1))
