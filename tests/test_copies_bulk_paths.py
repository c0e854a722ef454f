"""The copies path's per-flow steps done in bulk (issue 7 (c): many short connections)
give what the per-flow Python gave: the tail's flows found by FlowTable numbers
(copies_tail._flows_by_number), the sampled packets' connection hashes from the batch's
columns (connection_hashes._ipv4_key_hashes) and one_ttl's counts by dict operations
(OneTtlPairs.add).
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest

import flowcheck.connections.connection_hashes as connection_hashes
import flowcheck.connections.copies_points as copies_points
import flowcheck.connections.copies_tail as copies_tail
import flowcheck.connections.one_ttl as one_ttl
from flowcheck.connections import track_connections
from flowcheck.connections.connection_hashes import _ipv4_key_hashes, _key_hash
from flowcheck.connections.copies_tail import Rows, Tail, tail_of_flows
from flowcheck.connections.flows import BatchFlows

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _key(rng: random.Random, tunnel: str = "") -> tuple:
    low = (4, rng.randbytes(4), rng.randrange(1 << 16))
    high = (4, rng.randbytes(4), rng.randrange(1 << 16))
    return (min(low, high), max(low, high), tunnel)


def test_ipv4_key_hashes_are_key_hash() -> None:
    """CPython's tuple hash in numpy gives _key_hash's value for every IPv4 key, the
    extremes included (all-ones addresses and ports, zeros)."""
    rng = random.Random(7)
    keys = [_key(rng) for _ in range(2000)]
    keys += [((4, b"\0\0\0\0", 0), (4, b"\xff\xff\xff\xff", 65535), ""),
             ((4, b"\xff\xff\xff\xff", 65535), (4, b"\xff\xff\xff\xff", 65535), "")]
    column = [np.array([int.from_bytes(key[side][1], "big") for key in keys], np.uint64)
              for side in (0, 1)]
    ports = [np.array([key[side][2] for key in keys], np.uint64) for side in (0, 1)]
    bulk = _ipv4_key_hashes(column[0], ports[0], column[1], ports[1])
    assert bulk.tolist() == [_key_hash.__wrapped__(key) for key in keys]


def _tail(keys: list[tuple], numbers: np.ndarray | None) -> Tail:
    """A tail of one packet per key (its direction from the lower endpoint)."""
    k = len(keys)
    rows = Rows(np.zeros(k, np.int64), np.zeros((k, 8), np.int64), np.zeros(k),
                np.zeros(k, np.int64), np.zeros(k, np.int32), np.zeros(k, np.int16),
                np.zeros(k, bool), np.zeros(k, np.int64), np.zeros(k, np.int64))
    return Tail(keys, np.arange(k), np.ones(k, bool), rows, numbers)


def _flows(keys: list[tuple]) -> BatchFlows:
    n = len(keys)
    return BatchFlows(keys, np.arange(n), np.ones(n, bool), np.arange(n),
                      np.arange(n + 1))


def test_tail_flows_by_number_are_the_dicts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tail's keys found by their numbers are those a dict of the batch's keys
    finds: a key in both is found at its batch flow, one the batch lacks is not, and a
    batch key sharing a tail key's number without its key (equal 64-bit hashes) is no
    match."""
    monkeypatch.setattr(copies_tail, "BY_NUMBER_FLOWS", 0)  # a batch of 25 flows too
    rng = random.Random(3)
    keys = [_key(rng) for _ in range(40)]
    numbers = np.arange(100, 140, dtype=np.int64)
    batch_keys = keys[10:30] + [_key(rng) for _ in range(5)]
    batch_numbers = np.concatenate((numbers[10:30], [500, 501, 502, 503, 104]))
    tail = _tail(keys, numbers)
    flows = _flows(batch_keys)
    by_number = tail_of_flows(tail, flows, batch_numbers)
    by_dict = tail_of_flows(tail, flows)  # numbers not told: the dict
    assert [a.tolist() for a in by_number] == [a.tolist() for a in by_dict]
    assert by_number[0].tolist() == list(range(10, 30))  # key 4's number met, not its key
    # Not told (a tail kept without numbers, a batch flow without one): the dict decides.
    assert copies_tail._flows_by_number(_tail(keys, None), flows, batch_numbers) is None
    assert copies_tail._flows_by_number(tail, flows, np.full(25, -1, np.int64)) is None


