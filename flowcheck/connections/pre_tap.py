"""The packets short connections keep while the tap has not decided, column-wise.

While a connection waits for the tap (ConnState.tap_pending: no payload yet, so nothing
tells whether it speaks NDMP), its first PRE_TAP_CAP packets are kept for the sink, in
case a later payload makes the tap take it (per_packet replays them). A connection of
the short-connection pass (flowcheck.connections.short) that never carries a payload
(a refused or empty connection: all 200,000 of bench's short-connections-200k) waits to
the capture's end, so what it keeps is kept per connection: as arrays here, one
`PreTapPacked` per Parked block (flowcheck.connections.parked), the block's waiting
flows' packets end to end in narrow columns (about 19 bytes a packet). Before, a new
flow's packets were padded to the batch's longest flow in int64 columns and a flow
continuing across a batch's end kept a list of tuples (about 230 and 750 bytes a
connection): `connections --format json` peaked 136 MB above the engine on
short-connections-200k, 42 MB now (bench/README.md, 2026-12-03 branch sshort).

`WaitingPackets` is one pass's: the continuing flows' kept packets (taken from their
blocks, `load`), this batch's added (`add`), the whole made into the pass's block's
`PreTapPacked` (`packed`).
"""

from __future__ import annotations

import numpy as np

from flowcheck.connections.conn import PRE_TAP_CAP
from flowcheck.fields_dataclass import fields_dataclass

# A kept packet's fields (ConnState.pre_tap's tuple: direction, seq, flags, payload b"",
# frame, time) and the narrowest dtype that holds each exactly: a TCP sequence number is
# 32 bits, its flags 12.
FIELDS = ("is_orig", "seq", "flags", "frame", "ts")
DTYPES = (np.bool_, np.uint32, np.uint16, np.int64, np.float64)
_U32_MAX = 0xFFFFFFFF  # frame numbers kept as uint32 when they fit (PreTapPacked)


@fields_dataclass(slots=True)
class PreTapPacked:
    """The waiting packets of a Parked block's flows: `flows` (block rows, ascending)
    those with any, flow flows[j]'s packets at starts[j]:starts[j + 1] of each column
    (FIELDS), in the order they came."""

    flows: np.ndarray
    starts: np.ndarray
    is_orig: np.ndarray
    seq: np.ndarray
    flags: np.ndarray
    frame: np.ndarray
    ts: np.ndarray

    def packets(self, i: int) -> list[tuple]:
        """Block row i's waiting packets as ConnState.pre_tap holds them (a new list)."""
        at = int(np.searchsorted(self.flows, i))
        if at == self.flows.shape[0] or self.flows[at] != i:
            return []
        part = slice(int(self.starts[at]), int(self.starts[at + 1]))
        return list(zip(["orig" if x else "resp" for x in self.is_orig[part].tolist()],
                        self.seq[part].tolist(), self.flags[part].tolist(),
                        [b""] * (part.stop - part.start), self.frame[part].tolist(),
                        self.ts[part].tolist(), strict=True))


class WaitingPackets:
    """One short-connection pass's waiting packets, per flow of the pass (v flows): a
    count and up to PRE_TAP_CAP packets each, columns (PRE_TAP_CAP, v) by FIELDS."""

    def __init__(self, v: int) -> None:
        self.count = np.zeros(v, np.int64)
        self.columns = {name: np.zeros((PRE_TAP_CAP, v), dtype)
                        for name, dtype in zip(FIELDS, DTYPES, strict=True)}

    def load(self, at: np.ndarray, packed: PreTapPacked | None, rows: np.ndarray) -> None:
        """The continuing flows `at` (pass flows) take up what their block (`packed`)
        kept for its rows `rows` (one per flow of `at`)."""
        if packed is None or not packed.flows.shape[0]:
            return
        where = np.searchsorted(packed.flows, rows)
        found = where < packed.flows.shape[0]
        found[found] = packed.flows[where[found]] == rows[found]
        at, where = at[found], where[found]
        start = packed.starts[where]
        count = packed.starts[where + 1] - start
        self.count[at] = count
        for k in range(int(count.max(initial=0))):
            has = count > k
            for name in FIELDS:
                self.columns[name][k, at[has]] = getattr(packed, name)[start[has] + k]

    def add(self, flows: np.ndarray, step_rows: list[np.ndarray],
            sources: dict[str, np.ndarray]) -> None:
        """This batch's packets of `flows` (pass flows, ascending) after those kept,
        up to PRE_TAP_CAP: step_rows[k], per flow, its k-th packet's row in sources'
        arrays (step order), -1 where it has none; sources: the pass's per-packet arrays
        by FIELDS."""
        for rows in step_rows:
            has = (rows >= 0) & (self.count[flows] < PRE_TAP_CAP)
            if not has.any():
                continue
            to, slot, of = flows[has], self.count[flows[has]], rows[has]
            for name in FIELDS:
                self.columns[name][slot, to] = sources[name][of]
            self.count[to] += 1

    def clear(self, flows: np.ndarray) -> None:
        """Flows the tap has decided: nothing waits any more."""
        self.count[flows] = 0

    def packed(self, order: np.ndarray) -> PreTapPacked | None:
        """The packets of the pass's flows `order` (the block's rows in order) that wait,
        as the block keeps them; None when none does."""
        count = self.count[order]
        flows = np.flatnonzero(count)
        if not flows.shape[0]:
            return None
        count = count[flows]
        of = order[flows]
        most = int(count.max())
        valid = np.arange(most)[:, None] < count[None, :]  # (slot, flow)
        starts = np.zeros(flows.shape[0] + 1, np.int64)
        np.cumsum(count, out=starts[1:])
        # Flow by flow, each one's slots in order (the transposes).
        flat = {name: self.columns[name][:most].take(of, axis=1).T[valid.T]
                for name in FIELDS}
        if flat["frame"].shape[0] and int(flat["frame"].max()) <= _U32_MAX:
            flat["frame"] = flat["frame"].astype(np.uint32)  # a file's first 4G frames
        return PreTapPacked(flows, starts, **flat)
