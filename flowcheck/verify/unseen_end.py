"""A request the capture shows neither acknowledged, answered nor resent while the
control connection stayed open and the capture went on: control_end_unseen (trial 25
D8: a job whose control connection was cut passed with no warning once the sniffer
missed the media server's resends).

TCP resends data its peer does not acknowledge after its retransmission timeout (RFC
6298 5.4), again and again, doubling the wait. A request with no ACK, no resend and no
answer over several such timeouts of capture, on a connection that was never closed,
means the sniffer missed packets: the resends (the path stopped delivering the control
connection: control_stalled on a full capture) or the peer's ACK and its answer. Which,
and so how the session ended, is not in the capture; the absence of the packets is no
evidence of either, so this is a warning, not an error.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, Session, connection_ends
from flowcheck.sessions import message_op
from flowcheck.verify.allow_rules import capitalised
from flowcheck.verify.context import Context
from flowcheck.verify.evidence import after

# Retransmission timeouts of capture after the request without a resend of it: TCP's
# first resend comes after one, its second two more later (RFC 6298 5.5).
TIMEOUTS_WITHOUT_RESEND = 2


def check_unseen_end(ctx: Context, session: Session, control: Connection,
                     request: NdmpMessage) -> None:
    """control_end_unseen for the session's last request, never answered and never
    acknowledged by the peer's TCP (the caller, flowcheck.verify.no_reply, knows so),
    when its sender never resent it, the control connection stayed open and the capture
    went on TIMEOUTS_WITHOUT_RESEND retransmission timeouts after it."""
    waited = after(ctx, request.ts)
    if (control.evidence(request.direction).resends
            or waited < TIMEOUTS_WITHOUT_RESEND * ctx.config.retransmission_timeout):
        return
    media, agent = control.orig_h, control.resp_h
    sender, peer = ((f"the media server {media}", f"the agent {agent}")
                    if request.direction == "orig" else
                    (f"the agent {agent}", f"the media server {media}"))
    op = message_op(request)
    ctx.add("control_end_unseen",
            f"{capitalised(sender)} sent {op} ({frame_text(request.frame)}) on the "
            f"control connection {connection_ends(control)}; the capture went on "
            f"{span_words(waited)} after it with no acknowledgement, no answer and no "
            "resend of it, and the connection was never closed in it. TCP resends "
            "unacknowledged data after its retransmission timeout (1 s on Linux, 3 s on "
            "older Windows), again and again, so the sniffer missed packets here: either "
            f"those resends (the control connection stopped delivering, a firewall or NAT "
            f"that dropped its state or {peer} unreachable: control_stalled) or {peer}'s "
            f"acknowledgement and answer. How the session ended is not in the capture: the "
            "steps above show what worked, not whether the job ended well.",
            "See the job log for how the job ended. If it failed, capture it again so the "
            "sniffer keeps up (a capture filter on the backup hosts, a bigger kernel buffer: "
            "tcpdump -B 65536, in KiB), and on both hosts at once if you can: a stalled "
            f"control connection then shows as resends of {op}.",
            session=session, conn=control, frames=[request.frame], ts=request.ts)
