"""The short-connection path: the packets of a batch's new connections, all at once.

A flow of the batch whose first packet opens a connection (its 4-tuple never seen, or
a SYN that reuses it, as the tracker's `_starts_new` decides), not tapped, with at most
`MAX_PACKETS` packets in the batch, is tracked here together with every other such
flow: step k applies each flow's k-th packet with numpy operations that transcribe
`conn.update_packet` (flows sorted by size, so step k's flows are a prefix). Per batch
that is a few hundred numpy calls, whatever the number of connections; Python work is
the records made at the end, in bulk (`commit`). The sides' tracking state stays in
arrays (`Parked`) and becomes a ConnState only if a later packet of the connection comes.

A flow this transcription does not cover goes back to the per-packet path whole, before
anything of it is kept: a sequence gap (the hole bookkeeping is per packet), a SYN that
reuses the 4-tuple within the batch, a first payload the tap wants. So the packets
handled one at a time follow the unusual flows, never all packets. Retransmissions,
repeated SYNs, resets, half-open and mid-stream connections stay here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from itertools import repeat

import numpy as np

from flowcheck.connections.conn import (
    ACK,
    EVIDENCE_CAP,
    FIN,
    PRE_TAP_CAP,
    RST,
    SYN,
    ConnState,
    Endpoint,
)
from flowcheck.connections.flows import FlowKey, address_text
from flowcheck.connections.state import EndpointState, conn_states
from flowcheck.decode import DecodedBatch
from flowcheck.model import Connection

MAX_PACKETS = 16  # a flow's packets in a batch for this path (steps per batch)
_NONE = np.iinfo(np.int64).min  # "None" in the int64 state arrays
_M32 = 0xFFFFFFFF
_INACTIVE, _SYN_SENT, _SYN_ACK_SENT, _PARTIAL, _ESTABLISHED, _CLOSED, _RESET = (
    int(s) for s in EndpointState)
# History letters, one bit each in rank order (conn.LETTER_RANK without ^ and G: a gap
# sends the flow back); the responder's are the same bits shifted by 10; bit 20 is ^.
LETTERS = "QISHDATWFR"
_FLIPPED_BIT = 1 << 20
# Connection's fields in order, as `commit` passes them (checked at import).
_FIELDS = ("uid", "orig_h", "orig_p", "resp_h", "resp_p", "ts", "last_ts", "conn_state",
           "history", "orig_pkts", "resp_pkts", "orig_bytes", "resp_bytes", "missed_bytes",
           "gaps", "retransmits", "syn_retries", "first_frame", "last_frame", "rtt",
           "syn_frames", "synack_frames", "rst_frames", "resp_rst", "orig_rst",
           "icmp_frames", "fin_frames", "gap_frames", "established", "syn_ts", "tunnel")
if tuple(f.name for f in fields(Connection))[:len(_FIELDS)] != _FIELDS:
    raise ImportError("flowcheck.connections.short: Connection's fields changed")


def _s32(value: np.ndarray) -> np.ndarray:
    return ((value + 0x80000000) & _M32) - 0x80000000


@dataclass(slots=True)
class Parked:
    """The final tracking state of one batch's committed flows: row 0 the originator,
    row 1 the responder (int64 arrays use _NONE for None)."""

    records: list[Connection]
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
    last_syn_ts: np.ndarray  # nan: None
    tap_pending: np.ndarray
    pre_tap: dict[int, list[tuple]]
    # The packets new flows keep until the tap decides, as arrays: the flows (sorted
    # rows of this block), and per flow (column) up to PRE_TAP_CAP packets' fields.
    pre_tap_packed: tuple[np.ndarray, ...] | None = None

    def take_pre_tap(self, i: int) -> list[tuple]:
        """Flow i's packets waiting for the tap (ConnState.pre_tap), as a new list (the
        block keeps its own: a pass that hands the flow back leaves it as it was)."""
        packets = self.pre_tap.get(i)
        if packets is not None or self.pre_tap_packed is None:
            return list(packets or [])
        flows, counts, is_orig, seq, flags, frame, ts = self.pre_tap_packed
        at = int(np.searchsorted(flows, i))
        if at == flows.shape[0] or flows[at] != i:
            return []
        count = int(counts[at])
        return list(zip(["orig" if x else "resp" for x in is_orig[:count, at].tolist()],
                        seq[:count, at].tolist(), flags[:count, at].tolist(),
                        repeat(b""), frame[:count, at].tolist(), ts[:count, at].tolist()))

    def side_base(self, i: int, lower: bool) -> int | None:
        """The base of flow i's side that is the key's lower endpoint (or the other)."""
        value = self.base.item(0 if lower == bool(self.orig_is_lower[i]) else 1, i)
        return None if value == _NONE else value

    def conn_state(self, i: int) -> ConnState:
        """Flow i as the ConnState the per-packet path would have left."""
        def optional(array: np.ndarray, row: int) -> int | None:
            value = array.item(row, i)
            return None if value == _NONE else value

        def endpoint(row: int) -> Endpoint:
            last_u = optional(self.last_u, row)
            return Endpoint(
                state=EndpointState(self.state.item(row, i)), base=optional(self.base, row),
                isn=optional(self.isn, row),
                last_raw=self.last_raw.item(row, i) if last_u is not None else 0,
                last_u=last_u, max_end=optional(self.max_end, row),
                fin=bool(self.fin.item(row, i)), acked=optional(self.acked, row),
                acked_frame=self.acked_frame.item(row, i) if optional(self.acked, row)
                is not None else 0, ack_last=optional(self.ack_last, row))

        syn_ts = self.last_syn_ts.item(i)
        return ConnState(record=self.records[i], orig_is_lower=bool(self.orig_is_lower[i]),
                         orig=endpoint(0), resp=endpoint(1),
                         tap_pending=bool(self.tap_pending[i]),
                         pre_tap=self.take_pre_tap(i),
                         last_syn_ts=None if syn_ts != syn_ts else syn_ts)


class ShortPass:
    """One batch's short new flows tracked together; `bad` marks the flows to hand back.

    d: the decoded batch; order/from_lower: BatchFlows' arrays; starts/sizes: each
    flow's slice of `order` (sizes descending); lower_port/upper_port: the flow key's
    ports; buf: the batch's bytes (for the tap); tap: the tracker's tap or None.
    """

    def __init__(self, d: DecodedBatch, order: np.ndarray, from_lower: np.ndarray,
                 starts: np.ndarray, sizes: np.ndarray, lower_port: np.ndarray,
                 upper_port: np.ndarray, ndmp_port: int, buf: np.ndarray | None,
                 tap: Callable[[bytes], bool] | None,
                 parked: list[tuple[Parked, int] | None]) -> None:
        v = starts.shape[0]
        self.v = v
        # Flows continuing a parked connection (parked[f]: its block and row), else new.
        self.parked = parked
        self.continuing = np.fromiter((entry is not None for entry in parked), bool, v)
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

        # Who opened it (as the tracker's _open): a SYN's sender, a SYN-ACK's receiver,
        # else a client port talking to a server port.
        first, low0 = flags[:v] & (SYN | ACK), low[:v]
        server_lower = (lower_port < 1024) | (lower_port == ndmp_port)
        server_upper = (upper_port < 1024) | (upper_port == ndmp_port)
        sender_server = np.where(low0, server_lower, server_upper)
        receiver_server = np.where(low0, server_upper, server_lower)
        flipped = (first == SYN | ACK) | ((first != SYN) & sender_server & ~receiver_server)
        flipped &= ~self.continuing
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
            np.full(two, _NONE, np.int64) for _ in range(8))
        fin = np.zeros(two, bool)
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
        pre_tap: dict[int, list[tuple]] = {}
        if self.continuing.any():
            self._resume(st, base, isn, last_raw, last_u, max_end, fin, acked, acked_frame,
                         ack_last, syn_seen, syn_ts, last_syn, established, rtt, seen,
                         tap_pending, pre_tap)
        new_letters = np.zeros((steps, v), np.int64)
        is_orig_all = np.empty(rows.shape[0], bool)
        retransmitted = np.zeros(rows.shape[0], bool)
        everyone = np.arange(v)

        for k, n in enumerate(self.active):
            at = slice(self.offsets[k], self.offsets[k + 1])
            fl, sq, ak, pl, fr, t = flags[at], seq[at], ack[at], plen[at], frame[at], ts[at]
            so = low[at] == self.orig_is_lower[:n]
            is_orig_all[at] = so
            ar = everyone[:n]
            fs = np.where(so, ar, ar + v)  # this packet's side in the (2v,) arrays
            fp = np.where(so, ar + v, ar)  # its peer
            syn, fn, rs, ac = (fl & SYN) != 0, (fl & FIN) != 0, (fl & RST) != 0, (fl & ACK) != 0
            pure_syn = syn & ~ac
            # Bases (Wireshark's base_seq); a SYN whose seq differs from a known base is
            # a new connection on the same 4-tuple (tracker._starts_new): handed back.
            b = base[fs]
            if k:
                bad[:n] |= pure_syn & (b != _NONE) & (sq != b)
            base[fs] = np.where(b == _NONE, np.where(syn, sq, (sq - 1) & _M32), b)
            pb = base[fp]
            base[fp] = np.where(ac & (pb == _NONE), (ak - 1) & _M32, pb)
            # track_ack(peer): against the peer's last ACK, else its max_end.
            al, pm = ack_last[fp], max_end[fp]
            ref = np.where(al != _NONE, al, pm)
            do = ac & (ref != _NONE)
            value = ref + _s32(ak - ref)
            ack_last[fp] = np.where(do, value, al)
            top = acked[fp]
            better = do & ((top == _NONE) | (value > top))
            acked[fp] = np.where(better, value, top)
            acked_frame[fp] = np.where(better, fr, acked_frame[fp])
            # SYN / SYN-ACK.
            synack = syn & ac
            side_isn = isn[fs]
            syn_retries[:n] += pure_syn & so & syn_seen[:n] & (sq == side_isn)
            syn_seen[:n] |= pure_syn
            syn_ts[:n] = np.where(pure_syn & np.isnan(syn_ts[:n]), t, syn_ts[:n])
            starting = syn & (side_isn == _NONE)  # start_sequence
            isn[fs] = np.where(starting, sq, side_isn)
            last_raw[fs] = np.where(starting, sq, last_raw[fs])
            last_u[fs] = np.where(starting, sq, last_u[fs])
            max_end[fs] = np.where(starting, sq + 1 + pl, max_end[fs])
            s_state, p_state = st[fs], st[fp]
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
            rtt[:n] = np.where(first_est, t - last_syn[:n], rtt[:n])  # nan if no SYN
            established[:n] |= est
            last_syn[:n] = np.where(pure_syn, t, last_syn[:n])
            # Sequence tracking of data and FINs (_track_sequence), holes excepted.
            track = ((pl > 0) | fn) & ~syn
            lu, lr = last_u[fs], last_raw[fs]
            start = np.where(lu != _NONE, lu + _s32(sq - lr), sq)
            last_u[fs] = np.where(track, start, lu)
            last_raw[fs] = np.where(track, sq, lr)
            me = max_end[fs]
            me = np.where(me == _NONE, start, me)
            bad[:n] |= track & (start > me)  # a gap: the hole bookkeeping is per packet
            end = start + pl
            data = track & (pl > 0)
            retransmit = data & (end <= me)
            retransmitted[at] = retransmit
            retransmits[:n] += retransmit
            max_end[fs] = np.where(track, np.where(data, np.maximum(me, end), me),
                                   max_end[fs])
            # FIN, RST.
            fin[fs] |= fn
            s_new = np.where(fn & (s_new != _RESET), _CLOSED, s_new)
            s_new = np.where(rs, _RESET, s_new)
            st[fs] = s_new
            st[fp] = p_new
            # History letters, in update_packet's order, each side's first time only.
            bits = ((syn & fn) | (syn & rs) << 1 | pure_syn << 2 | synack << 3
                    | (pl > 0) << 4 | ((pl == 0) & ac & ~syn & ~fn & ~rs) << 5
                    | retransmit << 6 | ((window[at] == 0) & ~syn & ~rs) << 7
                    | fn << 8 | rs << 9).astype(np.int64) << np.where(so, 0, 10)
            fresh = bits & ~seen[:n]
            seen[:n] |= bits
            new_letters[k, :n] = fresh

        new_letters[0] |= np.where(flipped, _FLIPPED_BIT, 0)
        self.new_letters = new_letters
        self.flags, self.seq, self.plen, self.frame, self.ts = flags, seq, plen, frame, ts
        self.is_orig = is_orig_all
        self.state = st.reshape(2, v)
        self.base, self.isn = base.reshape(2, v), isn.reshape(2, v)
        self.last_raw, self.last_u = last_raw.reshape(2, v), last_u.reshape(2, v)
        self.max_end, self.fin = max_end.reshape(2, v), fin.reshape(2, v)
        self.acked, self.acked_frame = acked.reshape(2, v), acked_frame.reshape(2, v)
        self.ack_last = ack_last.reshape(2, v)
        self.syn_retries, self.retransmits = syn_retries, retransmits
        self.syn_ts, self.last_syn, self.established, self.rtt = (
            syn_ts, last_syn, established, rtt)
        self.tap_pending, self.pre_tap = tap_pending, pre_tap
        self.pre_tap_fresh: tuple[np.ndarray, np.ndarray] | None = None
        if tap is not None:
            self._ask_tap(d, buf, tap, bad)
        self.bad = bad

    def _resume(self, st: np.ndarray, base: np.ndarray, isn: np.ndarray,
                last_raw: np.ndarray, last_u: np.ndarray, max_end: np.ndarray,
                fin: np.ndarray, acked: np.ndarray, acked_frame: np.ndarray,
                ack_last: np.ndarray, syn_seen: np.ndarray, syn_ts: np.ndarray,
                last_syn: np.ndarray, established: np.ndarray, rtt: np.ndarray,
                seen: np.ndarray, tap_pending: np.ndarray,
                pre_tap: dict[int, list[tuple]]) -> None:
        """Load the continuing flows' state: sides from their blocks' arrays, the rest
        from their records."""
        v = self.v
        groups: dict[int, tuple[Parked, list[int], list[int]]] = {}
        for f, entry in enumerate(self.parked):
            if entry is not None:
                group = groups.setdefault(id(entry[0]), (entry[0], [], []))
                group[1].append(f)
                group[2].append(entry[1])
                record = entry[0].records[entry[1]]
                syn_seen[f] = bool(record.syn_frames)
                if record.syn_ts is not None:
                    syn_ts[f] = record.syn_ts
                established[f] = record.established
                if record.rtt is not None:
                    rtt[f] = record.rtt
                seen[f] = _letter_bits(record.history)
        for block, flows, rows in groups.values():
            at, of = np.array(flows), np.array(rows)
            both = np.concatenate((at, at + v))
            for mine, theirs in ((st, block.state), (base, block.base), (isn, block.isn),
                                 (last_raw, block.last_raw), (last_u, block.last_u),
                                 (max_end, block.max_end), (fin, block.fin),
                                 (acked, block.acked), (acked_frame, block.acked_frame),
                                 (ack_last, block.ack_last)):
                mine[both] = theirs[:, of].reshape(-1)
            last_syn[at] = block.last_syn_ts[of]
            self.orig_is_lower[at] = block.orig_is_lower[of]
            tap_pending[at] = block.tap_pending[of]
            for f, i in zip(flows, rows, strict=True):
                if tap_pending[f]:
                    pre_tap[f] = block.take_pre_tap(i)

    def _ask_tap(self, d: DecodedBatch, buf: np.ndarray | None,
                 tap: Callable[[bytes], bool], bad: np.ndarray) -> None:
        """As the tracker: while a connection waits for the tap (new ones do), its first
        payload decides; a flow the tap wants goes back (the per-packet path keeps its
        segments). Without payload yet, its first PRE_TAP_CAP packets wait."""
        v = self.v
        pending = ~self.continuing | self.tap_pending
        flow_of = np.concatenate([np.arange(n) for n in self.active])
        with_data = np.flatnonzero((self.plen > 0) & pending[flow_of])
        firsts = np.full(v, -1, np.int64)
        # Step order: the first hit per flow is its first payload.
        flows_hit, where = np.unique(flow_of[with_data], return_index=True)
        firsts[flows_hit] = with_data[where]
        assert buf is not None
        for f, at in zip(flows_hit.tolist(), firsts[flows_hit].tolist(), strict=True):
            row = int(self.rows[at])
            start = int(d.tcp_payload_off[row])
            if tap(bytes(buf[start:start + int(d.tcp_payload_cap[row])])):
                bad[f] = True
        self.tap_pending[flows_hit] = False
        waiting = np.flatnonzero(pending & (firsts < 0))
        self.tap_pending[waiting] = True
        # New flows' waiting packets stay arrays (most never need them: lists are made
        # if a later packet comes, Parked.take_pre_tap); continuing flows' extend lists.
        fresh = waiting[~self.continuing[waiting]]
        steps = min(PRE_TAP_CAP, len(self.active))
        packed = np.full((steps, fresh.shape[0]), -1, np.int64)
        for k in range(steps):
            present = fresh < self.active[k]
            packed[k, present] = self.offsets[k] + fresh[present]
        self.pre_tap_fresh = (fresh, packed)
        for f in waiting[self.continuing[waiting]].tolist():
            packets = self.pre_tap.get(f, [])
            for k in range(len(self.active)):
                if f >= self.active[k] or len(packets) >= PRE_TAP_CAP:
                    break
                at = int(self.offsets[k]) + f
                packets.append(("orig" if self.is_orig[at] else "resp", self.seq.item(at),
                                self.flags.item(at), b"", self.frame.item(at),
                                self.ts.item(at)))
            self.pre_tap[f] = packets
        for f in flows_hit.tolist():
            self.pre_tap.pop(f, None)

    def commit(self, keep: np.ndarray, keys: list[FlowKey],
               uids: list[str]) -> tuple[Parked, np.ndarray]:
        """Make the records of the new flows among `keep` (uids: theirs, in keep
        order), bring the continuing flows' records up to date, and return the state of
        all of them for later packets, with its flow order (the new ones first)."""
        new = keep[~self.continuing[keep]]
        going_on = keep[self.continuing[keep]]
        records = self._new_records(new, keys, uids) if new.size else []
        if going_on.size:
            records += self._update_records(going_on)
        order = np.concatenate((new, going_on))
        pre_tap = {}
        if self.pre_tap:
            index = {f: i for i, f in enumerate(order.tolist())}
            pre_tap = {index[f]: packets for f, packets in self.pre_tap.items() if f in index}
        packed = None
        if self.pre_tap_fresh is not None and self.pre_tap_fresh[0].size:
            fresh, rows = self.pre_tap_fresh
            position = np.full(self.v, -1, np.int64)
            position[order] = np.arange(order.shape[0])
            where = position[fresh]
            kept = where >= 0
            by_row = np.argsort(where[kept])
            rows = rows[:, kept][:, by_row]
            at = np.maximum(rows, 0)
            packed = (where[kept][by_row], (rows >= 0).sum(axis=0), self.is_orig[at],
                      self.seq[at], self.flags[at], self.frame[at], self.ts[at])
        block = Parked(records, self.orig_is_lower[order], self.state[:, order],
                      self.base[:, order], self.isn[:, order], self.last_raw[:, order],
                      self.last_u[:, order], self.max_end[:, order], self.fin[:, order],
                      self.acked[:, order], self.acked_frame[:, order],
                      self.ack_last[:, order], self.last_syn[order],
                      self.tap_pending[order], pre_tap, packed)
        return block, order

    def _columns(self, flows: np.ndarray) -> _Columns:
        """This batch's part of the records of `flows`, as arrays and lists."""
        v = self.v
        rows_of = np.full((len(self.active), v), -1, np.int64)  # [step, flow] -> packet
        for k, n in enumerate(self.active):
            rows_of[k, :n] = np.arange(self.offsets[k], self.offsets[k + 1])
        packets = rows_of[:, flows]
        valid = packets >= 0
        at = np.where(valid, packets, 0)
        is_orig = self.is_orig[at] & valid
        is_resp = ~self.is_orig[at] & valid
        plen = np.where(valid, self.plen[at], 0)
        sizes = valid.sum(axis=0)
        flags, frames = self.flags[at], np.where(valid, self.frame[at], 0)
        rst = (flags & RST) != 0
        return _Columns(
            first=at[0], last=at[sizes - 1, np.arange(flows.shape[0])],
            orig_pkts=is_orig.sum(axis=0), resp_pkts=is_resp.sum(axis=0),
            orig_bytes=(plen * is_orig).sum(axis=0), resp_bytes=(plen * is_resp).sum(axis=0),
            syn_frames=_frame_lists(frames, ((flags & (SYN | ACK)) == SYN) & valid),
            synack_frames=_frame_lists(frames, ((flags & (SYN | ACK)) == SYN | ACK) & valid),
            rst_frames=_frame_lists(frames, rst & valid),
            fin_frames=_frame_lists(frames, ((flags & FIN) != 0) & valid),
            resp_rst=(rst & is_resp).any(axis=0), orig_rst=(rst & is_orig).any(axis=0),
            histories=_histories(self.new_letters[:, flows]))

    def _closing(self, flows: np.ndarray, histories: list[str], orig_bytes: np.ndarray,
                 resp_bytes: np.ndarray) -> tuple[list[str], list[int], list[int],
                                                  list[list[int]]]:
        """As the tracker's finish (conn_state, account_missed) for flows without holes:
        conn_state, missed_bytes, gaps, gap_frames."""
        fin = self.fin[:, flows]
        acked, max_end = self.acked[:, flows], self.max_end[:, flows]
        beyond = np.where((acked != _NONE) & (max_end != _NONE),
                          np.maximum(0, acked - max_end - fin), 0)
        gaps = (beyond > 0).sum(axis=0)
        gap_frames: list[list[int]] = [[] for _ in range(flows.shape[0])]
        acked_frame = self.acked_frame[:, flows]
        for i in np.flatnonzero(gaps).tolist():
            gap_frames[i] = [acked_frame.item(row, i) for row in (0, 1) if beyond[row, i]]
        state = self.state[:, flows]
        states = conn_states(state[0], state[1], histories, orig_bytes, resp_bytes)
        return states, beyond.sum(axis=0).tolist(), gaps.tolist(), gap_frames

    def _new_records(self, new: np.ndarray, keys: list[FlowKey],
                     uids: list[str]) -> list[Connection]:
        col = self._columns(new)
        states, missed, gaps, gap_frames = self._closing(new, col.histories, col.orig_bytes,
                                                         col.resp_bytes)
        count = new.shape[0]
        lower = self.orig_is_lower[new]
        low_words, up_words = self.lower_words[new], self.upper_words[new]
        version = np.concatenate((self.version[new], self.version[new]))
        texts = _address_texts(version, np.concatenate((
            np.where(lower[:, None], low_words, up_words),
            np.where(lower[:, None], up_words, low_words))))
        low_port, up_port = self.lower_port[new], self.upper_port[new]
        tunnel = self.tunnel[new]
        tunnels = [None] * count if not tunnel.any() else [
            self.tunnels[t] or None for t in tunnel.tolist()]
        return list(map(
            Connection, uids, texts[:count], np.where(lower, low_port, up_port).tolist(),
            texts[count:], np.where(lower, up_port, low_port).tolist(),
            self.ts[col.first].tolist(), self.ts[col.last].tolist(), states, col.histories,
            col.orig_pkts.tolist(), col.resp_pkts.tolist(), col.orig_bytes.tolist(),
            col.resp_bytes.tolist(), missed, gaps, self.retransmits[new].tolist(),
            self.syn_retries[new].tolist(), self.frame[col.first].tolist(),
            self.frame[col.last].tolist(), _optional(self.rtt[new]), col.syn_frames,
            col.synack_frames, col.rst_frames, col.resp_rst.tolist(), col.orig_rst.tolist(),
            [[] for _ in range(count)], col.fin_frames, gap_frames,
            self.established[new].tolist(), _optional(self.syn_ts[new]), tunnels))

    def _update_records(self, going_on: np.ndarray) -> list[Connection]:
        """The continuing flows' records with this batch's packets added."""
        col = self._columns(going_on)
        records = [self.parked[f][0].records[self.parked[f][1]]  # type: ignore[index]
                   for f in going_on.tolist()]
        histories = [r.history + h for r, h in zip(records, col.histories, strict=True)]
        orig_bytes = col.orig_bytes + np.fromiter((r.orig_bytes for r in records), np.int64,
                                                  len(records))
        resp_bytes = col.resp_bytes + np.fromiter((r.resp_bytes for r in records), np.int64,
                                                  len(records))
        states, missed, gaps, gap_frames = self._closing(going_on, histories, orig_bytes,
                                                         resp_bytes)
        for values in zip(
                records, histories, col.orig_pkts.tolist(), col.resp_pkts.tolist(),
                orig_bytes.tolist(), resp_bytes.tolist(), self.ts[col.last].tolist(),
                self.frame[col.last].tolist(), self.retransmits[going_on].tolist(),
                self.syn_retries[going_on].tolist(), col.syn_frames, col.synack_frames,
                col.rst_frames, col.fin_frames, col.resp_rst.tolist(), col.orig_rst.tolist(),
                self.established[going_on].tolist(), _optional(self.rtt[going_on]),
                _optional(self.syn_ts[going_on]), states, missed, gaps, gap_frames,
                strict=True):
            (r, r.history, orig_pkts, resp_pkts, r.orig_bytes, r.resp_bytes, r.last_ts,
             r.last_frame, retransmits, syn_retries, syn_frames, synack_frames, rst_frames,
             fin_frames, resp_rst, orig_rst, r.established, r.rtt, r.syn_ts, r.conn_state,
             r.missed_bytes, r.gaps, r.gap_frames) = values
            r.orig_pkts += orig_pkts
            r.resp_pkts += resp_pkts
            r.retransmits += retransmits
            r.syn_retries += syn_retries
            for mine, more in ((r.syn_frames, syn_frames), (r.synack_frames, synack_frames),
                               (r.rst_frames, rst_frames), (r.fin_frames, fin_frames)):
                if more:
                    mine.extend(more[:EVIDENCE_CAP - len(mine)])
            r.resp_rst = r.resp_rst or resp_rst
            r.orig_rst = r.orig_rst or orig_rst
        return records


