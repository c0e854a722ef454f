"""The Connection records of the short-connection pass's flows (flowcheck.connections.short),
from its arrays (read per flow by flowcheck.connections.short_columns): the new flows'
as the columns of Connection.__init__'s arguments, made
once per batch (each distinct address formatted once, histories cached by their
letters), each record made from them when read (new_records,
flowcheck.connections.block_records); a continuing flow's record brought up to date with
the batch's packets (update_records). The
end-of-connection fields come from flowcheck.connections.short_accounting;
flowcheck.connections.parked.commit calls these and keeps the sides' state.
"""

from __future__ import annotations

from dataclasses import fields
from functools import partial
from itertools import compress
from operator import attrgetter, is_not
from typing import Any

import numpy as np

from flowcheck.connections.ack_repeats import add_repeats
from flowcheck.connections.block_columns import (
    Coded,
    Nullable,
    Same,
    Uids,
    column,
    frames_column,
    listed,
    numbers,
    optionals,
    ports,
)
from flowcheck.connections.block_records import ARG_INDEX, FreshRows, records_of
from flowcheck.connections.conn import EVIDENCE_CAP
from flowcheck.connections.record_columns import (
    address_texts,
    last_data_lists,
    optional_item,
    ttl_item,
)
from flowcheck.connections.short_accounting import (
    changed_gaps,
    closing,
    fin_acked_sides,
    fins_acked,
    fins_unseen,
    gap_times,
    seg_max,
)
from flowcheck.connections.short_columns import FlowColumns, flow_columns
from flowcheck.connections.short_rare import (
    add_ack_frames,
    add_acked_unseen_times,
    add_copy_bytes,
    add_first_rsts,
    add_repeated,
)
from flowcheck.connections.short_times import (
    NEW,
    fin_answers,
    prior_of,
    update_times,
)
from flowcheck.model import Connection
from flowcheck.model.frames import NO_FRAMES, frames_of

# A flowcheck.connections.short.ShortPass, whose arrays the functions here read (not
# imported, even for typing: short imports parked, which imports this module).
ShortPass = Any

# Whether a value is not None, for `map` (C-level loops over a part's continuing records).
_is_not_none = partial(is_not, None)

# Connection's fields in order, as `new_records` passes them (checked at import).
_FIELDS = ("uid", "orig_h", "orig_p", "resp_h", "resp_p", "ts", "last_ts", "conn_state",
           "history", "orig_pkts", "resp_pkts", "orig_bytes", "resp_bytes", "missed_bytes",
           "gaps", "retransmits", "syn_retries", "first_frame", "last_frame", "rtt",
           "syn_frames", "synack_frames", "rst_frames", "resp_rst", "orig_rst",
           "icmp_frames", "fin_frames", "gap_frames", "established", "syn_ts", "synack_ts",
           "rst_ts", "tunnel", "orig_acked_unseen", "resp_acked_unseen", "orig_unacked",
           "resp_unacked", "refusal_first", "orig_evidence", "resp_evidence", "orig_ttl",
           "resp_ttl", "orig_last_ts", "resp_last_ts", "orig_last_data", "resp_last_data",
           "orig_seg_max", "resp_seg_max", "orig_fin_acked", "resp_fin_acked",
           "orig_first_data", "resp_first_data", "fin_ts", "fin_peer_last_ts")
ARG_INDEX.update((name, n) for n, name in enumerate(_FIELDS))
if tuple(f.name for f in fields(Connection))[:len(_FIELDS)] != _FIELDS:
    raise ImportError("flowcheck.connections.short_records: Connection's fields changed")
# What a call of Connection does, in two maps (block_records): no __new__ of its own.
if Connection.__new__ is not object.__new__:
    raise ImportError("flowcheck.connections.short_records: Connection has its own __new__")


