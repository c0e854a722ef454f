"""One stall of a connection as flowcheck.verify.stalled reads it (`Stall`): which side
stopped being delivered, its resends and the frames and times that show it. Its own
module so that the readings of a stall (stall_passed, pmtu, stall_lost, ...) and
`stalled`, which finds them, share it without importing each other."""

from __future__ import annotations

from flowcheck.fields_dataclass import fields_dataclass


@fields_dataclass(slots=True, frozen=True)
class Stall:
    """side: the sender ("orig", "resp"); resends: its trailing resends; unacked: its
    bytes never acknowledged in the capture (0 when acks_lost or fin); acks_lost: the
    capture holds the receiver's ACKs of the resent bytes; ts, frame: the latest resend
    (ts None and frame 0 when the fields are not known, as for control_stalled's total
    count); fin: what was resent is the sender's FIN (stall_of's closing shape);
    first_ts, first_frame: the first resend of the run (seconds, capture clock; None and
    0 when not known, as for the closing shape). lost: the stall seen from the receiver
    (lost_stall): unacked its bytes in gaps its ACKs never covered, ts and frame the
    packet after the first gap (as first_ts, first_frame), resends 0; ack_frame, ack_ts:
    its last ACK (still below them); next_len: the payload bytes of the packet after the
    gap (it arrived). unseen: the capture holds none of the receiver's packets on the
    connection (one direction captured), or its handshake ones only (stalled
    .handshake_only: its ACKs lost by the sniffer): no ACK of it to judge, the sender's resends
    alone show none reached the sender (unacked 0). sender_only (with lost): the stall
    seen from the sender's packets alone, captured past the loss (stall_passed
    .passed_stall): unacked its bytes in gaps, ack_frame its pure ACK past them
    (SideEvidence.sent_unseen_frame), ack_ts the connection's last packet, next_len its
    largest segment captured."""

    side: str
    resends: int
    unacked: int
    acks_lost: bool
    ts: float | None
    frame: int
    fin: bool = False
    first_ts: float | None = None
    first_frame: int = 0
    lost: bool = False
    ack_frame: int = 0
    ack_ts: float | None = None
    next_len: int = 0
    unseen: bool = False
    sender_only: bool = False
