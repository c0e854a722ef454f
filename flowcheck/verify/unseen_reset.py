"""A data connection already dropped on its sender's side, the reset that dropped it
never reaching the capture (new-user trial 30, D2).

A firewall or IPS that resets a long or large transfer may send its RST to one end only
(nftables `reject with tcp reset` answers the packet it rejects: the sender's). The
sender's TCP drops the connection; the receiver sees the data stop, no FIN, no RST, and
nothing more until it closes the connection itself (its data timeout, its job ended).
The sender then answers that FIN with a RST carrying no ACK, as a TCP answers a segment
of a connection it does not have (RFC 9293 3.10.7.1: <SEQ=SEG.ACK><CTL=RST>;
Connection.fin_answer_rst), where one that still had it would acknowledge the FIN. Seen
from the receiver's side: the sender silent for SILENT_SECONDS or more mid-transfer,
every byte it sent acknowledged (not data_stalled: nothing was resent), no FIN of its
own, then that RST. With no halt of its job before the FIN, the transfer was cut short
(`data_reset`, flowcheck.verify.cut_transfer); the same answer after a halt is the end of
a halted transfer (flowcheck.verify.abortive_close), not this.
"""

from __future__ import annotations

from flowcheck.durations import signed, span_words
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session
from flowcheck.verify.context import Context
from flowcheck.verify.end_roles import role_words
from flowcheck.verify.silent_sender import SILENT_SECONDS
from flowcheck.verify.ttl import forged_words, reset_ttls


@fields_dataclass(frozen=True, slots=True)
class DroppedSide:
    """The data connection `conn` whose sender (address) had dropped it: its last packet
    at last_ts (seconds, capture clock), the receiver's FIN (fin_frame, at fin_ts) and the
    sender's RST that answered it (rst_frame); ttls: (that RST's TTL, the sender's own
    packets'), None when either is unknown."""

    conn: Connection
    sender: str
    receiver: str
    last_ts: float
    fin_ts: float
    fin_frame: int
    rst_frame: int
    ttls: tuple[int, int] | None

    @property
    def silence(self) -> float:
        """Seconds from the sender's last packet to the receiver's FIN."""
        return self.fin_ts - self.last_ts


def dropped_side(ctx: Context, conn: Connection) -> DroppedSide | None:
    """The DroppedSide when the data's receiver closed the connection first (its FIN; the
    sender, the side with the payload, sent none) after the sender had been silent on it
    for SILENT_SECONDS or more with every byte it sent acknowledged, and the sender alone
    then reset it, its first packet after that FIN a RST without ACK
    (Connection.fin_answer_rst); None otherwise or when the times are not known."""
    if not (conn.orig_bytes or conn.resp_bytes) or not conn.fin_frames or not conn.fin_answer_rst:
        return None
    sender_is_orig = conn.sender_is_orig
    sender_fin, receiver_fin = ("F", "f") if sender_is_orig else ("f", "F")
    sender_rst, receiver_rst = ((conn.orig_rst, conn.resp_rst) if sender_is_orig
                                else (conn.resp_rst, conn.orig_rst))
    rst_frame = conn.orig_rst_frame if sender_is_orig else conn.resp_rst_frame
    unacked = conn.orig_unacked if sender_is_orig else conn.resp_unacked
    if (receiver_fin not in conn.history or sender_fin in conn.history or not sender_rst
            or receiver_rst or unacked or rst_frame != conn.fin_answer_rst
            or conn.fin_ts is None or conn.fin_peer_last_ts is None
            or conn.fin_ts - conn.fin_peer_last_ts < SILENT_SECONDS):
        return None
    sender, receiver = ((conn.orig_h, conn.resp_h) if sender_is_orig
                        else (conn.resp_h, conn.orig_h))
    return DroppedSide(conn, sender, receiver, conn.fin_peer_last_ts, conn.fin_ts,
                       conn.fin_frames[0], rst_frame,
                       reset_ttls(ctx, conn, "orig" if sender_is_orig else "resp"))


