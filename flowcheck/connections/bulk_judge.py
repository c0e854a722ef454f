"""The bulk path's judge of a run's data rows below their side's next_seq.

A data row with bytes never seen that starts below its side's next_seq (a segment that
comes after a later one: reordering, a hole filled late) is a retransmission or an
out-of-order segment by Wireshark's rule (reordering.fill_is_retransmission).
`bulk_sequences.data_sequences` hands a call's such rows here together, after the holes'
bookkeeping; they are judged as vector passes (reordering_rows.DirectionRows.retransmissions), with
each segment's handshake round trip and its peer's ACK state, so their cost is a few
numpy calls per call, not Python per row (bench's ndmjob-1g-sniffloss: 7,897 such rows,
bench/README.md 2026-12-07 06:30).
"""

from __future__ import annotations

import numpy as np

from flowcheck.connections.conn import ConnState
from flowcheck.connections.endpoint import Endpoint
from flowcheck.connections.reordering import endpoint_columns
from flowcheck.connections.reordering_rows import DirectionRows


class RunJudge:
    """reordering.fill_is_retransmission for a call's data rows below their side's
    next_seq: DirectionRows.retransmissions with each segment's round trip and its
    peer's ACK state (its rows here: the segment of the run's other direction; else its
    Endpoint before the run). Made for every apply_runs call; its per-segment columns
    only when the call has rows to judge (most have none). places: each grouped row's
    place in its run (apply_runs' `places`: the run's order, time order for a run taken
    so, by_time.in_time_order), which orders a peer's ACKs before a judged row."""

    def __init__(self, wire: DirectionRows, conns: list[ConnState], keys: list[int],
                 peers: list[Endpoint], segment: np.ndarray, places: np.ndarray) -> None:
        self.wire, self.conns, self.keys, self.peers = wire, conns, keys, peers
        self.segment, self.places = segment, places
        self._per_segment: tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]] | None = None

    def __call__(self, judged: np.ndarray, segs: np.ndarray, seq: np.ndarray,
                 plen: np.ndarray) -> np.ndarray:
        """Per judged row (`judged`: rows of the run, ascending; their segments, raw
        sequence numbers and payload bytes): True for a retransmission."""
        if self._per_segment is None:
            keys, conns = self.keys, self.conns
            segment_of = {k: s for s, k in enumerate(keys)}
            mates = np.array([segment_of.get(k ^ 1, -1) for k in keys], np.int64)
            rtt = np.array([conns[k >> 1].record.rtt or 0.0 for k in keys], np.float64)
            self._per_segment = (mates, rtt, endpoint_columns(self.peers))
        mates, rtt, peer_columns = self._per_segment
        peer_init = {name: peer_columns[name][segs]
                     for name in ("dup_acks", "ack_sent", "ack_sent_ts")}
        return self.wire.retransmissions(judged, segs, seq, plen, rtt[segs], mates[segs],
                                         peer_init, self.segment, self.places)
