"""A segment that fills a sequence gap: a retransmission, or out-of-order delivery.

On a capture taken at the receiver, bytes lost before the capture point leave a gap, and
the sender's resend fills it later; reordering fills a gap the same way. Wireshark's TCP
analysis (User's Guide, "TCP Analysis": tcp.analysis.fast_retransmission,
out_of_order, retransmission) tells them apart for a segment with payload whose sequence
number is below its side's next expected one (`next_seq`: the highest sequence number
plus length the side sent, a SYN or FIN taking one):

- a spurious retransmission (counted) when the peer's last ACK number is at or above its
  end (the receiver had those bytes: the sniffer missed them);
- a fast retransmission (counted) when the peer sent 2 or more duplicate ACKs, its last
  ACK number is the segment's sequence number and came less than 20 ms before it;
- else out-of-order (not counted) when it came less than the out-of-order threshold after
  the packet that set next_seq (the connection's handshake round trip, tshark's
  tcp.analysis.initial_rtt: Connection.rtt, or 3 ms without one) and does not end at
  next_seq;
  ("less than ... after" holds for 0 or more: a capture whose time goes back is never
  within either);
- else a retransmission (counted).

A duplicate ACK: no payload, no SYN, FIN or RST, a window other than 0 and the same as the
sender's previous packet's, the same ACK number as its previous ACK, and the sender's
next_seq as its sequence number; a packet with another ACK number starts the count again.
Checked against tshark 4.0 on built captures (tests/test_connections_fills.py).

The per-side state (Endpoint's next_seq, next_seq_ts, ack_sent, ack_sent_ts, dup_acks,
window_last: Wireshark's nextseq, nextseqtime, lastack, lastacktime, dupacknum, window)
holds raw 32-bit numbers compared by signed differences, as Wireshark does. Times are
compared in whole microseconds (the float seconds of a microsecond capture, exact).
`note_packet` is the reference update of one packet; `DirectionRows` computes the same
for rows grouped by side, at once (the bulk and short-connection paths).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# TCP flags (conn's; conn imports this module).
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
M32 = 0xFFFFFFFF
OOO_DEFAULT_US = 3000  # Wireshark's out-of-order threshold without a handshake round trip
FAST_DUP_ACKS = 2  # duplicate ACKs before a fast retransmission
FAST_WITHIN_US = 20000  # ... the last ACK at most this long before it


def _micros(seconds: float) -> int:
    return round(seconds * 1e6)


def _s32(value: int) -> int:
    return ((value + 0x80000000) & M32) - 0x80000000


def fill_is_retransmission(seq: int, plen: int, ts: float, next_seq: int | None,
                           next_seq_ts: float | None, rtt: float | None, dup_acks: int,
                           ack_sent: int | None, ack_sent_ts: float | None) -> bool:
    """Wireshark's rule for a data segment below its side's next_seq (seq raw, plen
    payload bytes, ts seconds), given its side's next_seq (raw) and when it was set, the
    connection's handshake round trip (seconds; None or 0: none), and the peer's duplicate
    ACKs, last ACK number (raw) and its time: True for a (spurious, fast) retransmission,
    False for out-of-order."""
    if ack_sent is not None and _s32((seq + plen) - ack_sent) <= 0:
        return True  # spurious: the peer had ACKed these bytes already
    if (dup_acks >= FAST_DUP_ACKS and ack_sent == seq and ack_sent_ts is not None
            and 0 <= _micros(ts - ack_sent_ts) < FAST_WITHIN_US):
        return True
    if next_seq is None or next_seq_ts is None:
        return True
    threshold = _micros(rtt) if rtt else OOO_DEFAULT_US
    return not (0 <= _micros(ts - next_seq_ts) < threshold
                and (seq + plen) & M32 != next_seq)


def below_next_seq(seq: int, next_seq: int | None) -> bool:
    """seq (raw) is below next_seq (raw, None: unknown), by signed 32-bit difference."""
    return next_seq is not None and _s32(seq - next_seq) < 0


def unseen_retransmission(side, peer, seq: int, plen: int, ts: float,
                          rtt: float | None) -> bool:
    """A data segment of `side` (an Endpoint) with bytes the capture had not seen from
    it (not a repeat): a retransmission when it starts below the side's next_seq and
    fill_is_retransmission says so (peer: the other Endpoint; rtt: Connection.rtt)."""
    return plen > 0 and below_next_seq(seq, side.next_seq) and fill_is_retransmission(
        seq, plen, ts, side.next_seq, side.next_seq_ts, rtt, peer.dup_acks, peer.ack_sent,
        peer.ack_sent_ts)


def note_packet(side, flags: int, seq: int, ack: int, plen: int, window: int,
                ts: float) -> None:
    """One packet of `side` (an Endpoint; not a capture copy) in Wireshark's per-side
    state: its ACK (a duplicate or a new number), its window, its sequence end."""
    if flags & ACK:
        if ack != side.ack_sent:
            side.dup_acks = 0
        elif (plen == 0 and not flags & (SYN | FIN | RST) and window
              and window == side.window_last and seq == side.next_seq):
            side.dup_acks += 1
        side.ack_sent, side.ack_sent_ts = ack, ts
    side.window_last = window
    if flags & RST:
        return  # a RST's sequence number (0 in a refusal) is not the side's sequence space
    end = (seq + plen + (1 if flags & (SYN | FIN) else 0)) & M32
    if side.next_seq is None or _s32(end - side.next_seq) > 0:
        side.next_seq, side.next_seq_ts = end, ts


WIRE_FIELDS = ("next_seq", "next_seq_ts", "ack_sent", "ack_sent_ts", "dup_acks",
               "window_last")  # Endpoint's fields of this state
NONE = np.iinfo(np.int64).min  # None in the int64 columns (record_columns.NONE)


def _optional(value: int) -> int | None:
    return None if value == NONE else value


def _time(value: float) -> float | None:
    return None if value != value else value


@dataclass(slots=True)
class DirectionRows:
    """note_packet for rows grouped by side (each side's rows in capture order, side s
    from row starts[s]): per row, the state before it (next_seq, when it was set) and
    after it (the ACK state); each side's state before (`init`) and after (`final`) the
    rows, as columns named WIRE_FIELDS (int64 with NONE for None, float64 with nan)."""

    ns_before: np.ndarray  # next_seq before the row (raw; NONE: unknown)
    ns_ts_before: np.ndarray  # ... and when it was set (nan: unknown)
    dup_after: np.ndarray  # the side's duplicate ACKs after the row
    ack_after: np.ndarray  # its last ACK number after the row (NONE: none yet)
    ack_ts_after: np.ndarray
    starts: np.ndarray
    init: dict[str, np.ndarray]
    final: dict[str, np.ndarray]

    @classmethod
    def compute(cls, seq: np.ndarray, ack: np.ndarray, plen: np.ndarray, flags: np.ndarray,
                window: np.ndarray, ts: np.ndarray, sent: np.ndarray, starts: np.ndarray,
                init: dict[str, np.ndarray]) -> DirectionRows:
        """seq ... ts: the rows' fields (int64, ts float64 seconds); sent: not a capture
        copy (a copy changes nothing, as in update_packet); init: per side, its state."""
        n, m = seq.shape[0], starts.shape[0]
        at = np.arange(n)
        local = np.repeat(np.arange(m), np.diff(np.append(starts, n)))
        first = starts[local]
        ns0, ns_ts0 = init["next_seq"], init["next_seq_ts"]
        ack0, ack_ts0 = init["ack_sent"], init["ack_sent_ts"]
        dup0, win0 = init["dup_acks"], init["window_last"]
        end = (seq + plen + ((flags & (SYN | FIN)) != 0)) & M32
        # next_seq: each row's end unwrapped by signed steps from the side's next_seq (or
        # its first row's end); a capture copy repeats an earlier end, so raises nothing;
        # a RST moves nothing (below every end: the side's lowest, less one).
        moves = (flags & RST) == 0
        known0 = ns0 != NONE
        ref = np.where(known0, ns0, end[starts])
        previous = np.empty_like(end)
        previous[1:] = end[:-1]
        previous[starts] = ref
        total = np.cumsum(_s32_array(end - previous))
        u = total - (total[starts] - _s32_array(end[starts] - ref))[local] + ref[local]
        floor = np.minimum.reduceat(u, starts) - 1
        base = np.where(known0, ref, floor)
        u = np.where(moves, u, base[local])
        shifted = np.empty_like(u)
        shifted[1:] = u[:-1]
        shifted[starts] = base
        before = _segmented_max(shifted, local, base[local])
        raised = u > before
        known = known0[local] | (_previous_index(moves, at) >= first)
        ns_before = np.where(known, before & M32, NONE)
        last_raise = _previous_index(raised, at)
        ns_ts_before = np.where(last_raise >= first, ts[np.maximum(last_raise, 0)],
                                ns_ts0[local])
        # The ACK state: the previous packet's window, the previous ACK number.
        is_ack = sent & ((flags & ACK) != 0)
        prev_sent = _previous_index(sent, at)
        prev_win = np.where(prev_sent >= first, window[np.maximum(prev_sent, 0)], win0[local])
        prev_ack_at = _previous_index(is_ack, at)
        prev_ack = np.where(prev_ack_at >= first, ack[np.maximum(prev_ack_at, 0)], ack0[local])
        changed = is_ack & (ack != prev_ack)
        dup = (is_ack & ~changed & (plen == 0) & ((flags & (SYN | FIN | RST)) == 0)
               & (window != 0) & (window == prev_win) & (seq == ns_before))
        counted = np.cumsum(dup)
        last_change = np.maximum.accumulate(np.where(changed, at, -1))
        before_side = np.where(first > 0, counted[np.maximum(first - 1, 0)], 0)
        dup_after = np.where(last_change >= first,
                             counted - counted[np.maximum(last_change, 0)],
                             dup0[local] + counted - before_side)
        last_ack = np.maximum.accumulate(np.where(is_ack, at, -1))
        has_ack = last_ack >= first
        ack_after = np.where(has_ack, ack[np.maximum(last_ack, 0)], ack0[local])
        ack_ts_after = np.where(has_ack, ts[np.maximum(last_ack, 0)], ack_ts0[local])
        lasts = np.append(starts[1:], n) - 1
        last_sent = np.maximum.accumulate(np.where(sent, at, -1))[lasts]
        last_raised = np.maximum.accumulate(np.where(raised, at, -1))[lasts]
        known_after = known0 | (np.maximum.accumulate(np.where(moves, at, -1))[lasts] >= starts)
        final = {
            "next_seq": np.where(known_after, np.maximum(before[lasts], u[lasts]) & M32, NONE),
            "next_seq_ts": np.where(last_raised >= starts, ts[np.maximum(last_raised, 0)],
                                    ns_ts0),
            "ack_sent": ack_after[lasts], "ack_sent_ts": ack_ts_after[lasts],
            "dup_acks": dup_after[lasts],
            "window_last": np.where(last_sent >= starts, window[np.maximum(last_sent, 0)],
                                    win0)}
        return cls(ns_before, ns_ts_before, dup_after, ack_after, ack_ts_after, starts,
                   init, final)

    def retransmission(self, row: int, seq: int, plen: int, ts: float, rtt: float | None,
                       peer_side: int | None, peer, positions: np.ndarray) -> bool:
        """fill_is_retransmission for the data row `row` (its seq raw, plen, ts): its
        side's next_seq before it; the peer's ACK state just before it, from the peer's
        rows (side peer_side) or, with none here, its Endpoint `peer`; positions: each
        row's place in capture order (ascending within a side)."""
        if peer_side is None:
            dup, ack_sent, ack_ts = peer.dup_acks, peer.ack_sent, peer.ack_sent_ts
        else:
            dup, ack_sent, ack_ts = self._ack_state_before(peer_side, positions,
                                                           int(positions[row]))
        return fill_is_retransmission(seq, plen, ts, _optional(int(self.ns_before[row])),
                                      _time(float(self.ns_ts_before[row])), rtt, dup,
                                      ack_sent, ack_ts)

    def _ack_state_before(self, side: int, positions: np.ndarray,
                          position: int) -> tuple[int, int | None, float | None]:
        """Side `side`'s (dup_acks, ack_sent, ack_sent_ts) just before the packet at
        `position`."""
        lo = int(self.starts[side])
        more = side + 1 < self.starts.shape[0]
        hi = int(self.starts[side + 1]) if more else positions.shape[0]
        j = lo + int(np.searchsorted(positions[lo:hi], position)) - 1
        if j < lo:
            return (int(self.init["dup_acks"][side]), _optional(int(self.init["ack_sent"][side])),
                    _time(float(self.init["ack_sent_ts"][side])))
        return (int(self.dup_after[j]), _optional(int(self.ack_after[j])),
                _time(float(self.ack_ts_after[j])))


