"""How many SYNs a connector sent, in words that claim no more than the capture holds.

A connection's SYN count (verify.details.syn_count) is the SYNs the capture holds. Where
the capture shows that it lost packets, a resent SYN may be among them, so "the media
server sent 3 SYNs" can be one short (field check 72, lab matrix seed 135 run 7: a
capture of the sniffer-loss form lost one of the control connection's four SYNs, and the
finding said "sent 3 SYNs"). The words then say "sent at least 3 SYNs (the capture holds
3 ...)" and why: the sniffer's own drop count, TCP payload missed elsewhere
(capture_loss), or a ring buffer's or a file set's missing stretch near the SYNs. A
capture that shows no loss keeps "sent 3 SYNs".
"""

from __future__ import annotations

from flowcheck.model import Connection
from flowcheck.verify.context import Context
from flowcheck.verify.details import syn_count

# How long around a connection's SYNs a missing stretch of the capture could hold one of
# its resends (seconds): Linux gives up on an unanswered SYN after 127 s (6 retries) or
# 135 s (10, tcp_syn_linear_timeouts 4), its last resend 63 or 69 s after the first SYN;
# Windows after 21 or 31 s (verify.syn_give_up).
_RESEND_REACH = 130.0


def capture_lost(ctx: Context, conn: Connection) -> str:
    """Why the capture may lack some of `conn`'s SYNs, as words to follow "the capture
    holds N": "the sniffer reported 12 packets dropped", "it missed TCP payload of other
    packets: capture_loss", "a ring buffer's files are missing near them:
    capture_ring_gap"; "" when the capture shows no loss (then its count is the count
    sent, as far as it can tell)."""
    if ctx.kernel_dropped:
        return (f"the sniffer reported {ctx.kernel_dropped:,} packet"
                f"{'' if ctx.kernel_dropped == 1 else 's'} dropped")
    start, end = conn.ts - _RESEND_REACH, conn.last_ts + _RESEND_REACH
    if any(gap.start < end and gap.end > start for gap in ctx.ring_gaps):
        return "a ring buffer's files are missing near them: capture_ring_gap"
    if any(gap.start < end and gap.end > start for gap in ctx.file_gaps):
        return "no file of the set covers a stretch near them"
    census = ctx.census  # the payload missed over the set, summed once (verify.census)
    if (census.missed > 0 if census is not None else
            any(c.missed_bytes or c.gap_frames for c in ctx.connections)):
        return "it missed TCP payload of other packets: capture_loss"
    return ""


def syns_sent_words(ctx: Context, conn: Connection) -> str:
    """"4 SYNs", "1 SYN", or, when the capture shows loss (capture_lost), "at least 3
    SYNs (the capture holds 3; the sniffer reported 1 packet dropped)": what follows
    "sent" in a finding's words about `conn`'s originator."""
    syns = syn_count(conn)
    counted = f"{syns} SYN{'s' if syns != 1 else ''}"
    lost = capture_lost(ctx, conn)
    if not lost:
        return counted
    return f"at least {counted} (the capture holds {syns} and shows loss: {lost})"
