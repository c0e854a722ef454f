"""A job the capture shows from its data server's side only (field check 38): tcpdump
`-Q in` on the media server holds the agent's packets of the control connection, its
replies and posts, never the media server's requests. The job's DATA_START_* request is
then unseen, but the agent's reply to it is there, and so are the halts it notifies
(NOTIFY_DATA_HALTED travels the captured direction): an agent that closed the control
connection after a successful start with no halt in between ended the session while the
job ran, as a whole capture of it reads (control_closed; a killed agent passed, step 5
`ok` on the bytes its data connection carried before it died)."""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, NdmpStream
from flowcheck.sessions import closing, message_op, one_sided
from flowcheck.sessions.classify import JOB_STARTS
from flowcheck.verify.first_close import peer_fin_first
from flowcheck.verify.hidden_ends import active_mover_replies
from flowcheck.verify.replies import HALTS
from flowcheck.verify.snapped_halts import readable_from


def agent_start(stream: NdmpStream, control: Connection) -> NdmpMessage | None:
    """The agent's last successful reply to a DATA_START_* request when the capture holds
    only the agent's direction of the control connection (one_sided "orig") and shows it
    readable from that reply on (snapped_halts.readable_from): where the job's start
    shows when its request does not. Without one, a three-way job's tape agent's last
    successful MOVER_LISTEN reply whose endpoint a connection reached (its mover went
    active: hidden_ends.active_mover_replies, as three_way_close.job_starts reads a
    mover's start). None else."""
    if one_sided(control) != "orig":
        return None
    # A reply whose error word the snap length cut counts, as hidden_ends.lost_start's
    # does (running._start_refused reads a DMA that acted refused; started_one_way, a
    # close the DMA began).
    replies = [m for m in stream.messages if m.type == "reply" and m.direction == "resp"
               and message_op(m) in JOB_STARTS and not m.error]
    if not replies:
        replies = active_mover_replies(
            (m for m in stream.messages if m.type == "reply" and m.direction == "resp"
             and not m.error), stream.announcements)
    if not replies or not readable_from(stream, control, replies[-1].frame):
        return None
    return replies[-1]


def started_one_way(stream: NdmpStream, control: Connection, lost: int = 0
                    ) -> NdmpMessage | None:
    """agent_start when the agent then closed the connection (its FIN) or reset it (a
    RST in its name: the second read of field check 41, the agent's own abort of the
    session read PASS) with no NOTIFY_*_HALTED after that reply; None else (any halt,
    or the media server's close, keeps the session judged as before). The agent's FIN
    may answer the media server's, which the capture lacks (first_close.peer_fin_first):
    the job ended all the same, and control_closed names the media server. lost: the
    frame of the agent's packet that shows its FIN the capture lacks when the capture
    holds no FIN nor RST of the connection (flowcheck.verify.lost_fin; 0: none), its
    close then."""
    closer, how = closing(control)
    end = (control.fin_frames[:1] if how == "FIN" else [control.resp_rst_frame])[0] \
        if closer == "responder" and (control.fin_frames or how == "RST") else lost
    if not end:
        return None
    start = agent_start(stream, control)
    if start is None or start.frame > end:
        return None
    if start.error_unknown and peer_fin_first(control, stream):
        return None  # the DMA closed first, as after a refusal the cut error may hold
    if any(message_op(m) in HALTS and m.frame > start.frame for m in stream.messages):
        return None
    return start


def one_way_words(control: Connection, start: NdmpMessage) -> str:
    """What the one direction shows, for control_closed's message."""
    cut = "; its error word not captured, the agent closing first" \
        if start.error_unknown else ""
    return (f"The capture holds only {control.resp_h}'s packets of the control connection "
            f"(the media server's requests not captured): its reply to "
            f"{message_op(start)} ({frame_text(start.frame)}{cut}) shows the job started, "
            "and the halts it would notify travel that same direction: none came before its "
            "FIN. ")
