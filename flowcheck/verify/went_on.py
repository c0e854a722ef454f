"""A callback the capture lacks although the job visibly went on after it.

Backup Exec's agent announces its data port and moves data only after it has called the
job engine back: a job whose callback failed ends after CONNECT_CLOSE, before any
announcement (docs/lab.md; captures/lab/callback-blocked.pcap). So a session that went
on to announce an endpoint and move data over its data connections made its callback,
and a capture that holds none of it missed it (the sniffer lost its few packets, or a
filter left them out): step 2 is `unknown`, never `missing` (contract: packets the
capture did not see are not packets the network dropped; trial 25 D2). Only when the
media server sent the vendor message the job engine names its address in
(sessions.callback_elsewhere.job_engine_message), or the agent answered one the capture
lacks (one direction captured, field check 20 D6): plain NDMP (Amanda's ndmjob) sends none
and never calls back, and its missing callback stays step_missing with its hint. An
announcement whose address the snap length cut still shows the job went on.
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import NdmpMessage, NdmpStream, Session
from flowcheck.ndmp.protocol import is_vendor_code
from flowcheck.sessions.callback_elsewhere import job_engine_message
from flowcheck.verify.context import Context
from flowcheck.verify.filtered import data_moved, moved_words
from flowcheck.verify.stream_evidence import message_ts


def went_on_words(ctx: Context, session: Session) -> str:
    """Why a callback the capture does not hold must have happened ("" when the session
    shows no sign of going on past it): the session announced a data endpoint (its
    message read, or only its address cut by the snap length) and then moved data, over
    a data connection that carried payload or by its NDMP messages' word (a normal halt,
    a state reply counting bytes), after the media server's vendor message (the job
    engine's address) asked for a callback, or the agent answered one the capture lacks
    (one direction captured, or the sniffer lost it)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    asked = _asked_words(stream)
    unread = " (its address cut by the snap length)" \
        if session.match_reason == "snap_length" else " (its address not read)"
    announced = [(a.ts, a.frame, a.message, "") for a in session.announced] + [
        (message_ts(ctx, session, frame), frame, name, unread)
        for frame, name, _ in session.cut_announcements]
    if not announced or not asked:
        return ""
    ts, frame, name, cut = min(announced)
    carried = sum(ctx.by_uid[uid].orig_bytes + ctx.by_uid[uid].resp_bytes
                  for uid in session.data_connections)
    moved = data_moved(ctx, session, ts)
    if not carried and moved is None:
        return ""
    shown = [f"{carried:,} B over {len(session.data_connections)} data "
             f"connection{'s' if len(session.data_connections) > 1 else ''}"] if carried \
        else []
    if moved is not None:
        shown.append(moved_words(moved))
    return (f"no callback in the capture, but the session went on past it: {asked}, "
            f"{name.removeprefix('NDMP_')} ({frame_text(frame)}) announced the data endpoint{cut} "
            f"and the data moved ({'; '.join(shown)}), which the job does only after the "
            "agent has called back. The callback most likely worked and the capture lacks "
            "it: the sniffer lost its packets, or a capture filter left them out")


def _asked_words(stream: NdmpStream | None) -> str:
    """How the capture shows the job engine asked for a callback ("" when it does not):
    the media server's vendor message, else the agent's reply to one."""
    asked = job_engine_message(stream)
    if asked is not None:
        return f"the media server named its job engine (vendor message, {frame_text(asked.frame)})"
    answer = _vendor_answer(stream)
    if answer is None:
        return ""
    return (f"the agent answered the media server's vendor message (its reply, "
            f"{frame_text(answer.frame)}; the request, which names the job engine, is not in the "
            "capture)")


def _vendor_answer(stream: NdmpStream | None) -> NdmpMessage | None:
    """The agent's first reply to a vendor message (a code in a vendor range): proof the
    media server sent one, though the capture lacks it."""
    return next((m for m in (stream.messages if stream else [])
                 if m.direction == "resp" and m.type == "reply" and is_vendor_code(m.code)),
                None)
