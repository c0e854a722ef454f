"""IPv6 neighbour discovery (RFC 4861), in bulk: who solicited which address, and who
advertised one. IPv6's twin of ARP (flowcheck.decode.arp).

A host that solicits a neighbour's link address and gets no advertisement cannot send it
a single IP packet: an agent that is down on the media server's own network shows in a
capture as the media server's neighbour solicitations for it, repeated, never answered,
and no TCP at all (flowcheck.verify.absent_agents; trial 28 D2). Only the ICMPv6 packets
of the general decode are read (a plain TCP packet never gets here), after their IPv6
header and extension chain are walked (flowcheck.decode.ip).
"""

from __future__ import annotations

from typing import Self

import numpy as np

from flowcheck.decode.arp import NO_HARDWARE, ArpPackets, mac_at
from flowcheck.decode.gather import Gather
from flowcheck.model.arp import SOLICIT_DIRECT
from flowcheck.sources.batch import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    PacketBatch,
)

NEIGHBOR_SOLICITATION = 135
NEIGHBOR_ADVERTISEMENT = 136
SOLICIT, ADVERT = 1, 2  # as ARP's request and reply (flowcheck.decode.arp)
# SOLICIT_DIRECT (flowcheck.model.arp's, which reads it): a solicitation sent to its
# target's own (unicast) address, not its solicited-node multicast group: a
# reachability probe (RFC 4861 7.3.3), a frame toward that host.
# type, code, checksum, 4 bytes (reserved, or an advertisement's flags), target address.
_FIXED = 24
_WORDS = 4  # an IPv6 address as four big-endian 32-bit words, as flowcheck.decode's
# The link-layer address options (RFC 4861 4.6.1): a solicitation's source's, an
# advertisement's target's; one 8-byte unit for a 6-byte MAC.
SOURCE_LINK, TARGET_LINK = 1, 2
_OPTIONS_READ = 4  # options walked per message (the address is first in practice)
# Where a frame's header holds its sender's MAC: Ethernet's source, a Linux cooked
# capture's link-layer address (v1: length at 4-5, address at 6; v2: length at 11,
# address at 12).
_ETHERNET_SOURCE = 6
_SLL_LENGTH, _SLL_ADDRESS = 4, 6
_SLL2_LENGTH, _SLL2_ADDRESS = 11, 12


class NeighbourPackets(ArpPackets):
    """The neighbour solicitations and advertisements of a batch, parallel arrays, as
    ArpPackets: `position` (int64, the packet's position in the batch), `op` (int64:
    SOLICIT, SOLICIT_DIRECT, ADVERT), `sender` ((n, 4) uint32: the IPv6 source address, :: for a DAD
    probe), `target` ((n, 4) uint32: the target address the message is about),
    `hardware` (int64: the MAC its link-layer address option names, else its frame's
    sender's, else NO_HARDWARE: `decode_neighbours`)."""

    __slots__ = ()

    @classmethod
    def empty(cls) -> Self:
        """No neighbour discovery packet."""
        none = np.zeros(0, dtype=np.int64)
        words = np.zeros((0, _WORDS), dtype=np.uint32)
        return cls(none, none, words, words, none)


