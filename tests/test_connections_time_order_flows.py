"""in_time_order for all of a batch's flows at once (flowcheck.connections.time_order).

It must equal the per-flow one it replaced (tests/time_order_reference.py), batch by
batch, on captures whose records were written out of time order: stored captures with
adjacent pairs swapped or each few records written by direction (a NIC's queues in
turn), and the benchmark's short connections written in blocks by direction (most of
their flows going back in time, which cost 53,000 per-flow acks_ahead calls in one
batch of 20,000 connections). And its cost is per batch: three ACK counts at most,
however many flows go back in time.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import time_order_reference as reference
from test_connections_written_out_of_order import (
    CAPTURES,
    _data_then_answer,
    _same_direction,
    in_blocks,
    swapped,
)

import flowcheck.connections.by_time as by_time
import flowcheck.connections.time_order as time_order
from flowcheck.connections import track_connections

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import short_connections  # noqa: E402


def _short_in_blocks(tmp_path: Path, count: int, block: int) -> Path:
    """The benchmark's `count` short connections, in each `block` records the server's
    written before the client's (the client ports are short_connections.FIRST_PORT
    and up), each keeping its timestamp."""
    built = short_connections.build(tmp_path / "short.pcap", count=count) and \
        (tmp_path / "short.pcap").read_bytes()
    records, at = [], 24
    while at + 16 <= len(built):
        size = struct.unpack_from("<I", built, at + 8)[0]
        records.append(built[at:at + 16 + size])
        at += 16 + size

    def from_client(record: bytes) -> bool:
        tcp = 16 + 14 + (record[16 + 14] & 15) * 4
        return struct.unpack_from("!H", record, tcp)[0] >= short_connections.FIRST_PORT

    written = []
    for first in range(0, len(records), block):
        part = records[first:first + block]
        written += [r for r in part if not from_client(r)] + [r for r in part if from_client(r)]
    out = tmp_path / "short-blocks.pcap"
    out.write_bytes(built[:24] + b"".join(written))
    return out


def _same(ours: tuple | None, theirs: tuple | None) -> None:
    assert (ours is None) == (theirs is None)
    if ours is None or theirs is None:
        return
    assert np.array_equal(ours[0].order, theirs[0].order)
    assert ours[1:] == theirs[1:]


def _compared(monkeypatch: pytest.MonkeyPatch, path: Path) -> int:
    """Read path, each batch's in_time_order compared with the reference's; how many
    batches moved packets."""
    moved = []

    def both(d, flows, shuffled):  # noqa: ANN001, ANN202
        ours = time_order.in_time_order(d, flows, shuffled)
        _same(ours, reference.in_time_order(d, flows, shuffled))
        moved.append(ours is not None)
        return ours

    monkeypatch.setattr(by_time, "in_time_order", both)
    track_connections([str(path)], chunk_size=1 << 16)
    return sum(moved)


def _stored(tmp_path: Path, capture: str, edit: Callable[[Path, Path], int]) -> Path:
    out = tmp_path / "written.pcap"
    assert edit(CAPTURES / capture, out) > 0
    return out


CASES = {
    "pairs-same-direction": lambda t: _stored(
        t, "ndmjob/v4-backup.pcap", lambda s, o: swapped(s, o, _same_direction)),
    "pairs-data-then-answer": lambda t: _stored(
        t, "lab-trial28-addresses/allv6-wire.pcap.gz",
        lambda s, o: swapped(s, o, _data_then_answer)),
    "agent-rst-before-halt": lambda t: _stored(
        t, "ndmjob-idle/idle-rst-agent.pcap.gz", lambda s, o: swapped(s, o, _data_then_answer)),
    "queues-in-blocks": lambda t: _stored(
        t, "ndmjob/v4-three-resources.pcap", lambda s, o: in_blocks(s, o, 6)),
    "short-connections-in-blocks": lambda t: _short_in_blocks(t, 600, 16),
}


@pytest.mark.parametrize("case", list(CASES))
def test_all_flows_at_once_equals_flow_by_flow(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               case: str) -> None:
    assert _compared(monkeypatch, CASES[case](tmp_path)) > 0


def test_ack_counts_per_batch_not_per_flow(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """600 short connections written in blocks by direction, read in one batch: the
    ACK counts (the file's order, all behind moved, the order taken; each side's
    sequence numbers made relative by signed32, three times per count) are done for
    every flow at once, not flow by flow (the per-flow one: 9,300 signed32 calls)."""
    path = _short_in_blocks(tmp_path, 600, 16)
    module = sys.modules[by_time.in_time_order.__module__]
    calls: list[int] = []
    relative = module.signed32
    monkeypatch.setattr(module, "signed32", lambda value: calls.append(1) or relative(value))
    result = track_connections([str(path)])
    assert len(result.connections) == 600
    assert 0 < len(calls) <= 3 * 2 * 3
