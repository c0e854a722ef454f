"""Parked state of the short-connection pass (flowcheck.connections.short).

`commit` has a pass's arrays made into Connection records (flowcheck.connections.
short_records; the new ones kept as columns and made when read, block_records) and
keeps the sides' tracking state as arrays (`Parked`, one block per batch) rather than a
ConnState and two Endpoints per connection: a later packet of the connection turns it
into a ConnState (`Parked.conn_state`), or the next pass takes it up again from the
arrays.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import fields
from itertools import repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from flowcheck.arrays import compact
from flowcheck.connections.block_records import BlockRecords
from flowcheck.connections.conn import ConnState
from flowcheck.connections.endpoint import Endpoint
from flowcheck.connections.flows import FlowKey
from flowcheck.connections.parked_columns import narrowed
from flowcheck.connections.record_columns import NONE, optional_item, ttl_item
from flowcheck.connections.reordering import wire_item
from flowcheck.connections.short_records import new_records, update_records
from flowcheck.connections.state import EndpointState
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model.frames import NO_FRAMES

if TYPE_CHECKING:  # connections.pre_tap: loaded with a tap's first flows (short.py)
    from flowcheck.connections.pre_tap import PreTapPacked

# A flowcheck.connections.short.ShortPass, whose arrays the functions here read (not
# imported, even for typing: short imports this module).
ShortPass = Any


@fields_dataclass(slots=True)
class Parked:
    """The final tracking state of one batch's committed flows: row 0 the originator,
    row 1 the responder (int64 arrays use NONE for None)."""

    records: BlockRecords  # Sequence[Connection]: each made when read
    orig_is_lower: np.ndarray
    state: np.ndarray
    base: np.ndarray
    isn: np.ndarray
    last_raw: np.ndarray
    last_u: np.ndarray
    max_end: np.ndarray
    fin: np.ndarray
    acked: np.ndarray
    acked_frame: np.ndarray
    ack_last: np.ndarray
    unseen_first: np.ndarray  # Endpoint.unseen_first/_last/_top
    unseen_last: np.ndarray
    unseen_top: np.ndarray
    # Endpoint.resends, resent_u (NONE: None), resent_ts (nan: None), resent_frame,
    # resend_first_ts (nan: None), resend_first_frame.
    resends: np.ndarray
    resent_u: np.ndarray
    resent_ts: np.ndarray
    resent_frame: np.ndarray
    resend_first_ts: np.ndarray
    resend_first_frame: np.ndarray
    # Endpoint's ZERO_FIELDS, each (2, flows) (zero_ts, zero_long_ts nan: None).
    zero: dict[str, np.ndarray]
    seg_max: np.ndarray  # Endpoint.seg_max, resent_len
    resent_len: np.ndarray
    seq_ahead: np.ndarray  # Endpoint.seq_ahead (NONE: None), seq_ahead_frame
    seq_ahead_frame: np.ndarray
    # int16: the side's first packet's IP TTL (Connection.orig_ttl / resp_ttl), its
    # first RST's (Endpoint.rst_ttl) and its latest packet's before (ttl_before_rst); -1:
    # None.
    ttl: np.ndarray
    rst_ttl: np.ndarray
    ttl_before_rst: np.ndarray
    last_syn_ts: np.ndarray  # nan: None
    # Endpoint's reordering.WIRE_FIELDS, each (2, flows) (NONE / nan: None).
    wire: dict[str, np.ndarray]
    tap_pending: np.ndarray
    # The packets the flows keep until the tap decides (flowcheck.connections.pre_tap).
    pre_tap_packed: PreTapPacked | None = None
    acked_ts: np.ndarray | None = None  # Endpoint.acked_ts (nan: none), (2, flows)
    ack_first: np.ndarray | None = None  # Endpoint.ack_first (NONE: None), (2, flows)
    # What the next pass takes up from the records, per flow, as the records have it:
    # a SYN seen (bool(Connection.syn_frames)), Connection.syn_ts (nan: None),
    # established, rtt (nan: None), and the history's letter bits (ShortPass's `seen`),
    # so a continuing flow is resumed column-wise (flowcheck.connections.short_resume).
    syn_seen: np.ndarray | None = None
    syn_ts: np.ndarray | None = None
    established: np.ndarray | None = None
    rtt: np.ndarray | None = None
    seen: np.ndarray | None = None
    # Endpoint.ttl_moved, each (2, flows): the latest TTL change's time (nan: none), the
    # TTL before and after it (int16).
    ttl_move_ts: np.ndarray | None = None
    ttl_move_from: np.ndarray | None = None
    ttl_move_to: np.ndarray | None = None
    unseen_below: np.ndarray | None = None  # Endpoint.unseen_below (NONE: None), (2, flows)
    unseen_moved: np.ndarray | None = None  # Endpoint.unseen_moved_ts (nan: None), (2, flows)

    def __deepcopy__(self, memo: dict[int, Any]) -> Parked:
        """A deep copy (flowcheck.live copies the tracker at every check) that shares the
        read-only columns: compacted ones (flowcheck.arrays.compact) stay 8 bytes, not
        one int64 per connection and side again, and nothing ever writes them."""
        def copied(value: Any) -> Any:
            if isinstance(value, np.ndarray) and not value.flags.writeable:
                return value
            if isinstance(value, dict):
                return {k: copied(v) for k, v in value.items()}
            return deepcopy(value, memo)

        twin = object.__new__(Parked)
        memo[id(self)] = twin
        for name in _FIELD_NAMES:
            setattr(twin, name, copied(getattr(self, name)))
        return twin

    def _acked_ts(self, row: int, i: int) -> float:
        """Endpoint.acked_ts of flow i's side `row` (0.0 while it has none)."""
        value = self.acked_ts.item(row, i) if self.acked_ts is not None else 0.0
        return 0.0 if value != value else value

    def _ttl_moved(self, row: int, i: int) -> tuple[float, int, int] | None:
        """Endpoint.ttl_moved of flow i's side `row` (None: its TTL never changed)."""
        if self.ttl_move_ts is None:
            return None
        when = self.ttl_move_ts.item(row, i)
        if when != when:
            return None
        return when, self.ttl_move_from.item(row, i), self.ttl_move_to.item(row, i)  # type: ignore[union-attr]

    def take_pre_tap(self, i: int) -> list[tuple]:
        """Flow i's packets waiting for the tap (ConnState.pre_tap), as a new list (the
        block keeps its own: a pass that hands the flow back leaves it as it was)."""
        return [] if self.pre_tap_packed is None else self.pre_tap_packed.packets(i)

    def side_base(self, i: int, lower: bool) -> int | None:
        """The base of flow i's side that is the key's lower endpoint (or the other)."""
        value = self.base.item(0 if lower == bool(self.orig_is_lower[i]) else 1, i)
        return None if value == NONE else value

    def conn_state(self, i: int) -> ConnState:
        """Flow i as the ConnState the per-packet path would have left."""
        def stored(array: np.ndarray, row: int) -> int | None:
            value = array.item(row, i)
            return None if value == NONE else value

        def endpoint(row: int) -> Endpoint:
            last_u = stored(self.last_u, row)
            unseen_first = stored(self.unseen_first, row)
            return Endpoint(
                state=EndpointState(self.state.item(row, i)), base=stored(self.base, row),
                isn=stored(self.isn, row),
                last_raw=self.last_raw.item(row, i) if last_u is not None else 0,
                last_u=last_u, max_end=stored(self.max_end, row),
                fin=bool(self.fin.item(row, i)), acked=stored(self.acked, row),
                acked_frame=self.acked_frame.item(row, i) if stored(self.acked, row)
                is not None else 0, acked_ts=self._acked_ts(row, i),
                ack_last=stored(self.ack_last, row),
                ack_first=stored(self.ack_first, row) if self.ack_first is not None else None,
                unseen_first=unseen_first,
                unseen_last=self.unseen_last.item(row, i) if unseen_first is not None else 0,
                unseen_top=self.unseen_top.item(row, i) if unseen_first is not None else 0,
                unseen_below=stored(self.unseen_below, row),
                unseen_moved_ts=(None if self.unseen_moved is None
                                 else optional_item(self.unseen_moved.item(row, i))),
                resends=self.resends.item(row, i), resent_u=stored(self.resent_u, row),
                resent_ts=optional_item(self.resent_ts.item(row, i)),
                resent_frame=self.resent_frame.item(row, i),
                resend_first_ts=optional_item(self.resend_first_ts.item(row, i)),
                resend_first_frame=self.resend_first_frame.item(row, i),
                **{name: optional_item(values.item(row, i)) for name, values
                   in self.zero.items()},
                seg_max=self.seg_max.item(row, i), resent_len=self.resent_len.item(row, i),
                seq_ahead=stored(self.seq_ahead, row),
                seq_ahead_frame=self.seq_ahead_frame.item(row, i),
                rst_ttl=ttl_item(self.rst_ttl.item(row, i)),
                ttl_before_rst=ttl_item(self.ttl_before_rst.item(row, i)),
                ttl_moved=self._ttl_moved(row, i),
                **{name: wire_item(name, values.item(row, i))
                   for name, values in self.wire.items()})

        syn_ts = self.last_syn_ts.item(i)
        record = self.records[i]
        # The per-packet path appends to the evidence lists: its own, not NO_FRAMES.
        for name in _FRAME_LISTS:
            if getattr(record, name) is NO_FRAMES:
                setattr(record, name, [])
        return ConnState(record=record, orig_is_lower=bool(self.orig_is_lower[i]),
                         orig=endpoint(0), resp=endpoint(1),
                         tap_pending=bool(self.tap_pending[i]),
                         pre_tap=self.take_pre_tap(i),
                         last_syn_ts=None if syn_ts != syn_ts else syn_ts)


