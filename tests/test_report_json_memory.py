"""The command line's JSON document is written as it is made: neither its whole text nor
a dict per connection is held at once (issue 7: `connections --format json` on bench's
200,000 short connections peaked at 496 MB against the engine's 278 MB; the text alone is
136 MB there, 680 bytes a connection).

Nothing is timed: python's allocation tracer gives what writing the document allocated
at its peak (the records themselves made before), for N and for 4N connections written
by the commands' own writer (flowcheck.cli.commands.write_traffic_json, the document
`connections --format json` prints) to a stream that keeps only a count of what it was
given. Written a chunk of connections at a time, the peak does not grow with N; held
whole (`json.dumps` of the document, or `as_dict` of every connection first), 4N
connections' peak is about 4 times N's, and per connection far above the bound.
"""

from __future__ import annotations

import sys
import tracemalloc

import pytest

from flowcheck.cli import commands
from flowcheck.model import Connection
from flowcheck.traffic import Traffic

N = 8192  # eight of json_rows' chunks of 1,024 connections


class Counted:
    """A text stream that keeps nothing but how many characters it was given."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        return len(text)

    def flush(self) -> None:
        pass


def short_connection(n: int) -> Connection:
    """A short connection as bench's (c) holds them: handshake, FINs, distinct times."""
    c = Connection(uid=f"C{n}", orig_h="10.77.0.2", orig_p=1024 + n % 60000,
                   resp_h="10.77.0.1", resp_p=5001, ts=1764547200.0 + n / 977)
    c.last_ts, c.history, c.conn_state = c.ts + 0.000731 + n % 7 / 1e6, "ShAFf", "SF"
    c.orig_pkts, c.resp_pkts = 4, 2
    c.first_frame, c.last_frame, c.syn_frames = 5 * n + 1, 5 * n + 5, [5 * n + 1]
    c.rtt = 0.000125 + n % 13 / 1e6
    return c


def write_peak(count: int, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """(peak bytes allocated while the document is written, characters written)."""
    traffic = Traffic([], [short_connection(n) for n in range(count)], [], [])
    out = Counted()
    monkeypatch.setattr(sys, "stdout", out)
    commands.write_traffic_json(traffic)  # once untraced: imports, caches made once
    out.size = 0
    tracemalloc.start()
    try:
        commands.write_traffic_json(traffic)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, out.size


def test_document_written_as_made(monkeypatch: pytest.MonkeyPatch) -> None:
    small, small_text = write_peak(N, monkeypatch)
    large, large_text = write_peak(4 * N, monkeypatch)
    assert large_text > 3.9 * small_text > 3.9 * 600 * N  # the text does grow with N
    # A chunk's columns and text, not the document: about 3.2 MB at N and at 4N here
    # (a dict per connection first: 12.6 and 33.8 MB; json.dumps of the whole document:
    # 45 and 180 MB).
    assert large < 1.5 * small, (small, large)
    assert large < 4 * N * 150, (small, large)
