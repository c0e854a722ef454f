"""A side's TTL moving mid-connection, on the bulk path: Endpoint.ttl_moved per run.

A host's packets reach the capture point with one IP TTL (IPv6 hop limit) while its
route stays (RFC 791 3.1, RFC 8200 3); a route that changes mid-connection moves it for
all later packets. The per-packet path (conn.update_packet) keeps the latest such
change of each side, as (time, TTL before, TTL after), while the side has sent no RST
and leaving capture copies out, as it keeps Endpoint.ttl_before_rst; this module gives
the bulk path the same from a batch's columns: one comparison of each run's TTLs with
their predecessors (rare changes then located), and the run's first packet against the
side's TTL before the batch. flowcheck.verify.ttl reads the changes across the
connections between two hosts (field check 41).
"""

from __future__ import annotations

import numpy as np

from flowcheck.connections.endpoint import Endpoint
from flowcheck.connections.reordering_rows import AtRows


def run_changes(ttl: np.ndarray, segment: np.ndarray, sent: np.ndarray,
                all_sent: bool) -> dict[int, tuple[int, int]]:
    """Per run (segment index) whose sent packets' TTL changes within it: (the row of its
    latest change, the row of the sent packet before it). ttl: the rows' TTLs in run
    order; segment: each row's run; sent: rows that are not capture copies. Empty,
    after one comparison of the rows, when no TTL changes (almost every batch)."""
    at = np.arange(ttl.shape[0]) if all_sent else np.flatnonzero(sent)
    values, runs = (ttl, segment) if all_sent else (ttl[at], segment[at])
    changed = np.flatnonzero((values[1:] != values[:-1]) & (runs[1:] == runs[:-1]))
    if not changed.size:
        return {}
    latest = changed[::-1]  # each run's latest change first
    moved_runs, first = np.unique(runs[latest + 1], return_index=True)
    rows = latest[first]
    return {run: (int(at[i + 1]), int(at[i]))
            for run, i in zip(moved_runs.tolist(), rows.tolist(), strict=True)}


def note_move(side: Endpoint, s: int, ttl: np.ndarray, ts: AtRows,
              changes: dict[int, tuple[int, int]], first_sent: int | None,
              first_row: int) -> None:
    """Set run s's side's ttl_moved (the side has sent no RST; called before its
    ttl_before_rst takes the run's last TTL): the run's latest change within it
    (changes), else its first sent packet's TTL (first_sent, at first_row) against the
    side's TTL before the run."""
    if s in changes:
        row, before = changes[s]
        side.ttl_moved = (float(ts[row]), int(ttl[before]), int(ttl[row]))
    elif (first_sent is not None and side.ttl_before_rst is not None
          and first_sent != side.ttl_before_rst):
        side.ttl_moved = (float(ts[first_row]), side.ttl_before_rst, first_sent)
