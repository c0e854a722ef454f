"""A SYN the capture ended soon after, captured on the host it was sent to.

A capture that ends within the retransmission timeout of a connection's only SYN cannot
show whether it was answered (capture_ended_early). But on the responder's own Linux
cooked capture (the marks prove the capture host: verify.capture_host.proven_host) that
holds the responder's packets to the originator leaving it after the SYN, it shows more:
the SYN arrived there, and no answer left while those packets did. A host answers a SYN
at once (a listening socket's SYN-ACK, a closed port's RST, sent in the same pass through
its stack as the SYN: Linux's tcp_conn_request, RFC 9293 3.10.7.2), so its own firewall
(the packet tap sees arriving packets before the input chain, leaving ones after the
output chain and the queueing discipline) or a full listen queue is the likely cause;
likely, not proven: an answer waits behind a busy host's outgoing queue (review 53b: a
lab tbf qdisc sent 55 data packets to the originator, 165 ms, before the SYN-ACK). Lab
matrix seed 121 run 3 (`tcpdump -i any` on the media server, its input chain dropping
the callback's SYN, the capture stopped 0.14 s after it) said nothing of it, the media
server having sent its next packet 0.040 s after that SYN.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.model import Connection
from flowcheck.verify.capture_host import proven_host
from flowcheck.verify.context import Context

# The least time after the SYN the responder's later packets must span for the words to
# say anything (below it they would read "0.000 s").
SHOWN_AFTER = 0.001


def receiver_silent(ctx: Context, conn: Connection) -> tuple[float, str] | None:
    """(seconds, the proof in short: CaptureHostProof.shown) from conn's last SYN to the
    responder's last packet to the originator, on any connection between them, when the
    capture was taken on the responder (its Linux cooked marks prove it: proven_host,
    marked) and conn holds nothing of the responder's (no SYN-ACK, RST or ICMP from it)
    while that packet came at least SHOWN_AFTER s after the SYN; None otherwise. The
    marks' proof rests on the capture host's own packets marked leaving it, and that
    later packet of its is in the capture: its leaving packets were captured then (not
    `tcpdump -Q in`)."""
    on = proven_host(ctx, conn.orig_h, conn.resp_h)
    if (on is None or not on.marked or on.host != conn.resp_h or conn.resp_pkts
            or conn.icmp_frames or not conn.syn_frames):
        return None
    latest = max((last for c in ctx.between(conn.resp_h, conn.orig_h)
                  if (last := c.orig_last_ts if c.orig_h == conn.resp_h else c.resp_last_ts)
                  is not None), default=None)
    if latest is None or latest - conn.last_ts < SHOWN_AFTER:
        return None
    return latest - conn.last_ts, on.shown


def receiver_silent_words(conn: Connection, seconds: float, shown: str) -> str:
    """What receiver_silent shows, capture_ended_early's sentence after what it cannot
    show: the SYN arrived where the capture was taken, no answer left in `seconds`, the
    likely cause and why it is not proven."""
    return (f"It arrived at {conn.resp_h}, where this capture was taken ({shown}), and no "
            f"SYN-ACK, RST or ICMP of {conn.resp_h}'s for it left in the {span_words(seconds)} "
            f"after it that the capture holds of {conn.resp_h}'s packets to {conn.orig_h}: "
            f"a host answers a SYN at once, so {conn.resp_h}'s own firewall (its input "
            "chain dropping the SYN, or its output chain the answer) or a full listen queue "
            "is the likely cause, though a busy host's outgoing queue can hold an answer "
            "longer than that.")
