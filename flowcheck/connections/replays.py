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
  SYN and FIN counted) lie within those its direction sent (from its first packet's seq
  to the furthest end), and its acknowledgement number (ACK set) within those the other
  direction sent (not told when the capture holds nothing of it); and
- its IPv4 identification is one its direction already used: between its first packet's
  and the furthest after it (the IP ID a sender gives its next packet; Linux counts per
  connection, Windows for the host). A packet without one (0, IPv6) is a replayed copy
  only once the capture showed a replayed copy with one (`opened`).
The furthest end and ID advance by the most a batch's packets go past them, read modulo
2**32 and 2**16 (a direction that sent 4 GiB, or 65,536 packets, covers them all).

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
arrays grow in place. Cost per batch, never the history: each flow's key hashed from
its first packet's columns in bulk (flow_hashes: no Python hash per key), the table's
look-up, and a few vector operations over its packets in capture order, the batch's
flows' numbers gathered into small arrays and reduced into by ufunc.at (reduceat over
many short flows costs several times more); only the gaps look at the packets in flow
order, and only those over REPLAY_STEP further (bench short200k, 200,000 connections in
21 batches: 0.24 -> 0.11 s). Copies copies.py finds beside their originals with a step
back between them (the same join read in one chunk) are told by `across_step`: both
count as replayed (CaptureCopies.replayed: capture_duplicates says the capture was
joined).
"""

from __future__ import annotations

import numpy as np

from flowcheck.connections.conn import ACK as _ACK
from flowcheck.connections.conn import FIN as _FIN
from flowcheck.connections.conn import SYN as _SYN
from flowcheck.connections.flow_table import FlowTable, column_hashes
from flowcheck.connections.flows import BatchFlows
from flowcheck.decode import DecodedBatch

REPLAY_STEP = 1.0  # s: a step back of the capture's time this large may be a replay
_SEQ_KNOWN, _ID_KNOWN = 1, 2  # a direction's `_known` bits
_GROWTH = 1.125  # the per-flow arrays grow by an eighth (little room unused per connection)
_PORT_BITS = np.uint64(16)
_COUNTED = np.array([0, 1, 1, 2])  # sequence numbers SYN and FIN take, by flags & 3


class Spans:
    """Per flow key seen (connections.flow_table numbers it): its latest moment and
    longest gap, and per direction (from its lower endpoint or not: 2 * number + from_lower) the
    numbers it used (module docstring); the capture's time reached and the time its
    latest step back (more than REPLAY_STEP) went back from. Memory: 38 bytes a flow key
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
        self._reached = -np.inf  # s: the latest TCP packet time so far
        self._from = -np.inf  # s: the time the latest step back went back from
        self.opened = False  # a replayed copy with an IPv4 ID was seen
        self.marked = np.zeros(0, bool)  # the last batch's replayed copies (mark's answer)
        # The frame of the capture's latest step back (more than REPLAY_STEP; 0: none),
        # and per packet of the last batch the latest at or before it (one int when the
        # batch holds none): a copy after it of a packet before it is a replayed one.
        self._step_frame = 0
        self.stepped_at: np.ndarray | int = 0

    def mark(self, d: DecodedBatch, flows: BatchFlows, window: float) -> np.ndarray:
        """Per TCP packet of the batch (bool): a replayed copy (module docstring; window:
        copies.py's COPY_WINDOW, s). Updates the flows with the others (the copies
        copies.py finds in the batch among them: a copy's numbers are its original's)."""
        m = d.tcp_ts.shape[0]
        replayed = self.marked = np.zeros(m, bool)
        if not m or not flows.keys:
            return replayed
        ts = d.tcp_ts
        if self._origin is None:
            self._origin = float(ts[0])
        back_from, in_order = self._back_from(ts, d.tcp_frame)
        hashes = flow_hashes(d, flows)
        number = self._table.find(hashes)
        if self._from > -np.inf:
            known = (number >= 0)[flows.flow]
            replaying = (ts <= back_from + window) & known
            if replaying.any():
                replayed = self._replayed(d, flows, number, np.flatnonzero(replaying),
                                          window, m)
        self._update(d, flows, number, hashes, ~replayed, in_order)
        self.marked = replayed
        return replayed

    def _back_from(self, ts: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray | float, bool]:
        """Per packet of the batch (times ts, s; frames: their frame numbers): the time
        the capture's latest step back (more than REPLAY_STEP) at or before it went back
        from (-inf: none yet), one float for the whole batch when it holds no step back
        (in time order, the common case: no running maximum taken); and whether the
        batch is in time order. Keeps the frame of that step back in `stepped_at` (per
        packet, or one int for the batch; 0: none yet)."""
        if ts[0] >= self._reached - REPLAY_STEP and bool(np.all(ts[1:] >= ts[:-1])):
            self._reached = max(self._reached, float(ts[-1]))
            self.stepped_at = self._step_frame
            return self._from, True
        before = np.empty(ts.shape[0])
        before[0] = self._reached
        np.maximum.accumulate(ts[:-1], out=before[1:])
        np.maximum(before[1:], self._reached, out=before[1:])
        stepped = ts < before - REPLAY_STEP
        back_from = np.where(stepped, before, -np.inf)
        np.maximum.accumulate(back_from, out=back_from)
        np.maximum(back_from, self._from, out=back_from)
        at = np.where(stepped, frames, 0)
        np.maximum.accumulate(at, out=at)
        self.stepped_at = np.maximum(at, self._step_frame)
        self._step_frame = int(self.stepped_at[-1])
        self._reached = max(self._reached, float(ts.max()))
        self._from = float(back_from[-1])
        return back_from, False

    def across_step(self, frames: np.ndarray, top: np.ndarray, position: np.ndarray,
                    copies: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Per copy copies.py found beside its original (bool; copies: their indexes into
        frames, the batch's packets and the tail's; top, position: copies.py's sort of
        them, equal packets adjacent in capture order; rows: each one's batch row, -1
        in the tail): whether a step back of the capture's clock (more than REPLAY_STEP)
        lies between the first of its equal packets and it (a replayed copy found
        beside its original: a join read in one chunk, where a copy is stamped as its
        original; the first, not the one before it, as replays.py marks a capture copy
        of a replayed packet too)."""
        stepped = self.stepped_at
        if not copies.size or (isinstance(stepped, int) and not stepped):
            return np.zeros(copies.shape[0], bool)
        n = top.shape[0]
        run = np.zeros(n, np.int64)  # per place in the sort: where its equal run starts
        starts = np.flatnonzero(top[1:] != top[:-1]) + 1
        run[starts] = starts
        np.maximum.accumulate(run, out=run)
        place = np.empty(n, np.int64)
        place[position] = np.arange(n)
        first = frames[position[run[place[copies]]]]
        return first < (stepped if isinstance(stepped, int) else stepped[rows[copies]])

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
        acked = (((flags & _ACK) == 0) | ((self._known[other] & _SEQ_KNOWN) == 0)
                 | (ack_at <= self._end[other].astype(np.int64)))
        slack = window * 1000.0
        old = (((known & _SEQ_KNOWN) > 0)
               & (ms <= self._last_ms[f] + slack)
               & ~((ms > self._gap_from[f] + slack) & (ms < self._gap_to[f] - slack))
               & (start_at <= reach) & (end_at <= reach) & acked)
        ip_id = d.tcp_ip_id[rows]
        with_id = ip_id != 0
        id_at = (ip_id - self._id0[own]) & 0xFFFF
        identified = old & with_id & ((known & _ID_KNOWN) > 0) & (id_at <= self._ids[own])
        unnamed = old & ~with_id
        if not self.opened and unnamed.any():
            first = np.flatnonzero(identified)
            unnamed &= np.arange(rows.shape[0]) > (first[0] if first.size else rows.shape[0])
        self.opened = self.opened or bool(identified.any())
        replayed = np.zeros(m, bool)
        replayed[rows[identified | unnamed]] = True
        return replayed

    def _update(self, d: DecodedBatch, flows: BatchFlows, number: np.ndarray,
                hashes: np.ndarray, taken: np.ndarray, in_order: bool) -> None:
        """Take the batch's packets `taken` (bool per TCP packet) into their flows' and
        directions' numbers (number: per batch flow its FlowTable number, -1 for a flow
        key not seen: given one; hashes: the keys' hashes; in_order: the batch's times
        never go back). The batch's flows' numbers are gathered into small arrays (one
        place per batch flow and direction), reduced into by ufunc.at over the packets
        in capture order (no reduceat over many short flows, no sort) and written back;
        only the gaps look at the packets in flow order (BatchFlows.order)."""
        sizes = np.diff(flows.bounds)
        flow_at = np.flatnonzero(sizes)  # the batch flows with packets
        fresh = flow_at[number[flow_at] < 0]
        if fresh.size:
            number[fresh] = self._table.add(hashes[fresh])
            self._grow(self._table.size)
        every = bool(taken.all())  # no replayed copy in the batch (the common case)
        f = number[flow_at]
        ts = d.tcp_ts
        if fresh.size:  # a new flow's first packet (it has at least one: no copy yet)
            self._last_ms[number[fresh]] = _int32(np.ceil(self._ms(
                ts[flows.order[flows.bounds[fresh]]])))
        if not every and not taken.any():
            return
        self._gaps(ts[flows.order], flows.bounds[:-1][flow_at], sizes[flow_at], f,
                   None if every else taken[flows.order])
        if every and in_order:  # each flow's latest packet is its last
            latest = ts[flows.order[flows.bounds[1:][flow_at] - 1]]
        else:
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
        sizes: each batch flow's packets."""
        flags, ip_id = d.tcp_flags, d.tcp_ip_id
        local = flows.flow
        if not (sizes > 0).all():  # the flows with packets only
            local = (np.cumsum(sizes > 0) - 1)[local]
            number = number[sizes > 0]
        slot = 2 * local + flows.from_lower  # per packet: its direction in the batch
        places = (2 * number[:, None] + np.arange(2)).reshape(-1)  # theirs in the arrays
        known = self._known[places]
        seq = d.tcp_seq
        end = seq + d.tcp_payload_len + _COUNTED[flags & (_SYN | _FIN)]
        rows = None if taken is None else np.flatnonzero(taken)
        with_id = ip_id != 0
        named = (with_id if taken is None else with_id & taken)
        # (bit, first numbers, spans, the rows' first numbers, the rows' furthest, the
        # rows counted (None: every row taken), types of the wrapping difference, top)
        fields = [(_SEQ_KNOWN, self._seq0, self._end, seq, end, rows, np.uint32, np.int32,
                   0xFFFFFFFF)]
        if bool(with_id.any()):
            fields.append((_ID_KNOWN, self._id0, self._ids, ip_id, ip_id,
                           np.flatnonzero(named), np.uint16, np.int16, 0xFFFF))
        for bit, zeros, spans, firsts, values, counted, unsigned, signed, full in fields:
            zero, span = zeros[places], spans[places]
            at = slot if counted is None else slot[counted]
            unknown = (known & bit) == 0
            if unknown.any():  # the first packet (in capture order) of each direction
                first = np.full(places.shape[0], slot.shape[0])
                np.minimum.at(first, at, np.arange(slot.shape[0]) if counted is None
                              else counted)
                need = np.flatnonzero(unknown & (first < slot.shape[0]))
                zero[need] = firsts[first[need]]
                known[need] |= bit
                zeros[places[need]] = zero[need]
            # How far each end (ID) goes past its direction's furthest so far, read
            # signed (those behind it negative); the furthest advances by the most.
            reach = zero.astype(np.int64) + span
            past = (values - reach[slot]).astype(unsigned).view(signed)
            ahead = np.zeros(places.shape[0], signed)
            np.maximum.at(ahead, at, past if counted is None else past[counted])
            spans[places] = np.minimum(span.astype(np.int64) + ahead, full)
        self._known[places] = known

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


