"""A handshake the capture shows complete that never completed at the listener.

A firewall that lets a connection's first SYN through but drops the packets after it (a
rule for SYN only, a stateful firewall on an asymmetric route that sees one direction)
lets the listener's SYN-ACK out and the originator's ACK on the wire, where a capture
between them records it: the handshake looks complete (Connection.established). The
listener never got that ACK: it stays in SYN-RECEIVED and resends its SYN-ACK after each
retransmission timeout (RFC 9293 3.10.7.4; Linux: 1 s, 3 s, 7 s, ..., 5 times), and
whatever the originator sends next (data, its FIN) is dropped as well, resent and never
acknowledged (field check trial 34). Read by flowcheck.sessions.classify.connection_outcome
("handshake_incomplete") and by the words of flowcheck.verify.handshake_incomplete.
"""

from __future__ import annotations

from flowcheck.connections.copy_window import COPY_WINDOW
from flowcheck.model import Connection

# SYN-ACK resends after the captured ACK that are evidence on their own: one resend is
# what a single lost ACK under random loss gives (the next segment completes the
# handshake); two in a row, each a retransmission timeout after the last, with nothing
# of the originator's acknowledged, are a path that drops every ACK.
RESENDS_ENOUGH = 2


def synacks_after_ack(conn: Connection) -> list[int]:
    """The listener's SYN-ACK resends (frames, of the first few Connection.synack_frames
    keeps) after the originator's ACK completing the handshake (Connection.ack_frame,
    set by both connection passes when a SYN-ACK comes after it) and after the
    originator's last SYN: each says that ACK never reached the listener (RFC 9293
    3.10.7.4; after its ACK the originator sends no SYN, and an established listener
    answers a duplicate SYN with an ACK, not a SYN-ACK). A SYN retried before (one lost
    SYN) or a second capture point that misses the ACK changes nothing: only frames
    after both count. SYN-ACKs resent before the ACK are the handshake's own
    retransmissions, not evidence. [] when none, when no ACK is known (ack_frame 0), or
    when the capture holds one direction only."""
    if conn.clocks_apart or _went_on_unanswered(conn):
        return _resent_unordered(conn)
    if (not conn.established or not conn.syn_seen or not conn.ack_frame
            or not conn.orig_pkts or not conn.resp_pkts):
        return []
    last_syn = max(conn.syn_frames)
    return [f for f in conn.synack_frames if f > conn.ack_frame and f > last_syn]


def _resent_unordered(conn: Connection) -> list[int]:
    """synacks_after_ack for a connection whose two sides the capture stamps on two
    clocks apart (Connection.clocks_apart: two hosts' own captures merged), where the
    file's order of the listener's SYN-ACKs against the originator's ACK means nothing
    (the agent 3,600 s behind wrote a callback's SYN, ACK and FIN before the media
    server's SYN-ACK and its two resends: "established", PASS; 3.5 s ahead, SYN-ACKs
    first, the same). The SYN-ACKs beyond one per SYN (its retries answered too) were
    resent on the listener's own timer, and the originator's ACK, data or FIN show it
    went on (Zeek's upper-case letters): the listener's later SYN-ACKs came after that
    ACK was due. ack_unheard still asks that the listener never progressed. [] when
    the capture holds one side only or the originator never went on."""
    if not conn.syn_seen or not conn.orig_pkts or not conn.resp_pkts \
            or not set("ADF").intersection(conn.history):
        return []
    return conn.synack_frames[len(conn.syn_frames):]


def _went_on_unanswered(conn: Connection) -> bool:
    """Did the originator send its ACK, data or FIN before the capture holds any SYN-ACK
    (Zeek's history: one of "ADF" before the first "h"), the handshake never read
    complete (Connection.established: no ACK of the originator's after a SYN-ACK)? It
    had a SYN-ACK the capture shows only later: the sniffer lost the first, or the
    listener's is stamped on a clock ahead, one the handshakes cannot prove (the
    originator sent no data: lab/control-ack-dropped merged with the agent's clock an
    hour ahead wrote the media server's ACKs and FINs, then the agent's five SYN-ACKs,
    and read ndmp_no_reply, "accepted the control connection but never sent an NDMP
    message"). The SYN-ACKs beyond one per SYN are then resends after it went on
    (`_resent_unordered`), as on two clocks proven apart."""
    history = conn.history
    answered = history.find("h")
    return (not conn.established and answered > 0
            and any(0 <= history.find(letter) < answered for letter in "ADF"))


def ack_unheard(conn: Connection) -> list[int]:
    """The resent SYN-ACKs (frames) that show the handshake never completed at the
    listener, although the capture holds the originator's ACK (synacks_after_ack), when
    the connection never progressed: the listener sent no payload byte, no FIN and no
    RST (in SYN-RECEIVED it has no connection to send on; a FIN or RST of its own is
    read by the close's checks, but for `reset_unknown`'s), acknowledged none of the
    originator's bytes or its FIN (its ACKs stay at the SYN-ACK's), and either resent
    its SYN-ACK at least RESENDS_ENOUGH times or the originator resent its data or FIN
    unacknowledged. [] when not: a SYN-ACK resent once under random loss, after which
    data flowed, is a lost ACK the next segment made up for."""
    resent = synacks_after_ack(conn)
    if not resent:
        return []
    if conn.resp_rst and not reset_unknown(conn, resent):
        return []
    if (conn.resp_bytes or "f" in conn.history or conn.orig_acked_unseen
            or conn.orig_fin_acked):
        return []
    if "a" in conn.history:
        # The listener sent a pure ACK (Zeek's history): established there, it
        # acknowledged the originator's bytes. (Comparing orig_unacked with the bytes
        # sent counted the originator's resends as acknowledged bytes: field check 35's
        # restore whose data was resent 7 times read data_stalled.)
        return []
    originator_resent = conn.evidence("orig").resends > 0 or _fin_resent(conn)
    if len(resent) >= RESENDS_ENOUGH or originator_resent:
        return resent
    return []


