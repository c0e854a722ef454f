"""data_unanswered for a data connection's lone SYN (flowcheck.verify.unresent.lone_syn):
one SYN, no answer, never resent, and its job visibly stopped after it.

The capture lacks what TCP sends next (the SYN's resends, RFC 6298 5.7) or what stopped
them (a RST or ICMP reject): the sniffer lost packets there, so the capture alone cannot
tell a drop from a reject (trial 25 D4). The control connection may
(flowcheck.verify.connect_said): the CONNECT request carrying the endpoint answered with
a connect's error within the retransmission timeout of the SYN says the connect failed
at once, as it does on a reject (a RST, an ICMP unreachable) and not on a drop (TCP
resends a dropped SYN before it gives up: 21 to 31 s on Windows, two minutes or more on
Linux, verify.syn_give_up); left unanswered, or
answered with an error only after that, says no answer reached the connector: its SYNs
were dropped. Without such a word (Backup Exec's media server connects with no CONNECT
request on the wire) the words and the fix say both, and which log tells; so too when
the SYN came as late after what asked for its connect as a resend and the error soon
after it (verify.unseen_tries: the connect may have run unanswered since, its earlier
tries missing from the capture).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from flowcheck.durations import span_words
from flowcheck.model import Connection, Session
from flowcheck.verify.connect_said import said_of
from flowcheck.verify.context import Context, endpoint
from flowcheck.verify.gave_up import gave_up_at_once, gave_up_fix
from flowcheck.verify.refusals import data_refused_fix
from flowcheck.verify.resend_reading import resend_reading
from flowcheck.verify.syn_give_up import fast_reject_words

_RESENDS = "the SYN's resends"


def _sniffer(lost: str) -> str:
    """What the sniffer lost (lost: "the SYN's resends"), and how to keep it."""
    return (f"The capture lacks {lost} (the sniffer lost packets): capture again with a "
            "larger buffer (tcpdump -B 16384, or dumpcap) so the sniffer keeps up.")


class LoneReading(NamedTuple):
    """kind: "dropped", "rejected", or None when nothing but the capture speaks; words:
    what the control connection said, the message's first clause after its head ("" for
    None); fix."""

    kind: Literal["dropped", "rejected"] | None
    words: str
    fix: str


def lone_reading(ctx: Context, session: Session, conn: Connection, rule: str) -> LoneReading:
    """How the data connection's lone SYN failed, as far as the control connection tells
    (rule: the allow rule for a drop, allow_rules.allow_rule's words)."""
    said = said_of(ctx, session, conn)
    rto = ctx.config.retransmission_timeout
    refused = data_refused_fix(ctx, conn, session)
    # A SYN as late after what asked for its connect as a resend: the connect may have
    # run since, so an error soon after the SYN is not a fast one (verify.unseen_tries).
    fast = said is not None and said.outcome == "failed" and said.message.ts - conn.ts < rto
    if fast and resend_reading(ctx, conn, said.message.ts - conn.ts) is None:
        return LoneReading(
            "rejected",
            f"{said.words}, {span_words(said.message.ts - conn.ts)} after its SYN: "
            f"{fast_reject_words(conn)}",
            f"{refused} {_sniffer('the reject')}")
    if said is not None and not fast and (said.outcome == "failed" or (
            said.outcome == "pending" and said.waited >= rto)):
        return LoneReading(
            "dropped",
            f"{said.words}; a reject fails a connect at once, so no answer reached "
            f"{conn.orig_h} while it tried: its SYNs were dropped, and the sniffer lost "
            "their resends",
            f"{rule[:1].upper()}{rule[1:]}. {_sniffer(_RESENDS)}")
    if gave_up_at_once(ctx, conn) is not None:
        # Its connector stopped the job before TCP's first resend: most likely rejected;
        # the capture's words say why (verify.gave_up).
        return LoneReading("rejected", "", gave_up_fix(ctx, conn, refused))
    return LoneReading(None, "", both_readings_fix(
        rule, refused,
        f"no NDMP reply says how the connect failed: {conn.orig_h}'s log does (\"timed out\": "
        f"dropped; \"connection refused\": rejected, or nothing listened on "
        f"{endpoint(conn.resp_h, conn.resp_p)})"))


def both_readings_fix(rule: str, refused: str, told: str) -> str:
    """The fix of a lone SYN nothing but the capture speaks of: both readings (rule: the
    allow rule for a drop; refused: the reject's fix) and where the answer is (told:
    "no NDMP reply says ...: HOST's log does (...)"), then the sniffer's loss."""
    return (f"The capture cannot tell a drop from a reject here, and {told}. If dropped: "
            f"{rule}. If rejected: {refused[:1].lower()}{refused[1:]} "
            f"{_sniffer(f'{_RESENDS} or the reject that stopped them')}")

