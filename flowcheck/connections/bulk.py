"""The fast path: a run of plain packets of one connection, counted in bulk with numpy.

A run holds consecutive packets of one connection (in capture order) that carry no
SYN, FIN or RST, of a connection that is neither tapped nor waiting for its tap
decision, whose endpoint states such packets cannot change. For those packets,
`update_packet` only counts, adds history letters D/A/T/W once each, and tracks
sequence numbers; this module does the same per direction with vectorised operations
(sequence numbers unwrapped by cumulative signed 32-bit differences, "highest byte seen
before this packet" by a cumulative maximum). A run that opens a sequence gap, or meets
a connection with unfilled holes, is refused (returns False) and the caller replays it
one packet at a time: losses are rare and holes need interval bookkeeping.
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


@dataclass(slots=True)
class _SideResult:
    packets: int
    payload: int
    retransmits: int
    last_raw: int
    last_u: int | None
    max_end: int | None
    letters: list[tuple[int, int, str]]  # (frame, rank, letter)


def _side(side: Endpoint, run: Run, rows: np.ndarray, upper: bool) -> _SideResult | None:
    plen = run.plen[rows]
    frames = run.frame[rows]
    letters: list[tuple[int, int, str]] = []

    def letter(mask: np.ndarray, name: str) -> None:
        shown = name if upper else name.lower()
        hits = np.flatnonzero(mask)
        if hits.size:
            letters.append((int(frames[hits[0]]), LETTER_RANK[name], shown))

    data = plen > 0
    letter(data, "D")
    letter(~data & ((run.flags[rows] & ACK) != 0), "A")
    letter(run.window[rows] == 0, "W")
    retransmits = 0
    last_raw, last_u, max_end = side.last_raw, side.last_u, side.max_end
    if data.any():
        if side.holes:
            return None
        raw = run.seq[rows][data]
        steps = np.diff(raw, prepend=raw[0] if last_u is None else last_raw)
        steps = ((steps + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        start = (int(raw[0]) if last_u is None else last_u) + np.cumsum(steps)
        end = start + plen[data]
        base = int(start[0]) if max_end is None else max_end
        before = np.maximum.accumulate(np.concatenate(([base], end[:-1])))
        if (start > before).any():
            return None  # a gap: hole bookkeeping is done one packet at a time
        retransmitted = end <= before
        retransmits = int(np.count_nonzero(retransmitted))
        letter_frames = frames[data]
        if retransmits:
            letters.append((int(letter_frames[np.argmax(retransmitted)]), LETTER_RANK["T"],
                            "T" if upper else "t"))
        last_raw, last_u = int(raw[-1]), int(start[-1])
        max_end = max(base, int(end.max()))
    return _SideResult(int(rows.size), int(plen.sum()), retransmits, last_raw, last_u,
                       max_end, letters)


def apply_run(c: ConnState, run: Run) -> bool:
    """Apply a run to the connection; False (nothing changed) when it needs the slow path."""
    results: list[tuple[bool, _SideResult]] = []
    for is_orig in (True, False):
        rows = np.flatnonzero(run.is_orig == is_orig)
        if rows.size == 0:
            continue
        side = c.orig if is_orig else c.resp
        result = _side(side, run, rows, upper=is_orig)
        if result is None:
            return False
        if side.max_end is None and result.max_end is not None and _acking(run, is_orig).size:
            return False  # ACKs before the side's first byte seen are not unwrapped: slow
        results.append((is_orig, result))
    record = c.record
    letters: list[tuple[int, int, str]] = []
    for is_orig, result in results:
        side = c.orig if is_orig else c.resp
        if is_orig:
            record.orig_pkts += result.packets
            record.orig_bytes += result.payload
        else:
            record.resp_pkts += result.packets
            record.resp_bytes += result.payload
        record.retransmits += result.retransmits
        side.last_raw, side.last_u, side.max_end = result.last_raw, result.last_u, result.max_end
        letters.extend(result.letters)
    for _, _, name in sorted(letters):
        c.add_letter(name)
    _learn_bases(c, run)
    _track_acks(c, run)
    record.last_frame = int(run.frame[-1])
    record.last_ts = float(run.ts[-1])
    return True


def _learn_bases(c: ConnState, run: Run) -> None:
    """As update_packet: the first ACK from a side tells the peer's base if still unknown."""
    for is_orig in (True, False):
        peer = c.resp if is_orig else c.orig
        if peer.base is None:
            acking = np.flatnonzero((run.is_orig == is_orig) & ((run.flags & ACK) != 0))
            if acking.size:
                peer.base = (int(run.ack[acking[0]]) - 1) & 0xFFFFFFFF


def _acking(run: Run, is_orig: bool) -> np.ndarray:
    """Rows of the run whose ACK acknowledges the is_orig side's bytes (the peer's)."""
    return np.flatnonzero((run.is_orig != is_orig) & ((run.flags & ACK) != 0))


def _track_acks(c: ConnState, run: Run) -> None:
    """As update_packet's track_ack, per side: the highest ACK of its bytes in the run."""
    for is_orig in (True, False):
        side = c.orig if is_orig else c.resp
        if side.max_end is None:
            continue
        rows = _acking(run, is_orig)
        if not rows.size:
            continue
        ref = side.ack_last if side.ack_last is not None else side.max_end
        acks = run.ack[rows]
        steps = np.diff(acks, prepend=ref & 0xFFFFFFFF)
        unwrapped = ref + np.cumsum(((steps + 0x80000000) & 0xFFFFFFFF) - 0x80000000)
        side.ack_last = int(unwrapped[-1])
        top = int(np.argmax(unwrapped))
        acked = int(unwrapped[top])
        if side.acked is None or acked > side.acked:
            side.acked = acked
            side.acked_frame = int(run.frame[rows[top]])
