"""Capture copies seen at two capture points (both hosts' captures given together, at any
clock offset: flowcheck.connections.points): CaptureCopies' part that feeds points.py.

Found by the same sort as copies.py's: until two points are known only a sample of the
packets goes to points.py (`_sample`, and each file's first packets: `read_heads`);
from then on the tail keeps CapturePoints.window seconds of packets (at most
FAR_TAIL_CAP) and the equal pairs copies.py's rule leaves (up to CANDIDATES earlier
packets each) go to CapturePoints.decide (`_far`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from flowcheck.connections.appearances import Appearances
from flowcheck.connections.connection_hashes import connection_hashes
from flowcheck.connections.copies_tail import Rows
from flowcheck.connections.flows import BatchFlows, group_flows
from flowcheck.connections.packet_identity import (
    FIELDS,
    FIXED,
    OPTIONS_CUT,
    batch_bytes,
    captured_ends,
    fingerprints,
    header_identities,
    identity_fields,
    options_cut_pairs,
    sample_fields,
)
from flowcheck.connections.point_sample import Packets, sampled
from flowcheck.connections.points import CapturePoints
from flowcheck.decode import DecodedBatch, decode_batch
from flowcheck.decode.tunnels import STANDARD_PORTS, TunnelPorts
from flowcheck.sources.batch import PacketBatch

# Once two capture points are known: packets kept across a batch boundary
# (CapturePoints.window of them), at most, and the earlier equal packets each packet is
# compared with.
FAR_TAIL_CAP = 1 << 18
CANDIDATES = 3
_IP_ID, _FLAGS = FIELDS.index("tcp_ip_id"), FIELDS.index("tcp_flags")  # identity_fields'


class PointCopies:
    """CaptureCopies' capture points (see the module docstring); `points` is its
    CapturePoints, set by CaptureCopies.__init__."""

    points: CapturePoints

    def _far(self, every: Rows, rows: np.ndarray, top: np.ndarray, position: np.ndarray,
             near: tuple[np.ndarray, np.ndarray], relayed: np.ndarray) -> np.ndarray:
        """Once two capture points are known: the batch rows of the copies of a packet
        seen at another point (CapturePoints.decide), from the equal packets up to
        CANDIDATES before each in the sort; relayed: the relay copies (not points')."""
        copied = np.zeros(top.shape[0], bool)
        copied[near[1]] = True
        copied[relayed] = True
        later_parts, earlier_parts = [], []
        for step in range(1, CANDIDATES + 1):
            at = np.flatnonzero(top[step:] == top[:-step])
            later, earlier = position[at + step], position[at]
            keep = ((rows[later] >= 0) & ~copied[later]
                    & (every.side[later] == every.side[earlier])
                    & (every.fields[later] == every.fields[earlier]).all(axis=1))
            later_parts.append(later[keep])
            earlier_parts.append(earlier[keep])
        later, earlier = options_cut_pairs(every.side, every.fields, rows, copied,
                                           CANDIDATES)
        later_parts.append(later)
        earlier_parts.append(earlier)
        packets = Packets(every.ts, every.frame, every.source, every.ttl,
                          every.fields[:, _IP_ID], every.fields[:, _FLAGS], copied, every.taken,
                          lower=(every.side & 1).astype(bool))
        far = self.points.decide(packets, near, np.concatenate(later_parts),
                                 np.concatenate(earlier_parts))
        return rows[far]

    def _sample(self, flows: BatchFlows, own: Rows,
                copy: np.ndarray, named: np.ndarray | None = None,
                relayed: np.ndarray | None = None, at: np.ndarray | None = None,
                d: DecodedBatch | None = None) -> None:
        """Before two capture points are known: the sampled packets to points.py (whose
        `wanted` then tells track_connections to start over with the comparisons on),
        without the appearances their tool named (named) nor the relay copies (every
        batch row `relayed`: one capture point's, at a router's queueing delay). at: own
        (and copy, named, relayed) hold only the batch rows at `at`. d: the batch (its
        columns hash the connections in bulk: connection_hashes; None: key by key)."""
        rows = sampled(own.fields[:, _IP_ID], own.fields[:, FIXED] & ~OPTIONS_CUT)
        if named is not None:
            rows = rows[~named[rows]]
        if relayed is not None:
            rows = rows[~relayed[rows]]
        if rows.size:
            batch_rows = rows if at is None else at[rows]
            blind, connections = connection_hashes(flows, batch_rows, d)
            self.points.sample(Packets(
                own.ts[rows], own.frame[rows], own.source[rows], own.ttl[rows],
                own.fields[rows, _IP_ID], own.fields[rows, _FLAGS], copy[rows], own.taken[rows],
                fingerprints(flows, batch_rows, sample_fields(own.fields[rows]), blind),
                connections, flows.from_lower[batch_rows].astype(bool)))

    def read_heads(self, batches: Iterator[PacketBatch],
                   ports: TunnelPorts = STANDARD_PORTS) -> None:
        """Each file's first packets (CaptureSetReader.heads), for the offsets between
        files (CapturePoints.add_heads); ports: decode_batch's."""
        parts = []
        named = Appearances()  # a packet named by its tool counts in the first file only
        for batch in batches:
            d = decode_batch(batch, ports=ports)
            m = d.tcp_index.shape[0]
            if m:
                fields = sample_fields(identity_fields(d, header_identities(
                    d, batch_bytes(batch, d), captured_ends(batch, d))))
                rows = np.arange(m)
                if batch.identity is not None:
                    rows = np.flatnonzero(~named.mark(batch.identity[d.tcp_index], d.tcp_seq,
                                                      d.tcp_ack, d.tcp_flags))
                k = rows.shape[0]
                flows = group_flows(d)
                blind, connections = connection_hashes(flows, rows, d)
                parts.append(Packets(
                    d.tcp_ts[rows], d.tcp_frame[rows], np.full(k, batch.capture, np.int32),
                    d.tcp_ttl[rows].astype(np.int16), d.tcp_ip_id[rows], d.tcp_flags[rows],
                    np.zeros(k, bool), np.zeros(k, bool),
                    fingerprints(flows, rows, fields[rows], blind), connections,
                    flows.from_lower[rows].astype(bool)))
        if parts:
            self.points.add_heads(Packets(*(np.concatenate(column) for column in zip(
                *((p.ts, p.frame, p.source, p.ttl, p.ip_id, p.flags, p.near, p.taken, p.fp,
                   p.conn, p.lower) for p in parts), strict=True))))
