"""What makes one TCP packet the same packet at two capture points (copies.py, points.py).

copies.py compares a packet with earlier ones by its direction of its connection and the
fields `FIELDS` names: the IPv4 ID, sequence and acknowledgement numbers, flags, window,
payload length and, for a packet without an IPv4 ID, `header_identity`.

A packet with an IPv4 ID is told from its resends by the ID (Linux, Windows and the BSDs
give every packet of a connected socket the next one): its header identity is 0. A
packet without one (IPv4 ID 0: Linux's SYN-ACKs, RSTs and time-wait ACKs, a stack that
sends ID 0 with DF, RFC 6864; every IPv6 packet) is identified by its TCP header from
the sequence number to the end of its options, the checksum left out: the data offset,
flags, window, urgent pointer and the options, with the timestamp option's TSval and
TSecr (RFC 7323: a resend has a later TSval) and the SACK blocks (a duplicate ACK
after another, RFC 2018). Hashed (uint64, as int64).

Why not the TCP checksum as captured (as until trial 33): with transmit checksum offload
(on most real NICs, and TSO/GSO needs it) a sender's own capture holds its packets with
the checksum unfilled, the pseudo-header's sum (RFC 793 3.1, RFC 8200 8.1) the NIC
completes; another capture point holds the real one, so the same SYN-ACK, RST or IPv6
packet read as two (trial 33 `tso`: two SYN-ACKs per connection, an IPv6 transfer's
segments as retransmissions). Why not the real checksum recomputed (RFC 1071's
one's-complement sum over the pseudo-header, header and payload) where the captured one
may be partial: it needs the whole payload captured, which a snap length cuts (trial
33's 96-byte captures: every bulk segment), and a sum over every payload byte of those
packets (an IPv6 sender's whole transfer). The header is captured whenever the packet
is decoded at all, and reading it costs at most 56 bytes per packet without an ID (numpy,
those rows only; an IPv4 capture has a few: SYN-ACKs, RSTs). What the checksum covered
and the header does not: the payload; two packets of one direction with the same
sequence and acknowledgement numbers, length, window, TSval and options but other bytes
is no resend a TCP sender makes (RFC 9293 3.10.7.4: the same sequence numbers carry the
same data). Options cut by the snap length are hashed as far as captured: both points
cut at one snap length read alike. A point that cut them (tcpdump -s 64/80/96: headers
only) and one that did not: `header_identities` gives each packet a second identity, its
fixed header alone (sequence number to urgent pointer, no checksum) marked OPTIONS_CUT
when its options were cut; copies.py pairs, among the packets its first step left
unmatched, those equal but for the header identity whose fixed headers are equal and one
of which has its options cut (`options_cut_pairs`), and points.py samples and
fingerprints by the fixed header (`sample_fields`), so the two points' offset is found
from such a pair too. Options are compared only where both packets hold them whole: a
resend seen whole at both points keeps its later TSval (the checksum had no such limit).
"""

from __future__ import annotations

import numpy as np

from flowcheck.arrays import HASH_MULTIPLIERS
from flowcheck.connections.connection_hashes import connection_hashes
from flowcheck.connections.flows import BatchFlows
from flowcheck.decode import DecodedBatch
from flowcheck.sources.batch import PacketBatch

# The DecodedBatch columns copies.py compares; "tcp_checksum" stands for header_identity.
FIELDS = ("tcp_ip_id", "tcp_seq", "tcp_ack", "tcp_flags", "tcp_window", "tcp_payload_len",
          "tcp_checksum")
