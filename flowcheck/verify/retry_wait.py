"""The words for TCP's wait before a retry, beside a capture that ended before it.

flowcheck waits `Config.retransmission_timeout` (3 s unless set: the longer of the usual
initial retransmission timeouts, so a slow retry is never called a drop) of capture
after an unanswered SYN or SYN-ACK before its silence counts as evidence. That is
flowcheck's wait, not the hosts' timeout: the capture shows no retry to measure theirs
by (a connection it holds retried is judged on its retries), so the words give the
usual ones (RFC 6298 2.1: 1 s, Linux's; 3 s, older Windows' and RFC 1122's) and say
"before TCP would have retried" only of a capture that ended before the shorter of them,
or before the timeout the user set. New user trial 58: captures/lab/data-port-dropped.pcap
cut after frame 23 read "before TCP would have retried (3 s retransmission timeout)",
where the job's own SYN was resent 1.02 s after the first (frame 24).
"""

from __future__ import annotations

from flowcheck.config import Config

# TCP's shortest usual initial retransmission timeout (seconds): RFC 6298 2.1, Linux's
# TCP_TIMEOUT_INIT. A capture that ended sooner after a SYN ended before any retry.
SHORTEST_FIRST_RTO = 1.0

USUAL_RTO_WORDS = "TCP's first retransmission timeout is 1 s on Linux, 3 s on older Windows"


def before_retry_words(config: Config, after: float) -> str:
    """"before TCP would have retried (...)" for a capture that ended `after` seconds
    (less than config.retransmission_timeout) after an unanswered SYN or SYN-ACK: the
    timeout as set (--retransmission-timeout, the configuration file), else the usual
    ones (USUAL_RTO_WORDS), with "perhaps" where the capture ran past the shorter one."""
    rto = config.retransmission_timeout
    if "retransmission_timeout" in config.explicit:
        return f"before TCP would have retried ({rto:g} s retransmission timeout)"
    if after < SHORTEST_FIRST_RTO:
        return f"before TCP would have retried ({USUAL_RTO_WORDS})"
    return (f"perhaps before TCP would have retried ({USUAL_RTO_WORDS}; flowcheck waits "
            f"{rto:g} s, --retransmission-timeout)")


def seen_after_wait(config: Config, what: str) -> str:
    """verify.evidence.ended_early's `waits` for `what` ("the connection to it", "its
    reply") that flowcheck waits config.retransmission_timeout for: "the connection to
    it could be seen (flowcheck waits 3 s: --retransmission-timeout)"."""
    return (f"{what} could be seen (flowcheck waits {config.retransmission_timeout:g} s: "
            "--retransmission-timeout)")
