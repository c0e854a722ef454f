"""IPv4 fragments a read chunk ended in the middle of, carried to the next batch.

A batch covers one read chunk (16 MiB): the fragments of a datagram that a chunk's end
splits were each counted as fragments and never put together, so a tunnel whose outer
datagrams are fragmented (ERSPAN or VXLAN over a 1500-byte underlay) lost a segment at
every chunk boundary that fell inside one: a gap, `capture_loss`, and an NDMP message
cut (field check: encapsulation invariance, D3). decode.ip keeps each batch's whole
fragments of datagrams it could not complete here, with their bytes, and puts them
together with the next batch's (only the next: a datagram's fragments travel
back to back); the packet that completes it in that batch becomes the datagram, as
within a batch.
"""

from __future__ import annotations

from dataclasses import field

import numpy as np

from flowcheck.fields_dataclass import fields_dataclass

FragmentKey = tuple[int, int, int, int]  # IPv4 source, destination, identification, protocol


@fields_dataclass(slots=True)
class CarriedPiece:
    """One whole fragment kept from the batch before."""

    offset: int  # its data's offset in the datagram (bytes)
    stop: int  # offset + its data's length
    more: bool  # the more-fragments flag
    data: bytes  # its data (the IP payload it carries)
    prefix: bytes  # its frame up to the data: link, tunnel and IP headers
    at: int  # where its IPv4 header starts in the frame
    ihl: int  # that header's length
    header: np.void  # that header (decode.ip.IPV4_HEADER)
    capture: int  # the file it came from (PacketBatch.capture)


@fields_dataclass
class FragmentCarry:
    """The fragments a batch left incomplete, for the next batch's decode (module
    docstring). `used` lists the file of each carried fragment the current batch put
    together (they were counted as fragments never put together: CaptureCounts)."""

    pieces: dict[FragmentKey, list[CarriedPiece]] = field(default_factory=dict)
    used: list[int] = field(default_factory=list)
    _next: dict[FragmentKey, list[CarriedPiece]] = field(default_factory=dict)

    def start_batch(self) -> None:
        """The pieces the batch before left become this batch's to take; older ones go."""
        self.pieces, self._next = self._next, {}
        self.used = []

    def take(self, key: FragmentKey) -> list[CarriedPiece]:
        """The pieces carried for one datagram (none: [])."""
        return self.pieces.pop(key, [])

    def keep(self, key: FragmentKey, pieces: list[CarriedPiece]) -> None:
        """Pieces of a datagram this batch left incomplete, for the next batch."""
        self._next[key] = pieces
