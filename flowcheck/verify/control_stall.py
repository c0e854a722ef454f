"""The control connection's stall (control_stalled's evidence) and the jobs whose start
the capture lacks, judged on it all the same (flowcheck.verify.running)."""

from __future__ import annotations

from flowcheck.model import Connection, ControlPacket, NdmpStream, Session
from flowcheck.verify.context import Context
from flowcheck.verify.stalled import Stall, stall_of
from flowcheck.verify.stream_evidence import stream_whole
from flowcheck.verify.unseen_start import running_data


def no_messages(control: Connection) -> NdmpStream:
    """The control stream of a control connection the capture holds no payload of (a
    capture started while it sat idle, the data flowing): none of its messages, its first
    FIN (Connection.fin_ts; the connection's first packet when unknown) as the collector
    would have kept it."""
    stream = NdmpStream(control.uid)
    if control.fin_frames:
        closer = "resp" if control.conn_state in ("S3", "SHR") else "orig"
        stream.fin = ControlPacket(closer, control.fin_frames[0],
                                   control.fin_ts if control.fin_ts is not None
                                   else control.ts, 0x11, 0)
    return stream


def start_unseen(ctx: Context, session: Session, stream: NdmpStream,
                 control: Connection) -> bool:
    """Did the session run a job whose start the capture does not hold: no job start in
    its control stream, which the capture lacks part of (its opening not captured: the
    capture started later; one direction, sniffer loss: stream_evidence.stream_whole), while
    its data connections carried the job's bytes (unseen_start.running_data; Session.kind
    by them, not guessed)?"""
    if session.kind == "browse" or session.kind_guessed or session.kind_unknown:
        return False
    if control.syn_seen and stream_whole(ctx, session, stream):
        return False
    return running_data(ctx, session) is not None


def control_stall(control: Connection, *, closing: bool = False) -> Stall | None:
    """The side of the control connection whose last payload bytes stopped being
    delivered (flowcheck.verify.stalled.stall_of: resent at least twice, each resend
    waiting a retransmission timeout for an ACK, and never acknowledged in the capture,
    or acknowledged in it with the ACKs lost on their way to the sender, or the receiver's
    packets not captured); closing: also a side that closed it and resent its FIN at
    least twice with no answer at all (the path lost its packets as well); None when
    none, or when the sniffer lost bytes of the connection from the stall's start on (a
    lost ACK or a later byte may be what the stall lacks; loss before it takes nothing
    from the resends: field check 20, D1)."""
    stall = stall_of(control, closing=closing)
    if stall is not None and _keepalive_probes(control, stall):
        return None
    if stall is None or not control.missed_bytes:
        return stall
    began = stall.first_ts if stall.first_ts is not None else (
        control.fin_ts if stall.fin else None)
    # gap_times holds the first gaps only: any gap beyond them may be after the start.
    if (began is None or len(control.gap_times) < control.gaps
            or any(ts >= began for ts in control.gap_times)):
        return None
    return stall


def _keepalive_probes(control: Connection, stall: Stall) -> bool:
    """The stall's resends are one byte each, bytes the receiver had acknowledged: TCP
    keepalive probes as Windows sends them (the byte below SND.NXT again, RFC 1122
    4.2.3.6), not the last NDMP message resent (a record is at least 28 bytes). Whether
    they were answered is the keepalive reading's (flowcheck.verify.keepalive_reset);
    field check 42: they read "its ACKs never reached the media server"."""
    side = control.evidence(stall.side)
    return (stall.acks_lost and not stall.fin and stall.resends > 0
            and side.resent_len == 1)


def stalled_side(control: Connection) -> str | None:
    """"orig" or "resp": control_stall's sender; None when none."""
    stall = control_stall(control)
    return stall.side if stall is not None else None

