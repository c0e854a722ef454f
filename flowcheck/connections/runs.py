"""The tracker's run paths: a batch's flows applied in bulk runs, walked, or one packet
at a time from Python lists.

- flows without SYN/FIN/RST in the batch, of known, steady, untapped connections, are
  one run each (`_bulk_flows`), applied together by `apply_runs` with the first round of
  the walk's runs;
- many small flows (short connections) go one packet at a time in one loop over Python
  lists made once per batch (`_small_flows`);
- the other flows are walked (`_walk_flows`, `_walk_flow`): the packets that can change
  a connection's state one at a time (the per-packet path), the runs of plain packets
  between them applied in rounds, one apply_runs call per round.

Apart from flowcheck.connections.tracker, which routes a batch's flows to its paths;
RunPaths is a base class of ConnectionTracker, whose state it reads and updates, as the
other paths are (flowcheck.connections.per_packet, flowcheck.connections.short_flows).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator

import numpy as np

from flowcheck.arrays import indices
from flowcheck.connections.bulk import apply_runs
from flowcheck.connections.conn import FIN, RST, SYN, ConnState
from flowcheck.connections.flows import BatchFlows, FlowKey
from flowcheck.connections.short import MAX_PACKETS
from flowcheck.decode import DecodedBatch
from flowcheck.fields_dataclass import fields_dataclass

STEADY_RETRY_LIMIT = 32  # slow-path packets in a row before a flow stops trying bulk
# Runs shorter than this go one packet at a time: a run's own cost in the batched numpy
# pass (a few attribute updates per side) is then about update_packet's per packet.
SMALL_RUN = 4
# A flow with fewer packets than this in a batch goes one packet at a time: a short
# connection is mostly SYN/FIN/RST, and the walk's own numpy calls would cost more.
SMALL_FLOW = 16
# Flows walked in a batch from which its packet fields are read from lists (one
# tolist() per field and batch: worth it only when many packets go one at a time).
SMALL_FLOWS_FOR_LISTS = 256
BULK_MIN = 2  # a flow's packets in a batch for it to join the batch-wide bulk pass

Run = tuple[ConnState, np.ndarray]  # a connection and its run's row numbers (bulk.apply_runs)


@fields_dataclass(slots=True)
class WalkLists:
    """The walked flows' packets of a batch, grouped by flow (`_walk_flows`): `order`
    their row numbers in the DecodedBatch (int64), `lower` whether each comes from its
    flow key's lower endpoint (bool), `below` per place the count of lower ones before
    it (int64, one more entry: a run's sides from two reads), and `events` the places
    (ascending, a list) of those with SYN, FIN or RST. A place is read as Python values
    only where a packet goes one at a time (`one`; `flow_lists` for a
    small flow's): no list of every walked packet (three tolist() calls of ~18,000
    packets a batch cost more than the walk's own steps on bench capture (d), issue 7)."""

    order: np.ndarray
    lower: np.ndarray
    below: np.ndarray
    events: list[int]

    def flow_lists(self, lo: int, hi: int) -> tuple[list[int], list[bool]]:
        """Places lo to hi's row numbers and sides, as Python lists."""
        return self.order[lo:hi].tolist(), self.lower[lo:hi].tolist()

    def one(self, place: int) -> tuple[int, bool]:
        """A place's row number and side."""
        return int(self.order[place]), bool(self.lower[place])

    def sides_of(self, lo: int, hi: int) -> tuple[bool, bool]:
        """Whether some and whether all of places lo to hi (lo < hi) come from the
        lower endpoint."""
        lower = int(self.below[hi]) - int(self.below[lo])
        return lower > 0, lower == hi - lo


class RunPaths:
    """ConnectionTracker's bulk runs and walks (see the module docstring). The state is
    the tracker's, set by ConnectionTracker.__init__ and per batch by its feed; the
    packets one at a time go through its per-packet path (`_slow`, `_one`)."""

    fast: bool
    one_at_a_time: int
    _flows: dict[FlowKey, ConnState]
    _decoded: DecodedBatch
    _copy: np.ndarray
    _sacks: Callable[[int], list[tuple[int, int]]]
    _get: Callable[[FlowKey], ConnState | None]
    _slow: Callable[[FlowKey, int, bool], None]
    _one: Callable[..., None]

    def _bulk_flows(self, flows: BatchFlows) -> tuple[list[int] | range, list[Run]]:
        """The flows of the batch that are one run each (no SYN, FIN or RST in the batch,
        connection known, steady, not tapped): (the other flows, their runs). The runs
        are applied with the walk's first round (`_walk_flows`): one apply_runs call
        less per batch (its fixed cost, about 1.5 M instructions: bench/README.md)."""
        d = self._decoded
        if not flows.keys:
            return [], []
        if len(flows.keys) == flows.flow.shape[0] and BULK_MIN > 1:
            return range(len(flows.keys)), []  # a packet a flow: no run (a small batch)
        begins = flows.bounds[:-1]
        sizes = np.diff(flows.bounds)
        events = np.add.reduceat((d.tcp_flags[flows.order] & (SYN | FIN | RST)) != 0, begins)
        from_lower = np.add.reduceat(flows.from_lower[flows.order], begins)
        candidates = ((events == 0) & (sizes >= BULK_MIN)).nonzero()[0]
        if not candidates.size:
            return range(len(flows.keys)), []
        walk: list[int] = []
        runs: list[Run] = []
        keys, bounds = flows.keys, flows.bounds.tolist()
        for f, lower, size in zip(candidates.tolist(), from_lower[candidates].tolist(),
                                  sizes[candidates].tolist(), strict=True):
            c = self._flows.get(keys[f])
            if c is None and size > MAX_PACKETS:
                c = self._get(keys[f])  # parked: its ConnState, for the bulk pass
            if c is None or c.tapped or c.tap_pending or not (
                    (lower == 0 or c.steady_for(c.orig_is_lower))
                    and (lower == size or c.steady_for(not c.orig_is_lower))):
                walk.append(f)
                continue
            runs.append((c, flows.order[bounds[f]:bounds[f + 1]]))
        if len(walk) == candidates.size:
            return range(len(flows.keys)), runs
        # The flows not applied here (not candidates, or candidates sent to the walk),
        # in flow order.
        to_walk = np.ones(len(flows.keys), bool)
        to_walk[candidates] = False
        to_walk[walk] = True
        return to_walk.nonzero()[0].tolist(), runs

    def _small_flows(self, flows: BatchFlows, walk: list[int] | range) -> list[int]:
        """Many flows to walk (short connections): the small ones, which go one packet at
        a time, done here in one loop over Python lists made once per batch (no numpy
        scalar reads, no walker); returns the other flows. Flows are independent (each
        its own connections), so the order they are done in does not matter."""
        d = self._decoded
        flags_of, seq_of, ack_of, window_of, plen_of, frame_of, ts_of, copy_of, ttl_of = (
            d.tcp_flags.tolist(), d.tcp_seq.tolist(), d.tcp_ack.tolist(),
            d.tcp_window.tolist(), d.tcp_payload_len.tolist(), d.tcp_frame.tolist(),
            d.tcp_ts.tolist(), self._copy.tolist(), d.tcp_ttl.tolist())
        order = flows.order.tolist()
        lower_of = flows.from_lower.tolist()
        bounds = flows.bounds.tolist()
        keys, one, everything = flows.keys, self._one, not self.fast
        rest = []
        for f in walk:
            begin, end = bounds[f], bounds[f + 1]
            if end - begin >= SMALL_FLOW and not everything:
                rest.append(f)
                continue
            key = keys[f]
            for k in order[begin:end]:
                one(key, k, lower_of[k], flags_of[k], seq_of[k], ack_of[k], window_of[k],
                    plen_of[k], frame_of[k], ts_of[k], copy_of[k], ttl_of[k])
        return rest

    def _walk_flows(self, flows: BatchFlows, walk: list[int] | range,
                    runs: list[Run]) -> None:
        """Walk the flows `walk` (`_walk_flow`) in rounds: each walker goes on to its
        next run; a round's runs (one per flow, so of distinct connections), the first
        round's with `runs` (the bulk flows', `_bulk_flows`: other connections again),
        are applied together before the walkers resume.

        The walkers read the packets' rows, flags and sides from Python lists made
        once per batch for all the walked flows' packets (one gather and tolist per
        column), not per flow: a flow's walk cost about 80,000 instructions in numpy
        calls, twice its handful of packets one at a time (bench/README.md, sdmix)."""
        d = self._decoded
        walkers = []
        if len(walk):
            sizes = np.diff(flows.bounds)
            chosen = np.zeros(len(flows.keys), bool)
            chosen[indices(walk)] = True
            # The walked flows' packets, grouped by flow as in flows.order; lo[f]: flow
            # f's first place among them.
            rows = flows.order if chosen.all() else flows.order[np.repeat(chosen, sizes)]
            lo = np.zeros(len(flows.keys) + 1, np.int64)
            np.cumsum(np.where(chosen, sizes, 0), out=lo[1:])
            lower = flows.from_lower[rows]
            below = np.zeros(rows.shape[0] + 1, np.int64)
            np.cumsum(lower, out=below[1:])
            lists = WalkLists(rows, lower, below,
                              np.flatnonzero(d.tcp_flags[rows] & (SYN | FIN | RST)).tolist())
            starts = lo.tolist()
            keys = flows.keys
            walkers = [self._walk_flow(keys[f], starts[f], starts[f + 1], lists)
                       for f in walk]
        while True:
            going = []
            for walker in walkers:
                run = next(walker, None)
                if run is not None:
                    runs.append(run)
                    going.append(walker)
            if runs:
                self.one_at_a_time += apply_runs(d, flows.from_lower, runs, self._copy,
                                                 self._sacks)
            if not going:
                return
            walkers, runs = going, []

    def _walk_flow(self, key: FlowKey, lo: int, hi: int,
                   lists: WalkLists) -> Iterator[Run]:
        """One flow's packets of the batch (places lo to hi of `lists`): the ones that
        can change state one at a time, the runs between them yielded (the caller
        applies a run before resuming)."""
        d = self._decoded
        events, slow = lists.events, self._slow
        if hi - lo < SMALL_FLOW or not self.fast:
            for row, lower in zip(*lists.flow_lists(lo, hi), strict=True):
                slow(key, row, lower)
            return
        i, slow_streak = lo, 0
        while i < hi:
            c = self._get(key)
            next_event = bisect_left(events, i)
            j = events[next_event] if next_event < len(events) else hi
            if c is None or c.tapped or j == i:  # (j == i: a SYN, FIN or RST at i)
                slow(key, *lists.one(i))
                i += 1
                continue
            j = min(j, hi)
            if c.tap_pending:
                with_payload = np.flatnonzero(d.tcp_payload_len[lists.order[i:j]] > 0)
                if with_payload.size and with_payload[0] == 0:
                    slow(key, *lists.one(i))
                    i += 1
                    continue
                if with_payload.size:
                    j = i + int(with_payload[0])
            if j - i < SMALL_RUN:
                for row, lower in zip(*lists.flow_lists(i, j), strict=True):
                    slow(key, row, lower)
                i = j
                continue
            # Which sides send in the run: any() and all() of the lower endpoint's.
            some_lower, all_lower = lists.sides_of(i, j)
            some_orig, all_orig = ((some_lower, all_lower) if c.orig_is_lower
                                   else (not all_lower, not some_lower))
            if not ((not some_orig or c.steady_for(True))
                    and (all_orig or c.steady_for(False))):
                # Rarely stays unsteady (an originator never ACKing): stop retrying then.
                stop = j if slow_streak >= STEADY_RETRY_LIMIT else i + 1
                for row, lower in zip(*lists.flow_lists(i, stop), strict=True):
                    slow(key, row, lower)
                slow_streak += 1
                i = stop
                continue
            yield c, lists.order[i:j]
            slow_streak = 0
            i = j
