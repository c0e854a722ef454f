"""Was a stalled data connection's receiver heard after the data stopped? Its messages
or its FIN on the control connection show it up and reachable then, so only the data
connection's packets were lost (trial 23 D9, trial 26 D9; flowcheck.verify.stalled_transfer).
"""

from __future__ import annotations

from flowcheck.connections.endpoint import EVIDENCE_CAP
from flowcheck.model import Connection, ControlPacket, NdmpMessage, NdmpStream, Session
from flowcheck.sessions import one_sided
from flowcheck.verify.first_close import peer_fin_first
from flowcheck.verify.stalled import (
    Stall,
)


def carried_nothing(conn: Connection) -> bool:
    """Did the connection carry no payload byte either way (none missed either, and no
    byte of a side the capture lacks acknowledged by the other: more than the one
    sequence number a FIN takes, Connection.orig_acked_unseen), its opening in the
    capture (a connection the capture joined after it opened may have carried its data
    before: field check trial 37b, a capture started after the job's data read "never
    carried data"; a capture of the media server's packets only, whose ACKs acknowledge
    the agent's 699,568 B, read it too)?"""
    return (not conn.orig_bytes and not conn.resp_bytes and not conn.missed_bytes
            and conn.orig_acked_unseen <= 1 and conn.resp_acked_unseen <= 1
            and (conn.syn_seen or conn.synack_seen))


def heard_after(session: Session, messages: list[NdmpMessage], halt: NdmpMessage | None,
                receiver: str, stall: Stall, conn: Connection | None = None
                ) -> NdmpMessage | None:
    """The first control-connection message the stall's receiver sent after the data
    stopped: the receiver host was up and its packets reached the capture point then;
    None when none. After the stall's first resend (else its latest); for an unanswered
    FIN (stall.fin, whose data stopped at a time the capture does not show) the job's
    halt (it reports the data connection's end, so it came after the data stopped),
    else any message after the closer's first FIN (the closer gave up on the data); but
    on a connection that carried nothing (carried_nothing: no data ever stopped) any
    message between the closer's first FIN and its last resend."""
    side = "resp" if session.remote_agent == receiver else "orig"
    if session.media_server != receiver and side == "orig":
        return None
    if stall.fin and conn is not None and carried_nothing(conn):
        # Nothing flowed on it (trial 25 D9): a message after the closer's first FIN,
        # which it resent after it and never had answered, shows the receiver up then.
        return next((m for m in messages if m.direction == side
                     and conn.fin_frames[0] < m.frame < conn.fin_frames[-1]), None)
    if stall.fin:
        if halt is not None and halt.direction == side:
            return halt
        # Trial 26 D9: any message after the closer's first FIN came after the data
        # stopped (the closer gave up on it), whatever it says.
        return next((m for m in messages if m.direction == side and conn is not None
                     and conn.fin_frames and m.frame > conn.fin_frames[0]), None)
    began = stall.first_ts if stall.first_ts is not None else stall.ts
    return next((m for m in messages if m.direction == side and began is not None
                 and m.ts > began), None)


def delivered(control: Connection | None, message: NdmpMessage) -> bool:
    """Whether `message` reached its peer as far as the control connection shows: not
    among its side's trailing resends that nothing acknowledged (SideEvidence.resends,
    resends_acked, resend_first_ts: resent from its first sending on, never answered).
    A message the capture saw leave but the path then lost shows its sender up, not
    reachable (field check 39 k04: an agent's firewall dropping everything from the
    media server, its DATA_GET_STATE resent 8 times, read "still up and reachable ... only
    this connection's packets were lost")."""
    if control is None:
        return True
    evidence = control.evidence(message.direction)  # type: ignore[arg-type]
    return not (evidence.resends > evidence.resends_acked
                and evidence.resend_first_ts is not None
                and evidence.resend_first_ts >= message.ts)


def control_frame(packet: ControlPacket | None) -> int:
    """The packet's frame, 0 for None."""
    return packet.frame if packet is not None else 0


def closed_after(session: Session, stream: NdmpStream | None, receiver: str,
                 stall: Stall) -> ControlPacket | None:
    """The receiver's FIN on the session's control connection (its first FIN) after the
    stall's first resend (else its latest), which reached the capture point: the
    receiver was up and its packets came through then (trial 26 D9: a media server that
    gave up on a path MTU black hole closed its connections 30 s later); None when none,
    for a resent FIN (no time the data stopped) or a stall seen from the receiver."""
    side = "resp" if session.remote_agent == receiver else "orig"
    if stream is None or stream.fin is None or stall.fin or stall.lost or \
            (session.media_server != receiver and side == "orig"):
        return None
    began = stall.first_ts if stall.first_ts is not None else stall.ts
    fin = stream.fin
    return fin if fin.direction == side and began is not None and fin.ts > began else None


def answered_after(session: Session, control: Connection | None, stream: NdmpStream | None,
                   receiver: str, since: int) -> int:
    """The frame of a packet that shows the stall's receiver was up and its packets still
    reached its peer on the control connection after frame `since` (the data stopped),
    in a capture that holds none of the receiver's packets there (one_sided): the peer's
    first FIN when it acknowledged the receiver's FIN (first_close.peer_fin_first) and
    came after frame `since`; else the control connection's last packet, when it is the
    peer's pure ACK (no payload, FIN or RST) after the peer's own FIN and after frame
    `since`: after its FIN a TCP sends a pure ACK only to answer a segment that arrived
    (RFC 9293 3.10.7.4: its peer's FIN, data or a resend; no keepalive then). Either way
    the receiver's packet came through. 0 when none (v4-midjob-data-drop-at-media cut to
    the media server's packets: its ACK of the agent's FIN, frame 381; cut to the agent's:
    its FIN, which acknowledges the media server's; each read "check that the other
    host is up")."""
    side = "resp" if session.remote_agent == receiver else "orig"
    if session.media_server != receiver and side == "orig":
        return 0
    if control is None or stream is None or stream.fin is None or \
            stream.fin.direction == side or one_sided(control) != side:
        return 0
    if stream.fin.frame > since and peer_fin_first(control, stream):
        return stream.fin.frame
    frame = control.last_frame
    data = control.orig_last_data if side == "resp" else control.resp_last_data
    if frame <= max(stream.fin.frame, since) or \
            frame in control.fin_frames or frame in control.rst_frames or \
            len(control.fin_frames) >= EVIDENCE_CAP or (data is not None
                                                          and data[0] == frame):
        return 0
    return frame


def acked_before(conn: Connection, stall: Stall) -> int:
    """For a resent FIN in a capture that holds none of the other side's packets on the
    connection (Stall.fin, Stall.unseen): the bytes of that side (the stall's receiver)
    the closer's own ACKs acknowledge (Connection.orig_acked_unseen / resp_acked_unseen;
    an ACKed FIN counts one), when more than a FIN's one sequence number: its data
    arrived until then, and stopped arriving before the closer gave up. 0 otherwise (the
    media server's ACKs of the agent's 699,568 B in v4-midjob-data-drop-at-media cut to
    its packets read "never carried data")."""
    if not (stall.fin and stall.unseen):
        return 0
    acked = conn.resp_acked_unseen if stall.side == "orig" else conn.orig_acked_unseen
    return acked if acked > 1 else 0