@dataclass(slots=True)
class _Columns:
    first: np.ndarray  # per flow: its first packet of the batch (step-ordered index)
    last: np.ndarray
    orig_pkts: np.ndarray
    resp_pkts: np.ndarray
    orig_bytes: np.ndarray
    resp_bytes: np.ndarray
    syn_frames: list[list[int]]
    synack_frames: list[list[int]]
    rst_frames: list[list[int]]
    fin_frames: list[list[int]]
    resp_rst: np.ndarray
    orig_rst: np.ndarray
    histories: list[str]


def _address_texts(version: np.ndarray, words: np.ndarray) -> list[str]:
    """Addresses as text (version: 4 or 6 per row; words: (n, 4) address words), each
    distinct address formatted once."""
    if (version == 4).all():
        distinct, inverse = np.unique(words[:, 0], return_inverse=True)
        names = np.array([address_text(4, x.to_bytes(4, "big")) for x in distinct.tolist()],
                         object)
        return names[inverse.reshape(-1)].tolist()
    rows = np.column_stack((version.astype(np.uint32), words))
    distinct, inverse = np.unique(rows, axis=0, return_inverse=True)
    names = np.array([address_text(row[0], b"".join(w.to_bytes(4, "big") for w in row[1:])
                                   [:4 if row[0] == 4 else 16])
                      for row in distinct.tolist()], object)
    return names[inverse.reshape(-1)].tolist()


