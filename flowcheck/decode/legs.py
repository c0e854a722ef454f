"""The interface each packet was captured on, as far as its capture file tells.

A capture of several interfaces at once (`tcpdump -i any`, a pcapng of several
interfaces, a SPAN session mirroring two ports) holds a packet a router or bridge
forwarded twice: once as it came in, once as it left. What tells the two copies apart
is where each was captured (flowcheck.connections.relay_copies):
- the pcapng interface (its Interface Description Block: PacketBatch.interface);
- a Linux cooked capture v2 (LINKTYPE_LINUX_SLL2, `tcpdump -i any` since libpcap 1.10):
  the interface index, bytes 4-7 of its 20-byte header;
- Linux cooked v1 (LINKTYPE_LINUX_SLL): no interface index, but the packet type (bytes
  0-1: 0 to this host, 3 to another host, 4 sent by it) and the link-layer address
  (bytes 6-13: the sender's): a forwarded packet comes in to the router's address from
  the previous hop and goes out from the router's own;
- Ethernet: the destination and source MAC addresses (bytes 0-11): a router rewrites
  both, a mirror port's copies of the ingress and egress legs differ so.
Any other link type tells nothing: 0. Not on the bulk path: computed only for the
batches where a pair of equal packets apart beyond a capture point's own copies needs it.
"""

from __future__ import annotations

import numpy as np

from flowcheck.sources.batch import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    PacketBatch,
)

UNKNOWN = 0  # the capture does not tell the interface
_WIDTH = 14  # bytes read from each packet's start (SLL v1's address ends there)
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9],
                dtype=np.uint64)


def capture_legs(batch: PacketBatch, rows: np.ndarray) -> np.ndarray:
    """Per packet at `rows` (batch positions), int64: a code of the interface (or link
    leg) it was captured on, equal for two packets captured on the same one, UNKNOWN
    (0) when the file does not tell (module docstring)."""
    k = rows.shape[0]
    legs = np.zeros(k, np.uint64)
    if not k:
        return legs.astype(np.int64)
    buf = np.frombuffer(batch.buf, dtype=np.uint8)
    start = np.asarray(batch.data_off, np.int64)[rows]
    caplen = np.asarray(batch.caplen, np.int64)[rows]
    linktype = np.asarray(batch.linktype)[rows]
    head = np.zeros((k, _WIDTH), np.uint8)
    at = np.flatnonzero(caplen >= _WIDTH)
    if at.size and buf.shape[0] >= _WIDTH:
        head[at] = buf[np.minimum(start[at], buf.shape[0] - _WIDTH)[:, None]
                       + np.arange(_WIDTH)]
    words = head.astype(np.uint64)
    # Big-endian integers of the bytes that name the leg, per link type.
    sll2 = _number(words[:, 4:8])
    sll = (_number(words[:, 0:2]) << np.uint64(48)) ^ _number(words[:, 6:14])
    ether = _number(words[:, 0:6]) ^ (_number(words[:, 6:12]) * _MIX[2])
    told = caplen >= _WIDTH
    with np.errstate(over="ignore"):
        legs = np.where((linktype == LINKTYPE_LINUX_SLL2) & told, sll2 + np.uint64(1), legs)
        legs = np.where((linktype == LINKTYPE_LINUX_SLL) & told, sll * _MIX[0] + np.uint64(1),
                        legs)
        legs = np.where((linktype == LINKTYPE_ETHERNET) & told, ether * _MIX[1] + np.uint64(1),
                        legs)
        if batch.interface is not None:
            interface = np.asarray(batch.interface)[rows].astype(np.uint64) + np.uint64(1)
            legs = legs * _MIX[2] + interface
    legs = legs.view(np.int64)
    legs[legs == UNKNOWN] = 1  # a told leg is never UNKNOWN, whatever its code
    unknown = ~told | ~np.isin(linktype, (LINKTYPE_LINUX_SLL2, LINKTYPE_LINUX_SLL,
                                          LINKTYPE_ETHERNET))
    if batch.interface is None:
        legs[unknown] = UNKNOWN
    return legs


def _number(columns: np.ndarray) -> np.ndarray:
    """Bytes (k, w) uint64, w <= 8, as one big-endian integer each."""
    value = np.zeros(columns.shape[0], np.uint64)
    for column in range(columns.shape[1]):
        value = (value << np.uint64(8)) | columns[:, column]
    return value
