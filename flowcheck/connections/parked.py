"""Records and parked state of the short-connection pass (flowcheck.connections.short).

`commit` turns a pass's arrays into Connection records, in bulk (one `map` over
columns made once per batch, each distinct address formatted once, histories cached by
their letters), and keeps the sides' tracking state as arrays (`Parked`, one block per
batch) rather than a ConnState and two Endpoints per connection: a later packet of the
connection turns it into a ConnState (`Parked.conn_state`), or the next pass takes it
up again from the arrays. The records' end-of-connection fields come from
flowcheck.connections.short_accounting.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from itertools import repeat
from typing import Any

import numpy as np

from flowcheck.connections.conn import (
    ACK,
    EVIDENCE_CAP,
    FIN,
    RST,
    SYN,
    ConnState,
)
from flowcheck.connections.endpoint import Endpoint
from flowcheck.connections.flows import FlowKey
from flowcheck.connections.record_columns import (
    NONE,
    address_texts,
    first_frames,
    first_times,
    frame_lists,
    histories,
    optional,
    optional_item,
    ttl_item,
    ttl_lists,
)
from flowcheck.connections.reordering import wire_item
from flowcheck.connections.short_accounting import closing, fins_unseen, gap_times, seg_max
from flowcheck.connections.state import EndpointState
from flowcheck.model import Connection

# A flowcheck.connections.short.ShortPass, whose arrays the functions here read (not
# imported, even for typing: short imports this module).
ShortPass = Any

_RESET = int(EndpointState.RESET)
# Connection's fields in order, as `_new_records` passes them (checked at import).
_FIELDS = ("uid", "orig_h", "orig_p", "resp_h", "resp_p", "ts", "last_ts", "conn_state",
           "history", "orig_pkts", "resp_pkts", "orig_bytes", "resp_bytes", "missed_bytes",
           "gaps", "retransmits", "syn_retries", "first_frame", "last_frame", "rtt",
           "syn_frames", "synack_frames", "rst_frames", "resp_rst", "orig_rst",
           "icmp_frames", "fin_frames", "gap_frames", "established", "syn_ts", "synack_ts",
           "rst_ts", "tunnel", "orig_acked_unseen", "resp_acked_unseen", "orig_unacked",
           "resp_unacked", "refusal_first", "orig_evidence", "resp_evidence", "orig_ttl",
           "resp_ttl")
if tuple(f.name for f in fields(Connection))[:len(_FIELDS)] != _FIELDS:
    raise ImportError("flowcheck.connections.parked: Connection's fields changed")


@dataclass(slots=True)
class Parked:
    """The final tracking state of one batch's committed flows: row 0 the originator,
    row 1 the responder (int64 arrays use NONE for None)."""

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
    # int16: the side's first packet's IP TTL (Connection.orig_ttl / resp_ttl) and its
    # first RST's (Endpoint.rst_ttl); -1: None.
    ttl: np.ndarray
    rst_ttl: np.ndarray
    last_syn_ts: np.ndarray  # nan: None
    # Endpoint's reordering.WIRE_FIELDS, each (2, flows) (NONE / nan: None).
    wire: dict[str, np.ndarray]
    tap_pending: np.ndarray
    pre_tap: dict[int, list[tuple]]
    # The packets new flows keep until the tap decides, as arrays: the flows (sorted
    # rows of this block), and per flow (column) up to PRE_TAP_CAP packets' fields.
    pre_tap_packed: tuple[np.ndarray, ...] | None = None
    acked_ts: np.ndarray | None = None  # Endpoint.acked_ts (nan: none), (2, flows)

    def _acked_ts(self, row: int, i: int) -> float:
        """Endpoint.acked_ts of flow i's side `row` (0.0 while it has none)."""
        value = self.acked_ts.item(row, i) if self.acked_ts is not None else 0.0
        return 0.0 if value != value else value

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
                unseen_first=unseen_first,
                unseen_last=self.unseen_last.item(row, i) if unseen_first is not None else 0,
                unseen_top=self.unseen_top.item(row, i) if unseen_first is not None else 0,
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
                **{name: wire_item(name, values.item(row, i))
                   for name, values in self.wire.items()})

        syn_ts = self.last_syn_ts.item(i)
        return ConnState(record=self.records[i], orig_is_lower=bool(self.orig_is_lower[i]),
                         orig=endpoint(0), resp=endpoint(1),
                         tap_pending=bool(self.tap_pending[i]),
                         pre_tap=self.take_pre_tap(i),
                         last_syn_ts=None if syn_ts != syn_ts else syn_ts)


