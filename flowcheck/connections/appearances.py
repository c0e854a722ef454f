"""Copies a capture tool names itself: pktmon's appearances of one packet.

pktmon logs a packet at every network-stack component it passes and gives each logged
copy the packet's own identity (PktGroupId, PktNumber: flowcheck.sources.host_tools):
the copies of a packet are known exactly, however far apart the components logged them
(a loaded host's receive path runs late: the appearances 700 us apart in trial 24, beyond
copies.py's 0.5 ms, read as retransmissions and SYN retries). A packet is a copy when an
earlier packet of the capture set has its identity and its TCP sequence and
acknowledgement numbers and flags (the identity is one host's counter: two hosts' pktmon
captures given together could share a number, never with the same TCP header too).
"""

from __future__ import annotations

import numpy as np

RECENT = 1 << 14  # identities kept across batches (a packet's appearances are close)


class Appearances:
    """Marks the later appearances of a packet (see the module docstring)."""

    def __init__(self) -> None:
        self._recent = np.empty((0, 4), np.int64)

    def mark(self, identity: np.ndarray, seq: np.ndarray, ack: np.ndarray,
             flags: np.ndarray) -> np.ndarray:
        """Per packet (parallel arrays; identity -1: none), whether an earlier packet of
        the set is the same packet (bool)."""
        copy = np.zeros(identity.shape[0], bool)
        rows = np.flatnonzero(identity >= 0)
        if not rows.size:
            return copy
        keys = np.column_stack([identity[rows], seq[rows].astype(np.int64),
                                ack[rows].astype(np.int64), flags[rows].astype(np.int64)])
        every = np.concatenate((self._recent, keys))
        _, first = np.unique(every, axis=0, return_index=True)
        seen_first = np.zeros(every.shape[0], bool)
        seen_first[first] = True
        copy[rows] = ~seen_first[self._recent.shape[0]:]
        self._recent = every[-RECENT:]
        return copy