def endpoint_columns(sides: list) -> dict[str, np.ndarray]:
    """Endpoints' WIRE_FIELDS as DirectionRows' columns."""
    m = len(sides)
    out = {}
    for name in WIRE_FIELDS:
        values = [getattr(side, name) for side in sides]
        if name.endswith("_ts"):
            out[name] = np.fromiter((np.nan if x is None else x for x in values), np.float64, m)
        else:
            out[name] = np.fromiter((NONE if x is None else x for x in values), np.int64, m)
    return out


def set_endpoints(sides: list, columns: dict[str, np.ndarray]) -> None:
    """The columns (DirectionRows.final) back into the Endpoints."""
    for name in WIRE_FIELDS:
        values = columns[name].tolist()
        for side, value in zip(sides, values, strict=True):
            setattr(side, name, wire_item(name, value))


def _s32_array(value: np.ndarray) -> np.ndarray:
    return ((value + 0x80000000) & M32) - 0x80000000


def _previous_index(mask: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Per row: the last row before it where mask holds (-1: none); rows of earlier
    sides show as below the row's side's first row."""
    last = np.maximum.accumulate(np.where(mask, at, -1))
    out = np.empty_like(last)
    out[0] = -1
    out[1:] = last[:-1]
    return out


def _segmented_max(values: np.ndarray, segment: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Running maximum restarted at each segment (rows grouped, segments 0, 1, ...):
    values made relative to their segment's base and lifted into blocks of 2**42."""
    relative = values - base
    if relative.size and (np.abs(relative).max() >= 1 << 41 or segment[-1] >= 1 << 20):
        out = np.empty_like(values)
        bounds = np.flatnonzero(np.diff(segment)) + 1
        for part in np.split(np.arange(values.size), bounds):
            out[part] = np.maximum.accumulate(values[part])
        return out
    lifted = (segment << 42) + relative + (1 << 41)
    return np.maximum.accumulate(lifted) - (segment << 42) - (1 << 41) + base


def update_columns(state: dict[str, np.ndarray], side_of: np.ndarray, seq: np.ndarray,
                   ack: np.ndarray, plen: np.ndarray, flags: np.ndarray, window: np.ndarray,
                   ts: np.ndarray, sent: np.ndarray) -> np.ndarray:
    """note_packet for packets in any order of sides (side_of: each packet's side, an
    index into the columns of `state`; each side's packets in capture order), `state`
    (columns named WIRE_FIELDS, one entry per side) updated in place: the
    short-connection pass (flowcheck.connections.short). Returns each packet's side's
    next_seq before it (raw; NONE: unknown)."""
    if not side_of.size:
        return np.empty(0, np.int64)
    order = np.argsort(side_of, kind="stable")
    grouped = side_of[order]
    starts = np.flatnonzero(np.diff(grouped, prepend=-1))
    sides = grouped[starts]
    rows = DirectionRows.compute(seq[order], ack[order], plen[order], flags[order],
                                 window[order], ts[order], sent[order], starts,
                                 {name: values[sides] for name, values in state.items()})
    for name, values in rows.final.items():
        state[name][sides] = values
    ns_before = np.empty_like(rows.ns_before)
    ns_before[order] = rows.ns_before
    return ns_before


def below(seq: np.ndarray, next_seq: np.ndarray) -> np.ndarray:
    """Per row: seq (raw) below next_seq (raw; NONE: unknown, never below)."""
    return (next_seq != NONE) & (_s32_array(seq - next_seq) < 0)


def empty_columns(count: int) -> dict[str, np.ndarray]:
    """WIRE_FIELDS for `count` sides that sent nothing yet."""
    return {name: np.full(count, np.nan) if name.endswith("_ts")
            else np.zeros(count, np.int64) if name == "dup_acks"
            else np.full(count, NONE, np.int64) for name in WIRE_FIELDS}


def wire_item(name: str, value: float) -> float | int | None:
    """One WIRE_FIELDS value from a column, as its Endpoint field."""
    if name == "dup_acks":
        return int(value)
    return _time(value) if name.endswith("_ts") else _optional(value)
