"""A flow key's connection hash, the same in every batch and process: what
packet_identity.fingerprints and points.py's sample key a packet's connection by
(`connection_hashes`), made from the key in Python (`_key_hash`, cached) or, for the
IPv4 packets of a batch of many flows, from its columns in bulk (`_ipv4_key_hashes`:
CPython's tuple hash in numpy, the same values; issue 7 (c), bench's many short
connections, ~1,000 new ones sampled a batch).
"""

from __future__ import annotations

from functools import lru_cache
from zlib import crc32

import numpy as np

from flowcheck.arrays import HASH_MULTIPLIERS, distinct
from flowcheck.connections.flows import BatchFlows, FlowKey
from flowcheck.decode import DecodedBatch

KEY_HASHES = 1 << 12  # flow keys whose hashes are kept (fingerprints), the latest
# More flows than this among the sampled packets: their hashes made in bulk (~40 us a
# batch; _key_hash is 0.3 us a cached key, 1.9 us a new one: bench (c)'s ~1,000 new
# connections a batch sampled, against (a)'s two, cached).
BULK_KEY_FLOWS = 64


def connection_hashes(flows: BatchFlows, rows: np.ndarray, d: DecodedBatch | None = None,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Per TCP packet of the batch at `rows` (uint64 each): a hash of its connection's
    endpoints (_key_hash), and the same with its tunnel mixed in (its CRC-32: none for a
    plain packet); both the same for both directions and in every batch and process.
    d: the batch, whose columns give the IPv4 packets' hashes in bulk when they are of
    more than BULK_KEY_FLOWS flows (_ipv4_key_hashes: _key_hash's values, no Python step
    per flow); None: every flow's key hashed (cached: a long connection's, batch after
    batch)."""
    # Only the flows of `rows` (1 packet in 64 when sampled): hashing every flow's key
    # cost a Python step per connection per batch (200,000 short connections: 0.2 s).
    # Not Python's hash(): a key holds a str (its tunnel), whose hash changes from one
    # process to the next (PYTHONHASHSEED), and fingerprints order the pairs the capture
    # points' offset is the median of: two runs read two capture points' files with
    # clock shifts microseconds apart, numbering frames differently (field check 37).
    flow = flows.flow[rows]
    used = distinct(flow).tolist()
    if d is not None and len(used) > BULK_KEY_FLOWS and _BULK_KEY_HASHES:
        return _bulk_connection_hashes(flows, rows, d)
    keys = [flows.keys[f] for f in used]
    blind = np.fromiter(map(_key_hash, keys), np.uint64, len(keys))
    full = blind.copy()
    tunnelled = [n for n, key in enumerate(keys) if key[2]]
    if tunnelled:  # the tunnel's part computed apart: one key hash a flow, not two
        crcs = np.array([crc32(keys[n][2].encode()) for n in tunnelled], np.uint64)
        with np.errstate(over="ignore"):
            full[tunnelled] ^= crcs * HASH_MULTIPLIERS[1]
    at = np.searchsorted(np.array(used, np.int64), flow)
    return blind[at], full[at]


def _bulk_connection_hashes(flows: BatchFlows, rows: np.ndarray, d: DecodedBatch,
                            ) -> tuple[np.ndarray, np.ndarray]:
    """connection_hashes from the batch's columns: the IPv4 packets' key hashes by
    _ipv4_key_hashes, the others' (IPv6) by _key_hash of their flows' keys; the tunnel's
    CRC-32 once per tunnel of the batch."""
    four = d.tcp_version[rows] == 4
    blind = np.empty(rows.shape[0], np.uint64)
    if four.any():
        at = rows[four]
        lower = flows.from_lower[at].astype(bool)
        src, dst = d.tcp_src[at, 0].astype(np.uint64), d.tcp_dst[at, 0].astype(np.uint64)
        sport, dport = d.tcp_sport[at].astype(np.uint64), d.tcp_dport[at].astype(np.uint64)
        blind[four] = _ipv4_key_hashes(np.where(lower, src, dst), np.where(lower, sport, dport),
                                       np.where(lower, dst, src), np.where(lower, dport, sport))
    if not four.all():
        other = np.flatnonzero(~four)
        flow = flows.flow[rows[other]]
        used = distinct(flow).tolist()
        hashes = np.fromiter((_key_hash(flows.keys[f]) for f in used), np.uint64, len(used))
        blind[other] = hashes[np.searchsorted(np.array(used, np.int64), flow)]
    full = blind.copy()
    tunnel = d.tcp_tunnel[rows]
    if tunnel.any():
        crcs = np.array([crc32(name.encode()) if n else 0
                         for n, name in enumerate(d.tunnels)], np.uint64)
        with np.errstate(over="ignore"):
            full ^= crcs[tunnel] * HASH_MULTIPLIERS[1]
    return blind, full


# CPython's tuple hash (xxHash's round, Python 3.8 on): its primes, and the hash of a
# tuple that would be -1. _key_hash's tuple holds ints from 0 to 2**32 for an IPv4 key,
# each its own hash (below sys.hash_info.modulus).
_XXPRIME_1, _XXPRIME_2 = np.uint64(11400714785074694791), np.uint64(14029467366897019727)
_XXPRIME_5 = 2870177450012600261
_LANES = 7  # _key_hash's tuple: version, address, port, version, address, port, 0
_S31, _S33 = np.uint64(31), np.uint64(33)


def _ipv4_key_hashes(low: np.ndarray, low_port: np.ndarray, high: np.ndarray,
                     high_port: np.ndarray) -> np.ndarray:
    """_key_hash of IPv4 keys (uint64 each: their lower and higher endpoints' address
    word and port), as CPython's tuple hash computes it for (4, low, low_port, 4, high,
    high_port, 0): a few vector operations per item, none per key."""
    acc = np.full(low.shape[0], _XXPRIME_5, np.uint64)
    four = np.uint64(4)
    with np.errstate(over="ignore"):
        for lane in (four, low, low_port, four, high, high_port):
            acc += lane * _XXPRIME_2
            acc = (acc << _S31) | (acc >> _S33)
            acc *= _XXPRIME_1
        # the last item, 0, adds nothing before its rotation and product
        acc = (acc << _S31) | (acc >> _S33)
        acc *= _XXPRIME_1
        acc += np.uint64(_LANES ^ (_XXPRIME_5 ^ 3527539))
    acc[acc == np.uint64((1 << 64) - 1)] = 1546275796
    return acc


def _bulk_matches() -> bool:
    """Whether _ipv4_key_hashes gives this interpreter's _key_hash (CPython 3.8 on, 64-bit
    hashes): else connection_hashes hashes every key in Python."""
    keys = [((4, bytes([a, b, 0, 1]), port), (4, bytes([255, a, b, 7]), 65535 - port), "")
            for a, b, port in ((10, 0, 22), (192, 168, 10000), (0, 0, 0), (255, 255, 65535))]
    words = [[int.from_bytes(key[side][1], "big") for key in keys] for side in (0, 1)]
    ports = [[key[side][2] for key in keys] for side in (0, 1)]
    bulk = _ipv4_key_hashes(*(np.array(column, np.uint64) for column in
                              (words[0], ports[0], words[1], ports[1])))
    return bulk.tolist() == [_key_hash.__wrapped__(key) for key in keys]


@lru_cache(maxsize=KEY_HASHES)
def _key_hash(key: FlowKey) -> int:
    """A flow key's endpoints' hash (uint64; its tunnel left out: connection_hashes), the
    same in every process: Python hashes ints and tuples of them without PYTHONHASHSEED,
    so the addresses go in as ints (1.9 us a key where hash() of the key took 0.3 us and
    a blake2b digest of its repr 4.5 us). Cached: a long connection is sampled in every
    batch (48 connections' keys hashed 1,387 times in the 23 batches of bench capture
    (d)'s first 200,000 packets)."""
    (version, address, port), (other_version, other, other_port), _tunnel = key
    return hash((version, int.from_bytes(address, "big"), port, other_version,
                 int.from_bytes(other, "big"), other_port, 0)) & 0xFFFFFFFFFFFFFFFF


_BULK_KEY_HASHES = _bulk_matches()  # _ipv4_key_hashes is _key_hash here