def commit(short: ShortPass, keep: np.ndarray, uids: list[str]) -> tuple[Parked, np.ndarray]:
    """The records of the pass's flows `keep` (indices) that are new, numbered `uids`
    (in keep order); the continuing ones' records brought up to date; and the state of
    all of them for later packets, with its flow order (the new ones first)."""
    new = keep[~short.continuing[keep]]
    going_on = keep[short.continuing[keep]]
    records = _new_records(short, new, uids) if new.size else []
    if going_on.size:
        records += _update_records(short, going_on)
    order = np.concatenate((new, going_on))
    pre_tap = {}
    if short.pre_tap:
        index = {f: i for i, f in enumerate(order.tolist())}
        pre_tap = {index[f]: packets for f, packets in short.pre_tap.items() if f in index}
    packed = None
    if short.pre_tap_fresh is not None and short.pre_tap_fresh[0].size:
        fresh, rows = short.pre_tap_fresh
        position = np.full(short.v, -1, np.int64)
        position[order] = np.arange(order.shape[0])
        where = position[fresh]
        kept = where >= 0
        by_row = np.argsort(where[kept])
        rows = rows[:, kept][:, by_row]
        at = np.maximum(rows, 0)
        packed = (where[kept][by_row], (rows >= 0).sum(axis=0), short.is_orig[at],
                  short.seq[at], short.flags[at], short.frame[at], short.ts[at])
    block = Parked(records, short.orig_is_lower[order], short.state[:, order],
                  short.base[:, order], short.isn[:, order], short.last_raw[:, order],
                  short.last_u[:, order], short.max_end[:, order], short.fin[:, order],
                  short.acked[:, order], short.acked_frame[:, order],
                  short.ack_last[:, order], short.unseen_first[:, order],
                  short.unseen_last[:, order], short.unseen_top[:, order],
                  short.resends[:, order], short.resent_u[:, order], short.resent_ts[:, order],
                  short.resent_frame[:, order], short.resend_first_ts[:, order],
                  short.resend_first_frame[:, order],
                  {name: values[:, order] for name, values in short.zero.items()},
                  short.seg_max[:, order], short.resent_len[:, order],
                  short.seq_ahead[:, order], short.ahead_frame[:, order],
                  short.ttl[:, order], short.rst_ttl[:, order], short.last_syn[order],
                  {name: values[:, order] for name, values in short.wire.items()},
                  short.tap_pending[order], pre_tap, packed, short.acked_ts[:, order])
    return block, order


def _columns(short: ShortPass, flows: np.ndarray) -> _Columns:
    """This batch's part of the records of `flows`, as arrays and lists."""
    v = short.v
    rows_of = np.full((len(short.active), v), -1, np.int64)  # [step, flow] -> packet
    for k, n in enumerate(short.active):
        rows_of[k, :n] = np.arange(short.offsets[k], short.offsets[k + 1])
    packets = rows_of[:, flows]
    valid = packets >= 0
    at = np.where(valid, packets, 0)
    is_orig = short.is_orig[at] & valid
    is_resp = ~short.is_orig[at] & valid
    plen = np.where(valid, short.plen[at], 0)
    sizes = valid.sum(axis=0)
    flags, frames = short.flags[at], np.where(valid, short.frame[at], 0)
    rst = (flags & RST) != 0
    sent = valid & ~short.copy[at]  # capture copies are counted, not evidence
    times = short.ts[at]
    synack = ((flags & (SYN | ACK)) == SYN | ACK) & sent
    return _Columns(
        first=at[0], last=at[sizes - 1, np.arange(flows.shape[0])],
        orig_pkts=is_orig.sum(axis=0), resp_pkts=is_resp.sum(axis=0),
        orig_bytes=(plen * is_orig).sum(axis=0), resp_bytes=(plen * is_resp).sum(axis=0),
        copy_bytes=_copy_bytes(plen, valid & short.copy[at], is_orig, is_resp),
        syn_frames=frame_lists(frames, ((flags & (SYN | ACK)) == SYN) & sent),
        synack_frames=frame_lists(frames, synack),
        rst_frames=frame_lists(frames, rst & sent),
        synack_ts=first_times(times, synack), rst_ts=first_times(times, rst & sent),
        fin_frames=frame_lists(frames, ((flags & FIN) != 0) & sent),
        resp_rst=(rst & is_resp).any(axis=0), orig_rst=(rst & is_orig).any(axis=0),
        first_rsts=(first_frames(frames, rst & sent & is_orig),
                    first_frames(frames, rst & sent & is_resp)) if rst.any() else None,
        histories=histories(short.new_letters[:, flows]))


