"""replays_small against replays.Spans' numpy pass (issue 7: a small batch's numbers in
Python ints must be the numpy pass's, bit for bit): small_directions, and _update's
latest times (small_latest) of batches in time order.

Random batches of one to SMALL_PACKETS packets over a few flows (some batch flows
without packets, two sharing a table number now and then), against random per-direction
state: sequence numbers and IPv4 IDs near their wraps, behind and ahead of the
directions' first numbers, directions known and not, IDs 0, packets not taken. Both
passes start from the same arrays; every array must come out equal.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest

from flowcheck.connections import replays
from flowcheck.connections.replays import Spans
from flowcheck.connections.replays_small import SMALL_PACKETS

_ARRAYS = ("_known", "_seq0", "_end", "_id0", "_ids")


def _state(rng: random.Random, places: int) -> dict[str, np.ndarray]:
    near_wrap = [0, 1, (1 << 32) - 3, (1 << 31) - 1, 1 << 31]
    return {
        "_known": np.array([rng.randrange(4) for _ in range(places)], np.uint8),
        "_seq0": np.array([rng.choice([rng.randrange(1 << 32), *near_wrap])
                           for _ in range(places)], np.uint32),
        "_end": np.array([rng.choice([0, rng.randrange(1 << 16), rng.randrange(1 << 32),
                                      (1 << 32) - 1]) for _ in range(places)], np.uint32),
        "_id0": np.array([rng.choice([rng.randrange(1 << 16), 0, 65535])
                          for _ in range(places)], np.uint16),
        "_ids": np.array([rng.choice([0, rng.randrange(300), 65535])
                          for _ in range(places)], np.uint16),
    }


def _batch(rng: random.Random, state: dict[str, np.ndarray], tables: int):
    """A batch: its decode's columns, flows, each batch flow's table number, taken."""
    m = rng.randint(1, SMALL_PACKETS)
    count = rng.randint(1, 4)
    flow = [rng.randrange(count) for _ in range(m)]
    flow[0] = 0  # numbered by first appearance, as group_flows numbers them
    number = [rng.randrange(tables) for _ in range(count)]
    if count > 1 and rng.random() < 0.1:
        number[1] = number[0]  # equal hashes share a number
    for f in range(count):
        if f not in flow:
            number[f] = -1  # a batch flow without packets (tunnel_halves' joins)
    seq, ip_id = [], []
    for f, low in zip(flow, lower := [rng.random() < 0.5 for _ in range(m)], strict=True):
        place = 2 * max(number[f], 0) + low
        base = int(state["_seq0"][place]) + rng.choice(
            [0, rng.randrange(-3000, 3000), rng.randrange(1 << 32), int(state["_end"][place])])
        seq.append(base % (1 << 32))
        id_base = int(state["_id0"][place]) + rng.choice([0, rng.randrange(-50, 400)])
        ip_id.append(rng.choice([0, id_base % (1 << 16), rng.randrange(1 << 16)]))
    d = SimpleNamespace(
        tcp_seq=np.array(seq, np.int64),
        tcp_payload_len=np.array([rng.choice([0, 0, 1, 1448, 65000]) for _ in range(m)],
                                 np.int64),
        tcp_flags=np.array([rng.choice([0x10, 0x18, 0x02, 0x12, 0x11, 0x01, 0x04, 0x03])
                            for _ in range(m)], np.int64),
        tcp_ip_id=np.array(ip_id if rng.random() < 0.8 else [0] * m, np.int64))
    flows = SimpleNamespace(flow=np.array(flow, np.int64), from_lower=np.array(lower, bool))
    taken = None if rng.random() < 0.6 else np.array([rng.random() < 0.8 for _ in range(m)])
    sizes = np.bincount(flows.flow, minlength=count)
    return d, flows, np.array(number, np.int64), sizes, taken


@pytest.mark.parametrize("seed", range(4))
def test_small_directions_equal_the_numpy_pass(seed: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    tables = 6
    for _ in range(500):
        state = _state(rng, 2 * tables)
        d, flows, number, sizes, taken = _batch(rng, state, tables)
        results = []
        for small in (0, SMALL_PACKETS):  # the numpy pass, then the small one
            monkeypatch.setattr(replays, "SMALL_PACKETS", small)
            spans = Spans()
            for name in _ARRAYS:
                setattr(spans, name, state[name].copy())
            spans._directions(d, flows, number, sizes, taken)
            results.append([getattr(spans, name) for name in _ARRAYS])
        for name, numpy_pass, small_pass in zip(_ARRAYS, *results, strict=True):
            assert numpy_pass.dtype == small_pass.dtype
            assert np.array_equal(numpy_pass, small_pass), (name, seed)


@pytest.mark.parametrize("seed", range(3))
def test_small_updates_equal_the_numpy_pass(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans._update of a batch in time order: each flow's latest time (whole ms), its
    gaps (a flow whose packets spread over REPLAY_STEP, or come back after it, sends the
    batch to the numpy pass) and the directions' numbers, from both passes alike."""
    rng = random.Random(seed)
    tables = 6
    for _ in range(300):
        state = _state(rng, 2 * tables)
        d, flows, number, sizes, _ = _batch(rng, state, tables)
        m = flows.flow.shape[0]
        origin = 1_700_000_000.0
        step = rng.choice([1e-6, 1e-3, 0.3, 1.5])
        d.tcp_ts = origin + 5.0 + np.cumsum([rng.random() * step for _ in range(m)])
        flows.order = np.argsort(flows.flow, kind="stable")
        flows.bounds = np.concatenate(([0], np.cumsum(sizes)))
        flow_at = np.flatnonzero(sizes)
        last_ms = np.array([rng.choice([0, 4000, 5000, 7000, rng.randrange(-5, 9000)])
                            for _ in range(tables)], np.int32)
        fresh = flow_at[[rng.random() < 0.2 for _ in flow_at]]
        results = []
        for small in (0, SMALL_PACKETS):
            monkeypatch.setattr(replays, "SMALL_PACKETS", small)
            spans = Spans()
            spans._origin = origin
            for name in _ARRAYS:
                setattr(spans, name, state[name].copy())
            spans._last_ms = last_ms.copy()
            spans._gap_from, spans._gap_to = np.zeros(tables, np.int32), np.zeros(tables, np.int32)
            spans._update(d, flows, number, sizes, flow_at, fresh, np.ones(m, bool), True)
            results.append([getattr(spans, name).copy() for name in (
                *_ARRAYS, "_last_ms", "_gap_from", "_gap_to")])
        for numpy_pass, small_pass in zip(*results, strict=True):
            assert numpy_pass.dtype == small_pass.dtype
            assert np.array_equal(numpy_pass, small_pass), seed