MIN_HEADER, MAX_HEADER = 20, 60  # TCP header bytes without and with the most options
HASH_FROM = 4  # the sequence number's offset in the TCP header (RFC 9293 3.1)
_CHECKSUM_AT = 16  # the checksum's: left out
_SPAN = MAX_HEADER - HASH_FROM
HASH_WORDS = _SPAN // 8  # eight-byte words hashed
HASHED_BYTES = (np.arange(HASH_FROM, MAX_HEADER) // 2) != _CHECKSUM_AT // 2  # not the checksum
_FIXED_SPAN = MIN_HEADER - HASH_FROM  # the fixed header from the sequence number: 16 bytes
_FIXED_WORDS = _FIXED_SPAN // 8
_SIZES = np.arange(MIN_HEADER, MAX_HEADER + 1, 4)  # the TCP header lengths (bytes)
_SEEN = 13  # header bytes read to find it: to the data offset's
WIDE_ROWS = 256  # rows whose header lengths header_start tries all at once, at most
_IDENTITY = len(FIELDS) - 1  # identity_fields' column of the header identity
FIXED = len(FIELDS)  # identity_fields' column of the fixed header's identity
# Set in header_identities' second column when the capture cut the packet's options.
OPTIONS_CUT = np.int64(-(1 << 63))


def captured_ends(batch: PacketBatch, d: DecodedBatch) -> np.ndarray:
    """Per TCP packet of the batch (int64): the offset past its captured bytes in the
    buffer tcp_payload_off indexes (sack.packet_end for every row): its frame's end, or
    for a datagram reassembled from fragments its payload's start (its headers whole)."""
    rows = d.tcp_index
    off, caplen = np.asarray(batch.data_off, np.int64), np.asarray(batch.caplen, np.int64)
    # Every packet TCP: rows (distinct, ascending) are all of them, taken without a
    # gather by an index of every row (issue 7).
    whole = rows.shape[0] == off.shape[0]
    ends = off + caplen if whole else off[rows] + caplen[rows]
    if d.assembled is not None:
        ends = np.where(d.assembled[rows], d.tcp_payload_off, ends)
    return ends


def batch_bytes(batch: PacketBatch, d: DecodedBatch) -> np.ndarray:
    """The bytes tcp_payload_off indexes (uint8): the reassembled datagrams' buffer when
    the decoder made one, else the batch's."""
    if d.payload_buf is not None:
        return d.payload_buf
    return np.frombuffer(batch.buf, dtype=np.uint8)


def header_identity(d: DecodedBatch, buf: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per TCP packet of the batch (int64): 0 for a packet with an IPv4 ID, for one
    without the hash of its TCP header from the sequence number on without the checksum
    (module docstring). buf: the bytes tcp_payload_off indexes (batch_bytes); ends: each
    packet's captured end in them (captured_ends). A packet whose header is not found
    where its payload starts keeps its captured checksum."""
    return header_identities(d, buf, ends)[:, 0]


def header_identities(d: DecodedBatch, buf: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per TCP packet of the batch, (m, 2) int64: its header_identity, and the hash of its
    fixed header alone (sequence number to urgent pointer, no checksum, no options) with
    OPTIONS_CUT set when the capture cut its options (the snap length: tcpdump -s 80/96).
    Both 0 for a packet with an IPv4 ID; where the header is not found, both its captured
    checksum. The second pairs a packet whose options one point cut with its copy
    holding them whole (copies.py's second matching step; points.py's sample)."""
    m = d.tcp_index.shape[0]
    identity = np.zeros((m, 2), np.int64)
    rows = np.flatnonzero(d.tcp_ip_id == 0)
    if not rows.size:
        return identity
    start = header_start(d, buf, ends, rows)
    found = start >= 0
    identity[rows[~found], 0] = d.tcp_checksum[rows[~found]]
    identity[rows[~found], 1] = d.tcp_checksum[rows[~found]]
    rows, start = rows[found], start[found]
    if not rows.size:
        return identity
    limit = np.minimum(d.tcp_payload_off[rows], ends[rows]) - start
    header = byte_windows(buf, start + HASH_FROM, _SPAN)
    header *= (np.arange(HASH_FROM, MAX_HEADER) < limit[:, None]) & HASHED_BYTES  # the rest 0
    words = header.view("<u8")  # (rows, 7): the bytes hashed eight at a time
    # How many bytes were hashed: the header's captured part without the checksum.
    hashed_bytes = (np.clip(limit - HASH_FROM, 0, _SPAN)
                    - np.clip(limit - _CHECKSUM_AT, 0, 2)).astype(np.uint64)
    identity[rows, 0] = hash_words(words, hashed_bytes, HASH_WORDS)
    cut = (start + limit < d.tcp_payload_off[rows]) & (limit >= MIN_HEADER)
    identity[rows, 1] = (hash_words(words, np.full(rows.shape[0], _FIXED_SPAN, np.uint64),
                               _FIXED_WORDS) & ~OPTIONS_CUT) | np.where(cut, OPTIONS_CUT, 0)
    return identity


def hash_words(words: np.ndarray, hashed_bytes: np.ndarray, count: int) -> np.ndarray:
    """Per row (int64): a hash of its first `count` uint64 words and its byte count."""
    with np.errstate(over="ignore"):
        hashed = hashed_bytes * HASH_MULTIPLIERS[count]
        for column in range(count):
            hashed += words[:, column] * HASH_MULTIPLIERS[column]
            hashed ^= hashed >> np.uint64(29)
        hashed *= HASH_MULTIPLIERS[8]
        hashed ^= hashed >> np.uint64(31)
    return hashed.view(np.int64)


def byte_windows(buf: np.ndarray, at: np.ndarray, width: int) -> np.ndarray:
    """(len(at), width) uint8, C-contiguous: buf[at:at + width] for each offset, zeros
    past buf's end (one copy of each row's bytes, not a gather per byte)."""
    inside = at + width <= buf.shape[0]
    if buf.shape[0] >= width and inside.all():
        return _windows(buf, width)[at]
    out = np.zeros((at.shape[0], width), np.uint8)
    if buf.shape[0] >= width and inside.any():
        out[inside] = _windows(buf, width)[at[inside]]
    if not inside.all():  # the batch's last bytes
        index = at[~inside, None] + np.arange(width)
        out[~inside] = np.where(index < buf.shape[0],
                                buf[np.minimum(index, buf.shape[0] - 1)], 0)
    return out


def _windows(buf: np.ndarray, width: int) -> np.ndarray:
    """np.lib.stride_tricks.sliding_window_view(buf, width) (buf: 1-D uint8, at least
    width long): made by the ndarray constructor when buf is contiguous (the window
    function's checks cost ~30 us a call, several calls a batch: issue 7)."""
    if buf.flags.c_contiguous and buf.dtype == np.uint8:
        return np.ndarray((buf.shape[0] - width + 1, width), np.uint8, buffer=buf,
                          strides=(1, 1))
    return np.lib.stride_tricks.sliding_window_view(buf, width)


def header_start(d: DecodedBatch, buf: np.ndarray, ends: np.ndarray,
                  rows: np.ndarray) -> np.ndarray:
    """Per row of `rows` (TCP rows of d): the offset of its TCP header in buf, -1 when
    none is found. The decoder keeps only where the payload starts, so the header is the
    one ending there whose data offset, ports and sequence number are the row's (as
    sack.sack_edges finds it), the shortest such; its first 13 bytes must be captured.
    Up to WIDE_ROWS rows, every header length is tried at once (a column each: numpy's
    per-call cost, not the rows, made the length-by-length search cost 1 ms a batch for
    20 rows); beyond, length by length on the rows still open (5,000 rows a batch of
    short connections: half the work)."""
    if rows.shape[0] > WIDE_ROWS:
        return _header_start_by_length(d, buf, ends, rows)
    k = rows.shape[0]
    at = d.tcp_payload_off[rows][:, None] - _SIZES  # (k, lengths): where each would start
    end = np.minimum(ends[rows], buf.shape[0])[:, None]
    ok = (at >= 0) & (at + _SEEN <= end)
    head = byte_windows(buf, np.where(ok, at, 0).reshape(-1), _SEEN).reshape(
        k, _SIZES.shape[0], _SEEN)

    def word(offset: int, width: int) -> np.ndarray:
        value = head[:, :, offset].astype(np.int64)
        for byte in range(offset + 1, offset + width):  # big-endian
            value = (value << 8) | head[:, :, byte]
        return value

    ok &= (head[:, :, 12] >> 4) == _SIZES // 4  # the data offset
    ok &= ((word(0, 2) == d.tcp_sport[rows][:, None])
           & (word(2, 2) == d.tcp_dport[rows][:, None])
           & (word(4, 4) == d.tcp_seq[rows][:, None]))
    first = ok.argmax(axis=1)  # the shortest length that fits
    every = np.arange(k)
    return np.where(ok[every, first], at[every, first], -1)


def _header_start_by_length(d: DecodedBatch, buf: np.ndarray, ends: np.ndarray,
                            rows: np.ndarray) -> np.ndarray:
    """header_start for many rows: each length in turn, on the rows not found yet."""
    payload = d.tcp_payload_off[rows]
    end = np.minimum(ends[rows], buf.shape[0])
    start = np.full(rows.shape[0], -1, np.int64)
    for size in range(MIN_HEADER, MAX_HEADER + 1, 4):
        at = payload - size
        open_ = np.flatnonzero((start < 0) & (at >= 0) & (at + _SEEN <= end))
        if not open_.size:
            continue
        open_ = open_[(buf[at[open_] + 12] >> 4) == size // 4]  # the data offset
        if not open_.size:
            continue
        head, r = at[open_], rows[open_]

        def word(offset: int, width: int, head: np.ndarray = head) -> np.ndarray:
            value = np.zeros(head.shape[0], np.int64)
            for k in range(width):  # big-endian
                value = (value << 8) | buf[head + offset + k]
            return value

        match = ((word(0, 2) == d.tcp_sport[r]) & (word(2, 2) == d.tcp_dport[r])
                 & (word(4, 4) == d.tcp_seq[r]))
        start[open_[match]] = head[match]
    return start


def fingerprints(flows: BatchFlows, rows: np.ndarray, fields: np.ndarray,
                 connections: np.ndarray | None = None) -> np.ndarray:
    """Per TCP packet of the batch at `rows` (uint64): a hash of its direction of its
    connection (endpoints and sender, not its tunnel) and its FIELDS (fields: those rows'
    columns, the last header_identity), equal for a packet and its copies in any batch
    of the set, whether each copy is tunnelled or not: a switch's ERSPAN mirror at one
    capture point holds, encapsulated, the packets a host's capture holds plain
    (points.py pairs them across files, its tunnel told within one: connection_hashes).
    connections: connection_hashes(flows, rows)[0], when computed already."""
    if connections is None:
        connections = connection_hashes(flows, rows)[0]
    with np.errstate(over="ignore"):
        hashed = (connections * HASH_MULTIPLIERS[0]
                  + flows.from_lower[rows].astype(np.uint64))
        for column in range(fields.shape[1]):
            hashed += fields[:, column].astype(np.uint64) * HASH_MULTIPLIERS[column + 1]
        hashed ^= hashed >> np.uint64(31)
        hashed *= HASH_MULTIPLIERS[8]
        hashed ^= hashed >> np.uint64(29)
    return hashed


def identity_fields(d: DecodedBatch, identity: np.ndarray,
                    at: np.ndarray | None = None) -> np.ndarray:
    """Per TCP packet of the batch, (m, 8) int64: its FIELDS, the last its header
    identity, then (column FIXED, compared by no equality of whole rows: it follows from
    the header identity) its fixed header's identity with OPTIONS_CUT. identity: (m, 2)
    header_identities, or (m,) a header identity standing for both; at: only the packets
    at these rows (k of them: (k, 8))."""
    full, fixed = (identity, identity) if identity.ndim == 1 else (identity[:, 0],
                                                                   identity[:, 1])
    columns = [full if name == "tcp_checksum" else getattr(d, name) for name in FIELDS]
    columns.append(fixed)
    if at is not None:
        columns = [column[at] for column in columns]
    return np.column_stack(columns)


def sample_fields(fields: np.ndarray) -> np.ndarray:
    """identity_fields' rows (k, 8) as the sample and the heads compare them (k, 7): the
    header identity replaced by the fixed header's, OPTIONS_CUT cleared, so a packet
    whose options one point's snap length cut samples and fingerprints like its copy
    holding them (points.py learns the offset from both)."""
    out = fields[:, :len(FIELDS)].copy()
    out[:, len(FIELDS) - 1] = fields[:, FIXED] & ~OPTIONS_CUT
    return out


def options_cut_pairs(side: np.ndarray, fields: np.ndarray, rows: np.ndarray,
                      copied: np.ndarray, candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """copies.py's second matching step for two capture points (CaptureCopies._far):
    (later, earlier) row indexes of its packets (side: direction codes; fields:
    identity_fields; rows: batch row per packet, -1 for the tail's; copied: already
    copies), the later ones in the batch and no copies yet, of packets equal in every
    field but the header identity, whose fixed headers are equal and whose options at
    least one of the two holds cut by its capture's snap length (header_identities:
    tcpdump -s 80/96 at one point, a full capture at the other), up to `candidates`
    earlier ones each. A resend seen whole at both points keeps its own options (a later
    TSval) and pairs here with nothing."""
    cut = (fields[:, FIXED] & OPTIONS_CUT) != 0
    none = np.zeros(0, np.int64)
    if not cut.any():
        return none, none
    n = fields.shape[0]
    bits = np.uint64(max(1, (n - 1).bit_length()))
    with np.errstate(over="ignore"):
        hashed = side.astype(np.uint64) * HASH_MULTIPLIERS[0]
        for column in range(len(FIELDS) - 1):
            hashed += fields[:, column].astype(np.uint64) * HASH_MULTIPLIERS[column + 1]
        hashed += (fields[:, FIXED] & ~OPTIONS_CUT).astype(np.uint64) * HASH_MULTIPLIERS[
            len(FIELDS)]
        hashed ^= hashed >> np.uint64(29)
    ordered = np.sort((hashed >> bits << bits) | np.arange(n, dtype=np.uint64))
    top = ordered >> bits
    position = (ordered & ((np.uint64(1) << bits) - np.uint64(1))).astype(np.int64)
    same = fields[:, :_IDENTITY]
    fixed = fields[:, FIXED] & ~OPTIONS_CUT
    later_parts, earlier_parts = [], []
    for step in range(1, candidates + 1):
        at = np.flatnonzero(top[step:] == top[:-step])
        later, earlier = position[at + step], position[at]
        keep = ((rows[later] >= 0) & ~copied[later] & (cut[later] | cut[earlier])
                & (side[later] == side[earlier])
                & (same[later] == same[earlier]).all(axis=1)
                & (fixed[later] == fixed[earlier])
                & (fields[later, _IDENTITY] != fields[earlier, _IDENTITY]))
        later_parts.append(later[keep])
        earlier_parts.append(earlier[keep])
    return np.concatenate(later_parts), np.concatenate(earlier_parts)
