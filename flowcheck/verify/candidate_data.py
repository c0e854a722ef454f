"""Steps 4 and 5's words when step 2 names connections that may be the callback among
the session's data connections (cutcb64b).

A job that ends as the capture begins leaves its callback and a data connection closing
together, of the same shape where the capture cannot tell their direction
(verify.closing_candidates): step 2 names them, "C1 ... or C2 ... may be this session's
callback", while sessions.capture_start had matched them by ports as data connections,
so steps 4 and 5 counted the callback among them ("data connections for 2 of the 3
configured resources": field47-tls-matrix/agent-killed-tls-loss from frame 729, where
C2 10.77.1.2:6013 -> 10.77.0.1:5001 is the whole capture's callback).
`note_callback_candidates(ctx, session)` appends that to those steps.
"""

from __future__ import annotations

from dataclasses import replace

from flowcheck.model import Connection, Session
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.only_closing import CLOSING_SECONDS, close_ts
from flowcheck.verify.closing_candidates import closing_candidates
from flowcheck.verify.context import Context

_DATA_KINDS = ("data_connection", "data_flow")


def note_callback_candidates(ctx: Context, session: Session) -> None:
    """Append to the session's steps of the data connections (profile kinds
    data_connection, data_flow) that those of its data connections step 2 names as
    maybe its callback (closing_candidates) are counted there as data connections, one
    of them perhaps the callback instead (step 2 named it, or them, when the session has
    no callback: each may be it, whichever the capture cannot tell); nothing when step 2
    names none of them. The steps' statuses stay: they judge what the capture shows."""
    control = ctx.by_uid[session.control_uid]
    data = set(session.data_connections)
    named = [c.uid for c in closing_candidates(ctx, session, control) if c.uid in data]
    if not named:
        return
    which = named[0] if len(named) == 1 else ", ".join(named[:-1]) + f" and {named[-1]}"
    note = (f"; {which}, counted here among the data connections, may be the callback "
            "instead (step 2: the capture cannot tell)" if len(named) == 1 else
            f"; {which} are counted here among the data connections, and one of them may be "
            "the callback instead (step 2: the capture cannot tell which)")
    for index, spec in enumerate(ctx.profile.steps):
        if spec.kind in _DATA_KINDS and index < len(session.steps):
            step = session.steps[index]
            session.steps[index] = replace(step, detail=step.detail + note)


def closing_beside(control: Connection, conns: list[Connection]) -> bool:
    """Did the control connection, open before the capture (outcome midstream), show its
    close (its first FIN or RST: only_closing.close_ts) before the first captured packet
    of each of `conns` (data connections with no opening captured) or within
    only_closing.CLOSING_SECONDS after it? The capture then holds the job's end, and a
    data connection first seen beside it, no FIN of it captured, is the job closing, not
    a transfer the capture ended too soon to see (verify.evidence's capture_ended_early
    is not due: lab-trial17/mtu-blackhole-media from frame 41 and
    lab-trial28-ndp/routed-ptb-blackhole-agent from 68, the data connection first seen at
    the agent's ACK of the media server's FIN, read "The capture ended 4.39 ms after the
    data connection C2's first captured packet" once the callback beside it was no
    longer counted among the data connections)."""
    closed = close_ts(control)
    return (closed is not None and connection_outcome(control) == "midstream"
            and all(connection_outcome(c) == "midstream"
                    and c.ts >= closed - CLOSING_SECONDS for c in conns))
