"""A packet's whole TCP header with its timestamp option: the identity copies.py's wide
window asks for (flowcheck.connections.copy_window, WIDE_COPY_WINDOW).

A packet with an IPv4 ID is compared by copies.py without its TCP options (its header
identity is 0: packet_identity), the ID alone telling it from its resends within 0.5
ms. Beyond 0.5 ms a copy is taken only when its TCP header, options included, is its
original's too, and those options hold a timestamp option (RFC 7323 3.2: kind 8,
length 10), so that the two carry the same TSval. Read for the few packets of such
pairs only (numpy over those rows; a kept packet's is read while its batch's bytes are
at hand, copies_tail).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flowcheck.arrays import distinct
from flowcheck.connections.copies_tail import NOT_READ, wide_syns
from flowcheck.connections.packet_identity import (
    HASH_FROM,
    HASH_WORDS,
    HASHED_BYTES,
    MAX_HEADER,
    MIN_HEADER,
    byte_windows,
    hash_words,
    header_start,
)
from flowcheck.decode import DecodedBatch

_TIMESTAMP, _TIMESTAMP_LEN = 8, 10  # RFC 7323 3.2
_END, _NOP = 0, 1  # RFC 9293 3.1: end of option list, no-operation


def stamped_identities(d: DecodedBatch, buf: np.ndarray, ends: np.ndarray,
                       rows: np.ndarray) -> np.ndarray:
    """Per row of `rows` (TCP rows of d; int64): the hash of its TCP header from the
    sequence number to the end of its options, the checksum left out, when its options
    are captured whole and hold a timestamp option; else 0 (no timestamp option, options
    cut by the snap length, or the header not found). buf: the bytes tcp_payload_off
    indexes (packet_identity.batch_bytes); ends: each packet's captured end in them
    (packet_identity.captured_ends)."""
    out = np.zeros(rows.shape[0], np.int64)
    if not rows.size:
        return out
    start = header_start(d, buf, ends, rows)
    found = np.flatnonzero(start >= 0)
    if not found.size:
        return out
    start = start[found]
    length = d.tcp_payload_off[rows[found]] - start  # the header's length (bytes)
    whole = (length > MIN_HEADER) & (start + length <= ends[rows[found]])
    found, start, length = found[whole], start[whole], length[whole]
    if not found.size:
        return out
    header = byte_windows(buf, start, MAX_HEADER)
    stamped = _has_timestamp(header, length)
    found, start, length, header = (found[stamped], start[stamped], length[stamped],
                                    header[stamped])
    if not found.size:
        return out
    part = header[:, HASH_FROM:].copy()
    part *= (np.arange(HASH_FROM, MAX_HEADER) < length[:, None]) & HASHED_BYTES  # the rest 0
    hashed_bytes = (length - HASH_FROM - 2).astype(np.uint64)  # without the checksum
    identity = hash_words(np.ascontiguousarray(part).view("<u8"), hashed_bytes, HASH_WORDS)
    out[found] = np.where((identity == 0) | (identity == -1), 1, identity)  # 0: none;
    return out  # -1: not read (copies_tail.NOT_READ)


def _has_timestamp(header: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Per header ((k, MAX_HEADER) uint8 from the TCP header's start; length: each
    header's bytes), bool: its options hold a whole timestamp option. The options are
    walked kind by kind (at most 40 steps, all rows at once)."""
    k = header.shape[0]
    at = np.full(k, MIN_HEADER, np.int64)
    found = np.zeros(k, bool)
    open_ = at < length
    rows = np.arange(k)
    while open_.any():
        kind = header[rows, np.minimum(at, MAX_HEADER - 1)].astype(np.int64)
        size = header[rows, np.minimum(at + 1, MAX_HEADER - 1)].astype(np.int64)
        found |= open_ & (kind == _TIMESTAMP) & (size == _TIMESTAMP_LEN) & (
            at + _TIMESTAMP_LEN <= length)
        step = np.where(kind == _NOP, 1, size)
        open_ &= (kind != _END) & ~found & ((kind == _NOP) | (size >= 2))
        at = at + np.where(open_, step, 0)
        open_ &= at < length
    return found