# Blocks of fewer connections keep their columns as they are (_compact_columns): its
# cost is per column, ~3 ms a block whatever its size, for about a thousand bytes saved
# per connection (a block of 8 flows, the pass's least, would pay ~400 us per connection).
COMPACT_FROM = 32


def commit(short: ShortPass, keep: np.ndarray, uids: np.ndarray) -> tuple[Parked, np.ndarray]:
    """The records of the pass's flows `keep` (indices) that are new, numbered `uids`
    (the numbers of their uids "C<n>", in keep order; made when read: block_records);
    the continuing ones' records brought up to date; and the state of all of them for
    later packets, with its flow order (the new ones first)."""
    new = keep[~short.continuing[keep]]
    going_on = keep[short.continuing[keep]]
    args, patches = new_records(short, new, uids) if new.size else ([], {})
    records = BlockRecords(args, patches, new.shape[0],
                           update_records(short, going_on) if going_on.size else [])
    order = np.concatenate((new, going_on))
    packed = None if short.pre_tap is None else short.pre_tap.packed(order)

    compacting = order.shape[0] >= COMPACT_FROM

    def side(values: np.ndarray) -> np.ndarray:  # (2, v) -> (2, kept), (v,) -> (kept,)
        if compacting and (one := _one_value(values, order.shape[0])) is not None:
            return one
        return values.take(order, axis=-1)  # take, not [..., order]

    block = Parked(records, side(short.orig_is_lower), side(short.state),
                  side(short.base), side(short.isn), side(short.last_raw),
                  side(short.last_u), side(short.max_end), side(short.fin),
                  side(short.acked), side(short.acked_frame),
                  side(short.ack_last), side(short.unseen_first),
                  side(short.unseen_last), side(short.unseen_top),
                  side(short.resends), side(short.resent_u), side(short.resent_ts),
                  side(short.resent_frame), side(short.resend_first_ts),
                  side(short.resend_first_frame),
                  {name: side(values) for name, values in short.zero.items()},
                  side(short.seg_max), side(short.resent_len),
                  side(short.seq_ahead), side(short.ahead_frame),
                  side(short.ttl), side(short.rst_ttl), side(short.ttl_before_rst),
                  side(short.last_syn),
                  {name: side(values) for name, values in short.wire.items()},
                  side(short.tap_pending), packed, side(short.acked_ts),
                  side(short.ack_first), side(short.syn_seen), side(short.syn_ts),
                  side(short.established), side(short.rtt), side(short.seen),
                  side(short.ttl_move_ts), side(short.ttl_move_from), side(short.ttl_move_to),
                  side(short.unseen_below), side(short.unseen_moved))
    if compacting:
        _compact_columns(block)
    return block, order


