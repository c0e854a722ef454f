"""Where a direction's byte stream starts when the capture lacks its SYN: what the peer's
handshake packets acknowledged (RFC 9293 3.5, the three-way handshake).

- The peer's SYN-ACK acknowledges the SYN's ISN + 1: the originator's stream starts
  there (Reassembler.start_at).
- The SYN-ACK lost too, the originator's handshake ACK, its first packet after its SYN,
  acknowledges the responder's ISN + 1: the responder's stream starts there if its first
  segment with payload begins exactly there (Reassembler.expect_start; that packet might
  be a later one, the handshake ACK lost as well, acknowledging bytes the capture lacks).

Kept per control connection by flowcheck.ndmp.collector, packet by packet in capture
order.
"""

from __future__ import annotations

from dataclasses import field

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import other_direction
from flowcheck.ndmp.keepalive import ACK, RST, SYN
from flowcheck.ndmp.reassembly import Reassembler


@fields_dataclass(slots=True)
class HandshakeStarts:
    """One connection's handshake marks so far: the directions that sent a SYN (no ACK),
    and those whose first packet after it has been seen."""

    syn_sent: set[str] = field(default_factory=set)
    followed: set[str] = field(default_factory=set)

    def packet(self, reassemblers: dict[str, Reassembler], direction: str, flags: int,
               ack: int | None) -> None:
        """Tell the other direction's reassembler where its stream starts, when this
        packet (its direction "orig" or "resp", TCP flags, acknowledgement number or
        None without ACK) shows it."""
        peer = reassemblers[other_direction(direction)]
        if flags & SYN:
            if not flags & ACK:
                self.syn_sent.add(direction)
            elif ack is not None:  # a SYN-ACK: the peer's start
                peer.start_at(ack)
            return
        if direction not in self.syn_sent or direction in self.followed:
            return
        self.followed.add(direction)  # its first packet after its SYN
        if flags & ACK and not flags & RST and ack is not None:
            peer.expect_start(ack)
