"""A batch's flow keys made one at a time (flows.FEW_KEYS flows or fewer) equal the
column-wise path's (more flows), and a batch grouped by the table of a sample's hashes
(flows._table_unique) equals a plain grouping when real flow rows collide in it.

review58g (second read of speedG): the few-packets test (tests/test_few_packets.py)
compared the numpy path with the Python one on batches of at most 64 packets, so since
speedG only the one-at-a-time keys: the column-wise keys of more than 128 flows had no
comparison of their own. Here one batch of 60 to 300 IPv4 flows (tunnels or not, a
server's endpoint in many keys) is keyed both ways. The grouping test builds rows whose
real hashes (flows._unique_rows' formula) are chosen: one exactly 0 (an empty slot's
value), one sharing a sampled flow's slot, one equal to a sampled flow's (a collision),
each a single packet between the sampled places. Nothing is timed.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
from test_connections_flow_groups import _by_appearance, _reference

from flowcheck.arrays import HASH_MULTIPLIERS
from flowcheck.connections import flows as flows_module
from flowcheck.connections.flows import FEW_KEYS, TABLE_SAMPLE, numbered_flows

_MASK = (1 << 64) - 1


def _batch(rng: random.Random, count: int, tunnels: bool) -> SimpleNamespace:
    """A batch of IPv4 TCP packets of `count` flows to 3 servers (each packet of a flow
    in either direction, flows in random order), 8 packets a flow on average."""
    servers = [(rng.randrange(1 << 32), rng.choice([10000, 443, 65535])) for _ in range(3)]
    flows = [(rng.randrange(1 << 32), rng.randrange(1, 1 << 16), rng.choice(servers),
              rng.randrange(3) if tunnels else 0) for _ in range(count)]
    rows = []
    chosen = flows + [rng.choice(flows) for _ in range(count * 7)]
    rng.shuffle(chosen)
    for client, port, (server, sport), tunnel in chosen:
        rows.append((client, server, port, sport, tunnel) if rng.random() < 0.5
                    else (server, client, sport, port, tunnel))
    m = len(rows)
    src, dst = np.zeros((m, 4), np.uint32), np.zeros((m, 4), np.uint32)
    src[:, 0], dst[:, 0] = [r[0] for r in rows], [r[1] for r in rows]
    return SimpleNamespace(
        tcp_index=np.arange(m), tcp_version=np.full(m, 4, np.uint8), tcp_src=src,
        tcp_dst=dst, tcp_sport=np.array([r[2] for r in rows], np.int64),
        tcp_dport=np.array([r[3] for r in rows], np.int64),
        tcp_tunnel=np.array([r[4] for r in rows], np.int64),
        tunnels=["", "vxlan:1", "geneve:2"])


@pytest.mark.parametrize(("count", "tunnels"), [(60, False), (FEW_KEYS, True),
                                                (FEW_KEYS + 1, False), (300, True)])
def test_keys_one_at_a_time_equal_column_wise(count: int, tunnels: bool,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    d = _batch(random.Random(count), count, tunnels)
    readings = []
    for few_keys in (0, 1 << 20):  # every batch column-wise, then every one one at a time
        monkeypatch.setattr(flows_module, "FEW_KEYS", few_keys)
        readings.append(numbered_flows(d))
    (columns, flow_c, lower_c), (single, flow_s, lower_s) = readings
    assert len(columns) == count and columns == single
    assert np.array_equal(flow_c, flow_s) and np.array_equal(lower_c, lower_s)
    assert ({key[2] for key in single} == {"", "vxlan:1", "geneve:2"}) is tunnels
    for keys in (columns, single):
        # An endpoint is one tuple in all its flows' keys, its port the process's object.
        ends = [end for key in keys for end in key[:2]]
        by_value = {end: end for end in ends}
        assert all(by_value[end] is end for end in ends)
        assert len(by_value) < len(ends)  # the servers' endpoints shared
        assert all(end[2] is flows_module.port_table()[end[2]] for end in ends)
        assert all(type(end[1]) is bytes and len(end[1]) == 4 for end in ends)


def _unxor(value: int) -> int:
    """x with x ^ (x >> 29) == value (the last step of _unique_rows' hash)."""
    x = value
    for _ in range(3):
        x = value ^ (x >> 29)
    return x & _MASK


def _row_hashing_to(value: int, second: int) -> tuple[int, int]:
    """A 2-column row (IPv4 endpoints' canonical row) with `second` as its second
    column whose hash in _unique_rows is `value`."""
    m0, m1 = int(HASH_MULTIPLIERS[0]), int(HASH_MULTIPLIERS[1])
    first = ((_unxor(value) - second * m1) * pow(m0, -1, 1 << 64)) & _MASK
    mixed = (first * m0 + second * m1) & _MASK
    assert mixed ^ (mixed >> 29) == value
    return first, second


@pytest.mark.parametrize("collide", [False, True])
def test_table_grouping_of_rows_whose_hashes_collide(collide: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(58)
    values = [int(v) for v in rng.integers(1 << 56, 1 << 63, size=40, dtype=np.uint64)]
    picked = rng.integers(0, 40, size=40 * TABLE_SAMPLE)
    hashes = np.array(values, np.uint64)[picked]
    step = hashes.shape[0] // TABLE_SAMPLE
    # Single packets between the sampled places (0, step, ...): a hash of 0 and one of
    # 1 << 20 (slot 0, empty: its value 0), one in flow 3's slot (its top bits), and
    # with `collide` one equal to flow 5's hash from another row.
    flows = np.array([_row_hashing_to(v, int(rng.integers(0, 1 << 48))) for v in values],
                     np.uint64)
    rows = flows[picked]
    for place, value in ((1, 0), (step + 1, 1 << 20), (2 * step + 1, values[3] ^ 1 << 40)):
        hashes[place] = value
        rows[place] = _row_hashing_to(value, int(rng.integers(0, 1 << 48)))
    if collide:
        hashes[3 * step + 1] = values[5]
        rows[3 * step + 1] = _row_hashing_to(values[5], int(rng.integers(0, 1 << 48)))
    if not collide:  # the table's groups of the hashes alone are the rows' groups
        grouped = flows_module._table_unique(hashes)
        assert grouped is not None
        assert _by_appearance(*grouped) == _reference(rows)
    tabled = []

    def spy(hashed: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        assert np.array_equal(hashed, hashes)  # the rows hash as built
        grouped = table_unique(hashed)
        tabled.append(grouped is not None)
        return grouped

    table_unique = flows_module._table_unique
    monkeypatch.setattr(flows_module, "_table_unique", spy)
    assert _by_appearance(*flows_module._unique_rows(rows)) == _reference(rows)
    assert tabled == [True]  # the table grouped the batch (its exact check then decides)
    assert len(_reference(rows)[0]) == 43 + collide

