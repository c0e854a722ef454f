"""The hosts of the NDMP control connections seen so far, and which flows are theirs.

The short-connection pass (flowcheck.connections.short) once kept no per-side packet
times (Connection.orig_last_ts / resp_last_ts, fin_ts, fin_peer_last_ts), and whether a
flow takes it depends on the batch it is in: on how many other flows of as many packets
the batch holds (short_flows' SHORT_STEP_FLOWS), so on the read chunk's size and on
unrelated traffic. A session's callback or data connection of a few packets read by the
pass had those times unknown, and the checks that read them (verify.silent_sender,
unseen_reset, idle_bound, stall_timing, sacked_unseen) gave another reading of the same
capture than when the per-packet path read it: a media server that gave up on a silent
agent read as its job engine's crash, or as the agent's halt (trial 25 D7's and D4's
captures with bench capture (c)'s short connections laid over them, read in 16 MiB
chunks against 4 KiB ones; tests/test_ndmp_hosts_chunks.py). The pass keeps those times
now, and Connection.fin_answer_rst (verify.unseen_reset) too (connections.short_times,
session 54: tests/test_chunk_size_results.py); this rule stays, a guard for any field
the per-packet path alone keeps, at the cost of a session's few connections.

So while NDMP is read (a segment sink), a flow one of whose addresses is an end of a
control connection (a TCP packet from or to the NDMP port) in this batch or an earlier
one keeps the per-packet path, as the control connections themselves do: the
connections of a session (control, data, callback: the NDMP servers' and the DMA's
addresses) are read packet by packet whatever the batching. Other hosts' short
connections (bench capture (c)) keep the pass.

An address is kept as two 64-bit words (an IPv4 address: its word and 0); a flow
matches when both of an end's words are among the hosts' words (a pair of two IPv6
hosts' halves matches too: one more flow read packet by packet, never one less).
"""

from __future__ import annotations

import numpy as np

from flowcheck.decode import DecodedBatch


def _halves(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 4) uint32 address words -> (high, low) uint64 halves of each address."""
    w = words.astype(np.uint64)
    return (w[:, 0] << np.uint64(32)) | w[:, 1], (w[:, 2] << np.uint64(32)) | w[:, 3]


class NdmpHosts:
    """The addresses of NDMP control connections' ends seen so far (module docstring)."""

    def __init__(self, ndmp_port: int) -> None:
        self.ndmp_port = ndmp_port
        self._high = np.zeros(0, np.uint64)  # each known address's high half, sorted unique
        self._low = np.zeros(0, np.uint64)

    def note(self, d: DecodedBatch) -> None:
        """Add the ends of the batch's TCP packets from or to the NDMP port."""
        control = (d.tcp_sport == self.ndmp_port) | (d.tcp_dport == self.ndmp_port)
        if not control.any():
            return
        ends = np.concatenate((d.tcp_src[control], d.tcp_dst[control]))
        high, low = _halves(ends)
        self._high = np.union1d(self._high, high)
        self._low = np.union1d(self._low, low)

    def holds(self, d: DecodedBatch, rows: np.ndarray) -> np.ndarray:
        """Per TCP packet of `rows` (indices into the batch's TCP packets), whether its
        source or destination address is a known NDMP host's (bool array)."""
        if not self._high.shape[0]:
            return np.zeros(rows.shape[0], bool)
        out = np.zeros(rows.shape[0], bool)
        for words in (d.tcp_src[rows], d.tcp_dst[rows]):
            high, low = _halves(words)
            out |= np.isin(high, self._high) & np.isin(low, self._low)
        return out
