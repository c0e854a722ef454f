"""Which interfaces of the capture host each host pair's packets crossed, as a Linux
cooked capture v2's headers tell.

`tcpdump -i any` since libpcap 1.10 writes LINKTYPE_LINUX_SLL2 (276): a 20-byte header
whose bytes 0-1 are the protocol (0x0800 IPv4, 0x86DD IPv6), bytes 4-7 the interface
index (big-endian, the capture host's `ip link` numbering) and byte 10 the packet type
(linux/if_packet.h: 0 to this host, 4 sent by it; decode.legs). A host whose packets to
a peer leave by one interface while the peer's to it arrive on another has its two
directions on two ways (asymmetric routing: the replies come back through another
router or link; newuser68 item 3: 10.68.1.1's leaving on index 2, 10.68.2.2's arriving
on index 3, router s on the way back dropping the SYN-ACKs). Read by
flowcheck.verify.return_way.

Not on the tracking path: the files are read again, vectorised, only when a failed
opening's words ask (a Linux cooked set whose capture host is proven); standard input
and other streams cannot be read again and tell nothing here.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

import numpy as np

from flowcheck.sources.batch import LINKTYPE_LINUX_SLL2, PacketBatch

_HEADER = 20  # the SLL2 header's length, the IP header after it
_IPV4, _IPV6 = 0x0800, 0x86DD
PACKET_HOST, PACKET_OUTGOING = 0, 4
# Per packet, the bytes kept: source (16), destination (16), interface index (4), packet
# type (1); an IPv4 address in the first 4 bytes of its 16, byte 36 the version.
_WIDTH = 38

Interfaces = dict[tuple[str, str, int], frozenset[int]]


def cooked_interfaces(paths: Sequence[str]) -> Interfaces:
    """Per (sender, receiver, packet type), the interface indexes of the capture host
    the IP packets between them were captured on, over every LINUX_SLL2 packet of the
    files at `paths` (other link types, cut headers and non-IP packets left out). {}
    when a path is no regular file (standard input, a pipe) or cannot be read again.
    Raises nothing: a file that fails now reads as telling nothing."""
    from flowcheck.sources import iter_batches

    if not paths or not all(os.path.isfile(path) for path in paths):
        return {}
    seen: set[bytes] = set()
    try:
        for batch in iter_batches(list(paths), read_ahead=False):
            seen.update(_batch_rows(batch))
    except Exception:  # noqa: BLE001 - a second reading that fails tells nothing
        return {}
    found: dict[tuple[str, str, int], set[int]] = {}
    for row in seen:
        version = 4 if row[36] == 4 else 6
        size = 4 if version == 4 else 16
        family = socket.AF_INET if version == 4 else socket.AF_INET6
        key = (socket.inet_ntop(family, row[0:size]), socket.inet_ntop(family, row[16:16 + size]),
               row[37])
        found.setdefault(key, set()).add(int.from_bytes(row[32:36], "big"))
    return {key: frozenset(indexes) for key, indexes in found.items()}


def _batch_rows(batch: PacketBatch) -> set[bytes]:
    """The distinct (source, destination, index, type, version) rows, _WIDTH bytes each,
    of a PacketBatch's LINUX_SLL2 IP packets."""
    linktype = np.asarray(batch.linktype)
    caplen = np.asarray(batch.caplen, np.int64)
    rows = np.flatnonzero((linktype == LINKTYPE_LINUX_SLL2) & (caplen >= _HEADER + 20))
    if not rows.size:
        return set()
    buf = np.frombuffer(batch.buf, dtype=np.uint8)
    start = np.asarray(batch.data_off, np.int64)[rows]
    proto = (buf[start].astype(np.int64) << 8) | buf[start + 1]
    v4 = proto == _IPV4
    v6 = (proto == _IPV6) & (caplen[rows] >= _HEADER + 40)
    out = np.zeros((rows.size, _WIDTH), np.uint8)
    for mask, version, src, size in ((v4, 4, 12, 4), (v6, 6, 8, 16)):
        at = np.flatnonzero(mask)
        if not at.size:
            continue
        base = start[at] + _HEADER
        out[at, 0:size] = buf[(base + src)[:, None] + np.arange(size)]
        out[at, 16:16 + size] = buf[(base + src + size)[:, None] + np.arange(size)]
        out[at, 36] = version
    out[:, 32:36] = buf[(start + 4)[:, None] + np.arange(4)]
    out[:, 37] = buf[start + 10]
    keep = out[v4 | v6]
    if not keep.size:
        return set()
    return {bytes(row) for row in np.unique(keep, axis=0)}
