"""Group the TCP packets of a batch by flow, in bulk.

Per-batch Python work here is proportional to the number of distinct flows, never to the
number of packets: a 64-bit hash of each packet's directional 4-tuple is made with numpy,
the distinct hashes are found by comparison when there are few (`_peel`), else with
np.unique, and only those few are turned into Python endpoint tuples. Hash collisions are
detected (every row is compared with its group's representative) and then the exact,
slower np.unique over whole rows is used instead.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import numpy as np

from flowcheck.decode import DecodedBatch

# An endpoint as the tracker keys it: (IP version, address bytes, port).
Endpoint = tuple[int, bytes, int]
# (lower endpoint, higher endpoint, tunnel): the tunnel's name (flowcheck.decode.tunnels),
# "" when not tunnelled, so one inner 4-tuple in two tunnels is two connections.
FlowKey = tuple[Endpoint, Endpoint, str]

_MULTIPLIERS = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
     0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9,
     0x2545F4914F6CDD1D, 0x9FB21C651E98DF25, 0xD1B54A32D192ED03], dtype=np.uint64)
PEEL_MAX = 8  # distinct directional 4-tuples in a batch found by comparison, not sorting


@dataclass(slots=True)
class BatchFlows:
    """keys[f] is flow f's canonical key; per packet: its flow and whether it comes
    from the key's lower endpoint. `order` lists the packets grouped by flow (flows in
    order of first appearance, packets in capture order), `bounds[f]:bounds[f+1]` being
    flow f's slice of it."""

    keys: list[FlowKey]
    flow: np.ndarray
    from_lower: np.ndarray
    order: np.ndarray
    bounds: np.ndarray


def _address_bytes(version: int, words: list[int]) -> bytes:
    """An address's bytes (4 for IPv4, 16 for IPv6) from its row of 32-bit words,
    already converted to Python ints."""
    if version == 4:
        return words[0].to_bytes(4, "big")
    return b"".join(word.to_bytes(4, "big") for word in words)


def address_text(version: int, raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if version == 4 else socket.AF_INET6, raw)


def _directional_rows(decoded: DecodedBatch) -> np.ndarray:
    rows = _address_rows(decoded)
    if not decoded.tcp_tunnel.any():
        return rows
    return np.column_stack((rows, decoded.tcp_tunnel.astype(np.uint64)))


def _address_rows(decoded: DecodedBatch) -> np.ndarray:
    m = decoded.tcp_index.shape[0]
    if (decoded.tcp_version == 4).all():
        # IPv4 only (the usual batch): two 64-bit words say it all.
        rows = np.empty((m, 2), dtype=np.uint64)
        rows[:, 0] = (decoded.tcp_src[:, 0].astype(np.uint64) << np.uint64(32)) | (
            decoded.tcp_dst[:, 0])
        rows[:, 1] = (decoded.tcp_sport << 16) | decoded.tcp_dport
        return rows
    rows = np.empty((m, 10), dtype=np.uint64)
    rows[:, 0] = decoded.tcp_version
    rows[:, 1:5] = decoded.tcp_src
    rows[:, 5:9] = decoded.tcp_dst
    rows[:, 9] = (decoded.tcp_sport << 16) | decoded.tcp_dport
    return rows


def _peel(hashed: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """As np.unique(return_index, return_inverse) for a batch of few distinct values.

    One comparison per distinct value, each over the packets not matched yet: a bulk
    transfer's batch (a data direction and an ACK direction) costs about two passes,
    where np.unique would sort. None when there are more than PEEL_MAX values.
    """
    n = hashed.shape[0]
    same = hashed == hashed[0]
    if same.all():  # one direction of one connection only
        return np.zeros(1, np.int64), np.zeros(n, np.int64)
    inverse = np.empty(n, np.int64)
    firsts: list[int] = []
    positions = np.arange(n)
    values = hashed
    while values.shape[0]:
        if len(firsts) == PEEL_MAX:
            return None
        same = values == values[0]
        firsts.append(int(positions[0]))
        inverse[positions[same]] = len(firsts) - 1
        rest = ~same
        positions, values = positions[rest], values[rest]
    return np.array(firsts, np.int64), inverse


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of each distinct row's first packet, inverse), exact."""
    with np.errstate(over="ignore"):
        # Column by column: a sum along a short row axis is several times slower.
        hashed = rows[:, 0] * _MULTIPLIERS[0]
        for column in range(1, rows.shape[1]):
            hashed += rows[:, column] * _MULTIPLIERS[column]
        hashed ^= hashed >> np.uint64(29)
    peeled = _peel(hashed)
    if peeled is not None:
        first, inverse = peeled
    else:
        _, first, inverse = np.unique(hashed, return_index=True, return_inverse=True)
    if all(np.array_equal(rows[:, column], rows[first, column][inverse])
           for column in range(rows.shape[1])):
        return first, inverse
    _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def group_flows(decoded: DecodedBatch) -> BatchFlows:
    m = decoded.tcp_index.shape[0]
    if m == 0:
        empty = np.zeros(0, dtype=np.int64)
        return BatchFlows([], empty, np.zeros(0, dtype=bool), empty, np.zeros(1, np.int64))
    rows = _directional_rows(decoded)
    first, inverse = _unique_rows(rows)
    # Distinct directional keys -> canonical flows, in order of first appearance.
    flow_index: dict[FlowKey, int] = {}
    keys: list[FlowKey] = []
    unique_flow = np.empty(first.shape[0], dtype=np.int64)
    unique_from_lower = np.empty(first.shape[0], dtype=bool)
    # Python values of the distinct keys' fields in one conversion per column: the
    # loop below then touches no numpy scalar (many short connections: many keys).
    by_appearance = np.argsort(first, kind="stable")
    rows_of = first[by_appearance]
    versions = decoded.tcp_version[rows_of].tolist()
    src_words = decoded.tcp_src[rows_of].tolist()
    dst_words = decoded.tcp_dst[rows_of].tolist()
    sports = decoded.tcp_sport[rows_of].tolist()
    dports = decoded.tcp_dport[rows_of].tolist()
    tunnels = decoded.tcp_tunnel[rows_of].tolist()
    for n, u in enumerate(by_appearance.tolist()):
        version = versions[n]
        src: Endpoint = (version, _address_bytes(version, src_words[n]), sports[n])
        dst: Endpoint = (version, _address_bytes(version, dst_words[n]), dports[n])
        tunnel = decoded.tunnels[tunnels[n]]
        key: FlowKey = (src, dst, tunnel) if src <= dst else (dst, src, tunnel)
        if key not in flow_index:
            flow_index[key] = len(keys)
            keys.append(key)
        unique_flow[u] = flow_index[key]
        unique_from_lower[u] = src == key[0]
    flow = unique_flow[inverse]
    order = np.argsort(flow, kind="stable")
    bounds = np.zeros(len(keys) + 1, dtype=np.int64)
    np.cumsum(np.bincount(flow, minlength=len(keys)), out=bounds[1:])
    return BatchFlows(keys, flow, unique_from_lower[inverse], order, bounds)
