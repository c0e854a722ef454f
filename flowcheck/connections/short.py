"""The short-connection path: the packets of a batch's new connections, all at once.

A flow of the batch whose first packet opens a connection (its 4-tuple never seen, or
a SYN that reuses it, as per_packet.starts_new decides), not tapped, with at most
`MAX_PACKETS` packets in the batch, is tracked here together with every other such
flow: step k applies each flow's k-th packet with numpy operations that transcribe
`conn.update_packet` (flows sorted by size, so step k's flows are a prefix). Per batch
that is a few hundred numpy calls, whatever the number of connections; Python work is
the records made at the end, in bulk (flowcheck.connections.parked.commit). The sides'
tracking state stays in arrays (`Parked`) and becomes a ConnState only if a later
packet of the connection comes; the next batch's pass takes parked connections up again.

A flow this transcription does not cover goes back to the per-packet path whole, before
anything of it is kept: a sequence gap (the hole bookkeeping is per packet), new bytes
below the side's next sequence number (reordering's rule needs the peer's ACKs of the
time), a SYN that reuses the 4-tuple within the batch, a first payload the tap wants
(connections.short_tap), a mid-stream side's first ACK with SACK blocks
(connections.sack). So the packets handled one at a time follow the unusual flows, never
all packets. Retransmissions, repeated SYNs, resets, half-open and mid-stream connections
stay here.

Why this module is long (over 400 lines): it is one transcription, ShortPass.__init__,
whose step loop keeps every side's column in a local name bound once per batch (issue 7:
a lookup through an object or a call per step costs in every step of every batch). Its
parts that stand apart live beside it: the records (short_records, short_columns), a
parked flow's sides (short_resume), the tap (short_tap), SACK blocks (sack.hand_sacks),
zero windows (zero_window_step), Wireshark's per-side analysis (reordering_rows).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flowcheck.connections.ack_repeats import repeat_mask
from flowcheck.connections.conn import (
    ACK,
    FIN,
    RST,
    SYN,
)
from flowcheck.connections.endpoint import signed32
from flowcheck.connections.parked import Parked
from flowcheck.connections.record_columns import FLIPPED_BIT, NONE
from flowcheck.connections.reordering import empty_columns
from flowcheck.connections.reordering_rows import below, update_columns
from flowcheck.connections.sack import hand_sacks
from flowcheck.connections.short_resume import FLOW_FIELDS, SIDE_FIELDS, resume
from flowcheck.connections.short_tap import ask_tap
from flowcheck.connections.state import EndpointState
from flowcheck.connections.zero_window import ZERO_FIELDS, zero_window_step
from flowcheck.decode import DecodedBatch

MAX_PACKETS = 32  # a flow's packets in a batch for this path (steps per batch, at most)
_M32 = 0xFFFFFFFF
_INACTIVE, _SYN_SENT, _SYN_ACK_SENT, _PARTIAL, _ESTABLISHED, _CLOSED, _RESET = (
    int(s) for s in EndpointState)


def _put(values: np.ndarray, sides: np.ndarray, where: np.ndarray, new: np.ndarray | float,
         at: np.ndarray | None = None) -> np.ndarray:
    """values[sides] = np.where(where, new, values[sides]), writing only where `where`
    holds (at: np.flatnonzero(where), if known): a step's flows are a prefix and each
    touches its own side once, so the same values, but a scatter costs ~27 instructions
    per element and most of a step's conditions (a side's first packet, a FIN, an ACK
    that moves on) hold for few of its flows. Returns at."""
    if at is None:
        at = np.flatnonzero(where)
    if at.shape[0]:
        values[sides[at]] = new[at] if isinstance(new, np.ndarray) else new
    return at


class ShortPass:
    """One batch's short new flows tracked together; `bad` marks the flows to hand back.

    d: the decoded batch; order/from_lower: BatchFlows' arrays; starts/sizes: each
    flow's slice of `order` (sizes descending); lower_port/upper_port: the flow key's
    ports; buf: the batch's bytes (for the tap); tap: the tracker's tap or None; copy:
    per packet of the batch, whether it is a capture copy (flowcheck.connections.copies).
    """

    def __init__(self, d: DecodedBatch, order: np.ndarray, from_lower: np.ndarray,
                 starts: np.ndarray, sizes: np.ndarray, lower_port: np.ndarray,
                 upper_port: np.ndarray, ndmp_port: int, buf: np.ndarray | None,
                 tap: Callable[[bytes], bool] | None,
                 resumed: tuple[np.ndarray, list[tuple[Parked, int]]],
                 copy: np.ndarray) -> None:
        v = starts.shape[0]
        self.v = v
        # Flows continuing a parked connection (resumed: those flows, ascending, and
        # each one's block and row there), else new.
        self.resumed = resumed
        self.continuing = np.zeros(v, bool)
        self.continuing[resumed[0]] = True
        steps = int(sizes[0])
        active = np.searchsorted(-sizes, -np.arange(steps), side="left")
        # Every packet once, step by step (step k: the k-th packet of flows 0..active[k]).
        rows = np.concatenate([order[starts[:n] + k] for k, n in enumerate(active.tolist())])
        self.offsets = np.concatenate(([0], np.cumsum(active)))
        self.rows = rows
        self.active = active.tolist()
        flags, seq, ack = d.tcp_flags[rows], d.tcp_seq[rows], d.tcp_ack[rows]
        plen, frame, ts = d.tcp_payload_len[rows], d.tcp_frame[rows], d.tcp_ts[rows]
        window, low = d.tcp_window[rows], from_lower[rows]
        packet_ttl = d.tcp_ttl[rows].astype(np.int16)
        self.copy = copy[rows]

        # Who opened it (as the tracker's _open): a SYN's sender, a SYN-ACK's or a
        # refusal RST's receiver (conn.refusal_shape), else a client port talking to a
        # server port.
        first, low0 = flags[:v] & (SYN | ACK), low[:v]
        refusal = (((flags[:v] & (SYN | FIN | RST | ACK)) == RST | ACK) & (plen[:v] == 0)
                   & (seq[:v] == 0) & ~self.continuing)
        server_lower = (lower_port < 1024) | (lower_port == ndmp_port)
        server_upper = (upper_port < 1024) | (upper_port == ndmp_port)
        sender_server = np.where(low0, server_lower, server_upper)
        receiver_server = np.where(low0, server_upper, server_lower)
        flipped = ((first == SYN | ACK) | refusal
                   | ((first != SYN) & sender_server & ~receiver_server))
        flipped &= ~self.continuing
        self.refusal_first = refusal
        self.orig_is_lower = low0 ^ flipped
        # For the records: each flow's endpoints (lower, upper) and tunnel.
        first_rows = rows[:v]
        self.version = d.tcp_version[first_rows]
        self.lower_port, self.upper_port = lower_port, upper_port
        src, dst = d.tcp_src[first_rows], d.tcp_dst[first_rows]
        self.lower_words = np.where(low0[:, None], src, dst)
        self.upper_words = np.where(low0[:, None], dst, src)
        self.tunnel = d.tcp_tunnel[first_rows]
        self.tunnels = d.tunnels

        two = 2 * v
        st = np.zeros(two, np.int8)
        base, isn, last_raw, last_u, max_end, acked, acked_frame, ack_last = (
            np.full(two, NONE, np.int64) for _ in range(8))
        # Endpoint.unseen_first/_last/_top/_below: the peer's ACKs of a side not seen yet.
        unseen_first, unseen_last, unseen_top, unseen_below = (np.full(two, NONE, np.int64)
                                                               for _ in range(4))
        unseen_moved = np.full(two, np.nan)  # Endpoint.unseen_moved_ts (nan: None)
        fin = np.zeros(two, bool)
        acked_ts = np.full(two, np.nan)  # Endpoint.acked_ts: the time of acked_frame
        ack_first = np.full(two, NONE, np.int64)  # Endpoint.ack_first
        # Endpoint.resends, resent_u, resent_ts, resent_frame, resend_first_ts,
        # resend_first_frame: the trailing resends.
        resends, resent_u = np.zeros(two, np.int64), np.full(two, NONE, np.int64)
        resent_ts, resent_frame = np.full(two, np.nan), np.zeros(two, np.int64)
        first_ts, first_frame = np.full(two, np.nan), np.zeros(two, np.int64)
        # Endpoint's ZERO_FIELDS (connections.zero_window; zero_ts, zero_long_ts nan: None).
        zero = {name: np.full(two, np.nan) if name in ("zero_ts", "zero_long_ts")
                else np.zeros(two, np.float64 if name == "zero_long_s" else np.int64)
                for name in ZERO_FIELDS}
        # Endpoint.seg_max, resent_len: the largest segment, the latest resend's length.
        seg_max, resent_len = np.zeros(two, np.int64), np.zeros(two, np.int64)
        # Endpoint.seq_ahead, seq_ahead_frame: a pure ACK's sequence above max_end.
        seq_ahead, ahead_frame = np.full(two, NONE, np.int64), np.zeros(two, np.int64)
        # Connection.orig_ttl / resp_ttl, Endpoint.rst_ttl, ttl_before_rst: the side's
        # first packet's, first RST's and latest packet's before it IP TTL (-1: none yet).
        ttl, rst_ttl, ttl_before_rst = (np.full(two, -1, np.int16) for _ in range(3))
        # Endpoint.ttl_moved: the latest change of that TTL (its time, nan: none; the TTL
        # before and after it).
        move_ts = np.full(two, np.nan)
        move_from, move_to = np.full(two, -1, np.int16), np.full(two, -1, np.int16)
        syn_seen = np.zeros(v, bool)
        syn_ts = np.full(v, np.nan)
        last_syn = np.full(v, np.nan)
        established = np.zeros(v, bool)
        rtt = np.full(v, np.nan)
        syn_retries = np.zeros(v, np.int64)
        retransmits = np.zeros(v, np.int64)
        bad = np.zeros(v, bool)
        seen = np.zeros(v, np.int64)  # history letter bits so far
        tap_pending = np.zeros(v, bool)
        # The packets of the flows waiting for the tap (a tap only; connections.pre_tap,
        # loaded then: no part of every run's start-up, issue 7).
        pre_tap = None
        if tap is not None:
            from flowcheck.connections.pre_tap import WaitingPackets
            pre_tap = WaitingPackets(v)
        wire = empty_columns(two)  # Endpoint's reordering.WIRE_FIELDS
        # The continuing flows' sides as they were parked (short_resume.resume), or None.
        self.before = None if not resumed[1] else resume(*resumed, v, dict(zip(SIDE_FIELDS, (
                st, base, isn, last_raw, last_u, max_end, fin, acked, acked_frame, acked_ts,
                ack_first, ack_last, unseen_first, unseen_last, unseen_top, unseen_below,
                unseen_moved, resends,
                resent_u, resent_ts, resent_frame, first_ts, first_frame, seg_max,
                resent_len, seq_ahead, ahead_frame, ttl, rst_ttl, ttl_before_rst,
                move_ts, move_from, move_to), strict=True)), zero, wire,
                dict(zip(FLOW_FIELDS, (self.orig_is_lower, last_syn, tap_pending, syn_seen,
                                       syn_ts, established, rtt, seen), strict=True)),
                pre_tap)
        any_resends = bool(resends.any())
        any_rst = bool((rst_ttl >= 0).any())  # a side has sent a RST (resumed ones too)
        # Zero windows are rare: no step pays for them unless one is advertised in the
        # batch or open. A SYN's, a RST's (a reset often says 0) or a capture copy's
        # window 0 advertises none (zero_window_step's `told`): with no other and none
        # open, each step would leave the columns as they are.
        any_zero = (bool(((window == 0) & ((flags & (SYN | RST)) == 0) & ~self.copy).any())
                    or not np.isnan(zero["zero_ts"]).all())
        new_letters = np.zeros((steps, v), np.int64)
        is_orig_all = np.empty(rows.shape[0], bool)
        side_all = np.empty(rows.shape[0], np.int64)
        fresh_data = np.zeros(rows.shape[0], bool)  # payload not seen before (no repeat)
        everyone = np.arange(v)

        for k, n in enumerate(self.active):
            at = slice(self.offsets[k], self.offsets[k + 1])
            fl, sq, ak, pl, fr, t = flags[at], seq[at], ack[at], plen[at], frame[at], ts[at]
            # A capture copy steps as a packet without flags or payload: that changes
            # nothing on a side that has sent before (its original came first), as
            # update_packet leaves a copy (the counts take self.plen, copies included).
            cp = self.copy[at]
            copies = bool(cp.any())
            if copies:
                fl, pl = np.where(cp, 0, fl), np.where(cp, 0, pl)
            so = low[at] == self.orig_is_lower[:n]
            is_orig_all[at] = so
            ar = everyone[:n]
            fs = np.where(so, ar, ar + v)  # this packet's side in the (2v,) arrays
            side_all[at] = fs
            fp = np.where(so, ar + v, ar)  # its peer
            # update_packet's TTLs: the side's first packet's without RST (a copy too, as
            # its original's), its first RST's (a copy's flags are cleared above).
            pt = packet_ttl[at]
            _put(ttl, fs, (ttl[fs] < 0) & ((flags[at] & RST) == 0), pt)
            syn, fn, rs, ac = (fl & SYN) != 0, (fl & FIN) != 0, (fl & RST) != 0, (fl & ACK) != 0
            pure_syn = syn & ~ac
            # Bases (Wireshark's base_seq); a SYN whose seq differs from a known base is
            # a new connection on the same 4-tuple (per_packet.starts_new): handed back.
            b = base[fs]
            if k:
                bad[:n] |= pure_syn & (b != NONE) & (sq != b)
            # A SYN-ACK with another ISN than its side's base (a continuing flow's too: the
            # flow look-up reads SYNs only) may open a new connection in a capture of one
            # direction (per_packet.synack_reuses): the flow goes back. Rare anywhere.
            bad[:n] |= syn & ac & (b != NONE) & (sq != b)
            # A refusal's RST (conn.refusal_shape) answering another SYN than the peer's
            # base may too (per_packet.refusal_reuses): the flow goes back.
            if rs.any():
                pb = base[fp]
                bad[:n] |= (rs & ac & ~syn & ~fn & (pl == 0) & (sq == 0) & (pb != NONE)
                            & (((ak - 1) & _M32) != pb))
            _put(base, fs, b == NONE, np.where(syn, sq, (sq - 1) & _M32))
            _put(base, fp, ac & (base[fp] == NONE), (ak - 1) & _M32)
            # track_ack(peer): against the peer's last ACK, else its max_end.
            al, pm = ack_last[fp], max_end[fp]
            ref = np.where(al != NONE, al, pm)
            do = ac & (ref != NONE)
            value = ref + signed32(ak - ref)
            ack_last[fp] = np.where(do, value, al)
            top = acked[fp]
            better = do & ((top == NONE) | (value > top))
            better_at = _put(acked, fp, better, value)
            _put(ack_first, fp, do & (top == NONE), value)
            # The first ACK of a side whose SYN was not seen (a connection joined
            # mid-stream) naming bytes beyond it in SACK blocks: the per-packet path
            # keeps them (connections.sack). A SYN's first ACK has none.
            joined = do & (top == NONE) & (isn[fp] == NONE)
            if buf is not None and joined.any():
                hand_sacks(bad, joined, buf, d, rows[at])
            _put(acked_frame, fp, better, fr, better_at)
            _put(acked_ts, fp, better, t, better_at)
            unseen = ac > do  # conn._ack_unseen: an ACK while nothing of the peer is seen
            if unseen.any():
                uf, ul, ut = unseen_first[fp], unseen_last[fp], unseen_top[fp]
                now = np.where(uf != NONE, ul, ak)
                now = now + signed32(ak - now)
                # A pure ACK of it acknowledging nothing new, with SACK blocks beyond its
                # ACK: the per-packet path keeps them (Endpoint.sacked_unseen).
                same = unseen & (uf != NONE) & (now == ul) & (pl == 0)
                if buf is not None and same.any():
                    hand_sacks(bad, same, buf, d, rows[at])
                first_ack = np.where(unseen & (uf == NONE), ak, uf)
                unseen_first[fp] = first_ack
                unseen_last[fp] = np.where(unseen, now, ul)
                # More than a FIN acknowledged: data moved (Endpoint.unseen_moved_ts).
                _put(unseen_moved, fp, unseen & (now - first_ack > 1)
                     & np.isnan(unseen_moved[fp]), t)
                # An advance: the level before it (Endpoint.unseen_below).
                _put(unseen_below, fp, unseen & (uf != NONE) & (now > ut), ut)
                unseen_top[fp] = np.where(unseen, np.maximum(ut, now), ut)
            # SYN / SYN-ACK.
            synack = syn & ac
            side_isn = isn[fs]
            syn_retries[:n] += pure_syn & so & syn_seen[:n] & (sq == side_isn)
            syn_seen[:n] |= pure_syn
            syn_ts[:n] = np.where(pure_syn & np.isnan(syn_ts[:n]), t, syn_ts[:n])
            starting = syn & (side_isn == NONE)  # start_sequence
            if starting.any():
                start_at = np.flatnonzero(starting)
                sides, first_seq = fs[start_at], sq[start_at]
                isn[sides] = first_seq
                last_raw[sides] = first_seq
                last_u[sides] = first_seq
                max_end[sides] = first_seq + 1 + pl[start_at]
            s_state, p_state = st[fs], st[fp]
            # The responder's first packet an ACK that does not acknowledge the SYN
            # (conn.acknowledges_syn): Connection.stale_ack_frame, the per-packet path's
            # (which also reads the responder's later ACKs: one of the SYN undoes it).
            answered = ac & ~syn & ~rs & ~so & (s_state == _INACTIVE) & (p_state == _SYN_SENT)
            if answered.any():
                start = np.where(answered, isn[fp], 0)
                since = signed32(ak.astype(np.int64) - start)
                bad[:n] |= answered & ((since <= 0) | (since > max_end[fp] - start))
            s_new = np.where(synack & ((s_state <= _SYN_SENT) | (s_state == _PARTIAL)),
                             _SYN_ACK_SENT, s_state)
            p_new = np.where(synack & (p_state == _SYN_SENT), _ESTABLISHED, p_state)
            s_new = np.where(pure_syn & ((s_state == _INACTIVE) | (s_state == _PARTIAL)),
                             _SYN_SENT, s_new)
            plain = ~syn & ~rs
            s_new = np.where(plain & (s_state == _INACTIVE), _PARTIAL, s_new)
            est = plain & so & ac & (p_state == _SYN_ACK_SENT)
            p_new = np.where(est, _ESTABLISHED, p_new)
            s_new = np.where(est & (s_new == _SYN_SENT), _ESTABLISHED, s_new)
            first_est = est & ~established[:n]
            # conn.completes_handshake: only the ACK that completes it gives the time.
            peer_isn = isn[fp]
            handshake_ack = ((pl == 0) & ~fn & (side_isn != NONE) & (peer_isn != NONE)
                             & (sq == ((side_isn + 1) & _M32))
                             & (ak == ((peer_isn + 1) & _M32)))
            rtt[:n] = np.where(first_est & handshake_ack, t - last_syn[:n],
                               rtt[:n])  # nan if no SYN
            established[:n] |= est
            last_syn[:n] = np.where(pure_syn, t, last_syn[:n])
            # Sequence tracking of data and FINs (_track_sequence), holes excepted.
            track = ((pl > 0) | fn) & ~syn
            lu, lr = last_u[fs], last_raw[fs]
            start = np.where(lu != NONE, lu + signed32(sq - lr), sq)
            track_at = _put(last_u, fs, track, start)
            _put(last_raw, fs, track, sq, track_at)
            me = max_end[fs]
            # Unique bytes (accounting.unique_bytes) count from base + 1 of a side
            # without its SYN on this path: a side whose first byte tracked is not that
            # (the base its peer's first ACK - 1) or with data below it goes back
            # (Endpoint.first, low, under: per packet; review 54b).
            first_byte = (base[fs] + 1) & _M32
            bad[:n] |= track & (isn[fs] == NONE) & np.where(
                me == NONE, start != first_byte, (pl > 0) & (start < first_byte))
            me = np.where(me == NONE, start, me)
            bad[:n] |= track & (start > me)  # a gap: the hole bookkeeping is per packet
            end = start + pl
            data = track & (pl > 0)
            if data.any():
                seg_max[fs] = np.where(data, np.maximum(seg_max[fs], pl), seg_max[fs])
            # One byte just below the highest: a keepalive probe (_track_sequence).
            retransmit = data & (end <= me) & ~((pl == 1) & (end == me))
            retransmits[:n] += retransmit
            fresh_data[at] = data & ~retransmit
            # _track_sequence's resends: new bytes end them, a retransmission adds one.
            if retransmit.any():
                any_resends = True
                so_far = resends[fs]
                opens = retransmit & (so_far == 0)  # the run's first resend
                first_ts[fs] = np.where(opens, t, first_ts[fs])
                first_frame[fs] = np.where(opens, fr, first_frame[fs])
                resends[fs] = np.where(retransmit, so_far + 1,
                                       np.where(data & (end > me), 0, so_far))
                resent_u[fs] = np.where(retransmit, start, resent_u[fs])
                resent_ts[fs] = np.where(retransmit, t, resent_ts[fs])
                resent_frame[fs] = np.where(retransmit, fr, resent_frame[fs])
                resent_len[fs] = np.where(retransmit, pl, resent_len[fs])
            elif any_resends:
                resends[fs] = np.where(data & (end > me), 0, resends[fs])
            _put(max_end, fs, track, np.where(data, np.maximum(me, end), me), track_at)
            # note_ahead: a pure ACK's sequence number above the side's max_end.
            pure = ac & (pl == 0) & ~syn & ~fn & ~rs & (max_end[fs] != NONE) & (lu != NONE)
            if pure.any():
                u = lu + signed32(sq - lr)
                sa = seq_ahead[fs]
                up = pure & (u > max_end[fs]) & ((sa == NONE) | (u > sa))
                up_at = _put(seq_ahead, fs, up, u)
                _put(ahead_frame, fs, up, fr, up_at)
            if any_zero:
                zero_window_step(zero, fs, fp, ~syn & ~rs & ~cp, window[at] == 0, t, fr)
            # FIN, RST.
            _put(fin, fs, fn, True)
            # update_packet's ttl_before_rst and ttl_moved: until the side's first RST,
            # copies aside.
            reset = bool(rs.any())
            before = ttl_before_rst[fs]
            moved = (before >= 0) & (pt != before)
            if any_rst or reset or copies:
                counted = (rst_ttl[fs] < 0) & ~rs & ~cp
                moved &= counted
                _put(ttl_before_rst, fs, counted, pt)
            else:
                ttl_before_rst[fs] = pt
            if moved.any():  # a route changed mid-connection (rare)
                move_at = _put(move_ts, fs, moved, t)
                _put(move_from, fs, moved, before, move_at)
                _put(move_to, fs, moved, pt, move_at)
            if reset:
                any_rst = True
                _put(rst_ttl, fs, rs & (rst_ttl[fs] < 0), pt)
            s_new = np.where(fn & (s_new != _RESET), _CLOSED, s_new)
            s_new = np.where(rs, _RESET, s_new)
            _put(st, fs, s_new != s_state, s_new)
            _put(st, fp, p_new != p_state, p_new)
            # History letters, in update_packet's order, each side's first time only.
            bits = ((syn & fn) | (syn & rs) << 1 | pure_syn << 2 | synack << 3
                    | (pl > 0) << 4 | ((pl == 0) & ac & ~syn & ~fn & ~rs) << 5
                    | retransmit << 6 | ((window[at] == 0) & ~syn & ~rs & ~cp) << 7
                    | fn << 8 | rs << 9).astype(np.int64) << np.where(so, 0, 10)
            fresh = bits & ~seen[:n]
            seen[:n] |= bits
            new_letters[k, :n] = fresh

        new_letters[0] |= np.where(flipped, FLIPPED_BIT, 0)
        self.new_letters = new_letters
        self.flags, self.seq, self.plen, self.frame, self.ts = flags, seq, plen, frame, ts
        self.is_orig = is_orig_all
        # Wireshark's per-side analysis (reordering): no gap here, so no fill to judge;
        # kept for the connection's later packets.
        ahead, dup = update_columns(wire, side_all, seq, ack, plen, flags, window, ts,
                                    ~self.copy)
        # The handshake's ACK repeated (connections.ack_repeats; None: no such packet).
        self.ack_repeat = repeat_mask(dup, side_all, v, seq, ack, isn, base)
        # New bytes below the side's next_seq (its pure ACKs went ahead, a segment
        # straddles the highest byte): Wireshark's rule needs the peer's ACKs as they
        # were then, which the per-packet path keeps: the flow goes back.
        bad[side_all[fresh_data & below(seq, ahead)] % v] = True
        self.wire = {name: values.reshape(2, v) for name, values in wire.items()}
        self.state = st.reshape(2, v)
        self.base, self.isn = base.reshape(2, v), isn.reshape(2, v)
        self.last_raw, self.last_u = last_raw.reshape(2, v), last_u.reshape(2, v)
        self.max_end, self.fin = max_end.reshape(2, v), fin.reshape(2, v)
        self.acked, self.acked_frame = acked.reshape(2, v), acked_frame.reshape(2, v)
        self.acked_ts, self.ack_first = acked_ts.reshape(2, v), ack_first.reshape(2, v)
        self.ack_last = ack_last.reshape(2, v)
        self.resends, self.resent_u = resends.reshape(2, v), resent_u.reshape(2, v)
        self.resent_ts, self.resent_frame = resent_ts.reshape(2, v), resent_frame.reshape(2, v)
        self.resend_first_ts = first_ts.reshape(2, v)
        self.resend_first_frame = first_frame.reshape(2, v)
        self.zero = {name: values.reshape(2, v) for name, values in zero.items()}
        self.seg_max, self.resent_len = seg_max.reshape(2, v), resent_len.reshape(2, v)
        self.seq_ahead, self.ahead_frame = seq_ahead.reshape(2, v), ahead_frame.reshape(2, v)
        self.ttl, self.rst_ttl = ttl.reshape(2, v), rst_ttl.reshape(2, v)
        self.ttl_before_rst = ttl_before_rst.reshape(2, v)
        self.ttl_move_ts = move_ts.reshape(2, v)
        self.ttl_move_from, self.ttl_move_to = move_from.reshape(2, v), move_to.reshape(2, v)
        self.unseen_first, self.unseen_last, self.unseen_top = (
            unseen_first.reshape(2, v), unseen_last.reshape(2, v), unseen_top.reshape(2, v))
        self.unseen_below = unseen_below.reshape(2, v)
        self.unseen_moved = unseen_moved.reshape(2, v)
        self.syn_retries, self.retransmits = syn_retries, retransmits
        self.syn_seen, self.seen = syn_seen, seen  # parked for the next pass (Parked)
        self.syn_ts, self.last_syn, self.established, self.rtt = (
            syn_ts, last_syn, established, rtt)
        self.tap_pending, self.pre_tap = tap_pending, pre_tap
        if tap is not None:
            ask_tap(self, d, buf, tap, bad)
        self.bad = bad
