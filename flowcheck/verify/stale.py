"""Control connections given up before the capture started: a late SYN-ACK and its RST.

A connect whose SYN-ACKs do not come (a rule drops them) times out, and the responder
goes on resending its SYN-ACK for a while after (Linux: tcp_synack_retries 5, resends
1, 2, 4, 8 and 16 s apart, the connection dropped 32 s after the last). A capture that
starts after the SYN can still catch such a resend, and the originator's TCP answers
it with a RST: no connection waits for it any more (RFC 9293 section 3.10.7.1). The
capture holds no SYN of it, only the SYN-ACK and the RST (Zeek's history ^hR).

That is no job of the capture: nothing of it can fail there, and the RST shows the
SYN-ACK arrived, so the return path works by then. When the capture holds the SYNs too
the timing reads it (flowcheck.verify.handshake_incomplete: a late SYN-ACK, the connect had timed
out: handshake_incomplete).
"""

from __future__ import annotations

from flowcheck.durations import later_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Said, Session, cites_of, connection_ends
from flowcheck.sessions.capture_start import gap_before
from flowcheck.sessions.classify import synack_reset_unseen_syn
from flowcheck.verify.context import Context

# The longest a responder resends its SYN-ACK after the last SYN it got, seconds: Linux's
# default tcp_synack_retries 5 (1 + 2 + 4 + 8 + 16 s, then 32 s until it gives up).
SYNACK_RESEND_SPAN = 63.0


def given_up_before(ctx: Context, conn: Connection) -> bool:
    """Is the control connection a late SYN-ACK resend of a connect given up before the
    capture (or a ring buffer's hole) started? synack_reset_unseen_syn, its first
    SYN-ACK within SYNACK_RESEND_SPAN of that start (or of its file's, in a set of files
    apart in time: _started) (later, the SYN would be in the
    capture: a sniffer that lost it is likelier), and no other connection of its
    four-tuple in the capture (a connect still waiting resends its SYN from the same
    port: RFC 6298 5.7)."""
    if conn.role != "control" or not synack_reset_unseen_syn(conn):
        return False
    return conn.ts - _started(ctx, conn)[0] <= SYNACK_RESEND_SPAN and \
        ctx.four_tuple_count(conn) == 1


def _started(ctx: Context, conn: Connection) -> tuple[float, Said | str]:
    """(when, where) the capture that holds `conn` last started before it (seconds, and
    given_up_where's words, a Said citing capture_ring_gap after a ring's hole): after a
    ring buffer's hole, else the start of its piece of the set (sources.pieces: a file
    given after another days before starts a capture of its own; mergedone:
    ndmjob-late-synack's resend read handshake_incomplete beside ndmjob's v4 backup, from
    that file's start), else the capture's."""
    gap = gap_before(ctx.ring_gaps, conn.ts)
    index = ctx.pieces.of(conn.ts)
    piece = ctx.pieces.start(index)
    if piece is not None and (gap is None or gap.end < piece):
        return piece, f"before {ctx.pieces.words(index)} started"
    if gap is not None:
        words = gap.words()
        return gap.end, Said(f"in {words}", cites_of(words))
    return ctx.capture_start, "before the capture started"


def given_up_where(ctx: Context, conn: Connection) -> Said | str:
    """"before the capture started", "in the gap between ring files A and B ...", or
    "before the file B of the capture set started"; a ring's hole's words cite
    capture_ring_gap (a Said: a step's detail built from them passes its cites on)."""
    return _started(ctx, conn)[1]


def given_up_words(ctx: Context, conn: Connection) -> Said:
    """Step 1's detail for a connection given_up_before (citing what given_up_where's
    words cite: review63c, a ring's hole read "(capture_ring_gap)" with no cites)."""
    reset = later_words(reset_after(conn))
    where = given_up_where(ctx, conn)
    return Said(f"not a job in the capture: a late SYN-ACK resend "
                f"({frame_text(conn.synack_frames[0])}) "
                f"of a connect given up {where}, reset by {conn.orig_h} {reset} "
                f"(RST, {frame_text(conn.rst_frames[0])}); the SYN-ACK arrived, so the "
                "return path works", cites_of(where))


def reset_after(conn: Connection) -> float | None:
    """Seconds from conn's first SYN-ACK to its first RST (None: either time unknown;
    negative: the clock set back between them), for durations.later_words; read by
    verify.half_open too."""
    if conn.rst_ts is None or conn.synack_ts is None:
        return None
    return conn.rst_ts - conn.synack_ts


def report_given_up(ctx: Context, session: Session, conn: Connection) -> None:
    """capture_started_mid_session (info) for a control connection given_up_before."""
    reset = later_words(reset_after(conn), "after it")
    where = given_up_where(ctx, conn)
    ctx.add("capture_started_mid_session",
            f"The capture started after session {session.id}'s control connection "
            f"{connection_ends(conn)} "
            f"had been given up: it holds only a late resend of the SYN-ACK from "
            f"{conn.resp_h} ({frame_text(conn.synack_frames[0])}), whose SYN came {where}, and "
            f"{conn.orig_h}'s RST {reset} ({frame_text(conn.rst_frames[0])}) instead of "
            f"the ACK. A TCP answers a SYN-ACK so when no connection waits for it (RFC 9293 "
            f"3.10.7.1): {conn.orig_h}'s connect had timed out or been abandoned {where}. "
            "No job ran on this connection in the capture, so nothing of it is judged; the "
            "SYN-ACK arrived and was answered, so the return path works by then.",
            "Nothing to fix in this capture. If a job failed when this connection was tried, "
            "capture from before that job starts to see why.",
            session=session, conn=conn,
            frames=[*conn.synack_frames, *conn.rst_frames[:1]])
