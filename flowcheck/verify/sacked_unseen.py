"""What a receiver's SACK blocks show of a side the capture lacks (SideEvidence
.sacked_unseen): in a capture of one direction, a data connection whose receiver's
cumulative ACK never moved, so it reads as closed before any data (flowcheck.sessions
.classify.closed_one_way), while one of its pure ACKs named bytes beyond that ACK in SACK
blocks (RFC 2018): those bytes arrived, the ones before them never did.

ndmjob-pmtu/v4-pmtu-blackhole-at-media (or -at-agent) cut to the media server's packets:
its ACK stays at the agent's first byte, its SACK of frame 22 names 7241-8193 (952 B).
A segment later in the stream arrived and smaller than a full-size one, while the
7240 B before it never did in all the time the sender's TCP kept resending them: what a
path MTU black hole does (RFC 2923 2.1: full-size segments dropped, smaller ones
through). A device dropping the connection's packets selectively looks the same from
the receiver's packets alone; a capture on the sender shows the segments' sizes.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session, SideEvidence
from flowcheck.model.traffic import ETHERNET_MSS
from flowcheck.verify.allow_rules import lowered
from flowcheck.verify.context import Context
from flowcheck.verify.end_roles import role_words
from flowcheck.verify.pmtu import conn_fix, hole_why


def sacked_of(conn: Connection, closer: str) -> tuple[str, SideEvidence] | None:
    """(the other host, its side's evidence) when the capture holds none of its packets
    on conn and closer's (an address of conn) ACKs SACKed bytes of it beyond their ACK
    (SideEvidence.sacked_unseen); None otherwise."""
    other = "resp" if closer == conn.orig_h else "orig"
    evidence = conn.evidence(other)
    if not evidence.sacked_unseen:
        return None
    return conn.host(other), evidence


def blocks_words(evidence: SideEvidence) -> str:
    """ "7241-8193" (Wireshark's relative sequence numbers, right edge exclusive), the
    blocks joined by ", "."""
    return ", ".join(f"{left}-{right}" for left, right in evidence.sacked_unseen_blocks)


def sacked_detail(evidence: SideEvidence, other: str) -> str:
    """Step 4's words: " was acknowledged (a SACK, frame 22, shows 952 B of 10.77.1.2's
    arrived, 7241-8193, not the bytes before them)"."""
    return (f" was acknowledged (a SACK, {frame_text(evidence.sacked_unseen_frame)}, shows "
            f"{evidence.sacked_unseen:,} B of {other}'s arrived, {blocks_words(evidence)}, "
            "not the bytes before them)")


def sacked_reading(ctx: Context, conn: Connection, session: Session, closer: str
                   ) -> tuple[str, str] | None:
    """(reading, fix) of a connection `closer` closed after its ACKs SACKed bytes of the
    other side's that the capture lacks (sacked_of): those bytes arrived, the ones
    before them did not; a first block smaller than a full-size segment (ETHERNET_MSS)
    after more bytes than it that never arrived is a path MTU black hole's pattern.
    None when there is no such SACK."""

    found = sacked_of(conn, closer)
    if found is None:
        return None
    other, evidence = found
    other_words = role_words(conn, session, other)
    first_left, first_right = evidence.sacked_unseen_blocks[0]
    missing = first_left - evidence.sacked_unseen_ack
    waited = (conn.fin_ts if conn.fin_ts is not None else conn.last_ts) - conn.opening_ts
    reading = (f"{closer} closed it {span_words(waited)} after it opened, and bytes of "
               f"{other_words}'s had come on it: its ACKs never went past byte "
               f"{evidence.sacked_unseen_ack} of them, but its ACK in "
               f"{frame_text(evidence.sacked_unseen_frame)} names {evidence.sacked_unseen:,} B "
               f"beyond it in "
               f"SACK blocks ({blocks_words(evidence)}): {other} sent data, and those bytes "
               f"arrived while the {missing:,} B before them never did in the "
               f"{span_words(waited)} its TCP had to resend them.")
    small = first_right - first_left < ETHERNET_MSS <= missing
    if small:
        reading += (f" A piece smaller than a full-size segment ({first_right - first_left:,} "
                    f"B, less than {ETHERNET_MSS:,} B) arrived and more than a full-size "
                    "segment's worth before it did not: smaller segments arrive and "
                    "full-size ones do not, the pattern of a path MTU black hole "
                    f"{hole_why(ctx, conn)}. A device that drops some of the connection's "
                    "packets looks the same from here")
    else:
        reading += (" Some of its segments arrive and others do not: a device dropping the "
                    "connection's packets, or a path MTU black hole if the lost ones are "
                    f"the full-size ones {hole_why(ctx, conn)}")
    reading += f"; a capture on {other} shows the segments' sizes and its resends."
    fix_mtu = ("If only full-size segments are lost (a path MTU black hole): "
               + lowered(conn_fix(ctx, conn, probing=True)) + ".")
    fix_device = (f"See the logs of the firewalls and IPSs between {conn.orig_h} and "
                  f"{conn.resp_h} for dropped packets of this connection.")
    return reading, (f"{fix_mtu} Else: {lowered(fix_device)}" if small
                     else f"{fix_device} {fix_mtu}")
