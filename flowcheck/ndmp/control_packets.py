"""What a control connection's TCP packets say beside its NDMP bytes: its first RST and
the packet before it, the keepalive probes before that RST, its first FIN with how far
its ACK moved, each side's first FIN with the sequence numbers unseen before it, and the
latest answer to a keepalive probe, each side's last payload before the first FIN
(NdmpStream.reset, .before_reset, .probes_before_reset, .probe_reset, .fin,
.fin_acked_new, .probe_answer, .payload_before_fin). Kept per connection by
flowcheck.ndmp.collector, packet by packet in capture order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import TYPE_CHECKING

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import ControlPacket, Direction, NdmpStream, other_direction
from flowcheck.ndmp.keepalive import FIN, RST, SYN, ProbeTracker
from flowcheck.tcp_sequence import seq_after, seq_ahead

if TYPE_CHECKING:
    from flowcheck.ndmp.reassembly import Reassembler
    from flowcheck.ndmp.stream import NdmpStreamDecoder

_GAPS_KEPT = 64  # own gaps kept per direction (NdmpStream.own_gaps)
# Payload packets whose acknowledgement numbers are kept per direction (ack_of): a
# message held behind a hole is decoded once the hole is given up, packets later.
_ACKS_KEPT = 4096


class HeldFrames:
    """What one direction's decoder and reassembler still hold: called, the frames of its
    bytes not decoded yet (ControlPackets.prune_acks' `held`; one per control connection
    and direction: flowcheck.ndmp.collector's _Control.held). An object, not a closure:
    live's snapshot deep-copies the collector (flowcheck.live), and copy.deepcopy copies
    no function, so a closure would go on reading the original's decoder and reassembler
    from the copy; this one's copy reads the copy's (the same memo)."""

    __slots__ = ("decoder", "reassembler")

    def __init__(self, decoder: NdmpStreamDecoder, reassembler: Reassembler) -> None:
        self.decoder = decoder
        self.reassembler = reassembler

    def __call__(self) -> set[int]:
        """The frames of the direction's bytes not decoded yet (frame numbers)."""
        return self.decoder.buffered_frames() | self.reassembler.held_frames()


@fields_dataclass(slots=True)
class ControlPackets:
    """One control connection's packet marks so far."""

    # The latest packet (direction, frame, ts, flags, payload bytes): what the first
    # RST follows (NdmpStream.before_reset).
    last: tuple[Direction, int, float, int, int] | None = None
    # Keepalive probes each side sent that the other has not answered yet: those of the
    # first RST's side are NdmpStream.probes_before_reset. Its next_seq, each direction's
    # highest sequence number end so far, is also what the direction's first FIN's
    # sequence number should equal (NdmpStream.fin_unseen), and its later packets'
    # (NdmpStream.own_gaps).
    probes: ProbeTracker = field(default_factory=ProbeTracker)
    # Each direction's latest acknowledgement number (NdmpStream.fin_acked_new).
    acks: dict[str, int] = field(default_factory=dict)
    # Per direction, each recent packet with payload's acknowledgement number by frame
    # (ack_of), the newest _ACKS_KEPT, of those whose bytes may still start a message
    # (prune_acks): a few per direction, more only while a hole holds bytes back.
    payload_acks: dict[str, dict[int, int]] = field(default_factory=dict)
    # Per direction, how many entries payload_acks kept at its last prune_acks, and how
    # many it was given since.
    acks_pruned_to: dict[str, int] = field(default_factory=dict)
    acks_added: dict[str, int] = field(default_factory=dict)
    # The directions whose FIN the capture holds (NdmpStream.fins_lost keeps no other).
    fins: set[str] = field(default_factory=set)
    # Per direction, its latest packet with payload while no FIN was seen
    # (NdmpStream.payload_before_fin, set at the first FIN).
    payload_last: dict[str, tuple[Direction, int, float, int, int]] = field(
        default_factory=dict)

    def note(self, stream: NdmpStream, packet: tuple[Direction, int, float, int, int],
             seq: int, ack: int | None) -> None:
        """Mark one packet (direction, frame, ts, flags, payload bytes on the wire; its
        sequence number, and its acknowledgement number or None without ACK) on
        `stream`."""
        direction, frame, ts, flags, payload = packet
        known = self.probes.next_seq.get(direction)  # its highest end before this packet
        if flags & RST and stream.reset is None:
            stream.reset = ControlPacket(*packet)
            stream.before_reset = ControlPacket(*self.last) if self.last else None
            stream.probes_before_reset = self.probes.unanswered(direction)
            answered = self.probes.unanswered(other_direction(direction))
            if answered and self.last is not None and answered[-1].frame == self.last[1]:
                stream.probe_reset = answered[-1]
        elif stream.reset is None and self.probes.unanswered(
                other_direction(direction)):
            stream.probe_answer = ControlPacket(*packet)  # the other's probe answered
        if payload and stream.fin is None:
            self.payload_last[direction] = packet
        if flags & FIN and stream.fin is None:
            stream.fin, stream.fin_ack = ControlPacket(*packet), ack
            stream.payload_before_fin = {side: ControlPacket(*last)
                                         for side, last in self.payload_last.items()}
            before = self.acks.get(direction)
            if ack is not None and before is not None:
                stream.fin_acked_new = seq_ahead(ack, before)
            if known is not None and seq_after(seq, known):  # its payload comes first
                stream.fin_unseen = seq_ahead(seq, known)
        if known is not None and not flags & SYN and seq_after(seq, known):
            # Its sequence number past its highest byte seen: bytes of its own the
            # capture lacks come before this packet (the first few such gaps kept).
            gaps = stream.own_gaps.setdefault(direction, [])
            if len(gaps) < _GAPS_KEPT:
                gaps.append((frame, known, seq_ahead(seq, known)))
            else:
                stream.own_gaps_all = False
        _note_fin_lost(stream, packet, known, seq, ack,
                       self.probes.next_seq.get(other_direction(direction)), self.fins)
        if flags & FIN:
            self.fins.add(direction)
        self.probes.packet(direction, seq, flags, payload, frame, ts)  # after its reads
        if ack is not None:
            self.acks[direction] = ack
            if payload:
                kept = self.payload_acks.setdefault(direction, {})
                kept[frame] = ack
                self.acks_added[direction] = self.acks_added.get(direction, 0) + 1
                if len(kept) > _ACKS_KEPT:
                    del kept[next(iter(kept))]
        self.last = packet

    def prune_acks(self, direction: Direction, held: Callable[[], set[int]]) -> None:
        """Forget the acknowledgement numbers of the direction's packets whose bytes can
        no longer start a message: `held` gives the frames of the bytes still waiting,
        in the reassembly behind a hole or in the decoder's unfinished record (only those
        and later packets' bytes are decoded, and a message's frame is one of theirs).
        Without a hole that is the latest packet or two, so memory follows the
        connections, not their packets (a long session's 2 x 4,096 entries, ~0.8 MB,
        kept to the run's end). Called after each packet; `held` is asked only once the
        table was given as many entries since the last prune as it kept then (at least
        16), so a long hole costs amortised O(1) per packet. Counted by entries given, not
        by the table's size, which _ACKS_KEPT caps: a hole that kept 4,080 would wait for
        8,176 and keep 4,096 to the connection's close."""
        kept = self.payload_acks.get(direction)
        if kept is None or self.acks_added.get(direction, 0) < max(
                16, self.acks_pruned_to.get(direction, 0)):
            return
        frames = held()
        self.payload_acks[direction] = kept = {f: a for f, a in kept.items() if f in frames}
        self.acks_pruned_to[direction] = len(kept)
        self.acks_added[direction] = 0

    def drop_acks(self) -> None:
        """Forget every packet's acknowledgement number: the connection is closed and
        decoded, no message is left to ask ack_of."""
        self.payload_acks.clear()
        self.acks_pruned_to.clear()
        self.acks_added.clear()

    def ack_of(self, direction: Direction, frame: int) -> int | None:
        """The acknowledgement number of the direction's packet `frame` (the one holding a
        message's record mark, NdmpMessage.frame: its first segment, the packet that
        completed it when it fits one), else its latest packet's (`frame` older than the
        newest _ACKS_KEPT; prune_acks keeps every frame a message may still name): a
        message the reassembly held behind a hole the sniffer left is decoded later, when
        the latest packet may acknowledge bytes the peer sent after the message (30% of a
        three-resources backup's frames removed: a DATA_GET_STATE 'acknowledged' the
        agent's lost reply and read ndmp_no_reply)."""
        kept = self.payload_acks.get(direction)
        if kept is not None and frame in kept:
            return kept[frame]
        return self.acks.get(direction)


def _note_fin_lost(stream: NdmpStream, packet: tuple[Direction, int, float, int, int],
                   known: int | None, seq: int, ack: int | None, peer_known: int | None,
                   fins: set[str]) -> None:
    """Keep `packet` (ControlPackets.note's tuple) in NdmpStream.fins_lost when it shows a
    FIN the capture lacks: a pure ACK of its direction one sequence number past that
    direction's highest end so far (known), or its ACK one past the other direction's
    (peer_known); a direction whose FIN the capture holds (fins) or already shown keeps
    none. The ControlPacket is made only when kept (at most once a direction)."""
    direction, _frame, _ts, flags, payload = packet
    other = other_direction(direction)
    if (known is not None and not payload and not flags & (SYN | FIN | RST)
            and seq_ahead(seq, known) == 1 and direction not in fins
            and direction not in stream.fins_lost):
        stream.fins_lost[direction] = ControlPacket(*packet)
    if (ack is not None and peer_known is not None and not flags & RST
            and seq_ahead(ack, peer_known) == 1 and other not in fins
            and other not in stream.fins_lost):
        stream.fins_lost[other] = ControlPacket(*packet)
