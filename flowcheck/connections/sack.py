"""The SACK blocks (RFC 2018) of one captured TCP packet, read from the batch's bytes.

Read only for the receiver's first captured ACK of a side whose SYN was not captured (a
connection joined mid-stream: accounting.joined_mid_stream; Endpoint.ack_first, where the
tracker sets it: conn.update_packet through the per-packet path, bulk_acks for a bulk
run; the short pass asks whether a mid-stream side's first ACK has any): one packet per
side of a connection, never the bulk path's every packet (issue 7: a packet's cost must
not grow). The blocks name bytes the receiver already held when the
capture first heard from it, as its cumulative ACK does (flowcheck.connections.accounting
.acked_before): a capture joined mid-stream need not hold them (trial 32 D3).

Read too, while the capture holds nothing of a side (Endpoint.max_end None: a capture of
one direction), for its peer's ACKs that acknowledge nothing new (a pure ACK, its ACK
number its previous one's: a receiver holding a later segment sends one at once, RFC
5681 4.2, RFC 2018 4) until one names bytes beyond its ACK (Endpoint.sacked_unseen): the
receiver got bytes of a side the capture lacks though its ACK did not move (a path MTU
black hole's small segment through, full-size ones not). Such ACKs are few, and none is
read once the side has its blocks: per_packet, bulk_acks, short (which hands the flow
to the per-packet path).
"""

from __future__ import annotations

import numpy as np

from flowcheck.connections.endpoint import Endpoint, signed32
from flowcheck.connections.reordering import M32
from flowcheck.decode import DecodedBatch
from flowcheck.sources.batch import PacketBatch

SACK_KIND = 5  # RFC 2018 3: kind 5, length 2 + 8 per block
END_OF_OPTIONS, NO_OPERATION = 0, 1
MIN_HEADER, MAX_HEADER = 20, 60  # TCP header bytes without and with the most options
BLOCK_MAX = 1 << 30  # a block wider than this is no real one (window at most 2**30)


def sack_edges(buf: np.ndarray, d: DecodedBatch, k: int, end: int) -> list[tuple[int, int]]:
    """The SACK blocks of TCP row k of `d` as raw 32-bit (left, right) edges, in the order
    sent; [] when it carries none or its options are not captured.

    buf: the bytes tcp_payload_off indexes (uint8); end: the offset past the packet's
    captured bytes in buf. The decoder keeps only where the payload starts, so the header
    is the one ending there whose data offset, ports, sequence and ACK numbers are row k's
    (RFC 9293 3.1)."""
    payload = int(d.tcp_payload_off[k])
    fields = (int(d.tcp_sport[k]), int(d.tcp_dport[k]), int(d.tcp_seq[k]), int(d.tcp_ack[k]))
    for size in range(MIN_HEADER + 4, MAX_HEADER + 1, 4):
        at = payload - size
        if at < 0:
            break
        head = buf[at:at + 13].tobytes()
        if len(head) < 13 or head[12] >> 4 != size // 4 or (
                int.from_bytes(head[0:2], "big"), int.from_bytes(head[2:4], "big"),
                int.from_bytes(head[4:8], "big"), int.from_bytes(head[8:12], "big")) != fields:
            continue
        return _blocks(buf[at + MIN_HEADER:min(payload, end)].tobytes())
    return []


def _blocks(options: bytes) -> list[tuple[int, int]]:
    """The (left, right) edges of the SACK option among TCP options (RFC 9293 3.2); a
    truncated option ends the reading."""
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == END_OF_OPTIONS:
            break
        if kind == NO_OPERATION:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2 or i + options[i + 1] > len(options):
            break
        length = options[i + 1]
        if kind == SACK_KIND:
            body = options[i + 2:i + length]
            return [(int.from_bytes(body[j:j + 4], "big"), int.from_bytes(body[j + 4:j + 8], "big"))
                    for j in range(0, len(body) - 7, 8)]
        i += length
    return []


