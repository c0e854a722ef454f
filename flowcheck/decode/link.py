"""Link layers, in bulk: where each packet's link header ends and what follows it.

Each libpcap link type (https://www.tcpdump.org/linktypes.html) is reduced to an offset
and a kind in flowcheck.decode.framing's ethertype space; `resolve` then follows tags,
label stacks and PPP to the IP header. Link types not listed here are undecodable.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flowcheck.arrays import distinct, one_of
from flowcheck.decode.framing import (
    BAD,
    ETHERNET,
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    FRAGMENT,
    GUESS_IP,
    NOT_IP,
    PPP,
    resolve,
)
from flowcheck.decode.gather import Gather
from flowcheck.sources.batch import PacketBatch

# BSD AF_INET6 differs per OS (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS).
AF_INET = 2
AF_INET6 = (24, 28, 30)
ARPHRD_NETLINK = 824  # Linux cooked capture of netlink: the protocol is a netlink family
JUNIPER_MAGIC = 0x4D4743  # "MGC"
JUNIPER_FLAG_NO_L2 = 0x02
JUNIPER_FLAG_EXT = 0x80
# ARCNET system codes (RFC 1051 "old" and RFC 1201) and diagnostics.
ARC_IP_OLD, ARC_ARP_OLD, ARC_IP, ARC_INET6, ARC_DIAGNOSE = 240, 241, 212, 196, 0x80
NFULA_PAYLOAD = 9
MAX_NFLOG_TLVS = 16

Step = Callable[[Gather, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _zeros(rows: np.ndarray) -> np.ndarray:
    return np.zeros(rows.shape[0], dtype=np.int64)


def _full(rows: np.ndarray, value: int) -> np.ndarray:
    return np.full(rows.shape[0], value, dtype=np.int64)


def _af(af: np.ndarray) -> np.ndarray:
    kind = np.full(af.shape, NOT_IP, dtype=np.int64)
    kind[af == AF_INET] = ETHERTYPE_IPV4
    kind[one_of(af, AF_INET6)] = ETHERTYPE_IPV6
    return kind


def _ethernet(gather: Gather, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _zeros(rows), _full(rows, ETHERNET)


def _raw(gather: Gather, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _zeros(rows), _full(rows, GUESS_IP)


def _null(gather: Gather, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BSD loopback: a 4-byte address family in the capturing host's byte order."""
    little = gather.le(_zeros(rows), 4, rows)
    big = gather.be(_zeros(rows), 4, rows)
    return _full(rows, 4), _af(np.where(little < 0x10000, little, big))


