"""An announcement no connection was matched to, read across two clocks whose lag
nothing in the capture bounds from above (capture_clocks_apart, not announced_not_used).

Matching (flowcheck.sessions.matching) lets the connector's SYN, stamped on its clock,
come up to the lag's upper bound before the announcement its peer stamped on the other
(clock_apart.LagProof.upper). A lag proven only by an originator's data stamped before
its SYN-ACK, its SYN not in the capture (its host's own capture started after it), has
no upper bound (math.inf): matching allows its least, and a connection from the
connector to exactly the announced endpoint stamped further before the announcement may
still have followed it. ndmjob's good v4 backup merged with the agent's clock 10 s
behind and the agent's own capture started after its data SYN read FAIL
`announced_not_used` beside the job's data connection, stamped 10 s before its
DATA_CONNECT. Matching it anyway (an unbounded lag) would take any earlier connection to
the endpoint (a refused port check before the job: review 51c's false `data_refused`)
for the job's, so the reading is not made: the capture cannot tell whether that
connection followed the announcement (two_clocks.report_clocks_apart; step 4 unknown).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from flowcheck.frame_names import frame_text
from flowcheck.model import Announcement, Connection, Session, connection_ends
from flowcheck.sessions.classify import connector_host, listener_host
from flowcheck.sessions.local import wire_forms
from flowcheck.sessions.matching import ANNOUNCEMENT_JITTER_SECONDS
from flowcheck.verify.context import Context, endpoint
from flowcheck.verify.two_clocks import ClockDoubt, clock_proofs, doubt_words

__all__ = ["unbounded_doubt", "unbounded_words"]

CODE = "announced_not_used"


def unbounded_doubt(ctx: Context, session: Session, group: Sequence[Announcement]
                    ) -> tuple[ClockDoubt, Connection] | None:
    """(the doubt, the connection) when the group's connector is proven stamped behind
    the announcing host with no upper bound on the lag and the capture holds a
    connection from the connector to one of the group's endpoints (any wire form of the
    address) stamped before the window matching allowed (the announcement's stamp less
    the lag proven and ANNOUNCEMENT_JITTER_SECONDS) that no announcement was matched to:
    the nearest such before the announcement. None otherwise (the capture shows no
    such connection, or bounds the lag: matching's reading stands)."""
    control = ctx.by_uid.get(session.control_uid)
    if control is None or not group:
        return None
    first = group[0]
    connector, listener = connector_host(first, control), listener_host(first, control)
    proof = clock_proofs(ctx).get((connector, listener))
    if proof is None or math.isfinite(proof.upper):
        return None
    ends = {(form, a.port) for a in group for form in wire_forms(a.ip)}
    used = {a.used_by for s in ctx.sessions for a in s.announced if a.used_by}
    before = first.ts - ANNOUNCEMENT_JITTER_SECONDS - proof.lag
    found = [c for c in ctx.connections if c.orig_h == connector
             and (c.resp_h, c.resp_p) in ends and c.uid not in used and c.ts < before]
    if not found:
        return None
    conn = max(found, key=lambda c: (c.ts, c.first_frame))
    return (ClockDoubt(connector, conn.first_frame, conn.ts, connector, listener, proof,
                       (first.frame, first.ts)), conn)


def event_words(group: Sequence[Announcement], conn: Connection, *,
                named: bool = True) -> tuple[str, str]:
    """(the event, the reading) capture_clocks_apart names: "the connection 10.77.0.2:6015
    -> 10.77.0.1:5014 (its first packet, frame 5)", "whether a connection to
    10.77.0.1:5014 followed DATA_CONNECT (frame 1483)"; named False (a step's detail,
    after the announcement): "whether a connection to it followed"."""
    first = group[0]
    where = " or ".join(endpoint(a.ip, a.port) for a in group)
    return (f"the connection {connection_ends(conn)} (its first packet, "
            f"{frame_text(conn.first_frame)})",
            f"whether a connection to {where} followed {first.message.removeprefix('NDMP_')} "
            f"({frame_text(first.frame)})" if named else "whether a connection to it followed")


def unbounded_words(ctx: Context, session: Session, group: Sequence[Announcement]) -> str:
    """Step 4's reason its announcement's connection cannot be told (unbounded_doubt),
    "" when it can."""
    found = unbounded_doubt(ctx, session, group)
    if found is None:
        return ""
    doubt, conn = found
    event, reading = event_words(group, conn, named=False)
    return doubt_words(doubt, event, reading)
