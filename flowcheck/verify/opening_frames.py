"""opening_frames: the frames that show how a connection opened, or failed to (its SYNs,
SYN-ACKs, ICMP answers, the completing ACK a listener never got, a stale ACK, a refusal's
RST), which a step's `frames` and a finding's default frames name (step 1, 2 or 4 of
flow-model.md's five steps, whichever connection it is). A function of the connection
alone; moved out of verify.context unchanged, which re-exports it (the checks import it
there)."""

from __future__ import annotations

from flowcheck.model import Connection
from flowcheck.sessions.classify import stale_answer
from flowcheck.sessions.syn_proxy import proxied_refusal
from flowcheck.verify.syn_too_big import syn_too_big_frames


def opening_frames(conn: Connection) -> list[int]:
    """The frames that show how the connection opened (or failed to); the originator's
    ACK completing the handshake when a SYN-ACK came after it (Connection.ack_frame:
    the ACK a listener that resent its SYN-ACK never got, sessions.unheard_ack), and
    path MTU's messages when nothing else answered the SYN (syn_too_big_frames: the
    capture's only packets back, no reject)."""
    frames = conn.syn_frames + conn.synack_frames + conn.icmp_frames + syn_too_big_frames(conn)
    if conn.ack_frame:
        frames = [*frames, conn.ack_frame]
    if stale_answer(conn):  # an earlier connection's ACK answering the SYN
        frames = [*frames, conn.stale_ack_frame]
    if conn.resp_rst and (not conn.established or proxied_refusal(conn)):
        frames += conn.rst_frames  # a refusal (behind a SYN proxy too), a reset after a SYN-ACK
    return frames or [conn.first_frame]
