"""capture_legs' Ethernet path gives the general path's codes.

decode.legs.capture_legs takes a shorter path for a batch of Ethernet packets from a file
without interfaces (a pcap: the tail's packets of every batch go through it, issue 7).
Its codes must be the general path's (`_any_legs`) packet for packet: relay copies and
near copies compare them across batches. Read from stored lab captures (real frames,
several MAC pairs: a router's two legs), whole and cut to 10 bytes (told: no code).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_connections_util import read_batches

from flowcheck.decode.legs import _WIDTH, UNKNOWN, _any_legs, capture_legs, pair_part
from flowcheck.sources.batch import LINKTYPE_ETHERNET

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _general(batch, rows: np.ndarray) -> np.ndarray:
    """The general path's codes of `rows`, read as capture_legs reads them."""
    buf = np.frombuffer(batch.buf, dtype=np.uint8)
    start = np.asarray(batch.data_off, np.int64)[rows]
    caplen = np.asarray(batch.caplen, np.int64)[rows]
    head = np.zeros((rows.shape[0], _WIDTH), np.uint8)
    at = np.flatnonzero(caplen >= _WIDTH)
    head[at] = buf[start[at][:, None] + np.arange(_WIDTH)]
    return _any_legs(batch, rows, head, caplen >= _WIDTH,
                     np.asarray(batch.linktype)[rows])


@pytest.mark.parametrize("name", ["lab-router/fwd-drop-agent.pcap",
                                  "ndmjob/v4-backup.pcap"])
def test_ethernet_legs_equal_general(name: str) -> None:
    pairs = set()
    for batch in read_batches(CAPTURES / name, chunk=97):
        assert batch.interface is None
        assert (np.asarray(batch.linktype) == LINKTYPE_ETHERNET).all()
        rows = np.arange(len(batch))[::-1]  # any order of rows
        legs = capture_legs(batch, rows)
        assert legs.dtype == np.int64
        assert np.array_equal(legs, _general(batch, rows))
        pairs.update(pair_part(legs).tolist())
        # Cut before the MAC pair is read: no code (UNKNOWN), on both paths.
        cut = replace(batch, caplen=np.minimum(np.asarray(batch.caplen), 10))
        assert (capture_legs(cut, rows) == UNKNOWN).all()
        assert np.array_equal(capture_legs(cut, rows), _general(cut, rows))
    assert UNKNOWN not in pairs and len(pairs) >= 2, pairs  # MAC pairs told apart
