"""A SYN answered by a socket that still held an earlier connection on its 4-tuple.

A TCP in TIME-WAIT (the side that closed first holds the connection for 2 MSL: 60 s on
Linux, up to 240 s on Windows) or still established answers a new SYN on the same
4-tuple that it does not take as a new connection with an ACK of that connection: its
ACK number acknowledges the old connection's bytes, not the SYN (RFC 9293 3.10.7.4, RFC
5961 4: the challenge ACK). The originator, in SYN-SENT, answers an ACK that does not
acknowledge its SYN with a RST carrying that ACK number as its sequence number (RFC 9293
3.10.7.3), which ends the stale socket (RFC 1337), and sends its SYN again. Zeek's
history shows the ACK as "a" (SaR...); flowcheck.connections keeps its frame
(Connection.stale_ack_frame) and flowcheck.sessions.classify.stale_answer reads it: no
SYN-ACK the sniffer lost, the SYN again decides how the connection opened (trial 35 D2:
an agent's TIME-WAIT from the same media port 6 s before).
"""

from __future__ import annotations

from flowcheck.durations import span_below
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, connection_ends
from flowcheck.sessions.classify import stale_answer
from flowcheck.verify.context import Context


def earlier_on_tuple(ctx: Context, conn: Connection) -> Connection | None:
    """The capture's latest connection on conn's 4-tuple (either way round) that ended
    before conn's first packet; None when the capture holds none. A scan of the
    capture's connections: called for a stale answer only (rare)."""
    ends = {(conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p)}
    before = [c for c in ctx.connections
              if c is not conn and c.last_frame < conn.first_frame
              and max(c.last_ts, c.ts) <= conn.ts
              and {(c.orig_h, c.orig_p), (c.resp_h, c.resp_p)} == ends]
    return max(before, key=lambda c: (c.last_ts, c.last_frame), default=None)


def stale_words(ctx: Context, conn: Connection) -> str:
    """The sentences, each opened by ". " and the last without its period, that say the
    responder first answered the SYN with an earlier connection's ACK (stale_answer)
    and what followed: the originator's RST and its SYN again, refused (the RST's frame)
    or unanswered (how many times sent); "" otherwise. To follow a refusal's cause
    (data_refused, callback_refused) or an unanswered SYN's silence (data_unanswered)."""
    if not stale_answer(conn):
        return ""
    ack = conn.stale_ack_frame
    syn = next((f for f in conn.syn_frames if f < ack), conn.syn_frames[0])
    held = "an earlier connection on the same ports"
    earlier = earlier_on_tuple(ctx, conn)
    if earlier is not None:
        ended = conn.ts - max(earlier.last_ts, earlier.ts)
        hold = ctx.config.port_hold_seconds
        within = (f", within the {hold:g} s a port is held (port_reused_within_hold)"
                  if ended < hold else "")
        held = (f"the earlier connection {earlier.uid} on the same ports "
                f"({connection_ends(earlier)}), which ended {span_below(ended, hold)} "
                f"before (its last packet {frame_text(earlier.last_frame)}){within}")
    words = (f". Before that, {conn.resp_h} answered the SYN ({frame_text(syn)}) with an ACK that "
             f"does not acknowledge it ({frame_text(ack)}): it still held {held}, and such a "
             "socket (TIME-WAIT, or still open) answers a new SYN with the old "
             "connection's ACK (RFC 9293 3.10.7.4), not with a SYN-ACK the capture missed")
    reset = conn.orig_rst_frame
    again = next((f for f in conn.syn_frames if f > ack), 0)
    if reset and again:
        words += (f"; {conn.orig_h} reset that ({frame_text(reset)}) and sent its SYN again "
                  f"({frame_text(again)})")
        refusal = conn.resp_rst_frame
        if refusal > again:
            words += f", which the RST of {frame_text(refusal)} refused"
        elif not conn.resp_rst and not conn.icmp_frames:
            # The SYNs from the ACK on: all of the originator's (syn_retries + 1, its
            # frames capped) but those before it.
            sent = conn.syn_retries + 1 - sum(f < ack for f in conn.syn_frames)
            words += (", which went unanswered" if sent < 2 else
                      f", which went unanswered (sent {sent} times)")
    return words