def new_records(short: ShortPass, new: np.ndarray, uids: np.ndarray
                ) -> tuple[list, dict[str, dict[int, Any]]]:
    """The records of the pass's new flows `new` (indices), numbered `uids` ("C<n>"'s
    numbers, in new's order), as the columns they are made from and the writes after
    (flowcheck.connections.block_records.BlockRecords' args and patches: each record
    made when read)."""
    col = flow_columns(short, new, new=True)
    states, missed, gaps, gap_frames, unseen, unacked, orig_ev, resp_ev = closing(
        short, new, col.histories, col.orig_bytes, col.resp_bytes, col.rst_frames, lazy=True)
    count = new.shape[0]
    lower = short.orig_is_lower[new]
    low_words, up_words = short.lower_words[new], short.upper_words[new]
    version = np.concatenate((short.version[new], short.version[new]))
    names, hosts = address_texts(version, np.concatenate((
        np.where(lower[:, None], low_words, up_words),
        np.where(lower[:, None], up_words, low_words))))
    low_port, up_port = short.lower_port[new], short.upper_port[new]
    tunnel = short.tunnel[new]
    tunnels = [None] * count if not tunnel.any() else [
        short.tunnels[t] or None for t in tunnel.tolist()]
    first_ts, syn_ts = _firsts(short, new, col)
    # Connection.__init__'s arguments, one column each (block_records: the records are
    # made from them when read, by one C-level map of __init__ over the columns when
    # all are: a call of the class copied its 50 arguments twice, into a tuple and again
    # with the object prepended, a fifth of the records' making).
    # Columns most often one default kept as that value (block_columns.Same: 8 bytes a
    # row each else); numbers as arrays (Nullable where some are None), addresses and
    # ports as indexes into a table (Coded), side evidence as Sparse, the rest as lists.
    seg_maxes = short.seg_max.take(new, axis=1)
    fins_acked = fin_acked_sides(short, new)
    args = [Uids(uids), Coded(names, hosts[:count]), ports(np.where(lower, low_port, up_port)),
            Coded(names, hosts[count:]), ports(np.where(lower, up_port, low_port)),
            first_ts, short.ts[col.last], states, col.histories,
            listed(col.orig_pkts), listed(col.resp_pkts), listed(col.orig_bytes),
            listed(col.resp_bytes), column(missed), column(gaps),
            listed(short.retransmits[new]), listed(short.syn_retries[new]),
            numbers(short.frame[col.first]), numbers(short.frame[col.last]),
            optionals(short.rtt[new]),
            *map(frames_column, (col.syn_frames, col.synack_frames, col.rst_frames)),
            listed(col.resp_rst), listed(col.orig_rst), Same(NO_FRAMES),
            frames_column(col.fin_frames), column(gap_frames), listed(short.established[new]),
            syn_ts, optionals(col.synack_ts), optionals(col.rst_ts), column(tunnels),
            listed(unseen[0]), listed(unseen[1]), listed(unacked[0]), listed(unacked[1]),
            listed(short.refusal_first[new]), orig_ev, resp_ev,
            *map(optionals, short.ttl.take(new, axis=1)), *map(optionals, col.side_last),
            *map(column, last_data_lists(col.last_data, count)),
            listed(seg_maxes[0]), listed(seg_maxes[1]), listed(fins_acked[0]),
            listed(fins_acked[1]), *map(column, last_data_lists(col.first_data, count)),
            optionals(col.fin), optionals(col.fin_peer)]
    patches: dict[str, dict[int, Any]] = {}
    _finish(short, new, FreshRows(args, patches, count), col,  # type: ignore[arg-type]
            fresh=True, sent=(col.orig_bytes, col.resp_bytes))
    if col.answers is not None:
        found = fin_answers(col.answers, [NEW] * len(col.answers.flows))
        if found:
            patches.setdefault("fin_answer_rst", {}).update(found)
    return args, patches


def _firsts(short: ShortPass, new: np.ndarray, col: FlowColumns
            ) -> tuple[np.ndarray, np.ndarray | Nullable | Same]:
    """New records' ts and syn_ts columns: syn_ts is the very array ts is when every
    flow's first packet is its first SYN (almost always: block_records then makes one
    float object for both fields of a record), else its own (nan: None). first_frame is
    the first packet's frame (`short.frame[col.first]`, the head of syn_frames when that
    packet is a SYN)."""
    ts = short.ts[col.first]
    syn = short.syn_ts[new]
    return ts, ts if (syn == ts).all() else optionals(syn)  # nan (no SYN) never equal