def _one_value(values: np.ndarray, kept: int) -> np.ndarray | None:
    """The pass's column `values` ((2, v) or (v,)) taken for `kept` of its flows as
    compact would leave it, when it holds one value for all v flows (so for any kept):
    that value broadcast to the kept shape, read only (the take, and compact's scan of
    what it took, skipped: 442 of the 1,134 columns of bench's (c) 200k a run); else
    None."""
    one = compact(values)
    if one is values:
        return None
    return np.broadcast_to(one[..., :1], values.shape[:-1] + (kept,))


def _compact_columns(block: Parked) -> None:
    """Each of block's columns that holds one value throughout as that value broadcast
    (flowcheck.arrays.compact): most of a side's state is the same for every short
    connection of a batch (no resends, no zero window, no ACK ahead), and blocks are kept
    to the capture's end; 39 full int64 columns were ~620 bytes per connection."""
    for name in _COLUMNS:
        if (values := getattr(block, name)) is not None and not _broadcast(values):
            setattr(block, name, _narrow(compact(values)))
    for columns in (block.zero, block.wire):
        for name, values in columns.items():
            if not _broadcast(values):
                columns[name] = _narrow(compact(values))
    _share_equal_columns(block)
    _offset_columns(block)


def _broadcast(values: np.ndarray) -> bool:
    """Whether values is already one value broadcast (commit's _one_value: compact would
    give the same; every stride 0, more than one item)."""
    return values.size > 1 and not any(values.strides)


