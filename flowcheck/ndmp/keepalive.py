"""TCP keepalive probes on a control connection, as the NDMP collector sees its packets.

A keepalive probe (RFC 1122 4.2.3.6) is a segment that carries no new data: its sequence
number is one below the next byte the sender would send (SND.NXT - 1), with no payload
(Linux) or the one byte before SND.NXT again (Windows), ACK set and no SYN, FIN or RST.
A peer that still has the connection acknowledges it. A TCP whose probes all go
unanswered gives the connection up after its last one and, on Linux, resets it: a RST
after unanswered probes from the same side is that TCP's keepalive timeout, not a
service closing the session (field check 42: a firewall had dropped the idle control
connection's state, the media server's probes were dropped and its TCP reset the
connection; it read "one side gave the session up (the job was cancelled ...)").
"""

from __future__ import annotations

from dataclasses import field

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import ControlPacket, Direction, other_direction
from flowcheck.tcp_sequence import SEQUENCE_SPACE, seq_after

SYN, RST, FIN, ACK = 0x02, 0x04, 0x01, 0x10  # TCP flags byte (SegmentSink.segment)


@fields_dataclass(slots=True)
class ProbeTracker:
    """Per direction: the next sequence number its sender would send (the highest seen
    end) and its keepalive probes not answered yet (no packet from the other side since;
    cleared by the sender's own later packet that is no probe)."""

    next_seq: dict[str, int] = field(default_factory=dict)
    pending: dict[str, list[ControlPacket]] = field(default_factory=dict)

    def packet(self, direction: Direction, seq: int, flags: int, length: int,
               frame: int, ts: float) -> None:
        """Take one packet (length: its payload bytes on the wire)."""
        other = other_direction(direction)
        self.pending.pop(other, None)  # this side answered the other's probes
        if flags & RST:
            return
        end = (seq + length + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
               ) % SEQUENCE_SPACE
        known = self.next_seq.get(direction)
        probe = (known is not None and length <= 1 and flags & ACK
                 and not flags & (SYN | FIN) and (seq + 1) % SEQUENCE_SPACE == known)
        if probe:
            self.pending.setdefault(direction, []).append(
                ControlPacket(direction, frame, ts, flags, length))
            return
        self.pending.pop(direction, None)
        if known is None or seq_after(end, known):
            self.next_seq[direction] = end

    def unanswered(self, direction: Direction) -> list[ControlPacket]:
        """The direction's probes the other side has not answered (in frame order)."""
        return list(self.pending.get(direction, []))