def _loop(gather: Gather, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenBSD loopback: the address family in network byte order."""
    return _full(rows, 4), _af(gather.be(_zeros(rows), 4, rows))


def _sll(gather: Gather, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linux cooked v1: ARPHRD type at 2, protocol (an ethertype for every ARPHRD type
    but netlink; 1-1500 are Linux's ETH_P_802_3/802_2 pseudo values) at 14."""
    kind = gather.be(_full(rows, 14), 2, rows)
    kind[gather.be(_full(rows, 2), 2, rows) == ARPHRD_NETLINK] = NOT_IP
    kind[kind <= 1500] = NOT_IP
    return _full(rows, 16), kind


def _sll2(gather: Gather, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linux cooked v2: protocol at 0, ARPHRD type at 8, 20-byte header."""
    kind = gather.be(_zeros(rows), 2, rows)
    kind[gather.be(_full(rows, 8), 2, rows) == ARPHRD_NETLINK] = NOT_IP
    kind[kind <= 1500] = NOT_IP
    return _full(rows, 20), kind


def _ppp(gather: Gather, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _zeros(rows), _full(rows, PPP)


def _ppp_hdlc(gather: Gather, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PPP in HDLC-like framing (RFC 1662, first byte 0xFF), or Cisco HDLC (0x0F/0x8F)."""
    address = gather.u8(_zeros(rows), rows)
    cisco = (address == 0x0F) | (address == 0x8F)
    kind = np.where(cisco, gather.be(_full(rows, 2), 2, rows), PPP)
    return np.where(cisco, 4, 0), kind


def _chdlc(gather: Gather, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cisco HDLC: address, control, then an ethertype."""
    return _full(rows, 4), gather.be(_full(rows, 2), 2, rows)


def _ppp_pppd(gather: Gather, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pppd's framing: a direction byte in place of 0xFF, the 0x03 control byte, PPP."""
    return _full(rows, 2), _full(rows, PPP)


def _ppp_ether(gather: Gather, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PPPoE session header without its Ethernet header."""
    return _full(rows, 6), _full(rows, PPP)


def _juniper_ether(gather: Gather, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Juniper's pseudo-header ("MGC", flags, optional extension TLVs), then Ethernet,
    or with the no-L2 flag a 4-byte protocol word and raw IP (tcpdump print-juniper.c)."""
    magic = gather.be(_zeros(rows), 4, rows)
    flags = magic & 0xFF
    ext = np.where((flags & JUNIPER_FLAG_EXT) != 0, 2 + gather.be(_full(rows, 4), 2, rows), 0)
    no_l2 = (flags & JUNIPER_FLAG_NO_L2) != 0
    off = 4 + ext + np.where(no_l2, 4, 0)
    kind = np.where(no_l2, GUESS_IP, ETHERNET)
    kind[(magic >> 8) != JUNIPER_MAGIC] = BAD
    return off, kind


def _ipoib(gather: Gather, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IP over InfiniBand (RFC 4391): 44-byte pseudo-header, ethertype at 40."""
    return _full(rows, 44), gather.be(_full(rows, 40), 2, rows)


def _pktap(gather: Gather, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apple's PKTAP: a little-endian header length, then the packet of the DLT it names."""
    length = gather.le(_zeros(rows), 4, rows)
    dlt = gather.le(_full(rows, 8), 4, rows)
    kind = np.full(rows.shape[0], NOT_IP, dtype=np.int64)
    kind[dlt == 1] = ETHERNET
    kind[one_of(dlt, (12, 14, 101))] = GUESS_IP  # DLT_RAW on the BSDs and macOS
    null = dlt == 0
    kind[null] = _af(gather.le(length[null], 4, rows[null]))
    kind[length < 8] = BAD
    return length + np.where(null, 4, 0), kind


def _nflog(gather: Gather, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linux NFLOG: a 4-byte header, then TLVs (host byte order lengths, padded to 4)
    until NFULA_PAYLOAD, which holds the IP packet."""
    caplen = gather.caplen[rows]
    off = _full(rows, 4)
    kind = _full(rows, BAD)
    open_ = np.ones(rows.shape[0], dtype=bool)
    for _ in range(MAX_NFLOG_TLVS):
        at = np.flatnonzero(open_)
        if not at.size:
            break
        length = gather.le(off[at], 2, rows[at])
        tlv_type = gather.le(off[at] + 2, 2, rows[at]) & 0x7FFF
        broken = (length < 4) | (off[at] + 4 > caplen[at])
        payload = ~broken & (tlv_type == NFULA_PAYLOAD)
        kind[at[payload]] = GUESS_IP
        open_[at[broken | payload]] = False
        off[at[payload]] += 4
        step = ~broken & ~payload
        off[at[step]] += (length[step] + 3) & ~3
    return off, kind


def _arcnet(gather: Gather, rows: np.ndarray, linux: bool) -> tuple[np.ndarray, np.ndarray]:
    """ARCNET (RFC 1051 and RFC 1201), BSD or Linux header (tcpdump print-arcnet.c).
    RFC 1201 split packets other than whole ones count as fragments."""
    type_at = 4 if linux else 2
    arc_type = gather.u8(_full(rows, type_at), rows)
    old = one_of(arc_type, (ARC_IP_OLD, ARC_ARP_OLD, ARC_DIAGNOSE))
    kind = np.full(rows.shape[0], NOT_IP, dtype=np.int64)
    kind[(arc_type == ARC_IP) | (arc_type == ARC_IP_OLD)] = ETHERTYPE_IPV4
    kind[arc_type == ARC_INET6] = ETHERTYPE_IPV6
    if linux:  # Linux hands over reassembled packets: no split flag to look at
        return np.where(old, 5, 8), kind
    flag = gather.u8(_full(rows, 3), rows)
    exception = ~old & (flag == 0xFF)
    flag = np.where(exception, gather.u8(_full(rows, 7), rows), flag)
    kind[~old & (flag != 0)] = FRAGMENT
    return np.where(old, 3, np.where(exception, 10, 6)), kind


LINK_STEPS: dict[int, Step] = {
    0: _null,
    1: _ethernet,
    7: lambda gather, rows: _arcnet(gather, rows, linux=False),
    9: _ppp,
    12: _raw,  # DLT_RAW as some systems write it
    14: _raw,
    50: _ppp_hdlc,
    51: _ppp_ether,
    101: _raw,
    104: _chdlc,
    108: _loop,
    113: _sll,
    129: lambda gather, rows: _arcnet(gather, rows, linux=True),
    149: _pktap,  # LINKTYPE_USER2, which macOS's tcpdump writes for PKTAP
    166: _ppp_pppd,
    178: _juniper_ether,
    228: _raw,
    229: _raw,
    239: _nflog,
    242: _ipoib,
    258: _pktap,
    276: _sll2,
}


def locate_network_layer(batch: PacketBatch, gather: Gather) -> tuple[np.ndarray, np.ndarray]:
    """Per packet: (offset of the IP header, kind): kind is ETHERTYPE_IPV4/IPV6,
    ETHERTYPE_ARP (the offset then the ARP header's), NOT_IP, BAD (unknown link type,
    header cut short) or FRAGMENT (framing.py)."""
    n = len(batch)
    linktype = np.asarray(batch.linktype)
    off = np.zeros(n, dtype=np.int64)
    kind = np.full(n, BAD, dtype=np.int64)
    codes = distinct(linktype).tolist()
    for code in codes:
        step = LINK_STEPS.get(int(code))
        if step is None:
            continue
        rows = np.arange(n) if len(codes) == 1 else np.flatnonzero(linktype == code)
        off[rows], kind[rows] = step(gather, rows)
    known = np.flatnonzero(kind != BAD)
    if known.size:
        sub_off, sub_kind = off[known], kind[known]
        resolve(gather, known, sub_off, sub_kind)
        off[known], kind[known] = sub_off, sub_kind
    return off, kind
