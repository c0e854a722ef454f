"""A full-connect port check of the NDMP port: no job (new-user trial 23, D2).

Monitoring checks (Nagios check_tcp, PowerShell Test-NetConnection, a load balancer's
health check) open a TCP connection to the port, perhaps read what the service says
first, and close it without sending a byte. On the NDMP port the agent greets the new
connection (NDMP_NOTIFY_CONNECTED) and waits for the DMA's CONNECT_OPEN; a connection
its originator closed having sent nothing never opened an NDMP session: no job was
started on it, so nothing the job would have done next (Backup Exec's callback, the
announcements, the data connections) was due. Like the half-open port check
(flowcheck.verify.half_open.half_open_check): step 1 ok, saying what it was, the later
steps not_applicable, no finding.

A capture that shows such a check only in part (one direction, the snap length, lost
packets: field check 20 D7) cannot prove it was one, nor that it was a job whose
callback is missing: callback_not_due words why step 2 stays `unknown`. So does a
connection on the NDMP port whose one captured side speaks another protocol (a Webmin
on 10000 seen one way: sessions.other_protocol.one_way_protocol).
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import NdmpStream, Session, other_direction
from flowcheck.sessions.classify import closing, message_op, one_sided, seen_closing
from flowcheck.sessions.other_protocol import one_way_protocol, opening_words
from flowcheck.verify.after_close import control_close
from flowcheck.verify.context import Context
from flowcheck.verify.evidence import is_open, judged
from flowcheck.verify.stream_evidence import UNREAD_STREAM, stream_hidden, stream_whole

# Why such a session has no kind (Session.kind_unknown_why).
KIND_WHY = "a port check: the media server sent nothing and closed the connection"


def connect_check(ctx: Context, session: Session) -> bool:
    """Is the session a full-connect port check? Its control connection opened (the
    handshake in the capture), its originator sent not one byte on it (none missed, none
    acknowledged unseen) and closed it first (FIN or RST), the capture shows the whole
    control conversation (both directions: stream_whole; nothing at all either way
    counts as whole), the agent said nothing but a greeting that accepted the connection
    (a greeting with the reason REFUSED or SHUTDOWN turned the session away: the agent's
    doing), and nothing of a job is tied to it (callback, announcements, data
    connections) nor a root cause reported (ndmp_no_reply: a greeting never sent while
    the media server waited)."""
    control = ctx.by_uid[session.control_uid]
    if (control.role != "control" or judged(ctx, control) != "established"
            or control.orig_bytes or control.missed_bytes or control.orig_acked_unseen
            or session.callback_uid or session.announced or session.data_connections
            or ctx.causes.get(session.id)):
        return False
    if not seen_closing(control) or closing(control)[0] != "originator":
        return False
    stream = ctx.stream_by_uid.get(control.uid)
    if stream is None or not (stream.messages or stream.findings):
        # No NDMP byte either way (a stream then holds only the close): the agent's
        # bytes, if any, decoded as nothing; a wait the greeting may have ended is none.
        return not control.resp_bytes and unseen_wait(ctx, session) is None
    if not stream_whole(ctx, session, stream):
        return False
    return all(m.direction == "resp" and _greeting_accepts(m.name, m.body)
               for m in stream.messages)


def _greeting_accepts(name: str, body: dict) -> bool:
    """A NOTIFY_CONNECTED (v4: NOTIFY_CONNECTION_STATUS) whose reason, when decoded,
    is CONNECTED."""
    return name.removeprefix("NDMP_") == "NOTIFY_CONNECTED" and \
        body.get("reason", "CONNECTED") == "CONNECTED"


def connect_check_words(ctx: Context, session: Session) -> str:
    """Step 1's detail for a port check (connect_check): what the capture shows of it."""
    control = ctx.by_uid[session.control_uid]
    stream = ctx.stream_by_uid.get(control.uid)
    greeting = stream.messages[0] if stream is not None and stream.messages else None
    how = "reset" if closing(control)[1] == "RST" else "closed"
    close = control_close(stream)
    opened = control.synack_ts if control.synack_ts is not None else control.ts
    late = greeting is not None and close is not None and greeting.frame > close.frame
    said = (f"the agent greeted it (NOTIFY_CONNECTED, {frame_text(greeting.frame)}) and "
            if greeting is not None and not late else "")
    when = "" if close is None else \
        f" {span_words(max(0.0, close.ts - opened))} after it opened ({frame_text(close.frame)})"
    if late and greeting is not None:  # the greeting came after the close: say so
        when += f", before the agent's greeting (NOTIFY_CONNECTED, {frame_text(greeting.frame)})"
    return (f"a port check (connect and close), not a job: {said}{control.orig_h} "
            f"sent nothing and {how} the connection{when}, as a monitoring check (Nagios "
            "check_tcp, Test-NetConnection, a load balancer's health check) does; no NDMP "
            "session was opened, so no callback or data connection was due. The port "
            "answered: the way to it and back works")