_NARROW = tuple(np.iinfo(dtype) for dtype in (np.int8, np.int16, np.int32))


def _narrow(values: np.ndarray) -> np.ndarray:
    """An int64 column whose values all fit a narrower signed integer type as that type
    (frame numbers, counts, windows, letter bits: none holds NONE): its items and what
    it gives the pass's int64 arrays (short_resume) are the same numbers. Read through
    `.item`, `take` and indexing only, never computed with in place."""
    if values.dtype != np.int64 or not values.size or not values.flags.c_contiguous:
        return values  # compacted (broadcast) columns are not contiguous: already small
    low, high = int(values.min()), int(values.max())
    for info in _NARROW:
        if info.min <= low and high <= info.max:
            return values.astype(info.dtype)
    return values


# Columns that often hold what another does for every flow of a block (a side whose
# sequence never wrapped: last_u is last_raw; every ACK the highest: ack_last is
# acked; ...), each with the one it is compared with, that one settled first.
_SAME_AS = (("acked", "max_end"), ("ack_last", "acked"), ("ack_first", "acked"),
            ("last_u", "last_raw"), ("unseen_top", "unseen_last"), ("isn", "base"),
            ("syn_ts", "last_syn_ts"))


def _share_equal_columns(block: Parked) -> None:
    """A column equal, bit for bit, to the one _SAME_AS names as that same array, made
    read only (nothing writes a block's columns; Parked.__deepcopy__ shares read-only
    ones): in bench's short-connections three full int64 columns of the ~20 left after
    compaction, about 60 bytes per connection kept to the capture's end."""
    for name, other in _SAME_AS:
        values, same = getattr(block, name), getattr(block, other)
        if (values is None or same is None or values is same
                or values.shape != same.shape or values.dtype != same.dtype
                or not values.flags.c_contiguous or not same.flags.c_contiguous):
            continue  # compacted (broadcast) columns are not contiguous: already small
        bits = f"u{values.itemsize}"
        if np.array_equal(values.view(bits), same.view(bits)):
            same.flags.writeable = False
            setattr(block, name, same)


