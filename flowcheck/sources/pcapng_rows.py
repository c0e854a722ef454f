"""The rows a pcapng walk located (pcapng.PcapngParser._walk) made Records.

The walk appends (7, n) int64 tables, one column per block, rows: interface (numbered
across sections), timestamp high and low 32 bits (the interface's units), data offset,
captured length, length on the wire, identity (host_tools.HostTool.identities). Row 0
holds SPB_MARK for a Simple Packet Block (row 1 its interface: it has no timestamp, it
takes the one before it) and NUMBERED_MARK for a block Wireshark numbers as a frame that
is no packet (counted, then dropped; the packets keep their frame numbers). Timestamps
are converted in bulk per interface (if_tsresol, if_tsoffset: pcapng draft 4.2).
"""

from __future__ import annotations

import numpy as np

from flowcheck.arrays import distinct
from flowcheck.sources.host_tools import NO_IDENTITY
from flowcheck.sources.pcapng_blocks import Interface
from flowcheck.sources.records import Records, empty_records

SPB_MARK = -1  # interface index placeholder: the row has no timestamp of its own
NUMBERED_MARK = -2  # a row for a block Wireshark numbers as a frame: no packet


def records_of(pieces: list[np.ndarray], interfaces: list[Interface],
               last_ts: float) -> tuple[Records, int, float]:
    """The Records of the tables `pieces` (module docstring) of one buffer, the numbered
    blocks that are no packets among them, and the last packet's timestamp (last_ts,
    the previous buffer's, when there is none; a leading Simple Packet Block takes it)."""
    pieces = [piece for piece in pieces if piece.shape[1]]
    if not pieces:
        return empty_records(), 0, last_ts
    table = pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=1)
    position = None
    numbered = table[0] == NUMBERED_MARK
    count = 0
    if numbered.any():  # rare: one row per such block, never in an EPB run
        count = int(np.count_nonzero(numbered))
        position = np.flatnonzero(~numbered).astype(np.int64)
        table = table[:, ~numbered]
        if not table.shape[1]:
            return empty_records(), count, last_ts
    iface = table[0]
    ticks = (table[1].astype(np.uint64) << np.uint64(32)) | table[2].astype(np.uint64)
    low, high = int(iface.min()), int(iface.max())
    if low == high and low >= 0:  # one interface, no Simple Packet Block: no masks
        ts = _seconds(ticks, interfaces[low])
        real_iface = iface
    else:
        simple = iface == SPB_MARK
        # For Simple Packet Blocks row 1 holds the interface, not a timestamp.
        real_iface = np.where(simple, table[1], iface)
        ts = np.full(table.shape[1], np.nan)
        for index in distinct(iface[~simple]):
            mask = iface == index
            ts[mask] = _seconds(ticks[mask], interfaces[int(index)])
        if simple.any():
            ts = _forward_fill(ts, last_ts)
    linktypes = np.array([interface.linktype for interface in interfaces], dtype=np.int32)
    identity = table[6]
    # Interfaces are numbered across sections, so a new section's are new ones.
    records = Records(ts, table[3].copy(), table[4].astype(np.int32),
                      table[5].astype(np.int32), linktypes[real_iface],
                      real_iface.astype(np.int32), position,
                      identity.copy() if (identity != NO_IDENTITY).any() else None)
    return records, count, float(ts[-1])


def _seconds(ticks: np.ndarray, interface: Interface) -> np.ndarray:
    """Timestamps (float64 seconds since the epoch) of ticks (uint64, the interface's
    units since its if_tsoffset): whole seconds plus the fraction, then the offset."""
    whole, part = np.divmod(ticks, np.uint64(interface.ticks_per_second))
    ts = whole.astype(np.float64)
    fraction = part.astype(np.float64)
    fraction /= interface.ticks_per_second
    ts += fraction
    if interface.ts_offset:  # x + 0 is x for the non-negative x here: skipped
        ts += interface.ts_offset
    return ts


def _forward_fill(ts: np.ndarray, before: float) -> np.ndarray:
    """Give each NaN the timestamp of the packet before it (before: the previous chunk's)."""
    positions = np.where(np.isnan(ts), -1, np.arange(ts.shape[0]))
    last_known = np.maximum.accumulate(positions)
    filled = np.where(last_known >= 0, ts[np.maximum(last_known, 0)], before)
    return filled
