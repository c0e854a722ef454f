"""Zero windows (RFC 9293 3.8.6.1): a side whose receive window stays 0, the receiving
process no longer reading its socket, and the peer's probes of the closed window.

The per-packet definition (`zero_window_update`, called by conn.update_packet), its
step-wise array form for the short-connection pass (`zero_window_step`), and the record
fields they fill (`zero_windows`); the bulk path's form is flowcheck.connections.bulk's
_zero_windows. All three must agree (tests/test_connections_zero_window.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from flowcheck.model import Connection

if TYPE_CHECKING:  # conn imports this module
    from flowcheck.connections.conn import Endpoint

# Endpoint's zero-window fields, in this order everywhere (short pass, parked arrays),
# and the Connection fields they fill (prefixed orig_ / resp_: zero_windows).
ZERO_FIELDS = ("zero_ts", "zero_frame", "zero_acks", "zero_probes", "zero_long_s",
               "zero_long_ts", "zero_long_frame", "zero_long_end")
ZERO_RECORD = ("zero_window_ts", "zero_window_frame", "zero_window_acks", "zero_window_probes",
               "zero_window_longest", "zero_window_longest_ts", "zero_window_longest_frame",
               "zero_window_reopened_frame")


def zero_windows(record: Connection, side: str, values: list) -> None:
    """Set record's `side` ("orig" or "resp") zero-window fields (ZERO_RECORD) from the
    values of an Endpoint's ZERO_FIELDS (the trailing ones None / 0 when zero_ts is None:
    the side's latest window advertisement was not 0)."""
    if values[0] is None:
        values = [None, 0, 0, 0, *values[4:]]
    for name, value in zip(ZERO_RECORD, values, strict=True):
        setattr(record, f"{side}_{name}", value)


def zero_window_update(side: Endpoint, peer: Endpoint, window: int, frame: int,
                       ts: float) -> None:
    """A segment without SYN or RST from `side` advertising `window` (raw): its trailing
    zero window starts, grows (one more zero-window segment) or ends (the longest one
    that ended is kept); a segment into the peer's zero window is one more probe (RFC
    9293 3.8.6.1)."""
    if window:
        if side.zero_ts is not None:
            span = ts - side.zero_ts
            if span > side.zero_long_s:
                side.zero_long_s, side.zero_long_ts = span, side.zero_ts
                side.zero_long_frame, side.zero_long_end = side.zero_frame, frame
            side.zero_ts = None
    elif side.zero_ts is None:
        side.zero_ts, side.zero_frame, side.zero_acks, side.zero_probes = ts, frame, 1, 0
    else:
        side.zero_acks += 1
    if peer.zero_ts is not None:
        peer.zero_probes += 1


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
