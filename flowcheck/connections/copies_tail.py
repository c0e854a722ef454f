"""Capture copies' packets as copies.py compares them (`Rows`), and the packets it keeps
across a batch boundary (`Tail`) so that a copy in the next batch finds its original.

The tail holds the batch's last packets within copies.py's window of its end (0.5 ms, or
CapturePoints.window once two capture points are known: at most TAIL_CAP or FAR_TAIL_CAP
of them); once relay copies showed (flowcheck.connections.relay_copies), also the packets
of the last RELAY_WINDOW that found no copy yet (still in a router's queue) of the host
pairs whose packets showed relay copies (`RelayPairs`, the latest RELAY_PAIRS_CAP of
them), at most RELAY_TAIL_CAP packets. Its size follows those windows and the relayed
host pairs' packet rate, never the capture's history nor the other hosts' traffic: it
carried every flow's unpaired packets of the last second once any relay copy showed
(a capture of 400,000 segments with one relayed resend: copies.mark 0.19 -> 0.96 s).
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from flowcheck.connections.copy_window import WIDE_COPY_WINDOW
from flowcheck.connections.flows import BatchFlows, FlowKey
from flowcheck.connections.relay_copies import RELAY_TAIL_CAP, RELAY_WINDOW
from flowcheck.fields_dataclass import fields_dataclass

TAIL_CAP = 1 << 14  # packets kept across a batch boundary, at most (the latest)
RELAY_PAIRS_CAP = 1024  # host pairs whose unpaired packets the tail carries, at most
_FEW_ROWS = 64  # kept_tail numbers the flows of at most this many new rows in Python ints
# A batch of more flows than this has the tail's keys found by their FlowTable numbers
# (~25 us a batch), a smaller one by a dict of its keys (~0.1 us a key).
BY_NUMBER_FLOWS = 256
NOT_READ = -1  # Rows.stamp of a packet whose stamped identity was not read
_IP_ID, _FLAGS = 0, 3  # Rows.fields' columns (packet_identity.FIELDS)
_SYN, _ACK = 0x02, 0x10


@fields_dataclass(slots=True)
class Rows:
    """Packets of the batch (and of the tail before them): their direction (batch flow
    number * 2 + from_lower), copies.py's fields, and what points.py needs."""

    side: np.ndarray
    fields: np.ndarray  # (n, copies.py's fields) int64
    ts: np.ndarray
    frame: np.ndarray
    source: np.ndarray  # int32: the file of the set (PacketBatch.capture)
    ttl: np.ndarray  # int16
    # bool: the original of a copy already (points.py), or a relay copy or its original
    taken: np.ndarray
    leg: np.ndarray  # int64: the interface captured on (relay_copies; 0: not read)
    # int64: its stamped_identity (0: no timestamp option; NOT_READ: not read yet), read
    # for the packets of copies.py's wide-window pairs and those kept in the tail then
    stamp: np.ndarray

    def at(self, rows: np.ndarray) -> Rows:
        """These rows at `rows`."""
        return Rows(*(getattr(self, name)[rows] for name in _ROW_FIELDS))

    def joined(self, at: np.ndarray | slice, other: Rows) -> Rows:
        """These rows at `at` (indexes or a slice), then all of other's."""
        return Rows(*(np.concatenate((getattr(self, name)[at], getattr(other, name)))
                      for name in _ROW_FIELDS))


_ROW_FIELDS = tuple(f.name for f in fields(Rows))  # looked up once, not per batch


@fields_dataclass(slots=True)
class Tail:
    """The previous batches' last packets kept (module docstring: `kept_tail`)."""

    keys: list[FlowKey]  # the distinct flow keys
    key_of: np.ndarray  # per packet: its flow key's index in keys
    from_lower: np.ndarray  # bool
    rows: Rows  # side unused
    # Per key: its FlowTable number (replays.Spans.numbers, int64), which tail_of_flows
    # finds the batch's flows by; None: not told (the keys are looked up in a dict).
    numbers: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.key_of.shape[0])


class RelayPairs:
    """The host pairs (their two addresses, either way; the tunnel left out) whose packets
    showed relay copies: a router's forwarding between them. The latest RELAY_PAIRS_CAP,
    least recently seen dropped first."""

    def __init__(self) -> None:
        self._pairs: dict[tuple[bytes, bytes], None] = {}

    def __bool__(self) -> bool:
        return bool(self._pairs)

    def learn(self, keys: list[FlowKey]) -> None:
        """Take the host pairs of these flows (those of relay copies found)."""
        for key in keys:
            pair = _pair(key)
            self._pairs.pop(pair, None)
            self._pairs[pair] = None
            if len(self._pairs) > RELAY_PAIRS_CAP:
                del self._pairs[next(iter(self._pairs))]

    def among(self, keys: list[FlowKey]) -> np.ndarray:
        """Per flow key (bool): its host pair showed relay copies."""
        return np.array([_pair(key) in self._pairs for key in keys], bool)


