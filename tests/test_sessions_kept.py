"""The packet kinds a capture holds and the filter they show (flowcheck.sessions.kept).

Captures the trial-13 filters made are in captures/ndmjob-filtered-packets; here the
rule's edges on connections alone: a capture of failed openings (refused, unanswered,
a handshake never completed) holds no pure ACK and no data either, and is no filter's.
"""

from __future__ import annotations

import pytest

from flowcheck.model import Connection
from flowcheck.sessions.kept import kept_packets


def _conn(history: str, *, established: bool = False, missed: int = 0,
          syn: bool = True) -> Connection:
    conn = Connection(uid="C1", orig_h="10.77.0.1", orig_p=5001, resp_h="10.77.1.2",
                      resp_p=10000, ts=0.0, history=history, established=established,
                      missed_bytes=missed)
    if syn:
        conn.syn_frames = [1]
    return conn


@pytest.mark.parametrize(("histories", "shape"), [
    (["ShADadFf"], None),  # a whole connection
    (["Sr", "S", "Sh", "^hR"], None),  # refused, unanswered, incomplete, given up
    (["ShGFgf"], "flags"),  # SYN, SYN-ACK, FINs past unseen payload
    (["ShAaGFf"], "no_data"),
    (["ShDdGFf"], "no_ack"),
    (["^dD", "D"], "data_only"),  # its words need the NDMP greeting (verify.kept)
])
def test_shapes(histories: list[str], shape: str | None) -> None:
    connections = [_conn(h, established=h.startswith("Sh") and len(h) > 2,
                         missed=100 if "G" in h else 0, syn=h.startswith("S"))
                   for h in histories]
    assert kept_packets(connections).shape == shape


def test_flags_needs_a_sign_that_more_was_sent() -> None:
    """SYN and SYN-ACK only, never completed, nothing missed: a handshake that failed,
    not a filter (handshake_incomplete judges it)."""
    assert kept_packets([_conn("Sh")]).shape is None
    assert kept_packets([_conn("Ff", syn=False)]).shape == "flags"  # closed both ways