def update_records(short: ShortPass, going_on: np.ndarray) -> list[Connection]:
    """The continuing flows' records with this batch's packets added: the fields every
    packet changes set on each record, the others only where this batch's packets
    change them (compared column-wise with the state the flows were parked with,
    ShortPass.before, or what the batch adds), so a connection open across the end of
    a batch (a part of a read chunk: flowcheck.connections._parts) costs little."""
    col = flow_columns(short, going_on)
    going, entries = short.resumed
    position = np.zeros(short.v, np.int64)
    position[going] = np.arange(going.shape[0])
    records = records_of(list(map(entries.__getitem__, position[going_on].tolist())))
    histories = [r.history + h if h else r.history
                 for r, h in zip(records, col.histories, strict=True)]
    count = len(records)
    orig_bytes = col.orig_bytes + np.fromiter(map(attrgetter("orig_bytes"), records),
                                              np.int64, count)
    resp_bytes = col.resp_bytes + np.fromiter(map(attrgetter("resp_bytes"), records),
                                              np.int64, count)
    rsts = list(map(attrgetter("rst_frames"), records))
    for i in compress(range(count), col.rst_frames):
        rsts[i] = (rsts[i] + col.rst_frames[i])[:EVIDENCE_CAP]
    states, missed, gaps, gap_frames, unseen, unacked, orig_ev, resp_ev = closing(
        short, going_on, histories, orig_bytes, resp_bytes, rsts)
    answered = [] if col.answers is None else fin_answers(
        col.answers, [prior_of(records[i]) for i in col.answers.flows])
    for r, history, orig_pkts, resp_pkts, orig, resp, last_ts, last_frame, state in zip(
            records, histories, col.orig_pkts.tolist(), col.resp_pkts.tolist(),
            orig_bytes.tolist(), resp_bytes.tolist(), short.ts[col.last].tolist(),
            short.frame[col.last].tolist(), states, strict=True):
        r.history, r.orig_bytes, r.resp_bytes = history, orig, resp
        r.orig_pkts += orig_pkts
        r.resp_pkts += resp_pkts
        r.last_ts, r.last_frame, r.conn_state = last_ts, last_frame, state
    update_times(records, col)
    for i, frame in answered:
        records[i].fin_answer_rst = frame
    _update_rare(short, going_on, records, col)
    for i in changed_gaps(short, going_on):
        records[i].missed_bytes, records[i].gaps = missed[i], gaps[i]
        records[i].gap_frames = gap_frames[i]
    for name, values in (("orig_acked_unseen", unseen[0]), ("resp_acked_unseen", unseen[1]),
                         ("orig_unacked", unacked[0]), ("resp_unacked", unacked[1])):
        for i, value in _where_changed(values, records, name):
            setattr(records[i], name, value)
    evidence = set(compress(range(count), map(_is_not_none, orig_ev)))
    evidence.update(compress(range(count), map(_is_not_none, resp_ev)))
    for name in ("orig_evidence", "resp_evidence"):  # SideEvidence may be falsy: not None
        evidence.update(compress(range(count), map(_is_not_none,
                                                     map(attrgetter(name), records))))
    for i in evidence:
        records[i].orig_evidence, records[i].resp_evidence = orig_ev[i], resp_ev[i]
    _finish(short, going_on, records, col, fresh=False, sent=(orig_bytes, resp_bytes))
    return records


def _where_changed(values: np.ndarray, records: list[Connection], name: str
                   ) -> list[tuple[int, int]]:
    """(record index, value) where values (int64, one per record) is nonzero or the
    record's field `name` is (the fields acked_unseen, unacked: 0 for almost all)."""
    nonzero = set(np.flatnonzero(values).tolist())
    nonzero.update(compress(range(len(records)), map(attrgetter(name), records)))
    return [(i, values.item(i)) for i in sorted(nonzero)]


