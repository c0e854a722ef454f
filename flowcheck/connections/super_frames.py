"""Segmentation offload's super-frames: one packet at one capture point, several at another.

With TSO or GSO (segmentation offload, on most real NICs) a sender hands its NIC one
packet of up to 64 KB, and the NIC cuts it into wire segments: the sender's own capture
holds the super-frame, another capture point (the receiver's capture, a router's ingress
interface after the wire) the segments. The first segment has the super-frame's IPv4 ID
(the next ones count on from it), sequence number, acknowledgement number and window;
its payload is shorter (one MSS), its flags and checksum may differ (PSH goes with the
last segment; the super-frame's checksum is left for the NIC to fill in). Both held,
the segments after the super-frame read as retransmissions of its bytes, counted twice
(trial 33 D3: 1,200,000 B for 600,000, 423 "retransmitted segments").

A packet with payload is a super-frame copy (copies.py: counted as a packet, not in the
connection) when a packet of the same batch in the same direction of the same connection
has its IPv4 ID (not 0: a packet without one has no such identity), sequence and
acknowledgement numbers and window, a shorter payload, and comes from another capture
point as the capture shows it (another file of the set, or another TTL: a router's
interfaces), at most SUPER_WINDOW seconds from it. The segments stay: they are what the
wire carried. A sender's resend has a new IPv4 ID (Linux, Windows, the BSDs) and comes
from the point that saw its original. Looked for only once the capture is known to hold
two capture points or copies (copies.py: CapturePoints.active, CaptureCopies.systematic),
so a single point's capture pays nothing; a super-frame whose first segment fell in
another batch (one in a batch's thousands) is not found, and a clock offset between two
files beyond SUPER_WINDOW is taken out first (points.py's clock_shifts), not within one
merged file.
"""

from __future__ import annotations

import numpy as np

from flowcheck.arrays import HASH_MULTIPLIERS

SUPER_WINDOW = 1.0  # seconds between a super-frame and its first segment, at most
# Columns of copies.py's fields: IPv4 ID, sequence, acknowledgement, window, payload length.
_IP_ID, _SEQ, _ACK, _WINDOW, _PAYLOAD = 0, 1, 2, 4, 5


def super_frames(side: np.ndarray, fields: np.ndarray, ts: np.ndarray, source: np.ndarray,
                 ttl: np.ndarray, copy: np.ndarray) -> np.ndarray:
    """Per packet of the batch (bool): whether it is a super-frame copy (module docstring).
    side: each packet's direction of its connection (copies.Rows.side); fields: copies.py's
    columns (m, 7); ts: seconds; source: its file of the set; ttl; copy: the copies found
    already (neither a super-frame nor its segment)."""
    m = side.shape[0]
    found = np.zeros(m, bool)
    rows = np.flatnonzero((fields[:, _PAYLOAD] > 0) & (fields[:, _IP_ID] != 0) & ~copy)
    if rows.size < 2:
        return found
    key = [side[rows]] + [fields[rows, c] for c in (_IP_ID, _SEQ, _ACK, _WINDOW)]
    with np.errstate(over="ignore"):
        hashed = np.zeros(rows.size, np.uint64)
        for column, values in enumerate(key):
            hashed += values.astype(np.uint64) * HASH_MULTIPLIERS[column]
    order = rows[np.argsort(hashed, kind="stable")]
    first, then = order[:-1], order[1:]
    same = np.ones(first.size, bool)
    for values in (side, *(fields[:, c] for c in (_IP_ID, _SEQ, _ACK, _WINDOW))):
        same &= values[first] == values[then]
    same &= ((source[first] != source[then]) | (ttl[first] != ttl[then]))
    same &= np.abs(ts[then] - ts[first]) <= SUPER_WINDOW
    length_first, length_then = fields[first, _PAYLOAD], fields[then, _PAYLOAD]
    same &= length_first != length_then
    longer = np.where(length_first > length_then, first, then)
    found[longer[same]] = True
    return found
