"""From an ethertype to the IP header, in bulk: VLAN-style tags, MPLS label stacks,
PPP and PPPoE, Ethernet frames carried inside others (VXLAN, GRE bridging, ERSPAN).

Every layer below IP is reduced to a pair per packet: an offset and what starts there,
in the ethertype number space (IEEE 802 EtherType registry) plus a few pseudo values
for what has no ethertype (an Ethernet frame, a PPP frame, raw IP). `resolve` follows
the pairs until each packet is at an IPv4 or IPv6 header, or known not to carry IP.
"""

from __future__ import annotations

import numpy as np

from flowcheck.arrays import distinct, one_of
from flowcheck.decode.gather import Gather

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_TEB = 0x6558  # Transparent Ethernet Bridging: an Ethernet frame follows
ETHERTYPE_MPLS = 0x8847
ETHERTYPE_MPLS_MULTICAST = 0x8848
ETHERTYPE_PPPOE_SESSION = 0x8864
ETHERTYPE_ARP = 0x0806  # kept by `resolve` (flowcheck.decode.arp reads it), not IP
# Tags between the MAC addresses and the ethertype: (tag ethertype, bytes after it
# before the next ethertype). 802.1Q, 802.1ad, pre-standard QinQ, Cisco VN-Tag,
# 802.1BR E-Tag.
TAGS = {0x8100: 2, 0x88A8: 2, 0x9100: 2, 0x8926: 4, 0x893F: 6}

# Pseudo values (outside the 16-bit ethertype space).
ETHERNET = ETHERTYPE_TEB  # an Ethernet II / 802.3 frame starts at the offset
PPP = 0x10000  # a PPP frame: optional 0xFF 0x03, then a 1- or 2-byte protocol (RFC 1661)
GUESS_IP = 0x10001  # raw IP: the version nibble says 4 or 6
MPLS_PAYLOAD = 0x10002  # below a label stack: IP by its version nibble, or a pseudowire
NOT_IP = 0  # decodable, but not IP (ARP, LLDP, IPX, ...)
BAD = -1  # cut short or malformed: undecodable
FRAGMENT = -2  # a link-layer fragment (ARCNET split packets): counted as a fragment

# PPP protocol numbers (IANA PPP DLL protocol numbers) as ethertypes.
PPP_PROTOCOLS = {0x0021: ETHERTYPE_IPV4, 0x0057: ETHERTYPE_IPV6, 0x0281: ETHERTYPE_MPLS,
                 0x0283: ETHERTYPE_MPLS_MULTICAST}
MAX_LAYERS = 12  # tags, labels and frames inside one another: more is crafted
MAX_LABELS = 8


def _map(values: np.ndarray, table: dict[int, int]) -> np.ndarray:
    out = np.full(values.shape, NOT_IP, dtype=np.int64)
    for key, value in table.items():
        out[values == key] = value
    return out


def resolve(gather: Gather, rows: np.ndarray, off: np.ndarray, kind: np.ndarray) -> None:
    """Advance (off, kind) of the packets `rows` in place until each kind is IPv4, IPv6,
    ARP, NOT_IP, BAD or FRAGMENT; `off` is then where the IP (or ARP) header starts."""
    caplen = gather.caplen[rows]
    for _ in range(MAX_LAYERS):
        pending = ~one_of(kind, (ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_ARP, NOT_IP, BAD,
                                 FRAGMENT))
        if not pending.any():
            return
        for value in distinct(kind[pending]).tolist():
            at = np.flatnonzero(pending & (kind == value))
            step = _STEPS.get(value)
            if step is None:
                kind[at] = NOT_IP
                continue
            new_off, new_kind = step(gather, rows[at], off[at])
            new_kind[new_off > caplen[at]] = BAD
            off[at] = new_off
            kind[at] = new_kind
    kind[~one_of(kind, (ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_ARP, BAD, FRAGMENT))] = NOT_IP


