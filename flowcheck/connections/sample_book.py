"""The capture points' sample book (points.CapturePoints.sample) for a batch whose
sampled packets all are new to it: no Python branch per packet.

CapturePoints.sample walks the batch's sampled packets in capture order: each one's
fingerprint is looked up in the book of earlier sampled packets (a pair teaches the
offsets, or one_ttl.py's one-TTL pairs), then it is written there, the oldest dropped past
SAMPLE_CAP. Where no fingerprint of the batch is in the book and none repeats in the
batch (a capture without copies, every batch of it: bench's (a) and (c)), no packet finds
an earlier one, and the walk leaves the book with the packets added in order, the oldest
dropped down to the cap, and a count of the packets per file and connection, in order of
first appearance. `add_new` gives the same from a few dict operations done in C (the
walk cost ~1 us a sampled packet: 15,000 in bench (c) 200k, issue 7).
"""

from __future__ import annotations

from collections import Counter
from itertools import islice

import numpy as np

# The book's entry per fingerprint: (time, s; file of the set; TTL; connection hash).
Entry = tuple[float, int, int, int]


def add_new(book: dict[int, Entry], fp: list[int], ts: np.ndarray, source: np.ndarray,
            ttl: np.ndarray, conn: np.ndarray | None, cap: int,
            ) -> dict[int, dict[int, int]] | None:
    """When no fingerprint of `fp` (the batch's sampled packets, in capture order) is in
    `book` and none repeats: write them into it in order, with their times (s), files,
    TTLs and connection hashes (conn; None: 0 each), the oldest entries dropped down to
    `cap`, and return the packets counted per file and connection hash (each dict in
    order of first appearance, as the walk builds them). None, the book untouched,
    otherwise (the walk decides)."""
    if len(set(fp)) != len(fp) or not book.keys().isdisjoint(fp):
        return None
    sources = source.tolist()
    connections = conn.tolist() if conn is not None else [0] * len(fp)
    book.update(zip(fp, zip(ts.tolist(), sources, ttl.tolist(), connections, strict=True),
                    strict=True))
    excess = len(book) - cap
    if excess > 0:
        for key in list(islice(book, excess)):
            del book[key]
    counted: dict[int, dict[int, int]] = {}
    for (file, connection), count in Counter(zip(sources, connections, strict=True)).items():
        counted.setdefault(file, {})[connection] = count
    return counted
