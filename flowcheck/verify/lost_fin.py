"""A control connection closed by a FIN the capture lacks, which its sequence numbers show.

A FIN takes one sequence number (RFC 9293 3.4). A side that closed goes on acknowledging
what its peer still sends (the peer's own FIN) with the next sequence number, one past its
last byte; its peer acknowledges the FIN with an ACK one past it too. So when the sniffer
lost a side's FIN, or the capture holds one direction and the FIN among its lost packets,
a later packet still shows the close (NdmpStream.fins_lost): field check 38's agent
killed mid-backup, captured `-Q in` (the agent's packets only) without its FIN on the
control connection (frame 109), read PASS and "still open" while its ACK (frame 110)
carried the sequence number one past its last byte. An NDMP message is never 1 byte (a
4-byte record mark and a 24-byte header at least), so one sequence number is a FIN.

Read only when the capture holds no FIN and no RST of the control connection at all: then
the close the numbers show is its first. The side whose own later packet shows its FIN
closed first: it sent that packet to acknowledge something of its peer's after its FIN
(a TCP that closed second sends nothing after its FIN but answers to resends).
"""

from __future__ import annotations

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, ControlPacket, Direction, NdmpStream, endpoint
from flowcheck.sessions.classify import seen_closing


@fields_dataclass(frozen=True, slots=True)
class LostFin:
    """The control connection's first close, a FIN of `side` ("orig" or "resp") the
    capture lacks, and the packet that shows it (shown: the side's own pure ACK one
    sequence number past its last byte, or its peer's ACK one past it)."""

    side: Direction
    shown: ControlPacket

    @property
    def own(self) -> bool:
        """Whether the side's own packet shows it (else its peer's ACK)."""
        return self.shown.direction == self.side


def lost_close(control: Connection, stream: NdmpStream | None) -> LostFin | None:
    """The LostFin of the control connection when the capture holds none of its FINs nor
    RSTs (history without F, f, R, r) and the sequence numbers show a FIN of a side
    (NdmpStream.fins_lost): the side shown first; at the same packet, the side whose own
    packet shows it (it acknowledged the other's FIN: it closed first). None otherwise."""
    if stream is None or not stream.fins_lost or seen_closing(control):
        return None
    found = [LostFin(side, packet) for side, packet in stream.fins_lost.items()]  # type: ignore[arg-type]
    return min(found, key=lambda f: (f.shown.frame, not f.own))


def lost_fin_words(control: Connection, lost: LostFin) -> str:
    """The close's evidence in parentheses' words: "its FIN, which the capture lacks: its
    own later ACK, frame 109, carries the sequence number one past its last byte, which
    only a FIN takes" or "...: the ACK of 10.77.0.1:5073, frame 12, acknowledges one
    sequence number past its last byte, which only a FIN takes"."""
    if lost.own:
        how = f"its own later ACK, {frame_text(lost.shown.frame)}, carries the sequence number one"
    else:
        host, port = ((control.orig_h, control.orig_p) if lost.shown.direction == "orig"
                      else (control.resp_h, control.resp_p))
        how = (f"the ACK of {endpoint(host, port)}, {frame_text(lost.shown.frame)}, acknowledges "
               "one sequence number")
    return f"its FIN, which the capture lacks: {how} past its last byte, which only a FIN takes"
