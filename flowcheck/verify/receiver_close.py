"""Data connections the data's receiver closed while the sender was still sending
(closed_by_receiver), and the case of them where none of the data had reached the
receiver before it closed (never_delivered, trial 25 D3): it waited for data that never
came and gave the connection up; no transfer was cut, packets were lost on the way or the
sender sent nothing. flowcheck.verify.cut_transfer reports both as data_reset, with the
words and fix built here for the second.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import Connection, Session
from flowcheck.verify.context import Context
from flowcheck.verify.end_roles import role_words
from flowcheck.verify.rst_words import reset_words
from flowcheck.verify.session_words import retransmitted_words


def closed_by_receiver(conn: Connection) -> bool:
    """Did the data's receiver close the connection mid-transfer and then reset it? Its
    FIN came first (history: F the originator's, f the responder's), the sender (the side
    with the payload) sent no FIN, the receiver alone sent RSTs and the sender had bytes
    the receiver never acknowledged: data arriving after the receiver's close, which its
    TCP answers with a RST (RFC 1122 4.2.2.13: data received after CLOSE was lost). In a
    capture of the receiver's direction only (the sender's bytes known by the receiver's
    ACKs alone), its RST after its own FIN is that answer."""
    sender_is_orig = conn.sender_is_orig
    sender_fin, receiver_fin = ("F", "f") if sender_is_orig else ("f", "F")
    receiver_rst, sender_rst = ((conn.resp_rst, conn.orig_rst) if sender_is_orig
                                else (conn.orig_rst, conn.resp_rst))
    unacked = conn.orig_unacked if sender_is_orig else conn.resp_unacked
    unseen_sender = (conn.orig_acked_unseen if sender_is_orig else conn.resp_acked_unseen) > 1
    return (receiver_fin in conn.history and sender_fin not in conn.history
            and receiver_rst and not sender_rst
            and (unacked > 0 or (unseen_sender and conn.rst_frames[0] > conn.fin_frames[0])))


def never_delivered(conn: Connection) -> bool:
    """Did none of the sender's bytes reach the receiver before it closed (trial 25 D3)?
    closed_by_receiver's shape, the receiver having acknowledged none of them, not even
    with its FIN: they came after its close, the connection carried no data until then
    (it was no transfer cut short)."""
    sender_is_orig = conn.sender_is_orig
    sent = conn.sent_once("orig" if sender_is_orig else "resp")
    unacked = conn.orig_unacked if sender_is_orig else conn.resp_unacked
    return closed_by_receiver(conn) and sent > 0 and unacked >= sent


def synack_resent(conn: Connection) -> list[int]:
    """The responder's SYN-ACK resends when the connector's SYN was sent once and its
    ACK completing the handshake is in the capture (Connection.established): that ACK
    never reached the responder, lost between the capture point and it, and the
    connection never opened on the responder's side (RFC 9293 3.10.7.4, SYN-RECEIVED:
    it resends its SYN-ACK until an ACK comes). [] when none."""
    if not conn.established or conn.syn_retries or len(conn.synack_frames) < 2:
        return []
    return conn.synack_frames[1:]


def waited_words(conn: Connection, session: Session, it: str) -> str:
    """never_delivered's words for step 5: "carried no data for 30 s after its SYN-ACK
    (...: the handshake's ACK never reached it); ... gave it up (FIN, frame 230) and ...'s
    data came only after that FIN (RST, frame 233)"."""
    sender, receiver = ((conn.orig_h, conn.resp_h) if conn.sender_is_orig
                        else (conn.resp_h, conn.orig_h))
    resent = synack_resent(conn)
    why = (f" ({role_words(conn, session, conn.resp_h)} resent its SYN-ACK {len(resent)} "
           f"times, {frames_words(resent, ranges=False, plural=True)}: the handshake's ACK "
           f"never reached "
           "it)" if resent else "")
    it = "" if it == "it" else f"{it} "  # step 5's detail names the endpoint before it
    return (f"{it}carried no data{_waited(conn)}{why}; {role_words(conn, session, receiver)} "
            f"gave it up (FIN, {frame_text(conn.fin_frames[0])}) and the data of "
            f"{role_words(conn, session, sender)} came only after that FIN "
            f"({reset_words(conn)})")


def _waited(conn: Connection) -> str:
    """" for 30 s after its SYN-ACK": from the SYN-ACK to the RST that answered the data
    sent after the receiver's FIN; "" when a time is not known."""
    return (f" for {span_words(conn.rst_ts - conn.synack_ts)} after its SYN-ACK"
            if conn.rst_ts is not None and conn.synack_ts is not None else "")


def never_delivered_report(ctx: Context, session: Session, conn: Connection, words: str
                           ) -> tuple[str, str]:
    """data_reset's message head and fix for never_delivered: the receiver waited for
    data that never came and gave up; the SYN-ACK resent after the captured ACK shows
    packets lost on their way to the listener (trial 25 D3: it read 'closed it
    mid-transfer while the agent was still sending' and 'see the job log')."""
    sender_is_orig = conn.sender_is_orig
    sender, receiver = ((conn.orig_h, conn.resp_h) if sender_is_orig
                        else (conn.resp_h, conn.orig_h))
    sent = conn.sent_once("orig" if sender_is_orig else "resp")  # capture copies left out
    sender_words, receiver_words = (role_words(conn, session, sender),
                                    role_words(conn, session, receiver))
    late = (f"{receiver_words} gave it up (FIN, {frame_text(conn.fin_frames[0])}) and the "
            f"{sent:,} B "
            f"of {sender_words} came only after that FIN (it acknowledges none of them) and "
            f"were reset ({reset_words(conn)}): nothing was cut mid-transfer.")
    resent = synack_resent(conn)
    path = f"{conn.orig_h} and {conn.resp_h}"
    if resent:
        listener = role_words(conn, session, conn.resp_h)
        head = (f"The data connection {words} carried no data{_waited(conn)} because "
                f"packets between the hosts were lost: {listener} resent its SYN-ACK "
                f"{len(resent)} times ({frames_words(resent, ranges=False, plural=True)}), the "
                f"ACK of "
                f"{role_words(conn, session, conn.orig_h)} completing the handshake, which "
                f"the capture holds, never reaching it. The connection never opened on "
                f"{listener.rsplit(' ', 1)[0]}'s side, so no data could flow; " + late)
        fix = (f"Find what loses packets between {path}: the interface error and drop "
               "counters of both hosts and of the switches and routers between them (ip -s "
               "link, ethtool -S, the switch port's counters), a duplex mismatch, a faulty "
               "cable or port, a congested or rate-limited link, a firewall or IPS dropping "
               "packets; a capture on both hosts at once shows where they are lost.")
    else:
        head = (f"The data connection {words} carried no data{_waited(conn)}: " + late
                + f" Nothing of {sender_words} arrived in that time: it sent nothing (its "
                "service busy or hung) or its packets were lost on the way.")
        fix = (f"See {sender_words}'s NDMP service log at that time for why it sent "
               f"nothing; check the path between {path} for lost packets (the interface "
               "error and drop counters of both hosts and the devices between them); a "
               "capture on both hosts at once shows where they are lost.")
    head += _session_loss(ctx, session, conn)
    return head, fix


def _session_loss(ctx: Context, session: Session, conn: Connection) -> str:
    """" The session's other connections lost packets too: 8 retransmitted packets on
    C1." when they did, else ""."""
    resent = retransmitted_words(ctx, session, skip=conn.uid)
    return f" The session's other connections lost packets too: {resent}." if resent else ""
