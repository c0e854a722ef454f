"""A path MTU black hole (RFC 2923 2.1) seen from the sender alone: a capture of one
direction (Stall.unseen: tcpdump -Q out, `src host SENDER`, a SPAN port of one way) that
holds none of the receiver's packets, so no ACK, no SACK, nothing that says which bytes
arrived.

What the sender's own packets still show (v4-pmtu-blackhole-at-agent cut to the agent's
packets):
- its resends are full-size (SideEvidence.resent_len as large as its largest segment,
  Connection.*_seg_max), again and again, each after a longer wait: no ACK of them came;
- a smaller packet of its own to the same host went through after the first of them: an
  NDMP message on the control connection (smaller than the resends) that it never sent
  again though its TCP went on resending the data for at least a retransmission timeout
  after it (RFC 6298: an unacknowledged segment is resent after one), so its ACK came
  back; the whole capture shows that ACK (pmtu.small_passed), this one its effect;
- whether any full-size segment ever arrived: the sender's new bytes before its resends
  (first_flight): no more than a first flight (RFC 6928's initial window of ten segments
  and RFC 3042's two limited-transmit segments) is what a sender that never had an ACK
  of its data sends; more than that needed ACKs of earlier data, so full-size segments
  had passed (a path whose MTU shrank, or a device that lost the flow's state).
Full-size resends, a smaller packet through and a first flight only: the black hole is
the likely reading (an IPS blocking the flow from its first full-size segment looks the
same). Without the first flight, or with no smaller packet after the first resend, the
black hole is one reading among others, the capture cannot tell which.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, other_direction
from flowcheck.sessions.classify import message_op
from flowcheck.verify.allow_rules import lowered
from flowcheck.verify.pmtu import conn_fix, full_size_resends, hole_why, mtu_reading, small_passed
from flowcheck.verify.stall_record import Stall

if TYPE_CHECKING:
    from flowcheck.verify.context import Context

# A first flight, in full-size segments: RFC 6928's initial window (10) and the two
# segments RFC 3042's limited transmit sends on the first duplicate ACKs.
FIRST_FLIGHT_SEGMENTS = 12


def unseen_full_size(conn: Connection, stall: Stall) -> int:
    """The resend size (payload bytes) of a stall seen from the sender alone
    (Stall.unseen, not a FIN) whose resends are as large as its largest segment; 0
    otherwise."""
    if not stall.unseen or stall.fin or stall.lost or stall.acks_lost:
        return 0
    size = conn.evidence(stall.side).resent_len
    return size if size > 1 and size == getattr(conn, f"{stall.side}_seg_max") else 0


def first_flight(conn: Connection, stall: Stall, size: int) -> int:
    """The sender's new bytes before its resends (its payload less the resends, each
    counted as `size`) when they are no more than a first flight (FIRST_FLIGHT_SEGMENTS
    segments of `size`): none of its data needed an ACK to be sent; 0 otherwise."""
    new = conn.sent_once(stall.side) - stall.resends * size  # type: ignore[arg-type]
    return new if 0 < new <= FIRST_FLIGHT_SEGMENTS * size else 0


def small_unresent(ctx: Context, control: Connection | None, messages: list[NdmpMessage],
                   sender: str, stall: Stall, size: int) -> NdmpMessage | None:
    """The sender's last NDMP message on the control connection after the stall's first
    resend that shows a smaller packet of its own arrived, in a capture that holds none
    of the receiver's packets there: the control connection's captured side resent
    nothing (Connection.retransmits 0), the message is smaller than the resends (its
    record, NdmpMessage.size, known) and the sender's data resends went on a
    retransmission timeout (Config.retransmission_timeout, seconds) after it. None
    otherwise."""
    if control is None or stall.first_ts is None or stall.ts is None \
            or sender not in (control.orig_h, control.resp_h) or control.retransmits:
        return None
    side = "orig" if control.orig_h == sender else "resp"
    if control.resp_pkts if side == "orig" else control.orig_pkts:
        return None  # the receiver's ACKs are captured: pmtu.small_passed reads them
    wait = ctx.config.retransmission_timeout
    sent = [m for m in messages if m.direction == side and m.ts > stall.first_ts
            and 0 < m.size < size and stall.ts - m.ts >= wait]
    return sent[-1] if sent else None


def sender_words(ctx: Context, conn: Connection, stall: Stall, roles: tuple[str, str],
                 passed: NdmpMessage | None, size: int) -> tuple[str, bool]:
    """(the reading's words, whether the black hole is the likely reading) of full-size
    resends seen from the sender alone (module docstring); roles: the sender's and the
    receiver's role words."""

    sender, receiver = conn.host(stall.side), conn.host(other_direction(stall.side))
    head = f" Its resends are full-size ({size:,} B, its largest segment)."
    unseen = (f" The capture holds none of {roles[1]} {receiver}'s packets, so this rests on "
              f"{sender}'s own packets; a capture of both directions on {receiver} tells "
              "them apart.")
    flight = first_flight(conn, stall, size)
    shrank = (" It had sent more than a first flight before resending, which takes ACKs of "
              "earlier data: full-size segments had passed. A path whose MTU shrank "
              "mid-transfer (a route change to a link with a smaller MTU, the ICMP "
              "'fragmentation needed' / 'packet too big' messages blocked: RFC 2923) drops "
              "them this way; so does a device that lost the flow's state.")
    if passed is None:
        return (head + f" No smaller packet of {sender}'s to {receiver} came after the first "
                "resend to show whether smaller packets still pass"
                + (f": if they do, a path MTU black hole fits {hole_why(ctx, conn)}; a device "
                   "dropping the flow looks the same." if flight else f".{shrank}")
                + unseen, False)
    end = stall.ts if stall.ts is not None else conn.last_ts
    through = (f" Its smaller packets to {receiver} still got through after the first of "
               f"them: its {message_op(passed)} {passed.type} on the control connection "
               f"({passed.size:,} B, {frame_text(passed.frame)}) was never resent, though its TCP "
               f"went on resending the data {span_words(end - passed.ts)} after it (an "
               "unacknowledged segment is resent after a retransmission timeout: RFC 6298), "
               "so its ACK came back.")
    if flight:
        return (head + through + f" It sent only a first flight of data ({flight:,} B, no "
                "more than TCP's initial window and limited transmit: RFC 6928, RFC 3042) "
                "before resending, so none of its full-size segments is known to have "
                f"arrived: {mtu_reading(ctx, conn)}, the likely reading. An IPS that blocks "
                "the flow from its first full-size segment looks the same from here."
                + unseen, True)
    return head + through + shrank + unseen, False


def sender_reading(ctx: Context, conn: Connection, stall: Stall, roles: tuple[str, str],
                   passed: NdmpMessage | None, before: tuple[str, str]) -> tuple[str, str]:
    """(reading, remedy) of a stall seen from the sender alone whose resends are
    full-size (unseen_full_size): the black hole leads when it is the likely reading
    (sender_words), the words before (`before`: reading, remedy) following as the
    other reading; else those words lead and the black hole follows as one reading."""

    reading, remedy = before
    words, likely = sender_words(ctx, conn, stall, roles, passed,
                                 unseen_full_size(conn, stall))
    if likely:
        return (words + (f" Otherwise, {lowered(reading.lstrip())}" if reading else ""),
                conn_fix(ctx, conn) + ". If the MTU is not it: " + lowered(remedy))
    return (reading + words, remedy + " If only full-size segments are lost (a path MTU "
            "black hole): " + lowered(conn_fix(ctx, conn)) + ".")


def smaller_passed(ctx: Context, control: Connection | None, messages: list[NdmpMessage],
                   conn: Connection, stall: Stall) -> tuple[NdmpMessage | None, bool]:
    """(the stalled sender's smaller NDMP message that arrived after its first resend,
    whether the capture shows segments lost by their size): pmtu.small_passed for
    full-size resends whose receiver's ACKs are captured (pmtu.full_size_resends);
    small_unresent for full-size resends seen from the sender alone (unseen_full_size),
    lost by size only after a first flight (first_flight). (None, False) otherwise."""

    sender = conn.host(stall.side)
    if full_size_resends(conn, stall):
        passed = small_passed(control, messages, sender, stall.first_ts)
        return passed, passed is not None
    size = unseen_full_size(conn, stall)
    if not size:
        return None, False
    passed = small_unresent(ctx, control, messages, sender, stall, size)
    return passed, passed is not None and first_flight(conn, stall, size) > 0