@pytest.mark.parametrize("chunk", [2048, 16384])
def test_copies_cases_equal_with_the_tail_by_dict(chunk: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored capture with copies read in small chunks (a tail at every batch's end)
    gives the same connections and copies whether the tail's flows are found by numbers
    or by a dict of the batch's keys."""
    capture = str(CAPTURES / "field38-matrix" / "agent-killed-snap96-two-points.pcap")
    monkeypatch.setattr(copies_tail, "BY_NUMBER_FLOWS", 0)  # its few flows by numbers too
    by_number = track_connections([capture], chunk_size=chunk)
    assert "capture_duplicates" in repr(by_number.findings)  # the case holds copies
    monkeypatch.setattr(copies_tail, "_flows_by_number", lambda *args: None)
    by_dict = track_connections([capture], chunk_size=chunk)
    assert repr(by_number.connections) == repr(by_dict.connections)
    assert repr(by_number.findings) == repr(by_dict.findings)


def test_one_ttl_counts_by_dicts_are_the_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    """OneTtlPairs.add's counts (all new, full, or a mix) equal its per-connection
    loop's, CONNECTIONS_KEPT small so that each case comes."""
    monkeypatch.setattr(one_ttl, "CONNECTIONS_KEPT", 50)

    def loop(pairs: one_ttl.OneTtlPairs, way: str, packets: dict[int, int]) -> None:
        compared = pairs.packets.setdefault(way, {})
        for connection, count in packets.items():
            if connection in compared or len(compared) < one_ttl.CONNECTIONS_KEPT:
                compared[connection] = compared.get(connection, 0) + count

    rng = random.Random(5)
    bulk, walked = one_ttl.OneTtlPairs(10), one_ttl.OneTtlPairs(10)
    for _ in range(400):
        way = rng.choice(("sample", "head"))
        packets = {rng.randrange(150): rng.randrange(1, 4) for _ in range(rng.randrange(25))}
        pairs = [(0.001, rng.randrange(150), False) for _ in range(rng.randrange(3))]
        bulk.add(way, dict(packets), pairs)
        loop(walked, way, packets)
        assert pickle.dumps(bulk.packets) == pickle.dumps(walked.packets)
        # review56g's running totals, kept by every path: the pairs found, and the
        # packets compared of the connections that have one
        compared, found = bulk.packets[way], bulk.pairs.get(way, {})
        assert bulk.totals[way] == (sum(found.values()),
                                    sum(compared[c] for c in found)), way


@pytest.mark.parametrize("capture", [
    "lab-trial22-tunnels/clean-3-resources.erspan2split.pcap.gz",
    "lab-trial22-tunnels/data-port-in-use.vxlanasym.pcap.gz",
    "lab-trial28-dualstack/happy-eyeballs-v6-drop.pcap.gz",
    "field38-matrix/agent-killed-snap96-two-points.pcap"])
def test_connection_hashes_in_bulk_are_key_by_keys(capture: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The sampled packets' connection hashes made from the batch's columns (every batch,
    BULK_KEY_FLOWS 0) equal those of their keys hashed one by one, tunnelled (ERSPAN,
    VXLAN) and IPv6 packets among them."""
    calls = []

    def both(flows: BatchFlows, rows: np.ndarray, d: object = None) -> tuple:
        bulk = connection_hashes.connection_hashes(flows, rows, d)
        one_by_one = connection_hashes.connection_hashes(flows, rows, None)
        calls.append(rows.shape[0])
        assert [a.tolist() for a in bulk] == [a.tolist() for a in one_by_one]
        return bulk

    monkeypatch.setattr(connection_hashes, "BULK_KEY_FLOWS", 0)
    monkeypatch.setattr(copies_points, "connection_hashes", both)
    track_connections([str(CAPTURES / capture)], chunk_size=4096)
    assert sum(calls)