def flow_hashes(d: DecodedBatch, flows: BatchFlows) -> np.ndarray:
    """Each batch flow's key hashed from its first packet's columns (flow_table.
    column_hashes; uint64): per endpoint, lower first as FlowKey orders them (flows.py),
    its IPv4 address word and port (an IPv6 address's first word), then the tunnel's
    name (Python's hash of it, one per tunnel of the batch); an IPv6 key's hash takes
    its addresses' other words and its version after those. Equal keys, equal hashes,
    in any batch."""
    first = flows.order[flows.bounds[:-1]]
    lower = flows.from_lower[first].astype(bool)
    src = (d.tcp_src[first, 0].astype(np.uint64) << _PORT_BITS) | d.tcp_sport[first].astype(
        np.uint64)
    dst = (d.tcp_dst[first, 0].astype(np.uint64) << _PORT_BITS) | d.tcp_dport[first].astype(
        np.uint64)
    tunnels = np.array([hash(name) for name in d.tunnels], np.int64).view(np.uint64)
    hashes = column_hashes([np.where(lower, src, dst), np.where(lower, dst, src),
                            tunnels[d.tcp_tunnel[first]]])
    six = np.flatnonzero(d.tcp_version[first] == 6)
    if six.size:  # IPv4 uses word 0 only (DecodedBatch)
        at, low = first[six], lower[six, None]
        words = np.concatenate((np.where(low, d.tcp_src[at, 1:], d.tcp_dst[at, 1:]),
                                np.where(low, d.tcp_dst[at, 1:], d.tcp_src[at, 1:])), axis=1)
        hashes[six] = column_hashes([*words.T.astype(np.uint64), np.full(six.size, 6, np.uint64)],
                                    hashes[six])
    return hashes


def _int32(ms: np.ndarray) -> np.ndarray:
    """Whole ms (float64, -inf for none) as int32, clipped to its range."""
    return np.clip(ms, -(2.0 ** 31), 2.0 ** 31 - 1).astype(np.int32)
