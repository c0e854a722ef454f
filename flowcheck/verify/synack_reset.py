"""A SYN-ACK its originator answered with a RST instead of the ACK: the timeline and the
reading its timing supports.

SYN, SYN-ACK, then a RST from the side that connected (Zeek's RSTO, history ShR). A
SYN-ACK that came late (after SYN retries, or at least the retransmission timeout after
the first SYN) found the connect already timed out: with no connection waiting for it,
the connector's TCP answers it with a RST (RFC 9293 section 3.10.7.1, CLOSED state), so
the path is slow or lossy. So did a prompt one the connector never got: it sent its SYN
again after it (RFC 6298 5.7), with no reset between, and reset a later SYN-ACK, the one
that got through after its connect had timed out (`synacks_unreceived`; field check trial
37: 40% random loss on the return path). A prompt one otherwise means the connector gave
the connection up itself, or a rule on its side rejects the SYN-ACK with a reset (the
callers word that reading). Read by data_aborted (verify.aborted) and
handshake_incomplete (verify.handshake_incomplete).
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import Connection
from flowcheck.verify.capture_host import proven_host
from flowcheck.verify.context import Context
from flowcheck.verify.copy_counts import pair_copies
from flowcheck.verify.details import syn_count


def late_answer(ctx: Context, conn: Connection) -> bool:
    """Did the first SYN-ACK come late: after a resent SYN (captured after the second
    SYN), or at least the retransmission timeout after the first SYN (when TCP would have
    resent it)? SYNs resent only after a prompt SYN-ACK and its RST are no lateness: the
    connect was still waiting (`resent_after_reset`)."""
    if conn.syn_retries > 0 and (len(conn.syn_frames) < 2 or not conn.synack_frames
                                 or conn.synack_frames[0] > conn.syn_frames[1]):
        return True
    delay = elapsed(conn.syn_ts, conn.synack_ts)
    return delay is not None and delay >= ctx.config.retransmission_timeout


def resent_after_reset(conn: Connection) -> int:
    """How many SYNs (of those the record keeps) its originator sent after its RST: a
    connect still waiting resends its SYN from the same port (RFC 6298 5.7), so the
    SYN-ACK it answered with that RST never reached its socket; a rule on its host
    rejected it with a reset in its name (trial A of session 34: the agent's
    `tcp dport 6001-6100 reject with tcp reset`, no state match, read as a connect that
    had timed out)."""
    if not conn.rst_frames:
        return 0
    return sum(frame > conn.rst_frames[0] for frame in conn.syn_frames)


def synacks_unreceived(conn: Connection) -> list[int]:
    """The SYNs (frames, of those the record keeps) its originator resent after the first
    SYN-ACK the capture holds and before its RST: a connect resends its SYN only while
    it waits for a SYN-ACK (RFC 6298 5.7), so the SYN-ACKs before each never reached it,
    and no reset answered them (a rule rejecting them with a reset answers each one:
    `resent_after_reset`). [] when the SYN was not resent after a SYN-ACK, or no RST."""
    if not conn.syn_retries or not conn.synack_frames or not conn.rst_frames:
        return []
    first, reset = conn.synack_frames[0], conn.rst_frames[0]
    return [frame for frame in conn.syn_frames if first < frame < reset]


def unreceived_reading(ctx: Context, conn: Connection, resent: list[int]
                       ) -> tuple[str, str]:
    """The words and fix for `synacks_unreceived` (resent: its frames): the SYN-ACKs lost
    on their way back to the originator, which reset the one that got through late. Where
    they were lost is said when the TTLs or the Linux cooked marks show the capture's
    host (verify.capture_host.proven_host), or when
    the set holds two capture points and the SYN-ACKs fewer times than the responder's
    other packets to the originator (verify.copy_counts)."""
    orig, resp = conn.orig_h, conn.resp_h
    answered = [frame for frame in conn.synack_frames if frame < conn.rst_frames[0]][-1]
    late = elapsed(conn.syn_ts, conn.rst_ts)
    when = f", {span_words(late)} after its first SYN" if late is not None else ""
    times = "again" if len(resent) == 1 else f"again {len(resent)} times"
    head = (f"The SYN-ACK came at once, but {orig} sent its SYN {times} after it "
            f"({frames_words(resent, ranges=False)}) with no reset between: its connect "
            "never got the SYN-ACKs")
    got = (f"when one got through (its RST answered the SYN-ACK of {frame_text(answered)}{when}) "
           "its connect had timed out, and its TCP answered with a reset")
    on = proven_host(ctx, orig, resp)
    if on is not None and on.host == orig:
        return (f"{head}, although they reached it: the capture was taken on {orig} "
                f"({on.words}), and a tap sees arriving packets before the "
                f"host's firewall. Something on {orig} dropped them (its firewall: a rule "
                f"that drops or rate-limits its own connections' return traffic); {got}.",
                f"Check the firewall on {orig} (its input chain) for a rule that drops or "
                f"rate-limits TCP from {resp} port {conn.resp_p}; accept established "
                "connections ahead of it.")
    # The set holds each SYN at two capture points at least (a copy is never a retry),
    # each SYN-ACK fewer times (as often as the responder's other packets to the
    # originator when their payload tells it: copy_counts; lost packets leave it untold).
    twice = max(2, pair_copies(ctx, resp, orig))
    if (not ctx.host_copies and conn.orig_pkts >= 2 * len(conn.syn_frames)
            and conn.resp_pkts < twice * len(conn.synack_frames)):
        where = (f"between the capture points: the set holds each of {orig}'s SYNs at "
                 f"two points at least and {resp}'s SYN-ACKs fewer times, so they left the "
                 f"point nearer {resp} and never reached the one nearer {orig}")
    elif on is not None:
        where = (f"after they left {resp} (the capture was taken on {resp}: {on.words})"
                 if on.marked else
                 f"after they left {resp} (the capture was taken on {resp}, {on.words})")
    else:
        where = f"between the capture point and {orig}"
    return (f"{head}: they were lost on the way back, {where}; {got}. The path between "
            f"{orig} and {resp} loses packets, or a device on it drops the return traffic "
            "of new connections some of the time.",
            f"Find what drops packets from {resp} to {orig}: a lossy or congested link, a "
            "firewall, IPS or rate limit between the hosts that drops the return traffic "
            f"of new connections (its log; a capture on {orig} at the same time shows "
            f"where they are lost); the return traffic, TCP from {resp} port {conn.resp_p} "
            f"back to {orig} (established connections), must pass every firewall between.")


def rejected_words(conn: Connection, resent: int) -> str:
    """The reading of a prompt SYN-ACK reset by its originator whose SYN was then sent
    again (`resent_after_reset`, resent > 0)."""
    again = "again" if resent == 1 else f"again ({resent} times)"
    return (f"The SYN-ACK came at once, and {conn.orig_h} sent its SYN {again} from the same "
            "port after the reset: its connect was still waiting, so the SYN-ACK never "
            f"reached it. A rule on {conn.orig_h} rejects it with a reset in its name (a "
            "stateless firewall rule that does not let in the return traffic of its own "
            "connections, `reject with tcp reset`).")


def late_reading(conn: Connection, role: str) -> tuple[str, str]:
    """The words and fix for a reset after a late SYN-ACK (late_answer): the connect had
    timed out, the path is slow or lossy. role: who connected ("the media server")."""
    path = f"{conn.orig_h} and {conn.resp_h}"
    return (f"The port was reachable, but its answer came late: {conn.orig_h} had given up "
            "connecting by then (its connect timed out), and its TCP answered the late "
            f"SYN-ACK with a reset. The path between {path} is slow or loses packets (SYNs "
            "or SYN-ACKs lost or held up).",
            f"Find what delays or drops the first packets of new connections between "
            f"{path}: a lossy or congested link, a firewall or IPS slow to pass new "
            "connections, a host slow to accept (capture on both hosts at once to see "
            f"where they are lost); if the path is only slow, raise {role}'s connect "
            "timeout.")


def elapsed(start: float | None, end: float | None) -> float | None:
    """Seconds from start to end, never below 0; None when either is unknown."""
    return None if start is None or end is None else max(0.0, end - start)


def syns_sent(conn: Connection) -> tuple[int, str]:
    """How many SYNs were sent, and their words: "SYN (frame 22)", "SYN sent 3 times
    (frames 22, 23, 24)"."""
    syns = syn_count(conn)
    syn_frames = frames_words(conn.syn_frames, ranges=False, plural=syns > 1)
    return syns, (f"SYN sent {syns} times ({syn_frames})" if syns > 1
                  else f"SYN ({syn_frames})")


def reset_timeline(conn: Connection) -> str:
    """SYN, SYN-ACK and RST with their frames and the time between them."""
    syns, sent = syns_sent(conn)
    answer = elapsed(conn.syn_ts, conn.synack_ts)
    after = f" {span_words(answer)} after the first SYN" if syns > 1 and answer is not None \
        else f" {span_words(answer)} later" if answer is not None else ""
    reset = elapsed(conn.synack_ts, conn.rst_ts)
    reset_after = f" {span_words(reset)} after it" if reset is not None else ""
    return (f"{sent}, SYN-ACK from {conn.resp_h}{after} ({frame_text(conn.synack_frames[0])}), "
            f"RST from {conn.orig_h}{reset_after} ({frame_text(conn.rst_frames[0])}) instead of "
            f"the "
            "ACK that completes the handshake")
