"""Which of a batch's flows take the short-connection pass, and the pass's records kept.

The pass itself (flowcheck.connections.short.ShortPass) tracks many short new
connections at once with numpy; this is ConnectionTracker's side of it: choosing the
flows it pays to give it (connections opened in this batch or parked by an earlier one,
few packets each, enough of them per step), and, after the batch's walk, numbering the
pass's new connections together with the walk's (uids follow first_frame) and parking
their state (flowcheck.connections.parked).

Apart from flowcheck.connections.tracker, which routes a batch's flows to its paths, so
each path's bookkeeping stands on its own; ShortFlows is a base class of
ConnectionTracker, whose state it reads and updates (once per batch, not per packet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from flowcheck.arrays import indices, stable_order
from flowcheck.connections.clock import ClockSteps
from flowcheck.connections.conn import ACK, SYN, ConnState
from flowcheck.connections.flows import BatchFlows, FlowKey, endpoint_words
from flowcheck.connections.joined_order import continues
from flowcheck.connections.opened_records import OpenedRecords
from flowcheck.connections.parked import Parked, commit, parked_bases
from flowcheck.connections.parked_table import ParkedTable, key_words
from flowcheck.connections.per_packet import starts_new
from flowcheck.connections.record_columns import NONE
from flowcheck.connections.short import MAX_PACKETS, ShortPass
from flowcheck.decode import DecodedBatch
from flowcheck.model import Connection, SegmentSink

if TYPE_CHECKING:  # the tracker's, which imports it first
    from flowcheck.connections.copies import CaptureCopies
    from flowcheck.connections.ndmp_hosts import NdmpHosts

# The short-connection pass (flowcheck.connections.short) takes a step (the k-th packet
# of every flow) only with this many flows in it, and runs only with this many packets
# per step in all: below that its fixed cost per step exceeds update_packet's.
SHORT_STEP_FLOWS = 8
SHORT_STEP_PACKETS = 24
# _in_flows numbers `_flows`' keys one by one (a few us each) while they are at most one
# per this many of the batch's keys (each hashed as a tuple, ~0.15 us, when more).
FEW_FLOWS_PER_KEY = 32


def _blank(tunnels: list[str]) -> np.ndarray:
    """Per tunnel index of a batch (DecodedBatch.tunnels), whether it is no tunnel ("")."""
    return np.fromiter((not name for name in tunnels), bool, len(tunnels))


class ShortFlows:
    """ConnectionTracker's use of the short-connection pass (see the module docstring).

    `_short_flows` starts the pass during a batch; `_commit_short` keeps its results
    after the batch's walk. The state is the tracker's, set by ConnectionTracker.__init__
    and per batch by its feed.
    """

    ndmp_port: int
    sink: SegmentSink | None
    clock: ClockSteps
    tap: Callable[[bytes], bool] | None
    copies: CaptureCopies
    _flows: dict[FlowKey, ConnState]
    _parked: ParkedTable
    _ndmp_hosts: NdmpHosts
    _records: OpenedRecords
    _new: list[Connection]
    _next_uid: int
    _short: tuple[ShortPass, np.ndarray, list[FlowKey], list[FlowKey], np.ndarray,
                  tuple[np.ndarray, np.ndarray]] | None
    _decoded: DecodedBatch
    _buf: np.ndarray | None
    _copy: np.ndarray
    _replace: Callable[[FlowKey], None]

    def _short_flows(self, flows: BatchFlows, walk: list[int] | range,
                     moved: np.ndarray | None = None) -> list[int]:
        """Start the short-connection pass on the flows to walk that fit it (see
        flowcheck.connections.short): connections opened in this batch, and parked ones
        going on, but those whose records the batch's times move (moved: per flow,
        by_time.moved_flows; None: none); returns the other flows. The pass's records are
        made by _commit_short, after the walk, with the batch's uids."""
        d = self._decoded
        if len(walk) < SHORT_STEP_FLOWS or d.tcp_index.shape[0] < SHORT_STEP_PACKETS:
            return list(walk)  # too few flows or packets for a step of the pass (below)
        walk_a = indices(walk)
        sizes = flows.bounds[walk_a + 1] - flows.bounds[walk_a]
        starts = flows.bounds[walk_a]
        first = flows.order[starts]
        low = flows.from_lower[first]
        lower_port = np.where(low, d.tcp_sport[first], d.tcp_dport[first])
        upper_port = np.where(low, d.tcp_dport[first], d.tcp_sport[first])
        fits = sizes <= MAX_PACKETS
        if self.sink is not None:  # NDMP control connections keep the per-packet path
            fits &= (lower_port != self.ndmp_port) & (upper_port != self.ndmp_port)
            # So do the other flows of their hosts (data, callback): checks read fields
            # only the per-packet path keeps (flowcheck.connections.ndmp_hosts).
            fits &= ~self._ndmp_hosts.holds(d, first)
        keys = flows.keys
        # Its own list: the parked table's look-up puts its own (equal) key objects in it.
        walk_keys = list(keys) if len(walk_a) == len(keys) else [keys[f] for f in
                                                                 walk_a.tolist()]
        # Each look-up hashes the key anew (nested tuples keep no hash): none in an empty
        # table (short connections leave none open as ConnStates). The parked table is
        # read once, by the keys' FlowTable numbers (replays.Spans gave them this batch:
        # a gather, parked_table), its entries kept (None: not parked) for the flows the
        # pass takes up again and those _reused checks.
        numbers = self.copies.replays.numbers[walk_a]
        in_flows = self._in_flows(numbers, walk_keys)
        src, dst = endpoint_words(d, first)
        words = key_words(d.tcp_version[first], _blank(d.tunnels)[d.tcp_tunnel[first]],
                          np.minimum(src, dst), np.maximum(src, dst))
        in_parked, found = self._parked.find(numbers, walk_keys, words)
        if moved is not None:
            # Records out of time order (in the flow, or behind the time reached): the
            # pass takes a flow's packets in file order and a parked record's span from
            # the batch, so such a flow goes through update_packet. The others keep the
            # pass: a batch with some jitter, or after a clock set back, is no slow path.
            fits &= ~moved[walk_a]
        # A known 4-tuple whose first packet here is a SYN may open a new connection.
        syn_first = (d.tcp_flags[first] & (SYN | ACK)) == SYN
        reused = np.zeros(len(walk_keys), bool)
        known = np.flatnonzero(fits & (in_flows | in_parked) & syn_first)
        if known.shape[0]:
            reused[known] = self._reused(known, walk_keys, first, low, in_flows, found)
        chosen = fits & ((~in_flows & ~in_parked) | reused | (in_parked & ~in_flows))
        if not chosen.any():
            return walk_a.tolist()
        pick = np.flatnonzero(chosen)
        # Longest first (ties in flow order): sizes are small labels, radix sorted.
        pick = pick[stable_order(MAX_PACKETS - sizes[pick], MAX_PACKETS + 1)]
        # Each step of the pass costs a few hundred numpy calls whatever its flows: only
        # steps with enough flows are taken (longer flows are walked), and only if the
        # pass has enough packets to pay for its steps (else all are walked).
        active = np.searchsorted(-sizes[pick], -np.arange(MAX_PACKETS), side="left")
        steps = int(np.count_nonzero(active >= SHORT_STEP_FLOWS))
        pick = pick[sizes[pick] <= steps]
        if not steps or int(sizes[pick].sum()) < SHORT_STEP_PACKETS * steps:
            return walk_a.tolist()
        chosen[:] = False
        chosen[pick] = True
        rest = walk_a[~chosen].tolist()
        going = np.flatnonzero((in_parked & ~reused)[pick])
        entries = list(map(found.__getitem__, pick[going].tolist()))
        short = ShortPass(d, flows.order, flows.from_lower, starts[pick], sizes[pick],
                          lower_port[pick], upper_port[pick], self.ndmp_port, self._buf,
                          self.tap, (going, entries), self._copy)
        flow_ids = walk_a[pick]
        rest.extend(flow_ids[short.bad].tolist())
        keep = np.flatnonzero(~short.bad)
        replacing = [walk_keys[n] for n in pick[reused[pick] & ~short.bad].tolist()]
        self._short = (short, keep, [walk_keys[n] for n in pick.tolist()], replacing,
                       numbers[pick], (words[0][pick], words[1][pick]))
        return rest

    def _in_flows(self, numbers: np.ndarray, keys: list[FlowKey]) -> np.ndarray:
        """Per key (numbers: each one's FlowTable number, this batch's), whether it has a
        ConnState (`_flows`). Few ConnStates (short connections leave almost none: 2 on
        bench's (c) 200k against ~11,800 keys a batch): their keys are numbered one by
        one (ParkedTable.number_of: the parked table's FlowTable numbered this batch's
        keys, so a key of `_flows` among them has its number) and only the batch's keys
        of those numbers asked, rather than each key hashed (a nested tuple keeps no
        hash: ~35 ms on (c) 200k)."""
        flows, count = self._flows, len(keys)
        if not flows:
            return np.zeros(count, bool)
        if len(flows) * FEW_FLOWS_PER_KEY > count:
            return np.fromiter(map(flows.__contains__, keys), bool, count)
        theirs = np.fromiter(map(self._parked.number_of, flows), np.int64, len(flows))
        out = np.isin(numbers, theirs[theirs >= 0])
        for i in np.flatnonzero(out).tolist():  # equal hashes: the key itself decides
            out[i] = keys[i] in flows
        return out

    def _reused(self, known: np.ndarray, keys: list[FlowKey], first: np.ndarray,
                low: np.ndarray, in_flows: np.ndarray,
                found: list[tuple[Parked, int] | None]) -> np.ndarray:
        """Per flow of `known` (indices into keys, first, low, in_flows, found: the flows
        to walk; found: each one's parked entry or None), whether its first packet, a SYN,
        opens a new connection on its known 4-tuple (starts_new): a parked flow's checked
        column-wise (parked_bases), a flow with a ConnState one at a time (few)."""
        seq = self._decoded.tcp_seq[first[known]]
        out = np.zeros(known.shape[0], bool)
        live = in_flows[known]
        for j in np.flatnonzero(live).tolist():
            n = known.item(j)
            c, lower, isn = self._flows[keys[n]], bool(low[n]), seq.item(j)
            out[j] = starts_new(c, lower, SYN, isn)
            row = first.item(n)
            if out[j] and (gap := continues(c, lower, isn,
                                            float(self._decoded.tcp_ts[row]))) is not None:
                self.clock.note_continued(int(self._decoded.tcp_frame[row]),
                                          c.record.first_frame, gap)
        parked = np.flatnonzero(~live)
        if parked.shape[0]:
            at = known[parked]
            entries = list(map(found.__getitem__, at.tolist()))
            base = parked_bases(entries, low[at])
            out[parked] = (base != NONE) & (seq[parked] != base)
        return out

    def _commit_short(self) -> None:
        """The short pass's records (the new ones numbered with the batch's other new
        connections: uids follow first_frame), and their keys parked."""
        if self._short is None:
            return
        short, keep, keys, replacing, table_numbers, words = self._short
        self._short = None
        old = self._new
        new = keep[~short.continuing[keep]]
        first_frames = np.concatenate((np.array([r.first_frame for r in old], np.int64),
                                       short.frame[new]))
        numbers = np.empty(first_frames.shape[0], np.int64)
        numbers[np.argsort(first_frames, kind="stable")] = np.arange(
            self._next_uid, self._next_uid + first_frames.shape[0])
        self._next_uid += first_frames.shape[0]
        for record, number in zip(old, numbers[:len(old)].tolist(), strict=True):
            record.uid = f"C{number}"
        self._new = []
        block, order = commit(short, keep, numbers[len(old):])
        for key in replacing:  # a reused 4-tuple: the new connection replaces the old one
            self._replace(key)  # kept for the ICMP quotes that answer it
            self._flows.pop(key, None)
        self._parked.park(block, table_numbers[order], list(map(keys.__getitem__, order.tolist())),
                          (words[0][order], words[1][order]))
        self._records.add_block(block.records)  # its new rows, made when read
