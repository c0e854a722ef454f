"""A batch of a few packets in Python ints against the numpy pass (issue 7): its
grouping (flows._few_flows: keys, numbers, directions, order and bounds) and its plain
halves (tunnel_halves._plain_halves: the flows seen one way, kept for the next batch).

Random batches of one to FEW_PACKETS TCP packets over a few endpoints: both directions
of a flow, a host talking to itself on one port (source equal to destination), ports
around the 16-bit limit, tunnels, and IPv6 packets (which send the batch to the numpy
path). Each batch is grouped with FEW_PACKETS as set and with 0 (numpy only).
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest

from flowcheck.connections import flows as flows_module
from flowcheck.connections import tunnel_halves
from flowcheck.connections.flows import FEW_PACKETS, group_flows, numbered_flows
from flowcheck.connections.tunnel_halves import TunnelHalves


def _batch(rng: random.Random) -> SimpleNamespace:
    m = rng.randint(1, FEW_PACKETS)
    hosts = [rng.randrange(1 << 32) for _ in range(3)] + [0, (1 << 32) - 1]
    ports = [rng.randrange(1, 1 << 16) for _ in range(3)] + [0, 65535, 10000]
    six = rng.random() < 0.15
    tunnels = rng.random() < 0.3
    rows = []
    for _ in range(m):
        a, b = rng.choice(hosts), rng.choice(hosts)
        pa, pb = rng.choice(ports), rng.choice(ports)
        if rng.random() < 0.5:
            a, b, pa, pb = b, a, pb, pa
        version = 6 if six and rng.random() < 0.5 else 4
        rows.append((version, a, b, pa, pb, rng.randrange(3) if tunnels else 0))
    src = np.zeros((m, 4), np.uint32)
    dst = np.zeros((m, 4), np.uint32)
    src[:, 0] = [r[1] for r in rows]
    dst[:, 0] = [r[2] for r in rows]
    for i, r in enumerate(rows):
        if r[0] == 6:
            src[i, 1:] = [rng.randrange(2), 0, 7]
            dst[i, 1:] = [rng.randrange(2), 0, 7]
    return SimpleNamespace(
        tcp_index=np.arange(m), tcp_version=np.array([r[0] for r in rows], np.uint8),
        tcp_src=src, tcp_dst=dst, tcp_sport=np.array([r[3] for r in rows], np.int64),
        tcp_dport=np.array([r[4] for r in rows], np.int64),
        tcp_tunnel=np.array([r[5] for r in rows], np.int64),
        tunnels=["", "vxlan:1", "geneve:2"])


@pytest.mark.parametrize("seed", range(3))
def test_few_flows_group_as_the_numpy_path(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    for _ in range(400):
        d = _batch(rng)
        monkeypatch.setattr(flows_module, "FEW_PACKETS", 0)
        reference = group_flows(d), numbered_flows(d)
        monkeypatch.setattr(flows_module, "FEW_PACKETS", FEW_PACKETS)
        few = group_flows(d), numbered_flows(d)
        for (grouped, numbered), kind in ((reference, "numpy"), (few, "few")):
            assert grouped.keys == numbered[0], kind
            assert np.array_equal(grouped.flow, numbered[1]), kind
        for name in ("flow", "from_lower", "order", "bounds"):
            a, b = getattr(reference[0], name), getattr(few[0], name)
            assert a.dtype == b.dtype and np.array_equal(a, b), name
        assert reference[0].keys == few[0].keys
        assert [type(part) for key in few[0].keys for end in key[:2] for part in end] == [
            type(part) for key in reference[0].keys for end in key[:2] for part in end]


@pytest.mark.parametrize("seed", range(2))
def test_plain_halves_as_the_numpy_pass(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """No tunnel seen yet: the batch's flows seen one way only and their masks, kept
    until the next batch (TunnelHalves._pending), the same from both passes."""
    rng = random.Random(seed)
    one_way = 0
    for _ in range(400):
        d = _batch(rng)
        d.tcp_version[:] = 4
        d.tcp_tunnel[:] = 0
        d.tunnels, d.icmp_quotes = [""], []
        flows = group_flows(d)
        pending = []
        for few in (0, FEW_PACKETS):
            monkeypatch.setattr(tunnel_halves, "FEW_PACKETS", few)
            halves = TunnelHalves()
            assert halves.join(d, flows) is flows
            pending.append(halves._pending)
        assert pending[0] == pending[1]
        assert [type(mask) for mask in pending[0][1]] == [type(mask) for mask in pending[1][1]]
        one_way += bool(pending[0][0])
    assert one_way > 50  # halves were kept, not only whole flows