def id_and_ttl_kept(candidates: np.ndarray, first: np.ndarray, then: np.ndarray,
                    ip_id: np.ndarray, ttl: np.ndarray) -> np.ndarray:
    """Of copies.py's equal pairs (first, then: indexes into its packets) at `candidates`,
    those whose later packet has a non-zero IPv4 ID (ip_id; equal pairs share it) and
    whose two packets have the same TTL (ttl): the first two tests of copy_window's rule,
    the cheap ones, made before anything is read for them."""
    return candidates[(ip_id[then[candidates]] != 0)
                      & (ttl[first[candidates]] == ttl[then[candidates]])]


def wide_copies(candidates: np.ndarray, first: np.ndarray, then: np.ndarray,
                rows: np.ndarray, stamp: np.ndarray,
                stamped: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Of copies.py's equal pairs (first, then: indexes into its packets, the tail's then
    the batch's; rows: each packet's batch row, -1 for the tail's) at `candidates` (apart
    more than COPY_WINDOW and at most WIDE_COPY_WINDOW, kept by id_and_ttl_kept), the
    copies by copy_window's rule: the same stamped identity, which is read into `stamp`
    (per packet; NOT_READ until read) for the batch's packets of those pairs. Returns
    their indexes into first/then."""
    if not candidates.size:
        return candidates
    read_stamps(stamp, rows[np.concatenate((first[candidates], then[candidates]))], stamped,
                int(np.count_nonzero(rows < 0)))
    one, other = stamp[first[candidates]], stamp[then[candidates]]
    return candidates[(one == other) & (one != 0) & (one != NOT_READ)]


def tail_syns(d: DecodedBatch, stamp: np.ndarray, at: np.ndarray | None,
              stamped: Callable[[np.ndarray], np.ndarray],
              wide: np.ndarray | None = None) -> np.ndarray:
    """Per batch row (bool): the SYNs the tail keeps beyond its window before any copy
    beyond COPY_WINDOW showed (copies_tail.wide_syns) that carry a timestamp option, their
    stamped identities read into `stamp` (per batch row, or per row of `at` when given:
    the rows it holds, which take them all). wide: the batch's wide_syns, if known (it
    is then changed and returned)."""
    syns = wide_syns(d.tcp_ip_id, d.tcp_flags, np.abs(d.tcp_ts - d.tcp_ts[-1])) \
        if wide is None else wide
    rows = np.flatnonzero(syns)
    if rows.size:
        read = stamped(rows)
        stamp[rows if at is None else np.searchsorted(at, rows)] = read
        syns[rows[read == 0]] = False  # no timestamp option: no wide copy to find
    return syns


def read_stamps(stamp: np.ndarray, at: np.ndarray,
                stamped: Callable[[np.ndarray], np.ndarray], offset: int = 0) -> None:
    """Read the stamped identities of the batch's TCP packets at batch rows `at` (-1, a
    tail packet's, skipped: read in its own batch, or never) not read yet (NOT_READ) into
    `stamp`, whose index `offset` is the batch's row 0; stamped: batch rows ->
    stamped_identities (copies.CaptureCopies.mark's)."""
    at = at[at >= 0]
    at = distinct(at[stamp[offset + at] == NOT_READ])  # np.unique would load numpy.ma
    if at.size:
        stamp[offset + at] = stamped(at)


def same_stamps(stamp: np.ndarray, rows: np.ndarray,
                stamped: Callable[[np.ndarray], np.ndarray],
                offset: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """relay_copies.Held for copies.py's packets (stamp: their stamped identities, read
    into it when asked; rows: each one's batch row, -1 for the tail's, whose were read in
    their batch if ever; stamped, offset: read_stamps'): per pair (earlier, later
    indexes), bool, the same stamped identity, a timestamp option in it."""
    def held(earlier: np.ndarray, later: np.ndarray) -> np.ndarray:
        read_stamps(stamp, rows[np.concatenate((earlier, later))], stamped, offset)
        one, other = stamp[earlier], stamp[later]
        return (one == other) & (one != 0) & (one != NOT_READ)
    return held
