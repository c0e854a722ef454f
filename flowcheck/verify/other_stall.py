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

from typing import NamedTuple

from flowcheck.model import Connection, endpoint

__all__ = ["StallNote", "stall_note"]


class StallNote(NamedTuple):
    """words: a sentence for the message; frames: the first and latest resend; fix: a
    sentence for the fix."""

    words: str
    frames: list[int]
    fix: str


def stall_note(conn: Connection) -> StallNote | None:
    """The stall of `conn` (control_stall: resent at least twice, a retransmission
    timeout each, never delivered), in words: "fd77::1 resent its first bytes 8 times
    (frames 11 to 44) though fd77::2 acknowledged them (its ACKs in the capture): fd77::2's
    packets never reached fd77::1's TCP ..."; None when there is none, or when the
    capture holds none of the receiver's packets (nothing to tell the way by) or the
    resends are a FIN's."""
    # Imported here, on the rare path: `connections` folds other protocols too and must
    # load no check's module otherwise (tests/test_cli_start_imports).
    from flowcheck.verify.control_stall import control_stall

    stall = control_stall(conn)
    if stall is None or stall.fin or stall.unseen or stall.lost or stall.resends < 2:
        return None
    sender, receiver = ((conn.orig_h, conn.resp_h) if stall.side == "orig"
                        else (conn.resp_h, conn.orig_h))
    frames = [f for f in (stall.first_frame, stall.frame) if f]
    where = (f" (frames {frames[0]} to {frames[-1]})" if len(frames) == 2 else
             f" (frame {frames[0]})" if frames else "")
    if stall.acks_lost:
        lost, towards = (f"though {receiver} acknowledged them (its ACKs are in the "
                         f"capture): {receiver}'s packets never reached {sender}'s TCP"), sender
    else:
        lost, towards = (f"and {receiver} never acknowledged them: they never reached "
                         f"{receiver}"), receiver
    port = conn.resp_p if towards == conn.resp_h else conn.orig_p
    words = (f" Whatever the program, TCP shows the path: {sender} resent its bytes "
             f"{stall.resends} times{where} {lost}, so something on the way drops the "
             f"packets toward {towards} after the handshake.")
    fix = (f" Whichever it is, the packets toward {endpoint(towards, port)} after the "
           f"handshake never reached it: allow established connections to it too, inbound "
           f"on {towards} and on any firewall between them (a rule for SYNs alone, or a "
           "stateful firewall that sees one direction, drops them).")
    return StallNote(words, frames, fix)
