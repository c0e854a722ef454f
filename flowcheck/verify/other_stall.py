"""What a stalled connection of another protocol on the NDMP port shows of the path
(ndmp_undecodable's words; lab matrix seed 112 run 43).

A connection to the NDMP port that reads as another protocol (TLS from its first byte
that nothing proves a job's, verify.other_protocol) is not judged as a job, but TCP's
own evidence holds whatever the program: a side that resent its bytes again and again
(verify.control_stall, the control connection's rule) either was never acknowledged
(its packets never reached the other side) or was acknowledged in the capture and
resent all the same (the other side's packets never reached its TCP). Either way
something on the way drops packets after the handshake; the words say which way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from flowcheck.frame_names import frame_pair, frame_text
from flowcheck.model import Connection, endpoint, other_direction

if TYPE_CHECKING:
    from flowcheck.connections.cooked_hosts import HostMarks

__all__ = ["StallNote", "stall_note"]


class StallNote(NamedTuple):
    """words: a sentence for the message; frames: the first and latest resend; fix: a
    sentence for the fix; lost: the clause of which packets never arrived ("fd77::2's
    packets never reached fd77::1's TCP"), for the verdict's note."""

    words: str
    frames: list[int]
    fix: str
    lost: str = ""


def stall_note(conn: Connection, marks: HostMarks | None = None) -> StallNote | None:
    """The stall of `conn` (control_stall: resent at least twice, a retransmission
    timeout each, never delivered), in words: "fd77::1 resent its first bytes 8 times
    (frames 11 to 44) though fd77::2 acknowledged them (its ACKs in the capture): fd77::2's
    packets never reached fd77::1's TCP ..."; None when there is none, or when the
    capture holds none of the receiver's packets (nothing to tell the way by) or the
    resends are a FIN's. marks (Traffic.host_marks): when the set's Linux cooked marks
    prove the capture was taken on the host the packets were lost toward
    (verify.cooked_host), they arrived there, before its firewall: its own input chain
    drops them, not something on the way (lab matrix seed 118 run 22, `tcpdump -i any`
    on the media server whose input drops the agent's packets after its SYN-ACK, read
    "something on the way drops the packets toward fd77::1")."""
    # Imported here, on the rare path: `connections` folds other protocols too and must
    # load no check's module otherwise (tests/test_cli_start_imports).
    from flowcheck.verify.control_stall import control_stall
    from flowcheck.verify.cooked_host import host_by_marks, words_by_marks

    stall = control_stall(conn)
    if stall is None or stall.fin or stall.unseen or stall.lost or stall.resends < 2:
        return None
    sender, receiver = conn.host(stall.side), conn.host(other_direction(stall.side))
    frames = [f for f in (stall.first_frame, stall.frame) if f]
    where = (f" ({frame_pair(frames[0], frames[-1], 'to')})" if len(frames) == 2 else
             f" ({frame_text(frames[0])})" if frames else "")
    towards = sender if stall.acks_lost else receiver
    other = receiver if towards == sender else sender
    # What the marks show when they place the capture on `towards`, else None.
    placed = (words_by_marks(marks, towards, other)
              if marks and host_by_marks(marks, conn.orig_h, conn.resp_h) == towards
              else None)
    gist = (f"{receiver}'s packets never reached {sender}'s TCP" if stall.acks_lost else
            f"{sender}'s bytes never reached {receiver}" + ("'s TCP" if placed else ""))
    if stall.acks_lost:
        lost = (f"though {receiver} acknowledged them (its ACKs are in the capture): "
                f"{receiver}'s packets never reached {sender}'s TCP")
    else:
        lost = (f"and {receiver} never acknowledged them: they never reached {receiver}"
                + ("'s TCP" if placed else ""))
    port = conn.resp_p if towards == conn.resp_h else conn.orig_p
    head = (f" Whatever the program, TCP shows the path: {sender} resent its bytes "
            f"{stall.resends} times{where} {lost}")
    if placed:
        words = (f"{head}, though they arrived at {towards}: this capture was taken on "
                 f"{towards} ({placed}), and the packet "
                 "tap sees arriving packets before the firewall, so "
                 f"{towards}'s own firewall drops the packets toward it after the handshake "
                 "(its input chain).")
        # Imported here: `connections` reads this module's words without the checks
        # (tests/test_cli_start_imports).
        from flowcheck.verify.established_accept import other_table_note

        fix = (f" Whichever it is, the packets toward {endpoint(towards, port)} after the "
               f"handshake arrived at {towards} and never reached its TCP: on {towards} "
               "itself (this capture was taken there), accept established connections in "
               "its input chain ahead of any drop (ct state established,related accept; a "
               f"rule for SYNs alone drops the rest); {other_table_note('drop')}.")
        return StallNote(words, frames, fix, gist)
    words = f"{head}, so something on the way drops the packets toward {towards} after the " \
        "handshake."
    fix = (f" Whichever it is, the packets toward {endpoint(towards, port)} after the "
           f"handshake never reached it: allow established connections to it too, inbound "
           f"on {towards} and on any firewall between them (a rule for SYNs alone, or a "
           "stateful firewall that sees one direction, drops them).")
    return StallNote(words, frames, fix, gist)
