"""Replayed copies: a capture's packets given again later in the same stream, a read
chunk or more after their originals (captures joined end to end).

`cat a.pcap b.pcap > all.pcap` (sources.joined_chunks) and `mergecap -a` hand on b's
records after a's: where b covers moments a covered too (the same capture given twice,
or a second capture of the same point started before the first stopped), the capture's
time steps back to b's start, and b's packets of those moments are a's packets captured
again, at the same times. copies.py finds a copy by its original (equal fields, at most
COPY_WINDOW apart) among the packets of its batch and the last moments of the batch
before (copies_tail); b's copies are a's length back in capture order, past that, and
each would be taken for a packet sent again: a control connection resending its last
message for ever (control_stalled: FAIL) where the same join read as one chunk shows
the copies (capture_duplicates). Holding the packets back to a's start would hold a
whole capture; so each connection (flow key) keeps what it showed so far in a few
numbers (`Spans`), and a packet is a replayed copy when

- the capture stepped back in time by more than REPLAY_STEP before it (at it or an
  earlier packet; the stream's running maximum of TCP packet times) and it is stamped
  at or before the time it stepped back from (COPY_WINDOW allowed): the stream is
  going over moments it already went over;
- its connection was seen in an earlier batch, and it is stamped at or before that
  connection's latest packet (whole ms, COPY_WINDOW allowed; one stamped before its
  first carries numbers before its first's, below), not within the longest gap (over
  REPLAY_STEP) between two of its packets: moments the connection was captured in (a
  ring's parts joined out of order, 0 2 1: part 1 fills the gap its connections have
  between parts 0 and 2, with numbers between theirs);
- it carries nothing new: its sequence numbers from its seq to its end (seq + payload,
  SYN and FIN counted) lie within those its direction sent (from its first packet's seq,
  or the lowest below it, to the furthest end), and its acknowledgement number (ACK set)
  within those the other direction sent (not told when the capture holds nothing of
  it); and
- its IPv4 identification is one its direction already used: between its first packet's
  (or the lowest) and the furthest after it (the IP ID a sender gives its next packet;
  Linux counts per connection, Windows for the host). A packet without one (0, IPv6) is
  a replayed copy only once the capture showed a replayed copy with one (`opened`).
The furthest end and ID advance by the most a batch's packets go past them, read modulo
2**32 and 2**16 (a direction that sent 4 GiB, or 65,536 packets, covers them all); a
packet behind the first and not past the furthest moves the first back to it: a reused
4-tuple's next connection (an application's new attempt after its SYN retries) starts
at another ISN and, on Linux, at another IP ID, below the last one's as often as above
(trial 35's bridge capture joined with itself: 4 of its 243 copies were missed).

A packet sent again differs from such a copy: its IP ID is the sender's next one (a
resend after a clock set back, stamped behind the original: ClockSteps), and new data,
a new acknowledgement, a connection not seen before or one after its latest packet are
new. REPLAY_STEP (1 s) is over the lag of records written late (a NIC's queues:
milliseconds; connections/clock.py's CLOCK_STEP_SECONDS, 128 ms, is NTP's step
threshold), whose packets, stamped behind their direction's later ones, carry old
numbers too.

A packet of b that a lacked (a's capture dropped it) within a's moments is taken for a
copy: what a showed of those moments stands (a hole stays a hole: capture_loss, never
a drop). Captures overlapping by REPLAY_STEP or less are left to copies.py's windows
(joined_chunks hands a's last records and b's first in one chunk).

Replayed copies change no connection's numbers (a copy found in its batch, copies.py,
carries its original's). Memory: 38 bytes a connection and its place in a numpy hash
table (connections.flow_table: no Python object per connection), never per packet; the
arrays grow in place. Cost per batch, never the history: each flow's key hashed from its
first packet's columns in bulk (flow_table.flow_hashes: no Python hash per key), one
probing pass of the table for the look-up and the new keys, and a few vector operations
over its packets in capture order, the batch's flows' numbers gathered into small arrays
and reduced into by ufunc.at on int32 (reduceat over many short flows costs several
times more); the gaps look only at the packets of the flows whose packets spread over
REPLAY_STEP in the batch, or that come back after that long (`_gap_rows`: none of a bulk
transfer's, a fifth of bench's short200k's packets, its SYNs retried).

The tracker's sequence spaces (Endpoint.base, max_end) and latest times (last_ts) are
not read instead: they are a connection's, not a flow key's (a reused 4-tuple's earlier
connections are replayed too), and the IP IDs and gaps, which it does not keep, need the
key's place in the table anyway. Copies copies.py finds beside their originals with a
step back between them (the same join read in one chunk) are told by `across_step`: both
count as replayed (CaptureCopies.replayed: capture_duplicates says the capture was
joined).
"""

