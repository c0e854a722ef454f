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
_SHIFT = np.uint64(8)

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
    seen: set[tuple[int, ...]] = set()
    try:
        for batch in iter_batches(list(paths), read_ahead=False):
            seen.update(_batch_rows(batch))
    except Exception:  # noqa: BLE001 - a second reading that fails tells nothing
        return {}
    found: dict[tuple[str, str, int], set[int]] = {}
    for *words, aux in seen:
        raw = b"".join(int(w).to_bytes(8, "big") for w in words)
        version, index, kind = aux >> 40, (aux >> 8) & 0xFFFFFFFF, aux & 0xFF
        if version == 4:
            key = (socket.inet_ntop(socket.AF_INET, raw[0:4]),
                   socket.inet_ntop(socket.AF_INET, raw[4:8]), kind)
        else:
            key = (socket.inet_ntop(socket.AF_INET6, raw[0:16]),
                   socket.inet_ntop(socket.AF_INET6, raw[16:32]), kind)
        found.setdefault(key, set()).add(index)
    return {key: frozenset(indexes) for key, indexes in found.items()}


def _batch_rows(batch: PacketBatch) -> set[tuple[int, ...]]:
    """The distinct rows of a PacketBatch's LINUX_SLL2 IP packets: the source and
    destination addresses as four big-endian 64-bit words (IPv4's both in the first),
    then version << 40 | interface index << 8 | packet type. Vectorised: a lexsort of
    integer columns, no per-packet Python (1M packets in about 0.2 s CPU)."""
    linktype = np.asarray(batch.linktype)
    caplen = np.asarray(batch.caplen, np.int64)
    rows = np.flatnonzero((linktype == LINKTYPE_LINUX_SLL2) & (caplen >= _HEADER + 20))
    if not rows.size:
        return set()
    buf = np.frombuffer(batch.buf, dtype=np.uint8)
    start = np.asarray(batch.data_off, np.int64)[rows]
    proto = (buf[start].astype(np.int64) << 8) | buf[start + 1]
    words = np.zeros((rows.size, 4), np.uint64)
    version = np.zeros(rows.size, np.uint64)
    for mask, number, offset, size in ((proto == _IPV4, 4, 12, 8),
                                       ((proto == _IPV6) & (caplen[rows] >= _HEADER + 40),
                                        6, 8, 32)):
        at = np.flatnonzero(mask)
        if not at.size:
            continue
        got = buf[(start[at] + _HEADER + offset)[:, None] + np.arange(size)]
        words[at, :size // 8] = np.ascontiguousarray(got).view(">u8").astype(np.uint64)
        version[at] = number
    index = np.ascontiguousarray(buf[(start + 4)[:, None] + np.arange(4)]).view(">u4")[:, 0]
    index = index.astype(np.uint64)
    aux = (version << np.uint64(40)) | (index << _SHIFT) | buf[start + 10].astype(np.uint64)
    table = np.column_stack([words, aux])[version > 0]
    if not table.shape[0]:
        return set()
    order = np.lexsort(table.T[::-1])
    table = table[order]
    first = np.ones(table.shape[0], bool)
    first[1:] = (table[1:] != table[:-1]).any(axis=1)
    return {tuple(int(v) for v in row) for row in table[first]}
