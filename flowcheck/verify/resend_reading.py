"""Whether a lone data SYN followed by its connector's stop (or CONNECT error) may be a
resend whose earlier tries the capture lacks, or reads as a reject's: the rule
verify.gave_up and verify.lone_connect_error share (its own module so that
lone_connect_error, which verify.replies imports, needs nothing that imports replies).
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.verify.context import Context
from flowcheck.verify.unseen_tries import EarlierTries, earlier_tries
from flowcheck.verify.way_back import answer_way_unseen

# A reject answers the SYN one round trip after it, and the connector stops at once: a
# stop (or a CONNECT error) within the control connection's round trip and this much of
# the SYN (seconds) is a reject's, not a connect timer's that happened to fire right
# after a resend (resends come seconds apart). The lab's rejected slow connect stopped
# 1-2 ms after its SYN; the trial's timed-out connect 438 ms after its last resend.
AT_ONCE = 0.1


def resend_reading(ctx: Context, conn: Connection, seconds: float) -> EarlierTries | None:
    """unseen_tries.earlier_tries for a lone data SYN whose connector stopped (or its
    CONNECT failed) `seconds` after it, unless the capture explains the SYN alone better
    as a reject's: None when the capture lacks the way the reject would travel
    (answer_way_unseen: one direction only, while the SYN's earlier tries would travel
    the captured way, so they too would have to be lost), or when the stop came within
    the control connection's round trip and AT_ONCE of the SYN, as on a reject.

    Review 56c: the lab's media server connecting 1.5-3 s after the DATA_LISTEN reply (a
    slow connector) to a port its agent rejected (nft `reject with tcp reset`, or
    `reject`, ICMP), captured `-Q out` on it or with the filter `tcp`, read INCONCLUSIVE
    ("may be a resend"); both read ERROR "most likely rejected" again."""
    tries = earlier_tries(ctx, conn)
    if tries is None or answer_way_unseen(ctx, conn) is not None:
        return None
    return None if at_once(ctx, ctx.session_of(conn), seconds) else tries


def at_once(ctx: Context, session: Session | None, seconds: float) -> bool:
    """Did a stop (or a CONNECT error) come `seconds` after its SYN within the session's
    control connection round trip (Connection.rtt; 0 when unknown or no session) and
    AT_ONCE, as on a reject?"""
    control = None if session is None else ctx.by_uid.get(session.control_uid)
    round_trip = (control.rtt if control is not None and control.rtt is not None else 0.0)
    return seconds <= round_trip + AT_ONCE
