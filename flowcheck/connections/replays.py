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
table (connections.flow_table: no Python object per connection), never per packet; cost
per batch: a Python hash per flow of the batch and a few vector operations over its
packets (0.37 ms for 13,580 packets of one bulk connection), never the history.
"""

from __future__ import annotations

import numpy as np

from flowcheck.connections.flow_table import FlowTable, key_hashes
from flowcheck.connections.flows import BatchFlows
from flowcheck.decode import DecodedBatch

REPLAY_STEP = 1.0  # s: a step back of the capture's time this large may be a replay
_SYN, _FIN, _ACK = 0x02, 0x01, 0x10
_SEQ_KNOWN, _ID_KNOWN = 1, 2  # a direction's `_known` bits
_GROWTH = 1.125  # the per-flow arrays grow by an eighth (little room unused per connection)


class Spans:
    """Per flow key seen (connections.flow_table numbers it): its latest moment and
    longest gap, and per direction (from its lower endpoint or not: 2 * number + from_lower) the
    numbers it used (module docstring); the capture's time reached and the time its
    latest step back (more than REPLAY_STEP) went back from. `count`: replayed copies
    marked. Memory: 38 bytes a flow key and its table room."""

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
        self.count = 0
        self.marked = np.zeros(0, bool)  # the last batch's replayed copies (mark's answer)

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
        back_from = self._back_from(ts)
        hashes = key_hashes(flows.keys)
        number = self._table.find(hashes)
        if self._from > -np.inf:
            known = (number >= 0)[flows.flow]
            replaying = (ts <= back_from + window) & known
            if replaying.any():
                replayed = self._replayed(d, flows, number, np.flatnonzero(replaying),
                                          window, m)
                self.count += int(np.count_nonzero(replayed))
        self._update(d, flows, number, hashes, ~replayed)
        self.marked = replayed
        return replayed

    def _back_from(self, ts: np.ndarray) -> np.ndarray | float:
        """Per packet of the batch (times ts, s): the time the capture's latest step back
        (more than REPLAY_STEP) at or before it went back from (-inf: none yet); one
        float for the whole batch when it holds no step back (in time order, the
        common case: no running maximum taken)."""
        if ts[0] >= self._reached - REPLAY_STEP and bool(np.all(ts[1:] >= ts[:-1])):
            self._reached = max(self._reached, float(ts[-1]))
            return self._from
        before = np.empty(ts.shape[0])
        before[0] = self._reached
        np.maximum.accumulate(ts[:-1], out=before[1:])
        np.maximum(before[1:], self._reached, out=before[1:])
        back_from = np.where(ts < before - REPLAY_STEP, before, -np.inf)
        np.maximum.accumulate(back_from, out=back_from)
        np.maximum(back_from, self._from, out=back_from)
        self._reached = max(self._reached, float(ts.max()))
        self._from = float(back_from[-1])
        return back_from

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
                hashes: np.ndarray, taken: np.ndarray) -> None:
        """Take the batch's packets `taken` (bool per TCP packet) into their flows' and
        directions' numbers (number: per batch flow its FlowTable number, -1 for a flow
        key not seen: given one; hashes: the keys' hashes). A few reductions per flow
        and direction over the batch in flow order (BatchFlows.order), no sort."""
        sizes = np.diff(flows.bounds)
        flow_at = np.flatnonzero(sizes)  # the batch flows with packets
        fresh = flow_at[number[flow_at] < 0]
        if fresh.size:
            number[fresh] = self._table.add(hashes[fresh])
            self._grow(self._table.size)
        order, starts = flows.order, flows.bounds[:-1][flow_at]
        every = bool(taken.all())  # no replayed copy in the batch (the common case)
        kept = None if every else taken[order]
        ts = d.tcp_ts[order]
        f = number[flow_at]
        if fresh.size:  # a new flow's first packet (it has at least one: no copy yet)
            new = np.flatnonzero(number[flow_at] >= self._table.size - fresh.size)
            self._last_ms[f[new]] = _int32(np.ceil(self._ms(ts[starts[new]])))
        if kept is not None and not kept.any():
            return
        self._gaps(ts, starts, sizes[flow_at], f, kept)
        latest = np.maximum.reduceat(ts if kept is None else np.where(kept, ts, -np.inf),
                                     starts)
        self._last_ms[f] = np.maximum(self._last_ms[f], _int32(np.ceil(self._ms(latest))))
        flags, ip_id = d.tcp_flags[order], d.tcp_ip_id[order]
        lower = flows.from_lower[order].astype(bool)
        with_id = ip_id != 0
        named = bool(with_id.any())
        seq = d.tcp_seq[order]
        end = seq + d.tcp_payload_len[order] + ((flags & _SYN) > 0) + ((flags & _FIN) > 0)
        # (bit, first number, span, the rows' first numbers, the rows' furthest, rows
        # having one (None: all), types of the wrapping difference, the span's top)
        fields = [(_SEQ_KNOWN, self._seq0, self._end, seq, end, None, np.uint32, np.int32,
                   0xFFFFFFFF)]
        if named:
            fields.append((_ID_KNOWN, self._id0, self._ids, ip_id, ip_id, with_id,
                           np.uint16, np.int16, 0xFFFF))
        sides = [(from_lower, lower if from_lower else ~lower) for from_lower in (False, True)]
        if kept is not None:
            sides = [(from_lower, mine & kept) for from_lower, mine in sides]
        self._firsts(sizes[flow_at], f, sides, fields)
        slot = 2 * np.repeat(f, sizes[flow_at]) + lower  # per row (flow order)
        for _, zero, span, _, values, have, unsigned, signed, full in fields:
            # How far each end (ID) goes past its direction's furthest so far, read
            # signed (those behind it negative); the furthest advances by the most.
            past = (values - zero[slot].astype(np.int64) - span[slot]).astype(
                unsigned).view(signed)
            if have is not None:
                past = np.where(have, past, 0)
            for from_lower, mine in sides:
                s = 2 * f + from_lower
                ahead = np.maximum.reduceat(np.where(mine, past, 0), starts)
                span[s] = np.minimum(span[s].astype(np.int64) + np.maximum(ahead, 0), full)

    def _gaps(self, ts: np.ndarray, starts: np.ndarray, sizes: np.ndarray, f: np.ndarray,
              kept: np.ndarray | None) -> None:
        """Keep each flow's longest gap between two of its packets, in capture order
        (times ts, s, in flow order; starts, sizes: each flow's rows; f: its number;
        kept: the rows taken, None: all), when longer than REPLAY_STEP and any before."""
        if kept is not None:
            rows = np.flatnonzero(kept)
            ts, ends = ts[rows], np.searchsorted(rows, starts + sizes)
            starts = np.searchsorted(rows, starts)
            some = ends > starts
            starts, sizes, f = starts[some], (ends - starts)[some], f[some]
        last = self._origin + self._last_ms[f] / 1000.0
        if float(ts.max() - ts.min()) <= REPLAY_STEP and bool(
                (ts[starts] - last <= REPLAY_STEP).all()):
            return  # no gap that long in the batch (a busy one: the common case)
        before = np.empty_like(ts)
        before[1:] = ts[:-1]
        before[starts] = last
        gap = ts - before
        longest = np.maximum.reduceat(gap, starts)
        wide = (longest > REPLAY_STEP) & (longest * 1000.0 > self._gap_to[f]
                                          - self._gap_from[f].astype(np.int64))
        if not wide.any():
            return
        at = np.minimum.reduceat(np.where(gap == np.repeat(longest, sizes),
                                          np.arange(ts.shape[0]), ts.shape[0]), starts)[wide]
        self._gap_from[f[wide]] = _int32(np.ceil(self._ms(before[at])))
        self._gap_to[f[wide]] = _int32(np.floor(self._ms(ts[at])))

    def _firsts(self, sizes: np.ndarray, f: np.ndarray,
                sides: list[tuple[bool, np.ndarray]], fields: list[tuple]) -> None:
        """The first sequence number and IPv4 ID of each direction that had none, from
        its first packet (with an ID) of the batch (rows in flow order; sizes: each
        flow's rows; f: each flow's number; sides: per direction its rows). Only the
        rows of the flows with such a direction are looked at."""
        lacking = np.zeros(f.shape[0], bool)
        for from_lower, _ in sides:
            for bit, *_ in fields:
                lacking |= (self._known[2 * f + from_lower] & bit) == 0
        if not lacking.any():
            return  # every direction's first numbers known (the common case)
        rows = np.flatnonzero(np.repeat(lacking, sizes))  # their rows, in flow order
        counts = sizes[lacking]
        starts = np.zeros(counts.shape[0], np.int64)
        np.cumsum(counts[:-1], out=starts[1:])
        f, none = f[lacking], rows.shape[0]
        where = np.arange(none)
        for from_lower, mine in sides:
            s = 2 * f + from_lower  # per flow: its direction's slot
            for bit, zero, _, values, _, have, *_ in fields:
                unknown = (self._known[s] & bit) == 0
                if not unknown.any():
                    continue
                taken = mine[rows] if have is None else (mine & have)[rows]
                at = np.minimum.reduceat(np.where(taken, where, none), starts)
                need = unknown & (at < none)
                zero[s[need]] = values[rows[at[need]]]
                self._known[s[need]] |= bit

    def _grow(self, flows: int) -> None:
        """Room for `flows` flow keys (the arrays grown by _GROWTH as needed)."""
        if flows <= self._last_ms.shape[0]:
            return
        room = max(flows, int(self._last_ms.shape[0] * _GROWTH), 256)
        for name, per in (("_last_ms", 1), ("_gap_from", 1),
                          ("_gap_to", 1), ("_seq0", 2), ("_end", 2),
                          ("_id0", 2), ("_ids", 2), ("_known", 2)):
            old = getattr(self, name)
            grown = np.zeros(per * room, old.dtype)
            grown[:old.shape[0]] = old
            setattr(self, name, grown)


def _int32(ms: np.ndarray) -> np.ndarray:
    """Whole ms (float64, -inf for none) as int32, clipped to its range."""
    return np.clip(ms, -(2.0 ** 31), 2.0 ** 31 - 1).astype(np.int32)
