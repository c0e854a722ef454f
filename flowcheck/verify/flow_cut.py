"""Step 5 of a session whose data connection failed on resent SYNs the capture ended
too soon after: whether data moved after the capture cannot be seen.

A data connection whose SYNs were resent with no answer failed (step 4: the contract's
"retransmitted SYNs"), but when the capture ended less than the retransmission timeout
after the last SYN, before the SYNs' spacing had the next resend due, with the job not
visibly stopped or moved on (verify.unresent.resend_cut), whether that SYN or a later
resend got through cannot be seen; step 4 says so. Step 5's "no data connection opened,
so no data moved" is then more than the capture shows: a resend that got through would
open the connection and carry the data after the capture's end (new user trial 58's
data-port-dropped.pcap cut with `editcap -r ... 1-24`, the capture ending 0 ms after
the second data SYN, the control connection open, read step 5 `missing`). So step 5 is
`unknown` there, as after_failed makes the later steps of a failed step the capture
ended before a visible stop of (verify.kind_shown, the notreached branch). The verdict
stays FAIL from step 4's finding.
"""

from __future__ import annotations

from itertools import groupby

from flowcheck.durations import ended_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session
from flowcheck.sessions.classify import seen_closing
from flowcheck.verify.context import Context, endpoint
from flowcheck.verify.kind_shown import still_open_words
from flowcheck.verify.unresent import resend_cut


def _cuts(ctx: Context, conns: list[Connection]) -> list[tuple[float, Connection]]:
    """resend_cut of each connection alone (step 4's words: unresent.failed_opening_words)
    and of each endpoint's attempts together (data_unanswered's: verify.failed_data), where
    not None: (seconds of capture after the last SYN, the attempt that sent it). An
    endpoint's lone attempt is asked once, alone: its group is the same one connection."""
    def where(conn: Connection) -> tuple[str, int]:
        return conn.resp_h, conn.resp_p

    groups = [group for _, found in groupby(sorted(conns, key=where), key=where)
              if len(group := list(found)) > 1]
    return [cut for attempts in ([[c] for c in conns] + groups)
            if (cut := resend_cut(ctx, attempts)) is not None]


def flow_after_cut(ctx: Context, session: Session, conns: list[Connection]) -> str | None:
    """Why step 5 of a session none of whose data connections `conns` opened is unknown
    rather than missing: some attempt's SYNs were resent unanswered and the capture ended
    within the retransmission timeout of the last (resend_cut), the control connection
    still open (no FIN or RST on it) and no end of the job on it after that SYN (no
    CONNECT_CLOSE, halt, stop, connect error or later announcement: unresent.ended_after).
    The words, without the "unknown: " prefix: "no data connection opened in the capture,
    but it ended 0 ms after the last SYN to 10.77.0.2:6001 (frame 24) with the control
    connection still open, ..." (what the capture shows of the control connection:
    kind_shown.still_open_words). None otherwise (step 5 as before)."""
    if seen_closing(ctx.by_uid[session.control_uid]):
        return None
    cuts = _cuts(ctx, conns)
    if not cuts:
        return None
    went, last = min(cuts, key=lambda cut: cut[0])
    to = endpoint(last.resp_h, last.resp_p)
    return (f"no data connection opened in the capture, but "
            f"{ended_words(went, f'the last SYN to {to}', 'it')} ({frame_text(last.last_frame)}) "
            f"{still_open_words(ctx, session)}: whether that SYN or a later resend got "
            "through and the data moved after the capture's end cannot be seen")