def _update_rare(short: ShortPass, going_on: np.ndarray, records: list[Connection],
                 col: FlowColumns) -> None:
    """The continuing records' fields that few packets change: counts of retransmissions
    and SYN retries, SYN, SYN-ACK, RST and FIN frames, RSTs, establishment, rtt, the
    first SYN, SYN-ACK and RST times, TTLs: each set where it changes only."""
    for name, values in (("retransmits", short.retransmits[going_on]),
                         ("syn_retries", short.syn_retries[going_on])):
        for i in np.flatnonzero(values).tolist():
            setattr(records[i], name, getattr(records[i], name) + values.item(i))
    for name, lists in (("syn_frames", col.syn_frames), ("synack_frames", col.synack_frames),
                        ("rst_frames", col.rst_frames), ("fin_frames", col.fin_frames)):
        for i in compress(range(len(lists)), lists):
            mine = frames_of(getattr(records[i], name))  # a new list for NO_FRAMES
            mine.extend(lists[i][:EVIDENCE_CAP - len(mine)])
            setattr(records[i], name, mine)
    for i in np.flatnonzero(col.resp_rst).tolist():
        records[i].resp_rst = True
    for i in np.flatnonzero(col.orig_rst).tolist():
        records[i].orig_rst = True
    for name, new_ts in (("synack_ts", col.synack_ts), ("rst_ts", col.rst_ts)):
        for i in np.flatnonzero(~np.isnan(new_ts)).tolist():
            if getattr(records[i], name) is None:
                setattr(records[i], name, new_ts.item(i))
    before = short.before
    established = short.established[going_on]
    for i in np.flatnonzero(established != before["established"][going_on]).tolist():
        records[i].established = bool(established[i])
    for name in ("rtt", "syn_ts"):
        now, then = getattr(short, name)[going_on], before[name][going_on]
        changed = ~((now == then) | (np.isnan(now) & np.isnan(then)))
        for i in np.flatnonzero(changed).tolist():
            setattr(records[i], name, optional_item(now.item(i)))
    ttl = short.ttl.take(going_on, axis=1)
    changed = (ttl != before["ttl"].take(going_on, axis=1)).any(axis=0)
    for i in np.flatnonzero(changed).tolist():
        records[i].orig_ttl, records[i].resp_ttl = (ttl_item(ttl.item(0, i)),
                                                    ttl_item(ttl.item(1, i)))


def _finish(short: ShortPass, flows: np.ndarray, records: list[Connection], col: FlowColumns,
            fresh: bool, sent: tuple[np.ndarray, np.ndarray]) -> None:
    """The fields new_records and update_records both add last: FINs unseen and gap
    times (short_accounting; fresh: the records are new, `records` the stand-in that
    keeps the writes as patches, block_records.FreshRows), copy bytes, each side's first
    RST, the handshake's ACK; and for continuing records (new ones have them from
    new_records' columns) segment sizes, FINs acknowledged, each side's first data
    (unless an earlier batch gave it) and last data. sent: the flows' orig_bytes and
    resp_bytes as the records now hold them (for the bytes repeated: short_rare.add_repeated)."""
    if not fresh:
        seg_max(short, flows, records, fresh=False)
        fins_acked(short, flows, records, fresh=False)
    fins_unseen(short, flows, records, fresh=fresh)
    gap_times(short, flows, records, fresh=fresh)
    add_copy_bytes(records, col.copy_bytes)
    add_repeated(short, flows, records, sent)
    add_first_rsts(records, col.first_rsts)
    add_ack_frames(short, flows, records, col.synacks, col.synack_top, fresh)
    add_acked_unseen_times(short, flows, records, fresh)
    if col.ack_repeats is not None:
        add_repeats(records, *col.ack_repeats, fresh)
    if fresh:
        return  # new records have their first data from new_records (no earlier batch's)
    for found, name in zip(col.first_data, ("orig_first_data", "resp_first_data"),
                           strict=True):
        for i, frame, ts in found:
            if getattr(records[i], name) is None:  # an earlier batch's stays the first
                setattr(records[i], name, (frame, ts))
    for i, frame, ts in col.last_data[0]:
        records[i].orig_last_data = (frame, ts)
    for i, frame, ts in col.last_data[1]:
        records[i].resp_last_data = (frame, ts)