def _ethernet(gather: Gather, rows: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ethernet II, or 802.3 with an LLC/SNAP header (RFC 1042) carrying an ethertype."""
    kind = gather.be(off + 12, 2, rows)
    short = off + 14 > gather.caplen[rows]
    length_field = kind <= 1500
    new_off = off + 14
    if length_field.any():
        snap = gather.be(off + 14, 4, rows)
        is_snap = length_field & (snap == 0xAAAA0300) & (gather.be(off + 18, 2, rows) == 0)
        kind = np.where(is_snap, gather.be(off + 20, 2, rows), kind)
        new_off = np.where(is_snap, off + 22, new_off)
        kind[length_field & ~is_snap] = NOT_IP
    kind[short] = BAD
    return new_off, kind


def _tag(gather: Gather, rows: np.ndarray, off: np.ndarray, size: int
         ) -> tuple[np.ndarray, np.ndarray]:
    return off + size + 2, gather.be(off + size, 2, rows)


def _mpls(gather: Gather, rows: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A label stack (RFC 3032): labels until the bottom-of-stack bit, then the payload
    (_mpls_payload)."""
    off = off.copy()
    caplen = gather.caplen[rows]
    open_ = np.ones(rows.shape[0], dtype=bool)
    for _ in range(MAX_LABELS):
        at = np.flatnonzero(open_)
        if not at.size:
            break
        entry = gather.be(off[at], 4, rows[at])
        off[at] += 4
        open_[at[(entry & 0x100) != 0]] = False
        open_[at[off[at] > caplen[at]]] = False
    kind = np.full(rows.shape[0], MPLS_PAYLOAD, dtype=np.int64)
    kind[open_] = BAD  # a stack longer than MAX_LABELS: crafted
    return off, kind


def _mpls_payload(gather: Gather, rows: np.ndarray, off: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """What a label stack carries, as tshark's default guesses it: IP by its version
    nibble; an Ethernet pseudowire with its control word (RFC 4448 4.6: first nibble 0,
    no flags or fragment bits; EoMPLS and VPLS in an MPLS core), the frame after the
    word (field check: encapsulation invariance, D5); else not read (a pseudowire
    without control word, whose first byte is a MAC address's, cannot be told)."""
    off, kind = _guess_ip(gather, rows, off)
    control_word = (kind == NOT_IP) & ((gather.be(off, 2, rows) & 0xFFC0) == 0)
    control_word &= off + 4 + 14 <= gather.caplen[rows]
    kind[control_word] = ETHERNET
    return np.where(control_word, off + 4, off), kind


def _guess_ip(gather: Gather, rows: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nibble = gather.u8(off, rows) >> 4
    kind = np.full(rows.shape[0], NOT_IP, dtype=np.int64)
    kind[nibble == 4] = ETHERTYPE_IPV4
    kind[nibble == 6] = ETHERTYPE_IPV6
    kind[off + 1 > gather.caplen[rows]] = BAD
    return off, kind


def _ppp(gather: Gather, rows: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PPP (RFC 1661), with or without the HDLC address/control bytes (RFC 1662) and
    with a compressed (1-byte, odd) or full protocol field."""
    framed = gather.be(off, 2, rows) == 0xFF03
    off = np.where(framed, off + 2, off)
    first = gather.u8(off, rows)
    compressed = (first & 1) == 1
    protocol = np.where(compressed, first, gather.be(off, 2, rows))
    return np.where(compressed, off + 1, off + 2), _map(protocol, PPP_PROTOCOLS)


def _pppoe(gather: Gather, rows: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PPPoE session stage (RFC 2516): a 6-byte header, then PPP."""
    return off + 6, np.full(rows.shape[0], PPP, dtype=np.int64)


_STEPS = {
    ETHERNET: _ethernet,
    ETHERTYPE_MPLS: _mpls,
    ETHERTYPE_MPLS_MULTICAST: _mpls,
    GUESS_IP: _guess_ip,
    MPLS_PAYLOAD: _mpls_payload,
    PPP: _ppp,
    ETHERTYPE_PPPOE_SESSION: _pppoe,
    **{tag: (lambda gather, rows, off, size=size: _tag(gather, rows, off, size))
       for tag, size in TAGS.items()},
}