def unseen_wait(ctx: Context, session: Session) -> str | None:
    """Why a session is no port check although its media server sent nothing and closed
    the control connection: it waited at least the retransmission timeout before the
    close, and the capture lacks the agent's direction of it, where a greeting (or its
    absence: ndmp_no_reply) would show. A monitoring check closes at once; a media
    server that waited was waiting for the agent, and whether the agent greeted it
    cannot be seen (no evidence either way). None for any other session."""
    control = ctx.by_uid[session.control_uid]
    if control.orig_bytes or one_sided(control) != "resp" or not seen_closing(control) \
            or closing(control)[0] != "originator":
        return None
    close = control_close(ctx.stream_by_uid.get(control.uid))
    opened = control.synack_ts if control.synack_ts is not None else control.ts
    if close is None or close.ts - opened < ctx.config.retransmission_timeout:
        return None
    return (f"{control.orig_h} sent nothing and closed the connection "
            f"{span_words(close.ts - opened)} after it opened ({frame_text(close.frame)}), not at "
            "once as a port check does: it waited, and the capture holds only one direction "
            f"of the control connection (nothing from {control.resp_h} to {control.orig_h}), "
            "so whether the agent greeted it (NDMP_NOTIFY_CONNECTED) cannot be seen")


def callback_not_due(ctx: Context, session: Session) -> str:
    """Why no callback may have been due in a session without one, which the capture
    cannot show ("" when it can): the session's one captured side spoke another
    protocol on the NDMP port, or the capture shows its control conversation only in
    part (stream_whole) and, of that part, nothing past the agent's greeting: no NDMP
    request from the media server (none decoded, no payload captured, at most a FIN's
    one byte acknowledged unseen) and no reply of the agent's. Backup Exec's agent
    calls back only after the media server's requests (its vendor message names the
    job engine), and a port check (connect_check) sends none."""
    control = ctx.by_uid[session.control_uid]
    stream = ctx.stream_by_uid.get(control.uid)
    # (A session in TLS from its first byte was proven NDMP's: sessions.tls_start.)
    foreign = None if stream is not None and stream.tls_from else \
        one_way_protocol(control, stream)
    if foreign is not None:
        side, protocol, first = foreign
        speaker, other = control.host(side), control.host(other_direction(side))
        return (f"{speaker}'s bytes on the control connection are not NDMP ({protocol}: "
                f"{opening_words(first)}): another program, not an NDMP session a callback "
                f"would follow; the capture holds nothing {other} sent on it (one direction "
                "only), so whether it was a job that met that program cannot be seen")
    if (control.role != "control" or not is_open(judged(ctx, control))
            or control.orig_bytes
            or session.announced or session.cut_announcements or session.data_connections
            or ctx.causes.get(session.id) or stream_whole(ctx, session, stream)
            or not _greeted_only(stream)):
        return ""
    if control.orig_acked_unseen > 1:  # a FIN counts one: bytes the agent read, unanswered
        return _unanswered_bytes(ctx, session, stream)
    unread = next((f.code for f in (stream.findings if stream else [])
                   if f.code in UNREAD_STREAM), "ndmp_partial")
    hidden = stream_hidden(ctx, session, stream) or \
        f"part of the control stream was not read as NDMP messages ({unread})"
    return (f"{hidden}, and what it holds of the control connection shows no NDMP request "
            f"from {control.orig_h} and no answer from {control.resp_h} but its greeting: "
            "a port check (connect and close) sends none, and the agent calls back only "
            "after the media server's requests, so whether a callback was due cannot be seen")


def _greeted_only(stream: NdmpStream | None) -> bool:
    """Does the stream hold at most the agent's greeting (its reason, if cut, unknown)?"""
    return all(m.direction == "resp" and message_op(m) == "NOTIFY_CONNECTED"
               for m in (stream.messages if stream else []))


def _unanswered_bytes(ctx: Context, session: Session, stream: NdmpStream | None) -> str:
    """Why no callback was due, in a capture of the agent's side of the control connection
    alone, when the agent acknowledged bytes of the media server's it never answered: its
    greeting its only message, every byte of its side captured (no gap, no snap length
    cut), then the connection closed. An NDMP server answers each request it reads (NDMP
    v4: every request has a reply), so no job started there that a callback would follow:
    another protocol's client on the port (trial23-other-protocol/http-probe-ndmp-agent cut
    to the agent's packets read step 2 missing). "" when the capture does not show that."""
    control = ctx.by_uid[session.control_uid]
    if (one_sided(control) != "orig" or control.missed_bytes or stream is None
            or stream.snap_cut or not (control.fin_frames or control.rst_frames)):
        return ""
    return (f"{stream_hidden(ctx, session, stream)}, and what it holds shows the agent "
            f"{control.resp_h} acknowledging {control.orig_acked_unseen:,} B from "
            f"{control.orig_h} (a FIN counts one) and answering none of it (its greeting its "
            "only message) before the connection closed: an NDMP server answers each request it "
            "reads, so no job started on it that a callback would follow (another "
            "protocol's client on the NDMP port, such as an HTTP probe, sends bytes no NDMP "
            "server answers); what those bytes were cannot be seen")