def _copy_bytes(plen: np.ndarray, copied: np.ndarray, is_orig: np.ndarray,
                is_resp: np.ndarray) -> tuple[list[int], list[int]] | None:
    """Per flow, the payload bytes of its capture copies each way (orig, resp:
    Connection.orig_copy_bytes); None when the batch's flows hold no copy."""
    if not copied.any():
        return None
    data = np.where(copied, plen, 0)
    return (data * is_orig).sum(axis=0).tolist(), (data * is_resp).sum(axis=0).tolist()


def _add_copy_bytes(records: list[Connection],
                    copy_bytes: tuple[list[int], list[int]] | None) -> None:
    if copy_bytes is None:
        return
    for r, orig, resp in zip(records, *copy_bytes, strict=True):
        r.orig_copy_bytes += orig
        r.resp_copy_bytes += resp


def _new_records(short: ShortPass, new: np.ndarray, uids: list[str]) -> list[Connection]:
    col = _columns(short, new)
    states, missed, gaps, gap_frames, unseen, unacked, orig_ev, resp_ev = closing(
        short, new, col.histories, col.orig_bytes, col.resp_bytes, col.rst_frames)
    count = new.shape[0]
    lower = short.orig_is_lower[new]
    low_words, up_words = short.lower_words[new], short.upper_words[new]
    version = np.concatenate((short.version[new], short.version[new]))
    texts = address_texts(version, np.concatenate((
        np.where(lower[:, None], low_words, up_words),
        np.where(lower[:, None], up_words, low_words))))
    low_port, up_port = short.lower_port[new], short.upper_port[new]
    tunnel = short.tunnel[new]
    tunnels = [None] * count if not tunnel.any() else [
        short.tunnels[t] or None for t in tunnel.tolist()]
    records = list(map(
        Connection, uids, texts[:count], np.where(lower, low_port, up_port).tolist(),
        texts[count:], np.where(lower, up_port, low_port).tolist(),
        short.ts[col.first].tolist(), short.ts[col.last].tolist(), states, col.histories,
        col.orig_pkts.tolist(), col.resp_pkts.tolist(), col.orig_bytes.tolist(),
        col.resp_bytes.tolist(), missed, gaps, short.retransmits[new].tolist(),
        short.syn_retries[new].tolist(), short.frame[col.first].tolist(),
        short.frame[col.last].tolist(), optional(short.rtt[new]), col.syn_frames,
        col.synack_frames, col.rst_frames, col.resp_rst.tolist(), col.orig_rst.tolist(),
        [[] for _ in range(count)], col.fin_frames, gap_frames,
        short.established[new].tolist(), optional(short.syn_ts[new]), col.synack_ts,
        col.rst_ts, tunnels, unseen[0].tolist(), unseen[1].tolist(), unacked[0].tolist(),
        unacked[1].tolist(), short.refusal_first[new].tolist(), orig_ev, resp_ev,
        *ttl_lists(short.ttl[:, new])))
    seg_max(short, new, records)
    fins_unseen(short, new, records, fresh=True)
    gap_times(short, new, records, fresh=True)
    _add_copy_bytes(records, col.copy_bytes)
    _add_first_rsts(records, col.first_rsts)
    return records


