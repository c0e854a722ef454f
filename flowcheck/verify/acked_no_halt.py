"""An agent that closed the control connection mid-job with no halt, read from the media
server's ACKs in a capture of the media server's packets only.

`tcpdump -Q out` on the media server (or a SPAN that sees one way) holds its requests,
never the agent's replies, halts or FIN: whether the agent halted before it closed is in
the direction the capture lacks (flowcheck.verify.one_way_end). But the media server's
ACK numbers count every byte the agent sent on the control connection (RFC 9293 3.4).
When its first FIN acknowledged one sequence number more than its packet before it, the
agent's FIN came first (flowcheck.verify.first_close); when, after the start request,
the media server acknowledged fewer bytes of the agent's (that FIN not counted) than the
request's reply and the smallest halt take together, no halt came before that FIN: the
data flowed after the request, so the agent had answered it (an agent answers a
DATA_START_* before its data moves), and what is left is too little for a
NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED. The agent ended the session mid-job, as a
whole capture shows it (`control_closed`; lab matrix seed 117 run 15: an agent killed
mid-backup, captured `-Q out` on the media server, read inconclusive, step 5 "whether
the agent halted, reset its connections or went silent first is in the direction the
capture lacks", while the media server's ACKs held 32 B and the FIN after
DATA_START_BACKUP).
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, NdmpStream, Session
from flowcheck.sessions import message_op, one_sided
from flowcheck.sessions.classify import JOB_STARTS
from flowcheck.tcp_sequence import seq_ahead
from flowcheck.verify.context import Context
from flowcheck.verify.first_close import peer_fin_first
from flowcheck.verify.one_way_data import data_carried
from flowcheck.verify.snapped_halts import readable_from

# Record mark (4) + NDMP header (24) + error (4): the reply to every DATA_START_* request
# (NDMP v2-v4).
START_REPLY_BYTES = 32
# Record mark + header + reason: NDMP v4's NOTIFY_DATA_HALTED and NOTIFY_MOVER_HALTED,
# the smallest halt (v2 and v3 add a text_reason string, 4 bytes at least).
HALT_MIN_BYTES = 32


def acked_no_halt(ctx: Context, session: Session, stream: NdmpStream, control: Connection,
                  start: NdmpMessage | None) -> int | None:
    """The agent's bytes (its FIN not counted) the media server acknowledged after its
    start request `start`, when they show the agent closed the control connection with no
    halt: `start` a DATA_START_* request (JOB_STARTS: its reply an error code alone; a
    MOVER_LISTEN's names an address), the capture holding none of the agent's packets of
    it (one_sided "resp"), no byte of it missed and the stream readable from `start` on
    (snapped_halts.readable_from), `start` the media server's last message before its
    first FIN, a data connection of the session that carried data after it
    (one_way_data.data_carried), that FIN acknowledging one sequence number past the media
    server's packet before it (the agent's FIN came first: first_close.peer_fin_first),
    and those bytes fewer than START_REPLY_BYTES + HALT_MIN_BYTES; None otherwise. The
    ACK numbers are the raw 32-bit ones (NdmpStream.last_message_ack, fin_ack)."""
    fin = stream.fin
    if (start is None or message_op(start) not in JOB_STARTS or start.type != "request"
            or one_sided(control) != "resp" or control.missed_bytes
            or fin is None or fin.direction != "orig" or stream.fin_ack is None
            or not peer_fin_first(control, stream)
            or not readable_from(stream, control, start.frame)):
        return None
    own = [m for m in stream.messages if m.direction == "orig" and m.frame < fin.frame]
    acked = stream.last_message_ack.get("orig")
    if not own or own[-1] is not start or acked is None:
        return None
    sent = seq_ahead(stream.fin_ack, acked) - 1  # less the agent's FIN (mod 2**32)
    if not 0 <= sent < START_REPLY_BYTES + HALT_MIN_BYTES:
        return None
    if not any(conn.last_ts > start.ts for conn in data_carried(ctx, session)):
        return None
    return sent


def acked_no_halt_words(control: Connection, start: NdmpMessage, sent: int) -> str:
    """control_closed's words for acked_no_halt's reading (`sent`: its bytes)."""
    media, agent = control.orig_h, control.resp_h
    return (f"The capture holds only {media}'s packets of the control connection (the "
            f"agent's replies and halts not captured), but its ACKs count {agent}'s bytes: "
            f"after {message_op(start)} ({frame_text(start.frame)}) it acknowledged {sent:,} B of "
            f"them (the reply to it is {START_REPLY_BYTES:,} B, and the data flowed after "
            f"it), then only {agent}'s FIN, which its own FIN acknowledges: too few for a "
            f"halt besides the reply (a NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED is "
            f"{HALT_MIN_BYTES:,} B or more), so none came before the close. ")