def decode_neighbours(gather: Gather, rows: np.ndarray, l4: np.ndarray, end: np.ndarray,
                      src: np.ndarray, framed: np.ndarray,
                      dst: np.ndarray | None = None) -> NeighbourPackets:
    """The neighbour solicitations and advertisements among `rows` (batch positions of
    ICMPv6 packets) whose ICMPv6 message starts at `l4` and ends at `end` (the IP
    lengths'), `src` their IPv6 source addresses: code 0 and the target address
    captured, as RFC 4861 7.1 validates them. `framed`: per row, the MAC of the frame's
    sender its link-layer header names (frame_senders), NO_HARDWARE where none does;
    the message's own link-layer address option is read first (a solicitation from ::
    and an advertisement answering a unicast solicitation carry none, RFC 4861 4.3,
    7.2.4). `dst`: their IPv6 destinations, which tell a solicitation sent to its
    target's own address (SOLICIT_DIRECT) from one to a multicast group (None: not
    told, every solicitation SOLICIT)."""
    if not rows.size:
        return NeighbourPackets.empty()
    kind, code = gather.u8(l4, rows), gather.u8(l4 + 1, rows)
    ok = (((kind == NEIGHBOR_SOLICITATION) | (kind == NEIGHBOR_ADVERTISEMENT)) & (code == 0)
          & (l4 + _FIXED <= np.minimum(gather.caplen[rows], end)))
    rows, l4, kind, src = rows[ok], l4[ok], kind[ok], src[ok]
    # dst: the IPv6 destinations (words); a solicitation to a unicast one (not ff00::/8)
    # is SOLICIT_DIRECT.
    direct = (np.zeros(rows.shape[0], bool) if dst is None
              else (dst[ok][:, 0] >> 24) != 0xFF)
    limit = np.minimum(gather.caplen[rows], end[ok])
    target = gather.block(l4 + 8, 16, rows).copy().view(">u4").astype(np.uint32)
    op = np.where(kind == NEIGHBOR_SOLICITATION,
                  np.where(direct, SOLICIT_DIRECT, SOLICIT), ADVERT).astype(np.int64)
    hardware = _option_mac(gather, rows, l4 + _FIXED, limit,
                           np.where(op == ADVERT, TARGET_LINK, SOURCE_LINK))
    hardware = np.where(hardware == NO_HARDWARE, framed[ok], hardware)
    return NeighbourPackets(rows.astype(np.int64), op, src.astype(np.uint32),
                            target.reshape(-1, _WORDS), hardware)


def _option_mac(gather: Gather, rows: np.ndarray, at: np.ndarray, limit: np.ndarray,
                wanted: np.ndarray) -> np.ndarray:
    """Per message, the MAC of its first option of type `wanted` (a one-unit link-layer
    address option) among the first _OPTIONS_READ, whose options start at `at` and end
    at `limit` (captured); NO_HARDWARE when none is read."""
    found = np.full(rows.shape[0], NO_HARDWARE, np.int64)
    walking = np.ones(rows.shape[0], bool)
    for _ in range(_OPTIONS_READ):
        walking &= at + 8 <= limit
        if not walking.any():
            break
        kind, units = gather.u8(at, rows), gather.u8(at + 1, rows)
        hit = walking & (kind == wanted) & (units == 1)
        found = np.where(hit, mac_at(gather, at + 2, rows), found)
        walking &= ~hit & (units > 0)  # a zero length is invalid: stop (RFC 4861 4.6)
        at = at + units * 8
    return found


def frame_senders(batch: PacketBatch, gather: Gather, rows: np.ndarray,
                  plain: np.ndarray) -> np.ndarray:
    """Per packet at `rows`, the sender's MAC its link-layer header names (48-bit int64):
    Ethernet's source, a Linux cooked capture's (v1 or v2: `tcpdump -i any`) link-layer
    address of 6 bytes; NO_HARDWARE for other link types (raw IP, PPP: none is
    captured) and where `plain` is False (a tunnel's inner packet: the outer frame is
    the tunnel endpoint's)."""
    found = np.full(rows.shape[0], NO_HARDWARE, np.int64)
    if not rows.size:
        return found
    linktype = np.asarray(batch.linktype)[rows]
    caplen = gather.caplen[rows]
    zero = np.zeros(rows.shape[0], np.int64)
    for kind, length_at, address_at, length_width in (
            (LINKTYPE_ETHERNET, None, _ETHERNET_SOURCE, 0),
            (LINKTYPE_LINUX_SLL, _SLL_LENGTH, _SLL_ADDRESS, 2),
            (LINKTYPE_LINUX_SLL2, _SLL2_LENGTH, _SLL2_ADDRESS, 1)):
        take = plain & (linktype == kind) & (caplen >= address_at + 6)
        if length_at is not None:
            take &= gather.be(zero + length_at, length_width, rows) == 6
        found = np.where(take, mac_at(gather, zero + address_at, rows), found)
    return found
