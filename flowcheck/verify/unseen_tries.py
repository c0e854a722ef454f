"""Is a lone SYN itself a resend, its connect's earlier tries missing from the capture?

Each reading of "one SYN only" holds for a connect's first SYN alone: its connector gave
up before TCP's first resend, so it was most likely rejected (verify.gave_up, and a
CONNECT answered with an error that soon: verify.lone_data_syn); never resent within the
retransmission timeout, so the sniffer lost packets (verify.unresent). A resent SYN keeps
the first one's ISN, so with its connect's earlier SYNs cut from the capture it is a
connection of one SYN too, and its connect may have run, unanswered, for seconds.

The SYN itself cannot show it: Linux stamps each resend's TCP timestamp (TSval) anew,
on a clock offset per connection, and gives a connect's SYNs consecutive IP IDs from a
random start (captures/lab/data-port-dropped.pcap, frames 22, 24-26: IP IDs 0xbc0d to
0xbc10, TSval advancing with the capture clock, and the same host's control connection
on a TSval clock of its own), so a resend's TSval and IP ID look like a first SYN's.
Its time does: a connect follows the NDMP message that asked for it within milliseconds
(the DATA_LISTEN reply in frame 21 and the first SYN 0.1 ms apart in that capture), while
TCP resends an unanswered SYN from 1 s after the first (RFC 6298 2.1's initial timeout;
Linux and recent Windows resend at 1 s, older Windows at 3 s) until it gives up:
Windows' last resend 9 or 15 s after the first SYN, Linux's 63 s (6 retries) or 69 s
(10, the first four 1 s apart: tcp_syn_linear_timeouts; verify.syn_give_up). A lone SYN
whose session's last NDMP message before it came that long before may be such a
resend (the cut of frames 22-25 of that capture, new user trial 56: its fourth SYN,
3.07 s after the reply, read as the connect's only one and "most likely rejected").
Without a session or a message before the SYN there is no such clock, and the SYN is
read as its connect's first, as before; nor is there once the control connection went on
in TLS before the SYN (NdmpStream.tls_start): the last message read is then older than
what asked, which the records hide (review 56c).
"""

from __future__ import annotations

from typing import NamedTuple

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage
from flowcheck.ndmp.protocol import is_vendor_code
from flowcheck.sessions.classify import message_op
from flowcheck.verify.context import Context

# From the first SYN to TCP's first resend, at the least (seconds): RFC 6298's 1 s
# initial timeout, less the scheduling a timer allows (Linux's resends in the capture
# above: 1.02 s apart).
FIRST_RESEND = 0.9
# From the first SYN to the last resend, at the most (seconds): past Linux's give-up
# after its 6 retries of tcp_syn_retries, 1+2+...+64 s = 127 s, and its last resend of
# 10 with tcp_syn_linear_timeouts 4 (69 s; verify.syn_give_up), Windows' sooner.
LAST_RESEND = 130.0


class EarlierTries(NamedTuple):
    """seconds: from `asked` to the SYN (capture clock); asked: the session's last NDMP
    message before the SYN, what asked for the connect."""

    seconds: float
    asked: NdmpMessage


def earlier_tries(ctx: Context, conn: Connection) -> EarlierTries | None:
    """The lone SYN's connect may have begun before it (module docstring): one SYN, and
    its session's last NDMP message before it came FIRST_RESEND to LAST_RESEND seconds
    before; None else (more SYNs, no session, no message before it, one too close or
    too far to be a resend's, or a control connection in TLS before the SYN)."""
    if len(conn.syn_frames) != 1 or conn.syn_retries:
        return None
    session = ctx.session_of(conn)
    stream = None if session is None else ctx.stream_by_uid.get(session.control_uid)
    if stream is None or (stream.tls_start is not None
                          and stream.tls_start < conn.syn_frames[0]):
        return None  # its messages since are TLS records: what asked is not read
    asked = max((m for m in stream.messages if m.ts <= conn.ts),
                key=lambda m: (m.ts, m.frame), default=None)
    if asked is None or not FIRST_RESEND <= conn.ts - asked.ts <= LAST_RESEND:
        return None
    return EarlierTries(conn.ts - asked.ts, asked)


def message_words(message: NdmpMessage) -> str:
    """"the DATA_LISTEN reply (frame 21)"; a vendor code's "the vendor message 0xF001's
    reply (frame 16)"."""
    name = (f"vendor message 0x{message.code:X}'s" if is_vendor_code(message.code)
            else message_op(message) or f"NDMP message 0x{message.code:X}")
    return f"the {name} {message.type} ({frame_text(message.frame)})"


def earlier_tries_words(conn: Connection, tries: EarlierTries, subject: str = "") -> str:
    """What the SYN's time says (earlier_tries): a clause, "its SYN (frame 22) came ...";
    subject: another subject than "its SYN (frame 22)" (words that named it already:
    "it"). Both readings: a connector may also send its first SYN late on its own (the
    lab agent's --first-callback-delay: a busy agent's callback 2 s after the vendor
    message's reply, its one SYN its first; review 56c)."""
    subject = subject or f"its SYN ({frame_text(conn.syn_frames[0])})"
    return (f"{subject} came {span_words(tries.seconds)} after "
            f"{message_words(tries.asked)}, as TCP's resends do (from 1 s after the first "
            "SYN: Linux 1 s, older Windows 3 s), where a connect's first SYN usually "
            "follows what asked for it within milliseconds: it may be a resend whose "
            "earlier tries the capture lacks, the connect unanswered since, or its "
            "connector's first SYN, sent late (a busy host)")