def above_ack(edges: list[tuple[int, int]], ack: int) -> list[tuple[int, int]]:
    """Of SACK blocks (raw 32-bit edges, RFC 2018), the bytes above the ACK number `ack`
    (unwrapped: its low 32 bits are the raw number), unwrapped against it: each block cut
    at the ACK, none wider than BLOCK_MAX, sorted by start and merged where they overlap
    or touch, so no byte counts twice. A D-SACK block (RFC 2883) reports a duplicate, not
    new data: below the ACK it is left out, above it it lies inside the block after it
    (4.2) and merges into it."""
    blocks = []
    for left, right in edges:
        start = ack + signed32(left - ack)
        stop = start + signed32(right - left)
        if ack < stop and start < stop and stop - start < BLOCK_MAX:
            blocks.append((max(start, ack), stop))
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(blocks):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def keep_unseen_sacks(side: Endpoint, edges: list[tuple[int, int]], ack: int,
                      frame: int) -> None:
    """side's Endpoint.sacked_unseen from its peer's ACK (raw number `ack`, at `frame`)
    with SACK blocks (raw edges) while nothing of side is captured: the bytes above the
    ACK (above_ack, as raw edges again), if any, as (frame, ack, blocks)."""
    blocks = above_ack(edges, ack)
    if blocks:
        side.sacked_unseen = (frame, ack, tuple((start & M32, stop & M32)
                                                for start, stop in blocks))


def sacks_beyond_ack(buf: np.ndarray, d: DecodedBatch, k: int) -> bool:
    """Whether TCP row k carries a SACK block beyond its ACK number (the short pass hands
    such a mid-stream first ACK, or such an ACK of a side not captured, to the per-packet
    path, which keeps the bytes above it: above_ack). Read up
    to the payload's start: a snap length that cut the options may make it say yes
    wrongly, which costs only that flow's packets one at a time."""
    ack = int(d.tcp_ack[k])
    return any(signed32(right - ack) > 0
               for _, right in sack_edges(buf, d, k, int(d.tcp_payload_off[k])))


def packet_end(batch: PacketBatch, d: DecodedBatch, k: int) -> int:
    """The offset past TCP row k's captured bytes in the buffer tcp_payload_off indexes: its
    frame's end, or, for a datagram reassembled from fragments (decode.ip), its payload's
    start (its headers whole)."""
    row = int(d.tcp_index[k])
    if d.assembled is not None and d.assembled[row]:
        return int(d.tcp_payload_off[k])
    return int(batch.data_off[row]) + int(batch.caplen[row])


def keep_first_sacks(side: Endpoint, edges: list[tuple[int, int]]) -> None:
    """side's Endpoint.sacked_first from the raw edges of its peer's first ACK captured
    (side.ack_first set): the bytes above it (above_ack)."""
    if side.ack_first is not None:
        side.sacked_first = above_ack(edges, side.ack_first)


# The bytes before a packet's payload that can hold its TCP options (a header of at most
# MAX_HEADER bytes, MIN_HEADER of them fixed): where a SACK option would start.
OPTION_BYTES = np.arange(MIN_HEADER - MAX_HEADER, 0)


def hand_sacks(bad: np.ndarray, rows_of: np.ndarray, buf: np.ndarray, d: DecodedBatch,
                step_rows: np.ndarray) -> None:
    """For the short pass (flowcheck.connections.short, one step of its flows): mark bad
    (bool per flow: hand to the per-packet path) the flows where `rows_of` holds whose
    ACK carries SACK blocks beyond it (sacks_beyond_ack: a mid-stream side's first
    ACK, or a pure ACK of a side the capture lacks); step_rows: the step's TCP rows. A
    Python loop over the few flows `rows_of` marks, never over the step, and only over
    those with a byte SACK_KIND among the 40 before their payload: sack_edges reads the
    options there (a header's, ending at the payload), so a packet without one has no
    block (most: bench's (c) 200k asks 4,878 packets, a header search each in Python).
    A packet whose options the snap length cut is asked when a captured byte of them is
    SACK_KIND (its payload's start, past its captured bytes, may be past `buf`'s end)."""
    flows = np.flatnonzero(rows_of)
    rows = step_rows[flows]
    at = d.tcp_payload_off[rows].astype(np.int64)[:, None] + OPTION_BYTES
    # Options the snap length cut put the payload's start past the packet's captured
    # bytes, past the buffer's end for the batch's last packet: no byte there to read.
    inside = (at >= 0) & (at < buf.shape[0])
    maybe = ((buf[np.clip(at, 0, buf.shape[0] - 1)] == SACK_KIND) & inside).any(axis=1)
    for i, k in zip(flows[maybe].tolist(), rows[maybe].tolist(), strict=True):
        bad[i] |= sacks_beyond_ack(buf, d, k)