def _update_records(short: ShortPass, going_on: np.ndarray) -> list[Connection]:
    """The continuing flows' records with this batch's packets added."""
    col = _columns(short, going_on)
    records = [short.parked[f][0].records[short.parked[f][1]]  # type: ignore[index]
               for f in going_on.tolist()]
    histories = [r.history + h for r, h in zip(records, col.histories, strict=True)]
    orig_bytes = col.orig_bytes + np.fromiter((r.orig_bytes for r in records), np.int64,
                                              len(records))
    resp_bytes = col.resp_bytes + np.fromiter((r.resp_bytes for r in records), np.int64,
                                              len(records))
    rsts = [(r.rst_frames + more)[:EVIDENCE_CAP]
            for r, more in zip(records, col.rst_frames, strict=True)]
    states, missed, gaps, gap_frames, unseen, unacked, orig_ev, resp_ev = closing(
        short, going_on, histories, orig_bytes, resp_bytes, rsts)
    for values in zip(
            records, histories, col.orig_pkts.tolist(), col.resp_pkts.tolist(),
            orig_bytes.tolist(), resp_bytes.tolist(), short.ts[col.last].tolist(),
            short.frame[col.last].tolist(), short.retransmits[going_on].tolist(),
            short.syn_retries[going_on].tolist(), col.syn_frames, col.synack_frames,
            col.rst_frames, col.fin_frames, col.resp_rst.tolist(), col.orig_rst.tolist(),
            short.established[going_on].tolist(), optional(short.rtt[going_on]),
            optional(short.syn_ts[going_on]), col.synack_ts, col.rst_ts, states, missed,
            gaps, gap_frames, unseen[0].tolist(), unseen[1].tolist(), unacked[0].tolist(),
            unacked[1].tolist(), orig_ev, resp_ev, *ttl_lists(short.ttl[:, going_on]),
            strict=True):
        (r, r.history, orig_pkts, resp_pkts, r.orig_bytes, r.resp_bytes, r.last_ts,
         r.last_frame, retransmits, syn_retries, syn_frames, synack_frames, rst_frames,
         fin_frames, resp_rst, orig_rst, r.established, r.rtt, r.syn_ts, synack_ts, rst_ts,
         r.conn_state, r.missed_bytes, r.gaps, r.gap_frames, r.orig_acked_unseen,
         r.resp_acked_unseen, r.orig_unacked, r.resp_unacked, r.orig_evidence,
         r.resp_evidence, r.orig_ttl, r.resp_ttl) = values
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
        if r.synack_ts is None:
            r.synack_ts = synack_ts
        if r.rst_ts is None:
            r.rst_ts = rst_ts
    seg_max(short, going_on, records)
    fins_unseen(short, going_on, records, fresh=False)
    gap_times(short, going_on, records, fresh=False)
    _add_copy_bytes(records, col.copy_bytes)
    _add_first_rsts(records, col.first_rsts)
    return records


def _add_first_rsts(records: list[Connection],
                    first_rsts: tuple[np.ndarray, np.ndarray] | None) -> None:
    """Each side's first RST frame (Connection.orig_rst_frame), when the batch holds a
    RST and the record has none from that side yet."""
    if first_rsts is None:
        return
    for r, orig, resp in zip(records, first_rsts[0].tolist(), first_rsts[1].tolist(),
                             strict=True):
        r.orig_rst_frame = r.orig_rst_frame or orig
        r.resp_rst_frame = r.resp_rst_frame or resp


@dataclass(slots=True)
class _Columns:
    first: np.ndarray  # per flow: its first packet of the batch (step-ordered index)
    last: np.ndarray
    orig_pkts: np.ndarray
    resp_pkts: np.ndarray
    orig_bytes: np.ndarray
    resp_bytes: np.ndarray
    copy_bytes: tuple[list[int], list[int]] | None  # _copy_bytes
    syn_frames: list[list[int]]
    synack_frames: list[list[int]]
    rst_frames: list[list[int]]
    fin_frames: list[list[int]]
    resp_rst: np.ndarray
    orig_rst: np.ndarray
    first_rsts: tuple[np.ndarray, np.ndarray] | None  # per side, first RST frame (0: none)
    synack_ts: list[float | None]  # per flow: its first SYN-ACK of the batch, if any
    rst_ts: list[float | None]
    histories: list[str]


def parked_entries(block: Parked, keys: list[FlowKey]) -> zip:
    """(key, (block, i)) pairs for the tracker's dict of parked flows."""
    return zip(keys, zip(repeat(block), range(len(keys))), strict=True)
