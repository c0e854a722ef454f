"""Whether the end of a control connection (its close or reset) can be ordered against
the job's start and halts when the capture stamps the two hosts on two clocks apart
(flowcheck.verify.two_clocks): control_closed and control_reset read "while the job was
running" from that order alone.

Two hosts' own captures merged (each host's `tcpdump -Q out`) stamp the agent's end of
the control connection on its clock and the media server's DATA_START_* on the other:
lab-trial19-refuse/w3-both-rst-close (three resources within 0.15 s, the agent resetting
the control connection after its last halt) merged with the agent's clock 0.5 s behind
had that RST stamped before the third resource's DATA_START_BACKUP, and read FAIL
control_reset "while the job's resource 3 was running" beside the job's true
data_halted_abnormally.
"""

from __future__ import annotations

from typing import Literal

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, NdmpStream, Session, other_direction
from flowcheck.sessions.classify import message_op
from flowcheck.verify.context import Context
from flowcheck.verify.first_close import peer_fin_first
from flowcheck.verify.replies import HALTS
from flowcheck.verify.two_clocks import (
    clock_doubt,
    clock_proofs,
    may_precede,
    report_clocks_apart,
)

__all__ = ["end_order_doubt", "reset_end_order"]


def end_order_doubt(ctx: Context, session: Session, stream: NdmpStream,
                    control: Connection, start: NdmpMessage | None,
                    end: tuple[str, int, float, str], reading: str, code: str) -> bool:
    """Whether the events the reading orders, the control connection's end `end`
    ((direction, frame, ts, words): its first FIN or the packet that shows it, or its
    first RST), the job's start (`start`) and the halts (NOTIFY_*_HALTED), include two
    of the two hosts' stamped within the proven lag of each other (two_clocks.clock_doubt):
    a halt stamped on the agent's clock before the start on the media server's may have
    come after it, an end before a halt or the start after them. Then capture_clocks_apart
    is reported instead (`reading`: what cannot be told; `code`: the finding not read),
    and True. The other host's later requests (a DATA_GET_STATE the closed socket
    answered with a RST) change nothing of the reading."""
    events = [end]
    events += [(m.direction, m.frame, m.ts, f"{message_op(m)} ({frame_text(m.frame)})")
               for m in stream.messages if m is start
               or (m.type != "reply" and message_op(m) in HALTS)]
    for direction, frame, ts, words in events:
        host, peer = control.host(direction), control.host(other_direction(direction))
        doubt = clock_doubt(ctx, host, peer, frame, ts,
                            ((f, t) for d, f, t, _ in events if d != direction))
        if doubt is not None:
            report_clocks_apart(ctx, session, control, doubt, words, reading, code)
            return True
    return False


def reset_end_order(ctx: Context, control: Connection, stream: NdmpStream | None,
                    conn: Connection) -> Literal["", "before", "after", "unknown"]:
    """Did the control connection end (its first FIN or RST, by frame) before or after
    the data connection `conn`'s first RST, where the two were sent by two hosts whose
    clocks the capture proves apart? "" when that does not apply (one clock, or one
    host sent both: its own packets keep their order in the file). A first FIN that
    answered the RST's sender's own FIN (first_close.peer_fin_first) puts that FIN first:
    its frame against the RST's, one host's packets (ndmjob-kill/dma-sigint-media, the
    DMA resetting its data connection 0.07 ms before closing the control connection,
    merged with the agent's clock 0.5 s or 2 s behind, had the agent's answering FIN
    written first, and read control_closed for its data_reset). Else the lag decides
    (two_clocks.may_precede), "unknown" when it allows either order."""
    closes = control.fin_frames[:1] + control.rst_frames[:1]
    if stream is None or not closes or not conn.rst_frames or not conn.first_rsts:
        return ""
    first = min(closes)
    packet = next((p for p in (stream.fin, stream.reset) if p is not None and p.frame == first),
                  None)
    if packet is None:
        return ""
    closer = control.host(packet.direction)
    rst_by = conn.first_rsts[0][1]
    proofs = clock_proofs(ctx)
    if closer == rst_by or ((closer, rst_by) not in proofs and (rst_by, closer) not in proofs):
        return ""
    reset_at, reset_ts = conn.rst_frames[0], conn.rst_ts if conn.rst_ts is not None \
        else conn.last_ts
    if packet is stream.fin and peer_fin_first(control, stream):
        own = [f for f in control.fin_frames if f > packet.frame]
        if not own:
            return "unknown"
        return "after" if own[0] > reset_at else "before"
    reset_first = may_precede(ctx, rst_by, reset_ts, closer, packet.ts)
    close_first = may_precede(ctx, closer, packet.ts, rst_by, reset_ts)
    return "unknown" if reset_first and close_first else "after" if reset_first else "before"
