"""NDMP's own word that a refused data connection failed, for data_refused.

A DATA_CONNECT or MOVER_CONNECT answered with an error (NDMP_CONNECT_ERR), or a halt
with the reason CONNECT_ERROR, after the data connection's SYN was refused is the
connector's own confirmation of what the capture shows (field check 72, lab matrix seed
135 run 14: ndmjob's data connection rejected admin-prohibited at the media server, its
DATA_CONNECT answered NDMP_CONNECT_ERR in frame 17, which data_refused left unmentioned).
The finding names it, with its frames (verify.connect_said reads the control connection).
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.verify.connect_said import said_of
from flowcheck.verify.context import Context


def refusal_confirmed(ctx: Context, session: Session, conn: Connection
                      ) -> tuple[str, list[int]]:
    """(" NDMP's own word confirms the refusal: DATA_CONNECT (frame 11) was answered
    NDMP_CONNECT_ERR (frame 17) by the agent: its connect to the endpoint failed.",
    [11, 17]: the request's and the answer's frames) when the session's control
    connection says the connect to the endpoint `conn` reached failed
    (verify.connect_said.said_of: an error reply to the CONNECT, or to NDMPv2's
    DATA_START_* carrying the address, or a halt with CONNECT_ERROR); ("", []) when it
    says nothing of a failure."""
    said = said_of(ctx, session, conn)
    if said is None or said.outcome != "failed":
        return "", []
    frames = [f for f in (said.request, said.message.frame) if f]
    return f" NDMP's own word confirms the refusal: {said.words}.", frames
