"""The fast path: a run of plain packets of one connection, counted in bulk with numpy.

A run holds consecutive packets of one connection (in capture order) that carry no
SYN, FIN or RST, of a connection that is neither tapped nor waiting for its tap
decision, whose endpoint states such packets cannot change. For those packets,
`update_packet` only counts, adds history letters D/A/T/G/W once each, and tracks
sequence numbers; this module does the same per direction with vectorised operations
(sequence numbers unwrapped by cumulative signed 32-bit differences, "highest byte seen
before this packet" by a cumulative maximum).

Sequence holes do not turn the fast path off: the highest byte seen does not depend on
holes, so only the packets that open a gap (start above it) or land below it (a
retransmission, reordering, a hole filled late) are handed to the hole bookkeeping, one
at a time, in capture order; in-order packets never touch a hole. The cost of a run
follows its packets and the few that are out of order, never the connection's history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowcheck.connections.conn import ACK, LETTER_RANK, ConnState, Endpoint


@dataclass(slots=True)
class Run:
    """Parallel arrays, one entry per packet of the run, in capture order."""

    is_orig: np.ndarray  # bool
    flags: np.ndarray
    seq: np.ndarray
    ack: np.ndarray
    window: np.ndarray
    plen: np.ndarray
    frame: np.ndarray
    ts: np.ndarray


def _side(side: Endpoint, run: Run, rows: np.ndarray, upper: bool,
          letters: list[tuple[int, int, str]]) -> tuple[int, int, int, int]:
    """Apply one direction's packets to `side`, collect its letters.

    Returns (packets, payload bytes, retransmissions, packets handled one at a time).
    """
    plen = run.plen[rows]
    frames = run.frame[rows]

    def letter(mask: np.ndarray, name: str, at: np.ndarray = frames) -> None:
        hits = np.flatnonzero(mask)
        if hits.size:
            letters.append((int(at[hits[0]]), LETTER_RANK[name], name if upper else name.lower()))

    data = plen > 0
    letter(data, "D")
    letter(~data & ((run.flags[rows] & ACK) != 0), "A")
    letter(run.window[rows] == 0, "W")
    retransmits = one_at_a_time = 0
    if data.any():
        raw = run.seq[rows][data]
        last_u = side.last_u
        steps = np.diff(raw, prepend=raw[0] if last_u is None else side.last_raw)
        steps = ((steps + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        start = (int(raw[0]) if last_u is None else last_u) + np.cumsum(steps)
        end = start + plen[data]
        base = int(start[0]) if side.max_end is None else side.max_end
        before = np.maximum.accumulate(np.concatenate(([base], end[:-1])))
        retransmitted = end <= before
        data_frames = frames[data]
        # Out of order: a gap opens above max_end, or the packet lands below it.
        for k in np.flatnonzero(start != before).tolist():
            one_at_a_time += 1
            lo, hi, top = int(start[k]), int(end[k]), int(before[k])
            if lo > top:
                side.open_hole(top, lo)
            elif side.holes and side.fill(lo, hi):
                retransmitted[k] = False  # it brings bytes never seen: not a retransmission
        retransmits = int(np.count_nonzero(retransmitted))
        letter(retransmitted, "T", data_frames)
        letter(start > before, "G", data_frames)
        side.last_raw, side.last_u = int(raw[-1]), int(start[-1])
        side.max_end = max(base, int(end.max()))
    return int(rows.size), int(plen.sum()), retransmits, one_at_a_time


def apply_run(c: ConnState, run: Run) -> int:
    """Apply a run to the connection; returns how many of its packets needed the hole
    bookkeeping one at a time (opened a gap or landed below the highest byte seen)."""
    record = c.record
    letters: list[tuple[int, int, str]] = []
    one_at_a_time = 0
    for is_orig in (True, False):
        rows = np.flatnonzero(run.is_orig == is_orig)
        if rows.size == 0:
            continue
        side = c.orig if is_orig else c.resp
        packets, payload, retransmits, single = _side(side, run, rows, is_orig, letters)
        if is_orig:
            record.orig_pkts += packets
            record.orig_bytes += payload
        else:
            record.resp_pkts += packets
            record.resp_bytes += payload
        record.retransmits += retransmits
        one_at_a_time += single
    for _, _, name in sorted(letters):
        c.add_letter(name)
    _learn_bases(c, run)
    record.last_frame = int(run.frame[-1])
    record.last_ts = float(run.ts[-1])
    return one_at_a_time


def _learn_bases(c: ConnState, run: Run) -> None:
    """As update_packet: the first ACK from a side tells the peer's base if still unknown."""
    for is_orig in (True, False):
        peer = c.resp if is_orig else c.orig
        if peer.base is None:
            acking = np.flatnonzero((run.is_orig == is_orig) & ((run.flags & ACK) != 0))
            if acking.size:
                peer.base = (int(run.ack[acking[0]]) - 1) & 0xFFFFFFFF
