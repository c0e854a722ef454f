"""Parked short connections taken up again by the next short-connection pass.

A connection the short-connection pass (flowcheck.connections.short) tracked is parked
as arrays (flowcheck.connections.parked.Parked, one block per pass); when a later batch
brings more of its packets and the pass takes it again (many do when a read chunk of
short connections is tracked in parts: about 1,500 per part's end in bench's
short-connections), its state is loaded into the pass's arrays here, column by column
for each block the continuing flows come from: a few numpy calls per block and array,
whatever the number of flows, no Python per connection (the tap's waiting packets
too: flowcheck.connections.pre_tap).
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np

from flowcheck.connections.parked import Parked
from flowcheck.connections.parked_columns import Offsets
from flowcheck.connections.short_accounting import acked_one_more

if TYPE_CHECKING:
    from flowcheck.connections.pre_tap import WaitingPackets

# Parked's per-side arrays, each (2, flows), that the pass keeps as (2v,) arrays (row 0,
# the originator's, first): the names the pass gives `resume`'s `sides`.
SIDE_FIELDS = (
    "state", "base", "isn", "last_raw", "last_u", "max_end", "fin", "acked", "acked_frame",
    "acked_ts", "ack_first", "ack_last", "unseen_first", "unseen_last", "unseen_top",
    "unseen_below", "unseen_moved", "resends", "resent_u", "resent_ts", "resent_frame",
    "resend_first_ts", "resend_first_frame", "seg_max", "resent_len", "seq_ahead",
    "seq_ahead_frame", "ttl", "rst_ttl", "ttl_before_rst", "ttl_move_ts", "ttl_move_from",
    "ttl_move_to")
# The sides' fields the records' end-of-connection fields follow (short_accounting).
BEFORE_FIELDS = ("acked", "max_end", "fin", "seg_max", "ttl", "unseen_moved")
# And the flows' fields their records' establishment, rtt and first SYN time follow.
BEFORE_FLOW_FIELDS = ("established", "rtt", "syn_ts")
# Parked's per-flow arrays the pass keeps as (v,) arrays.
FLOW_FIELDS = ("orig_is_lower", "last_syn_ts", "tap_pending", "syn_seen", "syn_ts",
               "established", "rtt", "seen")


def resume(going: np.ndarray, entries: list[tuple[Parked, int]], v: int,
           sides: dict[str, np.ndarray], zero: dict[str, np.ndarray],
           wire: dict[str, np.ndarray], flows: dict[str, np.ndarray],
           pre_tap: WaitingPackets | None) -> dict[str, np.ndarray]:
    """Load the continuing flows' state into a pass's arrays.

    going: the pass's continuing flows (indices < v); entries: for each, its parked
    block and row there; sides: SIDE_FIELDS' arrays of the pass, each (2v,) (flow f's
    originator at f, its responder at f + v); zero, wire: the pass's zero-window and
    reordering columns (2v,) by Parked.zero's and Parked.wire's names; flows:
    FLOW_FIELDS' arrays of the pass, each (v,); pre_tap: the pass's waiting packets
    (None without a tap), given those of the continuing flows still waiting for it.

    Returns BEFORE_FIELDS' sides as parked, each (2, v), BEFORE_FLOW_FIELDS' flows,
    each (v,) (a new flow's columns as the pass starts them), and "acked_one_more"
    (2, v): short_accounting.acked_one_more of the sides as parked (a bool, not the
    three columns it reads): what the records already hold of them, for the fields the
    pass brings up to date only where they changed (short_records.update_records,
    short_accounting).
    """
    count = len(entries)
    rows = np.fromiter(map(itemgetter(1), entries), np.int64, count)
    blocks = list(map(itemgetter(0), entries))
    ids = np.fromiter(map(id, blocks), np.int64, count)
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    for group, at_first in enumerate(first.tolist()):
        block = blocks[at_first]
        if first.shape[0] == 1:
            at, of = going, rows
        else:
            mine = inverse.reshape(-1) == group
            at, of = going[mine], rows[mine]
        both = np.concatenate((at, at + v))
        for name, values in sides.items():
            values[both] = _taken(getattr(block, name), of)
        for name, values in zero.items():
            values[both] = _taken(block.zero[name], of)
        for name, values in wire.items():
            values[both] = _taken(block.wire[name], of)
        for name, values in flows.items():
            values[at] = _taken(getattr(block, name), of, sides=False)
        if pre_tap is not None:
            waiting = block.tap_pending[of]
            pre_tap.load(at[waiting], block.pre_tap_packed, of[waiting])
    return {**{name: sides[name].reshape(2, v).copy() for name in BEFORE_FIELDS},
            **{name: flows[name].copy() for name in BEFORE_FLOW_FIELDS},
            "acked_one_more": acked_one_more(*(sides[name].reshape(2, v) for name in (
                "max_end", "unseen_top", "unseen_below")))}


def _taken(column: np.ndarray | Offsets, of: np.ndarray,
           sides: bool = True) -> np.ndarray | np.generic:
    """A parked column's values at rows `of`, for the pass's arrays: with `sides`, a
    (2, flows) column's both sides, originators first (its take flattened), else a
    (flows,) column's own; a compacted column (parked._compact_columns: one value
    broadcast, every stride 0) its one value, which the assignment spreads as the take's
    copy would (bench's (c) 200k: 1,026 of the 2,484 columns taken a run, ~15 us a
    take)."""
    if type(column) is np.ndarray and column.size and not any(column.strides):
        return column[(0,) * column.ndim]
    if not sides:
        return column[of]
    return column.take(of, axis=1).reshape(-1)