from __future__ import annotations

import numpy as np

from flowcheck.connections.conn import ACK as _ACK
from flowcheck.connections.conn import FIN as _FIN
from flowcheck.connections.conn import SYN as _SYN
from flowcheck.connections.flow_table import FlowTable
from flowcheck.connections.flows import BatchFlows, FlowKey
from flowcheck.connections.replay_steps import REPLAY_STEP, ClockBack
from flowcheck.connections.replays_small import (
    ID_KNOWN,
    SEQ_KNOWN,
    SMALL_PACKETS,
    recent_numbers,
    small_directions,
    small_latest,
)
from flowcheck.decode import DecodedBatch

_NONE = np.iinfo(np.int32).min  # a packet not counted (_directions)
_GROWTH = 1.125  # the per-flow arrays grow by an eighth (little room unused per connection)


class Spans:
    """Per flow key seen (connections.flow_table numbers it): its latest moment and
    longest gap, and per direction (from its lower endpoint or not: 2 * number + from_lower) the
    numbers it used (module docstring); the capture's time reached and the time its
    latest step back (more than REPLAY_STEP) went back from (`steps`). Memory: 38 bytes a flow key
    and its table room."""

    def __init__(self) -> None:
        self._table = FlowTable()
        self._origin: float | None = None  # s: the capture's first TCP time (ms count from)
        # Per flow: its latest packet's time, ms after _origin (ceiling).
        self._last_ms = np.zeros(0, np.int32)
        # Per flow: its longest gap between two packets captured (longer than
        # REPLAY_STEP), ms after _origin: moments it was not captured in (a ring's parts
        # joined out of order: the part joined last fills it).
        self._gap_from = np.zeros(0, np.int32)
        self._gap_to = np.zeros(0, np.int32)
        # Per direction: its first sequence number and how far past it its furthest end
        # (seq + payload, SYN and FIN counted) went, mod 2**32; its first IPv4 ID and how
        # far past it its furthest went, mod 2**16; which of them are known.
        self._seq0 = np.zeros(0, np.uint32)
        self._end = np.zeros(0, np.uint32)
        self._id0 = np.zeros(0, np.uint16)
        self._ids = np.zeros(0, np.uint16)
        self._known = np.zeros(0, np.uint8)
        self.steps = ClockBack()  # where the capture's time stepped back
        # The table numbers of the keys of recent small batches (at most RECENT_KEYS,
        # all dropped when full): each is the table's number of the key's hash, so a
        # key found here is numbered as the table would number it (recent_numbers).
        self._recent: dict[FlowKey, int] = {}
        self.opened = False  # a replayed copy with an IPv4 ID was seen
        # The last batch's FlowTable number per batch flow (int64; -1: a flow without
        # packets): the tracker's parked table is indexed by them (connections.
        # parked_table), so the batch's keys are hashed and probed once, here.
        self.numbers = np.zeros(0, np.int64)

    @property
    def table(self) -> FlowTable:
        """The numbers of every flow key seen (the tracker's parked table shares them)."""
        return self._table

    def mark(self, d: DecodedBatch, flows: BatchFlows, window: float) -> np.ndarray:
        """Per TCP packet of the batch (bool): a replayed copy (module docstring; window:
        copies.py's COPY_WINDOW, s). Updates the flows with the others (the copies
        copies.py finds in the batch among them: a copy's numbers are its original's)."""
        m = d.tcp_ts.shape[0]
        replayed = np.zeros(m, bool)
        if not m or not flows.keys:
            self.numbers = np.full(len(flows.keys), -1, np.int64)
            return replayed
        ts = d.tcp_ts
        if self._origin is None:
            self._origin = float(ts[0])
        back_from, in_order = self.steps.back_from(ts, d.tcp_frame)
        sizes = np.diff(flows.bounds)
        flow_at = np.flatnonzero(sizes)  # the batch flows with packets
        number = np.full(sizes.shape[0], -1, np.int64)
        number[flow_at], fresh = recent_numbers(self._table, self._recent, d, flows,
                                                flow_at)
        self.numbers = number
        self._grow(self._table.size)
        if self.steps.went_from > -np.inf:
            seen = number >= 0  # a flow key seen in an earlier batch
            seen[flow_at[fresh]] = False
            replaying = (ts <= back_from + window) & seen[flows.flow]
            if replaying.any():
                replayed = self._replayed(d, flows, number, np.flatnonzero(replaying),
                                          window, m)
        self._update(d, flows, number, sizes, flow_at, flow_at[fresh], ~replayed, in_order)
        return replayed

    def _ms(self, ts: np.ndarray) -> np.ndarray:
        """Times (s) as ms after the capture's first TCP time (float64, not rounded)."""
        return (ts - self._origin) * 1000.0

    def _replayed(self, d: DecodedBatch, flows: BatchFlows, number: np.ndarray,
                  rows: np.ndarray, window: float, m: int) -> np.ndarray:
        """Which of `rows` (packets of flow keys seen before, in a stretch stepped back)
        are replayed copies, per TCP packet of the batch (bool); number: each batch
        flow's (FlowTable)."""
        f = number[flows.flow[rows]]
        lower = flows.from_lower[rows].astype(np.int64)
        own, other = 2 * f + lower, 2 * f + 1 - lower
        ms, flags = self._ms(d.tcp_ts[rows]), d.tcp_flags[rows]
        seq = d.tcp_seq[rows].astype(np.int64)
        end = seq + d.tcp_payload_len[rows] + ((flags & _SYN) > 0) + ((flags & _FIN) > 0)
        known = self._known[own]
        reach = self._end[own].astype(np.int64)
        start_at = (seq - self._seq0[own]) & 0xFFFFFFFF
        end_at = (end - self._seq0[own]) & 0xFFFFFFFF
        # An acknowledgement within what the other direction sent (its FIN counted); not
        # told when the capture holds none of it.
        ack_at = (d.tcp_ack[rows].astype(np.int64) - self._seq0[other]) & 0xFFFFFFFF
        acked = (((flags & _ACK) == 0) | ((self._known[other] & SEQ_KNOWN) == 0)
                 | (ack_at <= self._end[other].astype(np.int64)))
        slack = window * 1000.0
        old = (((known & SEQ_KNOWN) > 0)
               & (ms <= self._last_ms[f] + slack)
               & ~((ms > self._gap_from[f] + slack) & (ms < self._gap_to[f] - slack))
               & (start_at <= reach) & (end_at <= reach) & acked)
        ip_id = d.tcp_ip_id[rows]
        with_id = ip_id != 0
        id_at = (ip_id - self._id0[own]) & 0xFFFF
        identified = old & with_id & ((known & ID_KNOWN) > 0) & (id_at <= self._ids[own])
        unnamed = old & ~with_id
        if not self.opened and unnamed.any():
            first = np.flatnonzero(identified)
            unnamed &= np.arange(rows.shape[0]) > (first[0] if first.size else rows.shape[0])
        self.opened = self.opened or bool(identified.any())
        replayed = np.zeros(m, bool)
        replayed[rows[identified | unnamed]] = True
        return replayed

    def _update(self, d: DecodedBatch, flows: BatchFlows, number: np.ndarray,
                sizes: np.ndarray, flow_at: np.ndarray, fresh: np.ndarray,
                taken: np.ndarray, in_order: bool) -> None:
        """Take the batch's packets `taken` (bool per TCP packet) into their flows' and
        directions' numbers (number: per batch flow its FlowTable number, -1 for one
        without packets; sizes: its packets; flow_at: the flows with packets; fresh:
        those first seen in this batch; in_order: the batch's times never go back). The
        batch's flows' numbers are gathered into small arrays (one place per batch flow
        and direction), reduced into by ufunc.at over the packets in capture order (no
        reduceat over many short flows, no sort) and written back; only the gaps look at
        the packets in flow order (BatchFlows.order)."""
        every = bool(taken.all())  # no replayed copy in the batch (the common case)
        f = number[flow_at]
        ts = d.tcp_ts
        if fresh.size:  # a new flow's first packet (it has at least one: no copy yet)
            self._last_ms[number[fresh]] = _int32(np.ceil(self._ms(
                ts[flows.order[flows.bounds[fresh]]])))
        if not every and not taken.any():
            return
        if (every and in_order and ts.shape[0] <= SMALL_PACKETS
                and small_latest(ts, flows, flow_at, f, self._last_ms, self._origin)):
            self._directions(d, flows, number, sizes, None)  # no gap: as below, in ints
            return
        starts, counts = flows.bounds[:-1][flow_at], sizes[flow_at]
        if every and in_order:  # each flow's latest packet is its last
            latest = ts[flows.order[starts + counts - 1]]
            some = self._gap_rows(ts[flows.order[starts]], latest, f)
            if some.size:
                starts, counts = starts[some], counts[some]
                within = np.repeat(np.cumsum(counts) - counts, counts)
                rows = flows.order[np.repeat(starts, counts) + np.arange(within.shape[0])
                                   - within]
                self._gaps(ts[rows], np.cumsum(counts) - counts, counts, f[some], None)
        else:
            self._gaps(ts[flows.order], starts, counts, f,
                       None if every else taken[flows.order])
            at_flow = np.full(sizes.shape[0], -np.inf)
            np.maximum.at(at_flow, flows.flow, ts if every else np.where(taken, ts, -np.inf))
            latest = at_flow[flow_at]
        self._last_ms[f] = np.maximum(self._last_ms[f], _int32(np.ceil(self._ms(latest))))
        self._directions(d, flows, number, sizes, None if every else taken)

    def _directions(self, d: DecodedBatch, flows: BatchFlows, number: np.ndarray,
                    sizes: np.ndarray, taken: np.ndarray | None) -> None:
        """Each direction's first numbers (when it had none) and furthest end and IPv4 ID
        (module docstring) from the batch's packets (taken: those taken, None: all);
        number: each batch flow's FlowTable number (given to those with packets);
        sizes: each batch flow's packets. A packet behind its direction's first numbers
        and not past its furthest (a reused 4-tuple's next connection, its ISN and IP IDs
        below the last one's) moves the first back: its copies are numbers used too.
        Every packet takes part (one not counted, not taken or without an ID, is told by
        a value, not by gathering the others); the reductions run on int32 (ufunc.at's
        fast loops)."""
        if flows.flow.shape[0] <= SMALL_PACKETS:  # a few packets: in Python ints
            small_directions(d, flows.flow.tolist(), flows.from_lower.tolist(),
                             number.tolist(), None if taken is None else taken.tolist(),
                             self._known, self._seq0, self._end, self._id0, self._ids)
            return
        flags, ip_id = d.tcp_flags, d.tcp_ip_id
        local = flows.flow
        if not (sizes > 0).all():  # the flows with packets only
            local = (np.cumsum(sizes > 0) - 1)[local]
            number = number[sizes > 0]
        slot = 2 * local + flows.from_lower  # per packet: its direction in the batch
        places = np.empty(2 * number.shape[0], np.int64)  # theirs in the arrays
        places[0::2] = 2 * number
        places[1::2] = places[0::2] + 1
        known = self._known[places]
        end = d.tcp_seq + d.tcp_payload_len
        end += flags & _FIN
        end += (flags & _SYN) >> 1
        without_id = ip_id == 0
        # (bit, first numbers, spans, the packets' first numbers, their furthest, those
        # not counted (None: none), bits of the wrapping difference)
        fields = [(SEQ_KNOWN, self._seq0, self._end, d.tcp_seq, end,
                   None if taken is None else ~taken, 32)]
        if not without_id.all():
            fields.append((ID_KNOWN, self._id0, self._ids, ip_id, ip_id,
                           without_id if taken is None else without_id | ~taken, 16))
        m = slot.shape[0]
        for bit, zeros, spans, starts, ends, left, bits in fields:
            full = (1 << bits) - 1
            zero, span = zeros[places].astype(np.int64), spans[places].astype(np.int64)
            unknown = (known & bit) == 0
            if unknown.any():  # the first packet (in capture order) of each direction
                first = np.full(places.shape[0], m, np.int32)
                index = np.arange(m, dtype=np.int32)
                if left is not None:
                    index[left] = m
                np.minimum.at(first, slot, index)
                need = np.flatnonzero(unknown & (first < m))
                zero[need] = starts[first[need]]
                known[need] |= bit
            # How far each end (ID) goes past its direction's furthest so far, read
            # signed (those behind it negative); the furthest advances by the most.
            past = _signed(ends - (zero + span)[slot], bits)
            low = np.flatnonzero(past < 0)  # retransmissions, older packets: few
            if left is not None:
                past[left] = _NONE
                low = low[~left[low]]
            ahead = np.zeros(places.shape[0], np.int32)
            np.maximum.at(ahead, slot, past)
            if low.size:
                at = slot[low]
                behind = np.zeros(places.shape[0], np.int32)
                np.minimum.at(behind, at, _signed(starts[low] - zero[at], bits))
                zero += behind
                span -= behind
            zeros[places] = zero & full
            spans[places] = np.minimum(span + ahead, full)
        self._known[places] = known

    def _gap_rows(self, firsts: np.ndarray, lasts: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Of a batch in time order, the flows (indexes into firsts: their first packet's
        times, lasts: their last's, s; f: their numbers) that can hold a gap over
        REPLAY_STEP: their packets spread over that long, or they come back after it."""
        return np.flatnonzero((lasts - firsts > REPLAY_STEP) | (
            firsts - (self._origin + self._last_ms[f] / 1000.0) > REPLAY_STEP))

    def _gaps(self, ts: np.ndarray, starts: np.ndarray, sizes: np.ndarray, f: np.ndarray,
              kept: np.ndarray | None) -> None:
        """Keep each flow's longest gap between two of its packets, in capture order
        (times ts, s, in flow order; starts, sizes: each flow's rows; f: its number;
        kept: the rows taken, None: all), when longer than REPLAY_STEP and any before.
        Only the gaps over REPLAY_STEP are looked at (few: none in a busy batch)."""
        if kept is not None:
            rows = np.flatnonzero(kept)
            ts, ends = ts[rows], np.searchsorted(rows, starts + sizes)
            starts = np.searchsorted(rows, starts)
            some = ends > starts
            starts, sizes, f = starts[some], (ends - starts)[some], f[some]
        last = self._origin + self._last_ms[f] / 1000.0
        first_gap = ts[starts] - last  # from the flow's latest packet before the batch
        inner = np.flatnonzero(ts[1:] - ts[:-1] > REPLAY_STEP) + 1  # rows after a gap
        if inner.size:
            owner = np.searchsorted(starts, inner, "right") - 1
            inner, owner = inner[starts[owner] != inner], owner[starts[owner] != inner]
        opening = np.flatnonzero(first_gap > REPLAY_STEP)
        if not inner.size and not opening.size:
            return  # no gap that long in the batch (a busy one: the common case)
        # The gaps over REPLAY_STEP, in flow order: (row after it, its flow, its length).
        at = np.concatenate((starts[opening], inner))
        owner = np.concatenate((opening, owner)) if inner.size else opening
        before = np.concatenate((last[opening], ts[inner - 1]))
        gap = np.concatenate((first_gap[opening], ts[inner] - ts[inner - 1]))
        by_row = np.argsort(at, kind="stable")
        at, owner, before, gap = at[by_row], owner[by_row], before[by_row], gap[by_row]
        heads = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        longest = np.maximum.reduceat(gap, heads)
        counts = np.diff(np.r_[heads, at.shape[0]])
        first = np.minimum.reduceat(np.where(gap == np.repeat(longest, counts),
                                             np.arange(at.shape[0]), at.shape[0]), heads)
        g = f[owner[heads]]
        wide = longest * 1000.0 > self._gap_to[g] - self._gap_from[g].astype(np.int64)
        if not wide.any():
            return
        first, g = first[wide], g[wide]
        self._gap_from[g] = _int32(np.ceil(self._ms(before[first])))
        self._gap_to[g] = _int32(np.floor(self._ms(ts[at[first]])))

    def _grow(self, flows: int) -> None:
        """Room for `flows` flow keys (the arrays grown by _GROWTH as needed, in place
        where the allocator can: no copy of the old arrays beside the new)."""
        if flows <= self._last_ms.shape[0]:
            return
        room = max(flows, int(self._last_ms.shape[0] * _GROWTH), 256)
        for name, per in (("_last_ms", 1), ("_gap_from", 1),
                          ("_gap_to", 1), ("_seq0", 2), ("_end", 2),
                          ("_id0", 2), ("_ids", 2), ("_known", 2)):
            getattr(self, name).resize(per * room, refcheck=False)  # zeros after the old


def _signed(difference: np.ndarray, bits: int) -> np.ndarray:
    """Differences of numbers modulo 2**bits (32: sequence numbers, 16: IPv4 IDs; int64)
    read signed (RFC 1982), as int32."""
    if bits == 32:
        return difference.astype(np.uint32).view(np.int32)
    return difference.astype(np.uint16).view(np.int16).astype(np.int32)


def _int32(ms: np.ndarray) -> np.ndarray:
    """Whole ms (float64, -inf for none) as int32, clipped to its range."""
    return np.clip(ms, -(2.0 ** 31), 2.0 ** 31 - 1).astype(np.int32)
