"""ARP packets (RFC 826) of IPv4 over Ethernet, in bulk: who asked for which address,
and who answered.

A host that asks for a neighbour's link address and gets no answer cannot send it a
single IP packet: an agent that is down on the media server's own network shows in a
capture as the media server's ARP requests for it, repeated, never answered, and no TCP
at all (flowcheck.verify.absent_agents; trial 23 D4). Only the few ARP packets of a
batch are read, after the link layer is resolved (flowcheck.decode.framing keeps their
ethertype); the common TCP path never sees them.
"""

from __future__ import annotations

from typing import Self

import numpy as np

from flowcheck.decode.gather import Gather
from flowcheck.fields_dataclass import fields_dataclass

ARP_REQUEST = 1
ARP_REPLY = 2
HTYPE_ETHERNET = 1
NO_HARDWARE = -1  # ArpPackets.hardware: the message carries no link-layer address
PTYPE_IPV4 = 0x0800
# htype, ptype, hlen, plen, oper, then the sender's and the target's addresses.
_FIXED = 8


@fields_dataclass(slots=True)
class ArpPackets:
    """The ARP packets of a batch (IPv4 over Ethernet), parallel arrays."""

    position: np.ndarray  # int64: the packet's position in the batch
    op: np.ndarray  # int64: ARP_REQUEST, ARP_REPLY (others as they are)
    sender: np.ndarray  # int64: the sender's IPv4 address (spa)
    target: np.ndarray  # int64: the target's IPv4 address (tpa)
    # int64: the sender's MAC address (sha, 48 bits) the packet itself carries, on every
    # link type; NO_HARDWARE (-1) where a message carries none (decode.ndp).
    hardware: np.ndarray

    def __len__(self) -> int:
        return int(self.position.shape[0])

    @classmethod
    def empty(cls) -> Self:
        """No ARP packet."""
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, none, none, none)

    def at(self, rows: np.ndarray) -> Self:
        """The same packets, their positions mapped through `rows` (a part's rows in its
        batch: flowcheck.decode's merge)."""
        return type(self)(rows[self.position], self.op, self.sender, self.target,
                          self.hardware)

    @classmethod
    def joined(cls, parts: list[Self]) -> Self:
        """Several parts' packets as one, in batch order."""
        parts = [part for part in parts if len(part)]
        if not parts:
            return cls.empty()
        position = np.concatenate([part.position for part in parts])
        order = np.argsort(position, kind="stable")
        return cls(position[order],
                   *(np.concatenate([getattr(part, name) for part in parts])[order]
                     for name in ("op", "sender", "target", "hardware")))


def decode_arp(gather: Gather, rows: np.ndarray, off: np.ndarray) -> ArpPackets:
    """The ARP packets among `rows` (batch positions) whose ARP header starts at `off`:
    Ethernet hardware addresses and IPv4 protocol addresses, captured whole."""
    if not rows.size:
        return ArpPackets.empty()
    htype, ptype = gather.be(off, 2, rows), gather.be(off + 2, 2, rows)
    hlen, plen = gather.u8(off + 4, rows), gather.u8(off + 5, rows)
    ok = ((htype == HTYPE_ETHERNET) & (ptype == PTYPE_IPV4) & (hlen == 6) & (plen == 4)
          & (off + _FIXED + 20 <= gather.caplen[rows]))
    rows, off = rows[ok], off[ok]
    return ArpPackets(rows.astype(np.int64), gather.be(off + 6, 2, rows),
                      gather.be(off + _FIXED + 6, 4, rows), gather.be(off + _FIXED + 16, 4, rows),
                      mac_at(gather, off + _FIXED, rows))


def mac_at(gather: Gather, off: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The 6-byte MAC addresses at `off` of packets `rows`, as 48-bit integers (int64)."""
    return (gather.be(off, 2, rows) << 32) | gather.be(off + 2, 4, rows)