def reset_unknown(conn: Connection, resent: list[int]) -> int:
    """The listener's RST (its frame; 0 when not so) that answered a FIN the originator
    sent after the listener's SYN-ACK resends (`resent`, RESENDS_ENOUGH of them at
    least) stopped, the originator sending no RST: the listener had given the half-open
    connection up (its SYN-ACK resends ended, or its service closed the listening
    socket) and its TCP answered a segment for a connection it did not have with a reset
    (RFC 9293 3.10.7.1). The handshake never completed there all the same (field check
    trial 37: 20% random loss took the ACK and both its repeats; the agent's accept timed
    out; the media server's FIN 30 s later got the RST)."""
    reset = conn.resp_rst_frame
    if (conn.orig_rst or len(resent) < RESENDS_ENOUGH or not reset
            or reset < max(resent)):
        return 0
    return reset if any(max(resent) < fin < reset for fin in conn.fin_frames) else 0


def acks_repeated(conn: Connection) -> int:
    """The same reading from a capture without the listener's packets of `conn` (one
    direction, `tcpdump -Q out` on the originator): the originator's ACK of the SYN-ACK
    the capture lacks, repeated (SideEvidence.handshake_ack_repeats: duplicate ACKs at
    the SYN-ACK's number, nothing else sent between), answers the listener's resent
    SYN-ACKs, each one; with RESENDS_ENOUGH repeats, no payload byte sent, none of the
    listener's acknowledged (resp_acked_unseen 0), no RST, and its FIN resent, never
    acknowledged, the listener never got the ACK. The FIN resent is asked for too: a
    receiver whose peer's first data segment was lost repeats the same ACK (a duplicate
    ACK per later segment, RFC 5681 4.2) until the resend comes, which a capture cut
    then leaves unseen. The repeats (0 when not)."""
    if (conn.resp_pkts or conn.synack_frames or not conn.syn_seen or conn.orig_bytes
            or conn.orig_rst or conn.resp_acked_unseen or conn.orig_fin_acked):
        return 0
    repeats = conn.evidence("orig").handshake_ack_repeats
    return repeats if repeats >= RESENDS_ENOUGH and _fin_resent(conn) else 0


def acks_unseen(conn: Connection) -> list[int]:
    """The same reading from a capture without the ACK (on the listener, or beyond the
    point where it was lost): the originator's SYN, the listener's SYN-ACK resent
    RESENDS_ENOUGH times or more after it (frames; returned), then nothing of the
    originator's but its FIN, which acknowledges the SYN-ACK (it got one: it never sent
    its SYN again after it) and which the listener reset (`reset_unknown`): the listener
    waited for the ACK until it gave the half-open connection up, and the FIN found no
    connection there (field check trial 37, the agent's capture: 20% random loss took
    the ACK and its repeats). [] when not."""
    if (not conn.established or not conn.syn_seen or conn.ack_frame or conn.orig_bytes
            or conn.resp_bytes or not conn.resp_rst or "f" in conn.history
            or conn.orig_pkts != len(conn.syn_frames) + len(conn.fin_frames)):
        return []
    last_syn = max(conn.syn_frames)
    resent = [f for f in conn.synack_frames[1:] if f > last_syn]
    if len(resent) < RESENDS_ENOUGH or not conn.fin_frames or max(resent) > min(conn.fin_frames):
        return []
    return resent if reset_unknown(conn, resent) else []


def unheard_reset(conn: Connection) -> int:
    """The listener's RST that answered the originator's FIN after its SYN-ACK resends
    (reset_unknown, for ack_unheard's or acks_unseen's resends), 0 when none: the FIN
    reached the listener, so the path carries the originator's packets after its SYN."""
    if not conn.resp_rst:
        return 0
    resent = ack_unheard(conn) or acks_unseen(conn)
    return reset_unknown(conn, resent) if resent else 0


def handshake_unheard(conn: Connection) -> bool:
    """ack_unheard, acks_repeated or acks_unseen: the handshake never completed at the
    listener, whichever direction the capture holds."""
    return bool(ack_unheard(conn) or acks_repeated(conn) or acks_unseen(conn))


def _fin_resent(conn: Connection) -> bool:
    """Did the originator send its FIN more than once (Connection.fin_frames holds the
    first few FINs of both sides; the listener sent none here)?"""
    return len(conn.fin_frames) >= 2


def synack_resent(conn: Connection) -> bool:
    """Did the listener send its SYN-ACK more than once? Two SYN-ACK frames or more,
    unless the connection holds nothing but them (one direction, no other packet of the
    listener's) and all came within copy_window.COPY_WINDOW of the first: a SYN-ACK carries
    no identity of its own (IP ID 0, RFC 6864 4.1), so such a pair is a capture copy
    that came before the capture showed a copy of any identified packet (copies.py
    decides in capture order) as well as the timer's resend and the answer to a resent
    SYN at one instant; with the packets that would tell missing, it is no resend (a
    firewall's `fw monitor`, one direction of its points: field check trial 36). A real
    resend comes a retransmission timeout after the first SYN-ACK (RFC 6298 2.1, RFC
    9293 3.10.7.4)."""
    if len(conn.synack_frames) < 2:
        return False
    only_synacks = (not conn.orig_pkts and not conn.resp_bytes and not conn.resp_rst
                    and "f" not in conn.history)
    return not (only_synacks and conn.synack_ts is not None
                and conn.last_ts - conn.synack_ts <= COPY_WINDOW)
