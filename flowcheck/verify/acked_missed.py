"""Bytes of a job's data the capture lacks that the receiver acknowledged: segments the
sniffer missed (sequence gaps the receiver's ACKs later covered, data ACKed beyond the
last byte captured; Connection.sniffer_missed), which step 5's byte count adds in words
(flowcheck.verify.bytes_each_way.flow_detail) so that it reads what arrived, not only what the
capture holds (a capture with one data segment removed by `editcap -d` read 1448 B short
of the job's size, with no word of why).

The connection's counts are not kept per direction, so the bytes are the job direction's
only when the other direction carried no payload in the capture (an NDMP data connection
carries its data one way): its missing bytes can then only be the FINs the capture missed
(Connection.fins_unseen, one sequence number each, no data). When both directions carried
payload the split cannot be told and nothing is claimed (None).
"""

from __future__ import annotations

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection, Said, Session, other_direction
from flowcheck.sessions import one_sided
from flowcheck.verify.end_roles import conn_sides
from flowcheck.verify.stall_passed import passed_stall


@fields_dataclass(slots=True, frozen=True)
class AckedMissed:
    """Bytes of the job's direction the capture lacks that arrived (payload bytes), and
    whether the capture holds the receivers' ACKs of them (acked: False when a
    connection's receiver direction is not captured: its sender went on for a
    retransmission timeout without resending them, which only an ACK stops)."""

    bytes: int
    acked: bool


def acked_missed(session: Session, conns: list[Connection], key: str) -> AckedMissed | None:
    """Bytes toward `key` (sent_each_way's "to_media", "to_agent") over `conns` that the
    capture lacks and the receivers got (the sniffer's loss, FINs left out); None when
    none, or when a connection missed bytes while both of its directions carried payload
    in the capture (whose they were cannot be told). A connection whose sender's packets
    show its missing bytes never came past the capture point (stall_passed.passed_stall)
    adds none."""

    total, acked = 0, True
    for conn in conns:
        missed = conn.sniffer_missed - conn.fins_unseen
        if missed <= 0 or passed_stall(conn) is not None:
            continue  # a stall seen past the loss: never arrived (data_stalled)
        agent_is_orig = conn_sides(conn, session)[1] == (conn.orig_h, conn.orig_p)
        toward_media = "orig" if agent_is_orig else "resp"
        side = toward_media if key == "to_media" else other_direction(toward_media)
        other = other_direction(side)
        if conn.sent_once(other):
            return None
        if conn.sent_once(side):
            total += missed
            acked = acked and one_sided(conn) != other
    return AckedMissed(total, acked) if total else None


def unopened(session: Session, conns: list[Connection], key: str) -> list[str]:
    """The uids of conns whose sender toward `key` (sent_each_way's "to_media",
    "to_agent") has no opening in the capture (its SYN, or its SYN-ACK, which carries
    its initial sequence number): bytes it sent before its first one captured are
    nowhere in the sequence numbers the capture holds (newuser64: a router's capture
    that lost a 200,000 B transfer's opening and first bytes read "68,928 B in all")."""
    lacking = []
    for conn in conns:
        agent_is_orig = conn_sides(conn, session)[1] == (conn.orig_h, conn.orig_p)
        sender_is_orig = agent_is_orig if key == "to_media" else not agent_is_orig
        if not (conn.syn_seen if sender_is_orig else conn.synack_seen):
            lacking.append(conn.uid)
    return lacking


def missed_words(gap: AckedMissed | None, way: tuple[str, str], seen: int | None,
                 *, hole: bool = False, lacking: list[str] | None = None) -> Said | str:
    """Words that follow step 5's count of the bytes seen (flow_detail): ", and 1,448 B
    more that the capture lacks and the media server acknowledged (segments the sniffer
    missed: capture_loss; 2,037,760 B in all, each byte once)"; "" for gap None. way:
    (sender, receiver) by role; seen: the bytes seen, each once, when the sum is the transfer (all
    acknowledged: bytes_each_way.flow_detail), else None (no total). hole: a hole of the
    capture set (capture_ring_gap) lies across the connections: the bytes are the hole's
    or the sniffer's, and no total is said, since a connection that opened and closed
    while the missing file was written is in no file (review56o: "segments the sniffer
    missed: capture_loss; 600001 B in all" beside capture_loss's "the hole's, not the
    sniffer's"). lacking: the connections whose sender's opening the capture lacks
    (unopened): the total counts from their first byte captured, and says so."""
    if gap is None:
        return ""
    sender, receiver = way
    who = (f"the {receiver} acknowledged" if gap.acked else f"the {sender} never resent")
    unseen = "" if gap.acked else f"; the {receiver}'s ACKs are not in the capture"
    if hole:
        return Said(f", and {gap.bytes:,} B more that the capture lacks and {who} (sent "
                    "while a file missing from the capture set was written, capture_ring_gap, "
                    f"or segments the sniffer missed: capture_loss{unseen})",
                    ["capture_ring_gap", "capture_loss"])
    total = f"; {seen + gap.bytes:,} B in all, each byte once" if seen is not None else ""
    if total and lacking:
        whose = (f"{lacking[0]}'s opening" if len(lacking) == 1
                 else f"the openings of {', '.join(lacking)}")
        total += (f", from the first byte captured: the capture lacks {whose}, so bytes "
                  "sent before that byte are not counted")
    # Without the receiver's ACKs who lost them cannot be told (verify.one_way_loss).
    whose = "the sniffer missed" if gap.acked else "the sniffer or the network lost"
    return Said(f", and {gap.bytes:,} B more that the capture lacks and {who} (segments "
                f"{whose}: capture_loss{unseen}{total})", ["capture_loss"])
