"""Zero windows (RFC 9293 3.8.6.1): a side whose receive window stays 0, the receiving
process no longer reading its socket, and the peer's probes of the closed window.

The per-packet definition (`zero_window_update`, called by conn.update_packet), its
step-wise array form for the short-connection pass (`zero_window_step`), its form for the
bulk path's runs (`zero_window_runs`, called by bulk.apply_runs), and the record fields
they fill (`zero_window_evidence`). All three must agree (tests/test_connections_zero_window.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from flowcheck.decode import DecodedBatch


class Endpoint(Protocol):
    """The zero-window fields of a side (flowcheck.connections.conn.Endpoint, which
    imports this module: typed by shape, not by import)."""

    zero_ts: float | None
    zero_frame: int
    zero_acks: int
    zero_probes: int
    zero_long_s: float
    zero_long_ts: float | None
    zero_long_frame: int
    zero_long_end: int

# Endpoint's zero-window fields, in this order everywhere (short pass, parked arrays),
# and the SideEvidence fields they fill (zero_window_evidence).
ZERO_FIELDS = ("zero_ts", "zero_frame", "zero_acks", "zero_probes", "zero_long_s",
               "zero_long_ts", "zero_long_frame", "zero_long_end")
ZERO_RECORD = ("zero_window_ts", "zero_window_frame", "zero_window_acks", "zero_window_probes",
               "zero_window_longest", "zero_window_longest_ts", "zero_window_longest_frame",
               "zero_window_reopened_frame")


def zero_window_evidence(values: list) -> dict[str, object]:
    """SideEvidence's zero-window fields (ZERO_RECORD: name -> value) from the values of
    an Endpoint's ZERO_FIELDS (the trailing ones None / 0 when zero_ts is None: the
    side's latest window advertisement was not 0)."""
    if values[0] is None:
        values = [None, 0, 0, 0, *values[4:]]
    return dict(zip(ZERO_RECORD, values, strict=True))


def zero_window_update(side: Endpoint, peer: Endpoint, window: int, frame: int,
                       ts: float) -> None:
    """A segment without SYN or RST from `side` advertising `window` (raw): its trailing
    zero window starts, grows (one more zero-window segment) or ends (the longest one
    that ended is kept); a segment into the peer's zero window is one more probe (RFC
    9293 3.8.6.1)."""
    if window:
        if side.zero_ts is not None:
            _reopen(side, ts, frame)
    elif side.zero_ts is None:
        side.zero_ts, side.zero_frame, side.zero_acks, side.zero_probes = ts, frame, 1, 0
    else:
        side.zero_acks += 1
    if peer.zero_ts is not None:
        peer.zero_probes += 1



def _reopen(side: Endpoint, ts: float, frame: int) -> None:
    """The side's zero window ends at `frame` (`ts`): kept as its longest when longer."""
    assert side.zero_ts is not None
    span = ts - side.zero_ts
    if span > side.zero_long_s:
        side.zero_long_s, side.zero_long_ts = span, side.zero_ts
        side.zero_long_frame, side.zero_long_end = side.zero_frame, frame
    side.zero_ts = None

def zero_window_step(zero: dict[str, np.ndarray], fs: np.ndarray, fp: np.ndarray,
                      told: np.ndarray, closed: np.ndarray, t: np.ndarray,
                      fr: np.ndarray) -> None:
    """zero_window_update for one step's packets: fs, fp their sides' and peers'
    indices in the ZERO_FIELDS arrays `zero`; told: the packets that advertise a window
    (no SYN, RST, capture copy); closed: those whose window is 0; t, fr: times, frames."""
    closed = told & closed
    since = zero["zero_ts"][fs]
    opens = closed & np.isnan(since)
    reopens = told & ~closed & ~np.isnan(since)
    if reopens.any():
        span = np.where(reopens, t - since, 0.0)
        longer = reopens & (span > zero["zero_long_s"][fs])
        for name, value in (("zero_long_s", span), ("zero_long_ts", since),
                            ("zero_long_frame", zero["zero_frame"][fs]),
                            ("zero_long_end", fr)):
            zero[name][fs] = np.where(longer, value, zero[name][fs])
    zero["zero_frame"][fs] = np.where(opens, fr, zero["zero_frame"][fs])
    zero["zero_acks"][fs] = np.where(opens, 1, zero["zero_acks"][fs] + closed)
    zero["zero_probes"][fs] = np.where(opens, 0, zero["zero_probes"][fs])
    zero["zero_ts"][fs] = np.where(opens, t, np.where(reopens, np.nan, since))
    zero["zero_probes"][fp] += told & ~np.isnan(zero["zero_ts"][fp])


def zero_window_runs(d: DecodedBatch, rows: np.ndarray, zero: np.ndarray, sent: np.ndarray,
                     starts: np.ndarray, seg_key: np.ndarray, sides: list[Endpoint],
                     peers: list[Endpoint]) -> None:
    """The bulk path's form (flowcheck.connections.bulk.apply_runs: its batch `d`, run
    rows, segments, sides and peers): as zero_window_update for every segment (rows
    grouped by segment, each in capture order; zero: the rows sent advertising window
    0): each zero window
    of a side runs from a window-0 advertisement after a non-zero one (or before the
    batch) to its next non-zero one (the longest of those kept); its trailing one goes on
    from before the batch or starts after its last non-zero advertisement; its peer's
    segments sent after its start (batch row order is capture order) are its probes."""
    ends = np.append(starts[1:], rows.shape[0]).tolist()
    keys = seg_key.tolist()
    segment_of = {k: s for s, k in enumerate(keys)}
    for s, (a, b) in enumerate(zip(starts.tolist(), ends, strict=True)):
        side, mate = sides[s], segment_of.get(keys[s] ^ 1)
        if mate is None and peers[s].zero_ts is not None:  # the peer sent nothing here
            peers[s].zero_probes += int(sent[a:b].sum())
        if side.zero_ts is None and not zero[a:b].any():
            continue
        told = np.flatnonzero(sent[a:b])  # the side's advertisements, in capture order
        closed = zero[a:b][told]
        # The advertisement before each: 0 or not.
        before = np.concatenate(([side.zero_ts is not None], closed[:-1]))
        reopened = told[~closed & before]
        changes = sorted([(at, True) for at in told[closed & ~before].tolist()]
                         + [(at, False) for at in reopened.tolist()])
        since = -1  # the batch row after which the peer's segments are probes
        for at, closing in changes:
            row = rows.item(a + at)
            ts, frame = d.tcp_ts.item(row), d.tcp_frame.item(row)
            if closing:
                side.zero_ts, side.zero_frame, side.zero_acks, side.zero_probes = ts, frame, 0, 0
                since = row
                continue
            _reopen(side, ts, frame)
        if side.zero_ts is None:
            continue
        tail = told[closed]
        side.zero_acks += int((tail > reopened[-1]).sum()) if reopened.size else tail.size
        if mate is not None:
            m, n = starts.item(mate), ends[mate]
            side.zero_probes += int(((rows[m:n] > since) & sent[m:n]).sum())
