"""callback_unanswered for a callback's lone SYN (flowcheck.verify.unresent.lone_syn):
one SYN, no answer, never resent, and its job visibly stopped after it.

The capture lacks what TCP sends next (the SYN's resends, RFC 6298 5.7) or what stopped
them (a RST or ICMP reject): the sniffer lost packets there, so the capture alone cannot
tell a drop from a reject (trial 25 D4). Unlike a data connection's
(flowcheck.verify.lone_data_syn) no NDMP message answers for the callback: the job
engine's address travels in a vendor message, answered before the agent connects
(captures/lab/callback-blocked.pcap: the reply in frame 16, the SYN in frame 17), and
the media server learns of the callback only by accepting it, which neither a drop nor a
reject lets it do. What the control connection does show is that the job stopped after
the SYN: the session closed with no announcement and no data after it
(unresent.stopped_after), so step 2 failed. The words name that close (who, its frame,
how long after the SYN) and what the capture lacks; the fix names both readings, the
agent's log that tells them apart, and the sniffer's loss (it named the allow rule for a
drop alone).
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, Session
from flowcheck.ndmp.protocol import is_vendor_code
from flowcheck.sessions.callback_elsewhere import job_engine_message
from flowcheck.sessions.classify import message_op
from flowcheck.verify.after_close import closed_words, control_close
from flowcheck.verify.capture_time import after_last
from flowcheck.verify.context import Context, endpoint
from flowcheck.verify.lone_data_syn import both_readings_fix
from flowcheck.verify.refusals import callback_refused_fix
from flowcheck.verify.unresent import unresent_words


def _stop(ctx: Context, session: Session, conn: Connection) -> tuple[str, float | None]:
    """(words, seconds after the SYN; None when its time is not kept) of how the job
    stopped after the callback's SYN: a CONNECT_CLOSE request after it (the media
    server's), else the control connection's first FIN or RST (after_close.closed_words)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    messages = stream.messages if stream is not None else []
    close = next((m for m in messages if message_op(m) == "CONNECT_CLOSE"
                  and m.type == "request" and m.ts >= conn.ts), None)
    if close is not None:
        who = "the media server" if close.direction == "orig" else "the agent"
        return f"{who} closed the session (CONNECT_CLOSE, {frame_text(close.frame)})", close.ts
    closed = control_close(stream)
    if closed is not None:
        return closed_words(session, closed), closed.ts
    return "the session's control connection closed", None


def _agent_after(ctx: Context, session: Session, conn: Connection, until: float | None
                 ) -> NdmpMessage | None:
    """The agent's first vendor message (undecoded) between the SYN and the stop."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    end = float("inf") if until is None else until
    return next((m for m in (stream.messages if stream is not None else [])
                 if m.direction == "resp" and is_vendor_code(m.code)
                 and conn.ts <= m.ts <= end), None)


def lone_callback(ctx: Context, session: Session, conn: Connection, rule: str
                  ) -> tuple[str, str]:
    """(words, fix) of callback_unanswered for a lone SYN whose job stopped after it: the
    words go on from "(step 2) and " (no final stop), the fix is whole. rule: the allow
    rule for a drop (allow_rules.allow_rule's words)."""
    stop, ts = _stop(ctx, session, conn)
    # A close before the SYN (stopped_after takes any close the capture holds): the job
    # had ended when the agent called back.
    when = (f" {span_words(conn.ts - ts)} before its SYN, so the job had ended by then"
            if ts is not None and ts < conn.ts else
            f"{'' if ts is None else f' {span_words(ts - conn.ts)} after its SYN'} with nothing "
            "further, so the job stopped after it")
    engine = job_engine_message(ctx.stream_by_uid.get(session.control_uid))
    address = ("" if engine is None else
               f" (the job engine's address travels in a vendor message, "
               f"{frame_text(engine.frame)})")
    vendor = _agent_after(ctx, session, conn, ts)
    unread = ("" if vendor is None else
              f"; the agent's vendor message after the SYN ({frame_text(vendor.frame)}) is "
              "not decoded")
    seen = unresent_words(ctx, conn, after_last(ctx, conn))
    words = (f"failed: {stop}{when}; whether a firewall dropped or rejected it the capture "
             f"cannot tell. {seen[:1].upper()}{seen[1:]}; and no NDMP message reports how "
             "the agent's connect ended"
             f"{address}{unread}")
    refused = callback_refused_fix(ctx, conn, session)
    fix = both_readings_fix(
        rule, refused,
        f"no NDMP message says how the callback failed: the agent {conn.orig_h}'s log does "
        f"(\"timed out\": dropped; \"connection refused\": rejected, or nothing listened on "
        f"{endpoint(conn.resp_h, conn.resp_p)})")
    return words, fix
