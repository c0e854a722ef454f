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

from flowcheck.decode.arp import ArpPackets
from flowcheck.decode.gather import Gather

NEIGHBOR_SOLICITATION = 135
NEIGHBOR_ADVERTISEMENT = 136
SOLICIT, ADVERT = 1, 2  # as ARP's request and reply (flowcheck.decode.arp)
# type, code, checksum, 4 bytes (reserved, or an advertisement's flags), target address.
_FIXED = 24
_WORDS = 4  # an IPv6 address as four big-endian 32-bit words, as flowcheck.decode's


class NeighbourPackets(ArpPackets):
    """The neighbour solicitations and advertisements of a batch, parallel arrays, as
    ArpPackets: `position` (int64, the packet's position in the batch), `op` (int64:
    SOLICIT, ADVERT), `sender` ((n, 4) uint32: the IPv6 source address, :: for a DAD
    probe), `target` ((n, 4) uint32: the target address the message is about)."""

    __slots__ = ()

    @classmethod
    def empty(cls) -> Self:
        """No neighbour discovery packet."""
        none = np.zeros(0, dtype=np.int64)
        words = np.zeros((0, _WORDS), dtype=np.uint32)
        return cls(none, none, words, words)


def decode_neighbours(gather: Gather, rows: np.ndarray, l4: np.ndarray, end: np.ndarray,
                      src: np.ndarray) -> NeighbourPackets:
    """The neighbour solicitations and advertisements among `rows` (batch positions of
    ICMPv6 packets) whose ICMPv6 message starts at `l4` and ends at `end` (the IP
    lengths'), `src` their IPv6 source addresses: code 0 and the target address
    captured, as RFC 4861 7.1 validates them."""
    if not rows.size:
        return NeighbourPackets.empty()
    kind, code = gather.u8(l4, rows), gather.u8(l4 + 1, rows)
    ok = (((kind == NEIGHBOR_SOLICITATION) | (kind == NEIGHBOR_ADVERTISEMENT)) & (code == 0)
          & (l4 + _FIXED <= np.minimum(gather.caplen[rows], end)))
    rows, l4, kind, src = rows[ok], l4[ok], kind[ok], src[ok]
    target = gather.block(l4 + 8, 16, rows).copy().view(">u4").astype(np.uint32)
    op = np.where(kind == NEIGHBOR_SOLICITATION, SOLICIT, ADVERT).astype(np.int64)
    return NeighbourPackets(rows.astype(np.int64), op, src.astype(np.uint32),
                            target.reshape(-1, _WORDS))