# The columns in a side's own sequence space (its base the reference), and in its peer's
# (the ACK numbers it sent: the peer's base); Endpoint's names, the wire ones "wire.NAME".
_OWN_SPACE = frozenset(("isn", "last_raw", "last_u", "max_end", "acked", "ack_last",
                        "ack_first", "unseen_first", "unseen_last", "unseen_top", "unseen_below",
                        "seq_ahead", "resent_u", "wire.next_seq"))
_PEER_SPACE = frozenset(("wire.ack_sent",))


def _offset_columns(block: Parked) -> None:
    """The full int64 and float64 columns left, each as an Offsets (parked_columns) where
    one fits: a side's sequence numbers from its own base or its peer's (_OWN_SPACE,
    _PEER_SPACE), its times and the first SYN's from the flow's last SYN, other numbers
    (frames, windows) and rtt as they are; about 180 bytes less per connection in
    bench's short-connections. base and last_syn_ts stay as they are: the references."""
    base, syn_ts = block.base, block.last_syn_ts
    done: dict[int, Any] = {id(base): base, id(syn_ts): syn_ts}

    def offset(name: str, values: Any) -> Any:
        if not isinstance(values, np.ndarray) or values.ndim not in (1, 2):
            return values
        if id(values) not in done:  # a column shared by two names stays shared
            refs: tuple[np.ndarray, ...] = ()
            if values.ndim == 2 and values.dtype.kind == "f" and syn_ts.ndim == 1:
                refs = (np.broadcast_to(syn_ts, values.shape),)  # an absolute time
            elif name == "syn_ts" and syn_ts.ndim == 1:  # the first SYN's, of the last's
                refs = (syn_ts,)
            elif values.ndim == 2 and base.ndim == 2 and name in _OWN_SPACE:
                refs = (base,)
            elif values.ndim == 2 and base.ndim == 2 and name in _PEER_SPACE:
                refs = (base[::-1],)
            # With a reference, the column itself (a time, a sequence number) never fits.
            done[id(values)] = narrowed(values, refs, absolute=not refs)
        return done[id(values)]

    for name in _COLUMNS:
        setattr(block, name, offset(name, getattr(block, name)))
    for prefix, columns in (("zero.", block.zero), ("wire.", block.wire)):
        for name, values in columns.items():
            columns[name] = offset(prefix + name, values)


_FIELD_NAMES = tuple(f.name for f in fields(Parked))
# A record's evidence lists, which the short-connection path may leave NO_FRAMES.
_FRAME_LISTS = ("syn_frames", "synack_frames", "rst_frames", "icmp_frames", "fin_frames",
                "gap_frames")
# Parked's array columns (all read only once made).
_COLUMNS = tuple(f.name for f in fields(Parked)
                 if f.type == "np.ndarray" or f.type == "np.ndarray | None")


def parked_entries(block: Parked, keys: list[FlowKey]) -> zip:
    """(key, (block, i)) pairs for the tracker's dict of parked flows."""
    return zip(keys, zip(repeat(block), range(len(keys))), strict=True)


def parked_bases(entries: list[tuple[Parked, int]], from_lower: np.ndarray) -> np.ndarray:
    """Per parked flow (entries: its block and row there), the base (int64, NONE: none)
    of the side that is the flow key's lower endpoint where from_lower (bool, one per
    entry), else of the other (Parked.side_base, column-wise: a few numpy calls per
    block)."""
    count = len(entries)
    rows = np.fromiter(map(itemgetter(1), entries), np.int64, count)
    blocks = list(map(itemgetter(0), entries))
    _, first, inverse = np.unique(np.fromiter(map(id, blocks), np.int64, count),
                                  return_index=True, return_inverse=True)
    out = np.empty(count, np.int64)
    for group, at_first in enumerate(first.tolist()):
        block = blocks[at_first]
        mine = np.flatnonzero(inverse.reshape(-1) == group)
        of = rows[mine]
        side = (from_lower[mine] != block.orig_is_lower[of]).astype(np.int64)
        out[mine] = block.base[side, of]
    return out