def _pair(key: FlowKey) -> tuple[bytes, bytes]:
    low, high = key[0][1], key[1][1]
    return (low, high) if low <= high else (high, low)


def with_tail(tail: Tail | None, flows: BatchFlows, own: Rows,
              numbers: np.ndarray | None = None,
              ) -> tuple[Rows, np.ndarray, np.ndarray | None]:
    """The tail's packets of this batch's flows, then the batch's (own): (their rows,
    each one's batch row, -1 for the tail's; the tail's indexes taken, None without).
    numbers: tail_of_flows'."""
    m = own.side.shape[0]
    if tail is None:
        return own, np.arange(m), None
    at, side = tail_of_flows(tail, flows, numbers)
    every = tail.rows.joined(at, own)
    every.side[:at.shape[0]] = side
    return every, np.concatenate((np.full(at.shape[0], -1), np.arange(m))), at


def tail_of_flows(tail: Tail | None, flows: BatchFlows, numbers: np.ndarray | None = None,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The tail's packets of this batch's flows: (their indexes in the tail, their
    directions numbered as the batch's: flow * 2 + from_lower), both int64. numbers:
    each batch flow's FlowTable number (replays.Spans.numbers; None: not told), by which
    the tail's keys are found among a batch's of more than BY_NUMBER_FLOWS flows
    (`_flows_by_number`), else by a dict of the batch's keys (a Python step per batch
    flow: 40 ms in bench (c) 200k's 21 batches of ~10,000 short connections, issue 7)."""
    if tail is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    flow = None if len(flows.keys) <= BY_NUMBER_FLOWS else _flows_by_number(tail, flows,
                                                                          numbers)
    if flow is None:
        number = dict(zip(flows.keys, range(len(flows.keys)), strict=True))  # C-level
        flow = np.array([number.get(key, -1) for key in tail.keys], np.int64)
    flow = flow[tail.key_of]
    at = (flow >= 0).nonzero()[0]
    return at, 2 * flow[at] + tail.from_lower[at]


def _flows_by_number(tail: Tail, flows: BatchFlows, numbers: np.ndarray | None,
                     ) -> np.ndarray | None:
    """Per tail key, its batch flow (int64; -1: not in the batch), found by FlowTable
    numbers: a key's number is its 64-bit hash's (flow_table), so a key in the batch has
    its tail number there; the batch flows whose number is a tail key's have their keys
    compared with it exactly (two keys of equal hashes share a number: the one whose key
    differs is no match). Python steps per tail key matched, none per batch flow. None
    (the caller's dict decides) when a number is not told: numbers None or not the
    batch's, a flow or tail key without one, two tail keys sharing one."""
    mine = tail.numbers
    if (mine is None or numbers is None or numbers.shape[0] != len(flows.keys)
            or not mine.size or (mine < 0).any() or (numbers < 0).any()):
        return None
    by_number = np.argsort(mine, kind="stable")
    ordered = mine[by_number]
    if (ordered[1:] == ordered[:-1]).any():
        return None
    place = np.searchsorted(ordered, numbers)
    place[place >= ordered.shape[0]] = 0
    hit = np.flatnonzero(ordered[place] == numbers)
    flow = np.full(mine.shape[0], -1, np.int64)
    keys, tail_keys = flows.keys, tail.keys
    for f, k in zip(hit.tolist(), by_number[place[hit]].tolist(), strict=True):
        if keys[f] == tail_keys[k]:
            flow[k] = f
    return flow


def wide_syns(ip_id: np.ndarray, flags: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """Per packet (its IPv4 ID, TCP flags and seconds from the batch's last packet), bool:
    a SYN without ACK with a non-zero IPv4 ID within WIDE_COPY_WINDOW, which the tail
    keeps (its stamped identity read) before any copy beyond COPY_WINDOW showed: a SYN's
    copy a read chunk after it is found then too (copy_window), at the cost of the
    capture's SYNs only."""
    return (flags & (_SYN | _ACK) == _SYN) & (ip_id != 0) & (gap <= WIDE_COPY_WINDOW)


def kept_tail(old: Tail | None, ts: np.ndarray, flows: BatchFlows, own: Rows,
              copy: np.ndarray, window: float, cap: int, relaying: RelayPairs,
              at: np.ndarray | None = None, syns: np.ndarray | None = None,
              gap: np.ndarray | None = None, numbers: np.ndarray | None = None,
              ) -> Tail | None:
    """The tail after a batch: its packets (own, their times ts, seconds; copy: copies.py's
    marks) within `window` seconds of its last one, and the old tail's that still are (a
    direction silent in this batch keeps its last packets), at most `cap`, the latest;
    once relay copies showed (relaying: their host pairs), also the packets of those
    host pairs of the last RELAY_WINDOW neither a copy nor an original already
    (Rows.taken), at most RELAY_TAIL_CAP. at: own holds only the batch rows at `at`
    (ascending), those kept among them (`last_rows`; not while relaying). syns: per batch
    row, the SYNs kept beyond `window` (wide_syns, their stamps read), and the old tail's
    SYNs stay so; None: none. gap: |ts - ts[-1]| if known (the quiet path's). numbers:
    each batch flow's FlowTable number (replays.Spans.numbers), kept per tail key
    (Tail.numbers; None: not told)."""
    last = float(ts[-1])
    if gap is None:
        gap = np.abs(ts - last)
    keep = gap <= window
    if syns is not None:
        keep |= syns
    if relaying:
        assert at is None, "relaying keeps more than last_rows"
        cap = max(cap, RELAY_TAIL_CAP)
        queued = relaying.among(flows.keys)[flows.flow]
        keep |= queued & (gap <= RELAY_WINDOW) & ~own.taken & ~copy  # in a router's queue
    near = keep.nonzero()[0][-cap:]
    # own's rows: all kept when it holds the kept rows alone (near is a part of `at`)
    rows = own if at is not None and at.shape[0] == near.shape[0] else own.at(
        near if at is None else np.searchsorted(at, near))
    flow = flows.flow[near]
    if near.shape[0] <= _FEW_ROWS:  # a few rows: their flows' places in Python ints
        held = sorted(set(flow.tolist()))
        place = {f: n for n, f in enumerate(held)}
        tail = Tail([flows.keys[f] for f in held],
                    np.array([place[f] for f in flow.tolist()], np.int64),
                    flows.from_lower[near], rows, _numbers_of(numbers, held))
    else:
        present = np.zeros(len(flows.keys), bool)
        present[flow] = True
        number = present.cumsum() - 1  # a flow's index among the tail's keys
        held = present.nonzero()[0]
        tail = Tail([flows.keys[f] for f in held.tolist()],
                    number[flow], flows.from_lower[near], rows, _numbers_of(numbers, held))
    if old is not None and near.shape[0] < cap:
        gap = np.abs(old.rows.ts - last)
        still = gap <= window
        if syns is not None:
            stamp = old.rows.stamp
            read = (stamp != NOT_READ) & (stamp != 0)  # a stamped SYN's, or a pair's
            if read.any():
                fields = old.rows.fields
                still |= wide_syns(fields[:, _IP_ID], fields[:, _FLAGS], gap) & read
        if relaying:
            queued = relaying.among(old.keys)[old.key_of]
            still |= queued & (gap <= RELAY_WINDOW) & ~old.rows.taken
        stay = still.nonzero()[0]
        stay = stay[max(0, stay.shape[0] - (cap - near.shape[0])):]
        if stay.size:
            first, end = int(stay[0]), int(stay[-1]) + 1
            # One stretch of the old tail (its latest packets, the usual): a slice.
            tail = _join(old, slice(first, end) if end - first == stay.shape[0] else stay,
                         tail)
    return tail if len(tail) else None


def last_rows(gap: np.ndarray, window: float, cap: int) -> np.ndarray:
    """The batch rows kept_tail keeps when not relaying (ascending): within `window`
    seconds of the batch's last packet (gap: each packet's seconds from it, |ts - the
    last ts|, computed once for wide_syns too), the latest `cap`."""
    return (gap <= window).nonzero()[0][-cap:]


def _numbers_of(numbers: np.ndarray | None, held: list[int] | np.ndarray,
                ) -> np.ndarray | None:
    """The FlowTable numbers of the batch flows `held` (kept_tail's keys), None when not
    told."""
    if numbers is None or numbers.shape[0] == 0:
        return None
    return numbers[np.asarray(held, np.int64)]


def _join(old: Tail, still: np.ndarray | slice, new: Tail) -> Tail:
    """The old tail's packets at `still` (indexes, ascending, or a slice), then the new
    tail's (the numbers of their keys kept when both tails have them)."""
    keys = list(dict.fromkeys(old.keys + new.keys))
    index = {key: n for n, key in enumerate(keys)}
    old_map = np.array([index[key] for key in old.keys], np.int64)
    new_map = np.array([index[key] for key in new.keys], np.int64)
    numbers = None
    if old.numbers is not None and new.numbers is not None:
        numbers = np.empty(len(keys), np.int64)
        numbers[old_map] = old.numbers
        numbers[new_map] = new.numbers
    return Tail(keys, np.concatenate((old_map[old.key_of[still]], new_map[new.key_of])),
                 np.concatenate((old.from_lower[still], new.from_lower)),
                 old.rows.joined(still, new.rows), numbers)