def _optional(values: np.ndarray) -> list[float | None]:
    return [None if x != x else x for x in values.tolist()]


def _frame_lists(frames: np.ndarray, mask: np.ndarray) -> list[list[int]]:
    """Per flow (column), the frames where mask holds, in step order, the first
    EVIDENCE_CAP only (conn._note)."""
    counts = mask.sum(axis=0)
    most = int(counts.max(initial=0))
    if most > EVIDENCE_CAP:
        mask = mask & (np.cumsum(mask, axis=0) <= EVIDENCE_CAP)
        counts = mask.sum(axis=0)
    values = frames.T[mask.T].tolist()  # flow by flow, in step order
    if most <= 1:  # the usual case: one SYN, one FIN, ... or none
        following = iter(values)
        return [[next(following)] if count else [] for count in counts.tolist()]
    ends = np.cumsum(counts)
    starts = np.empty_like(ends)
    starts[:1] = 0
    starts[1:] = ends[:-1]
    return list(map(values.__getitem__, map(slice, starts.tolist(), ends.tolist())))


_HISTORY_CACHE: dict[bytes, str] = {}


def _histories(new_letters: np.ndarray) -> list[str]:
    """Per flow (column), its history from the letter bits each step added."""
    steps = new_letters.shape[0]
    rows = np.ascontiguousarray(new_letters.T).view(f"S{8 * steps}").reshape(-1).tolist()
    cache = _HISTORY_CACHE
    out = []
    for row in rows:
        found = cache.get(row)
        if found is None:
            found = cache[row] = _history(np.frombuffer(row.ljust(8 * steps, b"\0"),
                                                        np.int64).tolist())
        out.append(found)
    if len(cache) > 4096:
        cache.clear()
    return out


_BITS_CACHE: dict[str, int] = {}


def _letter_bits(history: str) -> int:
    """The letter bits of a history (as ShortPass's `seen`)."""
    bits = _BITS_CACHE.get(history)
    if bits is None:
        bits = 0
        for letter in history:
            n = LETTERS.find(letter.upper())
            if n >= 0:
                bits |= 1 << (n + (10 if letter.islower() else 0))
        if len(_BITS_CACHE) > 4096:
            _BITS_CACHE.clear()
        _BITS_CACHE[history] = bits
    return bits


def _history(steps: list[int]) -> str:
    letters = "^" if steps and steps[0] & _FLIPPED_BIT else ""
    for bits in steps:
        for n, letter in enumerate(LETTERS):
            if bits >> n & 1:
                letters += letter
            if bits >> (n + 10) & 1:
                letters += letter.lower()
    return letters


def parked_entries(block: Parked, keys: list[FlowKey]) -> zip:
    """(key, (block, i)) pairs for the tracker's dict of parked flows."""
    return zip(keys, zip(repeat(block), range(len(keys))), strict=True)
