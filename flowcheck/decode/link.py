"""Link layers, in bulk: where the IP header starts and which IP version it is."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from flowcheck.sources.batch import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    PacketBatch,
)

if TYPE_CHECKING:
    from flowcheck.decode.gather import Gather

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
VLAN_TAGS = (0x8100, 0x88A8, 0x9100)  # 802.1Q, 802.1ad (QinQ), the pre-standard QinQ
MAX_VLAN_TAGS = 3
# BSD AF_INET6 differs per OS (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS).
AF_INET = 2
AF_INET6 = (24, 28, 30)

NOT_IP = 0  # version value for a decodable non-IP packet (ARP, LLDP, ...)
UNDECODED = -1  # unknown link type or header cut short


def _version_from_ethertype(ethertype: np.ndarray) -> np.ndarray:
    version = np.full(ethertype.shape, NOT_IP, dtype=np.int64)
    version[ethertype == ETHERTYPE_IPV4] = 4
    version[ethertype == ETHERTYPE_IPV6] = 6
    return version


def _version_from_af(af: np.ndarray) -> np.ndarray:
    version = np.full(af.shape, NOT_IP, dtype=np.int64)
    version[af == AF_INET] = 4
    version[np.isin(af, AF_INET6)] = 6
    return version


def locate_network_layer(batch: PacketBatch, gather: Gather) -> tuple[np.ndarray, np.ndarray]:
    """Return (offset of the IP header in each packet, IP version 4/6, 0 not IP, -1 bad)."""
    n = len(batch)
    linktype = np.asarray(batch.linktype)
    caplen = gather.caplen
    l3_off = np.zeros(n, dtype=np.int64)
    version = np.full(n, UNDECODED, dtype=np.int64)

    present = set(np.unique(linktype).tolist())

    def rows_of(*codes: int) -> np.ndarray:
        if not present.intersection(codes):
            return np.zeros(0, dtype=np.int64)
        if len(present) == 1:
            return np.arange(n)
        return np.flatnonzero(np.isin(linktype, codes))

    rows = rows_of(LINKTYPE_ETHERNET)
    if rows.size:
        offset = np.full(rows.size, 12, dtype=np.int64)
        ethertype = gather.be(offset, 2, rows)
        for _ in range(MAX_VLAN_TAGS):
            tagged = ((ethertype == VLAN_TAGS[0]) | (ethertype == VLAN_TAGS[1])
                      | (ethertype == VLAN_TAGS[2]))
            if not tagged.any():
                break
            offset[tagged] += 4
            ethertype[tagged] = gather.be(offset[tagged], 2, rows[tagged])
        l3_off[rows] = offset + 2
        found = _version_from_ethertype(ethertype)
        found[offset + 2 > caplen[rows]] = UNDECODED
        version[rows] = found

    for code, header, type_at in ((LINKTYPE_LINUX_SLL, 16, 14), (LINKTYPE_LINUX_SLL2, 20, 0)):
        rows = rows_of(code)
        if rows.size:
            found = _version_from_ethertype(gather.be(np.full(rows.size, type_at), 2, rows))
            found[caplen[rows] < header] = UNDECODED
            l3_off[rows] = header
            version[rows] = found

    rows = rows_of(LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6)
    if rows.size:
        nibble = gather.u8(np.zeros(rows.size, dtype=np.int64), rows) >> 4
        found = np.where((nibble == 4) | (nibble == 6), nibble, UNDECODED)
        found[caplen[rows] < 1] = UNDECODED
        version[rows] = found

    rows = rows_of(LINKTYPE_NULL)
    if rows.size:
        # Host byte order of the capturing machine: accept either order.
        little = gather.u8(np.zeros(rows.size, dtype=np.int64), rows) | (
            gather.u8(np.ones(rows.size, dtype=np.int64), rows) << 8)
        big = gather.be(np.full(rows.size, 2, dtype=np.int64), 2, rows)
        af = np.where(little != 0, little, big)
        found = _version_from_af(af)
        found[caplen[rows] < 4] = UNDECODED
        l3_off[rows] = 4
        version[rows] = found

    rows = rows_of(LINKTYPE_LOOP)
    if rows.size:
        found = _version_from_af(gather.be(np.zeros(rows.size, dtype=np.int64), 4, rows))
        found[caplen[rows] < 4] = UNDECODED
        l3_off[rows] = 4
        version[rows] = found

    return l3_off, version
