"""A control connection that was a half-open port check, not a job (trial 11).

A SYN scan (nmap -sS) sends one SYN from a raw socket, gets the SYN-ACK and has its TCP
answer it with a RST, since no socket waits for it (RFC 9293 3.10.7.1); a connect whose
SYN-ACK a rule rejects resends its SYN instead (RFC 6298 5.7). Such a connection is
not a failed job: step 1 `ok`, saying what it was (flowcheck.verify.port_check).
"""

from __future__ import annotations

from flowcheck.durations import later_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection
from flowcheck.sessions.classify import originator_aborted
from flowcheck.verify.context import Context
from flowcheck.verify.evidence import time_enough
from flowcheck.verify.stale import reset_after
from flowcheck.verify.synack_reset import late_answer
from flowcheck.verify.ttl_exceeded import traceroute_probe


def half_open_check(ctx: Context, conn: Connection) -> bool:
    """Is the control connection a half-open port check (a SYN scan, nmap -sS)? One SYN,
    one SYN-ACK that came promptly (not late_answer), then a RST from the originator
    within the retransmission timeout instead of the ACK, no data (originator_aborted),
    and no other SYN from that source port to that endpoint (no other connection of the
    four-tuple but a traceroute's probes) although the capture went on past the
    retransmission timeout. A
    connect() whose SYN-ACK a rule on its own host rejects resends its SYN from the same
    port (RFC 6298 5.7, RFC 9293 3.8.1: the SYN-ACK never reached its socket), and a
    connect that timed out meets its SYN-ACK late; the originator's TCP answers a
    prompt SYN-ACK with a RST when no socket waits for it (RFC 9293 3.10.7.1): the SYN
    came from a scanner's raw socket, not from a connect. The SYN-ACK arrived (it was
    answered): the return path works."""
    if not (conn.role == "control" and originator_aborted(conn) and conn.syn_retries == 0
            and len(conn.synack_frames) == 1 and not late_answer(ctx, conn)):
        return False
    reset = reset_after(conn)
    if reset is None or reset >= ctx.config.retransmission_timeout:
        return False
    if not time_enough(ctx, conn.last_ts, conn.last_frame):
        return False  # a resent SYN could still come
    # Another connection of the same four-tuple: the connect's resent SYN, after the
    # rule's RST or before it (its last attempt). Not a traceroute's probe from the same
    # port (traceroute -T draws each probe's port at random: a TTL-1 probe's SYN and,
    # later, one that reached the port, each with its own sequence number).
    return ctx.four_tuple_count(conn) == 1 or not any(
        other is not conn and _same_four_tuple(other, conn) and not traceroute_probe(ctx, other)
        for other in ctx.between(conn.orig_h, conn.resp_h))


def _same_four_tuple(one: Connection, other: Connection) -> bool:
    return (one.orig_h, one.orig_p, one.resp_h, one.resp_p) == \
        (other.orig_h, other.orig_p, other.resp_h, other.resp_p)


def half_open_words(conn: Connection) -> str:
    """Step 1's detail for a half-open port check (half_open_check); its spans by
    durations.later_words: "reset it less than a microsecond later" where the RST shares
    the SYN-ACK's microsecond (verdicts56 traceroute-probes-beside-job read "0 ms later")."""
    answer = later_words(None if conn.synack_ts is None else conn.synack_ts - conn.ts,
                         "after the SYN")
    reset = later_words(reset_after(conn))
    return (f"a half-open port check (a SYN scan such as nmap -sS), not a job: the port "
            f"answered (SYN-ACK {answer}, {frame_text(conn.synack_frames[0])}) and "
            f"{conn.orig_h}'s TCP reset it {reset} (RST, {frame_text(conn.rst_frames[0])}) "
            "with no connection waiting for it; the SYN was never resent. The SYN-ACK "
            "arrived: the return path works")