def dropped_words(found: DroppedSide, session: Session) -> str:
    """Step 5's words: "the agent 10.77.1.2's side had already dropped it mid-transfer:
    its RST (frame 1699) answered the FIN of the media server 10.77.0.1 (frame 1698)
    after 23.4 s of silence"."""
    conn = found.conn
    return (f"{role_words(conn, session, found.sender)}'s side had already dropped it "
            f"mid-transfer: its RST ({frame_text(found.rst_frame)}) answered the FIN of "
            f"{role_words(conn, session, found.receiver)} ({frame_text(found.fin_frame)}) after "
            f"{span_words(found.silence)} of silence")


def dropped_report(ctx: Context, found: DroppedSide, session: Session, words: str,
                   moved: str) -> tuple[str, str]:
    """data_reset's message and fix for a DroppedSide (no halt after it: an abnormal one
    adds its own words); words: the connection's endpoints ("10.77.1.2:6087 ->
    10.77.0.1:5048"), moved: the bytes each way. The receiver's close of the control
    connection after it is named as its consequence (closed_after)."""
    conn, since = found.conn, ctx.capture_start
    sender = role_words(conn, session, found.sender)
    receiver = role_words(conn, session, found.receiver)
    forged = found.ttls is not None and found.ttls[0] != found.ttls[1]
    who = (f"a device between them in the name of {sender} ("
           f"{forged_words(sender, *found.ttls)}): it had dropped the connection's state"
           if forged and found.ttls is not None else
           f"{sender}'s TCP no longer had the connection"
           + (f" (the RST's TTL {found.ttls[0]}, that of {found.sender}'s own packets)"
              if found.ttls is not None else ""))
    head = (f"The data connection {words} carried {moved}, then {dropped_words(found, session)}"
            f" (its last packet at {signed(found.last_ts - since)}, every byte acknowledged, "
            f"no FIN of its own, no halt of its job): a RST without ACK, the answer to a "
            f"segment of a connection it does not have (RFC 9293 3.10.7.1), so {who}. The "
            f"connection had been reset on {sender.rsplit(' ', 1)[0]}'s side by a reset "
            f"{receiver} never saw, sent by {sender} or by a device between them in the "
            f"name of {receiver} (a firewall or IPS that resets long or large transfers "
            "may reset one end only): the transfer was cut short."
            + closed_after(ctx, session, found))
    fix = (f"Look for a firewall or IPS between {conn.orig_h} and {conn.resp_h} that resets "
           "long or large transfers (a session timeout, a byte quota, a threat signature: "
           f"its log names the connection) about {signed(found.last_ts - since)}, and see "
           f"{sender}'s NDMP service log and system log at that time for the reset; a "
           f"capture on {sender.rsplit(' ', 1)[0]}'s side shows who sent it.")
    return head, fix


def closed_after(ctx: Context, session: Session, found: DroppedSide) -> str:
    """" The media server 10.77.0.1 then closed the session's control connection (FIN,
    frame 1700) 0.3 ms later: its job ended on the broken transfer; that close is its
    consequence, not a service stopped or crashed." when the receiver closed the control
    connection (its first FIN) at or after its FIN on the data connection, else ""."""
    control = ctx.by_uid.get(session.control_uid)
    stream = ctx.stream_by_uid.get(session.control_uid)
    fin = stream.fin if stream is not None else None
    if control is None or fin is None or fin.frame < found.fin_frame:
        return ""
    closer = control.host(fin.direction)
    if closer != found.receiver:
        return ""
    return (f" {role_words(found.conn, session, closer)[0].upper()}"
            f"{role_words(found.conn, session, closer)[1:]} then closed the session's "
            f"control connection (FIN, {frame_text(fin.frame)}) "
            f"{span_words(fin.ts - found.fin_ts)} "
            "later: its job ended on the broken transfer; that close is its consequence, "
            "not a service stopped or crashed.")
