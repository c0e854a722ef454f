"""A callback the capture lacks although the job visibly went on after it.

Backup Exec's agent announces its data port and moves data only after it has called the
job engine back: a job whose callback failed ends after CONNECT_CLOSE, before any
announcement (docs/lab.md; captures/lab/callback-blocked.pcap). So a session that went
on to announce an endpoint and move data over its data connections made its callback,
and a capture that holds none of it missed it (the sniffer lost its few packets, or a
filter left them out): step 2 is `unknown`, never `missing` (contract: packets the
capture did not see are not packets the network dropped; trial 25 D2). Only when the
media server sent the vendor message the job engine names its address in
(sessions.callback_elsewhere.job_engine_message): plain NDMP (Amanda's ndmjob) sends none
and never calls back, and its missing callback stays step_missing with its hint.
"""

from __future__ import annotations

from flowcheck.model import Session
from flowcheck.sessions.callback_elsewhere import job_engine_message
from flowcheck.verify.context import Context
from flowcheck.verify.filtered import data_moved, moved_words


def went_on_words(ctx: Context, session: Session) -> str:
    """Why a callback the capture does not hold must have happened ("" when the session
    shows no sign of going on past it): the session announced a data endpoint and then
    moved data, over a data connection that carried payload or by its NDMP messages'
    word (a normal halt, a state reply counting bytes), after the media server's vendor
    message (the job engine's address) asked for a callback."""
    asked = job_engine_message(ctx.stream_by_uid.get(session.control_uid))
    if not session.announced or asked is None:
        return ""
    first = min(session.announced, key=lambda a: a.ts)
    carried = sum(ctx.by_uid[uid].orig_bytes + ctx.by_uid[uid].resp_bytes
                  for uid in session.data_connections)
    moved = data_moved(ctx, session, first.ts)
    if not carried and moved is None:
        return ""
    shown = [f"{carried} B over {len(session.data_connections)} data "
             f"connection{'s' if len(session.data_connections) > 1 else ''}"] if carried \
        else []
    if moved is not None:
        shown.append(moved_words(moved))
    return (f"no callback in the capture, but the session went on past it: the media "
            f"server named its job engine (vendor message, frame {asked.frame}), "
            f"{first.message.removeprefix('NDMP_')} (frame {first.frame}) announced the "
            f"data endpoint and the data moved ({'; '.join(shown)}), which the job does only "
            "after the agent has called back. The callback most likely worked and the "
            "capture lacks it: the sniffer lost its packets, or a capture filter left them "
            "out")
