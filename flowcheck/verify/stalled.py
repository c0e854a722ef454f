"""Connections that stopped delivering: their sender resent its last bytes, after each
retransmission timeout (RFC 6298 5.4), and either the receiver never acknowledged them in
the capture, or the capture holds the receiver's ACK of them from before the resends and
the sender resent them all the same, taking nothing new from the receiver since (the ACKs
were lost between the capture point and the sender; an ACK that came only after the
resends answered them: a slow link, no stall).

`Stall` and `stall_of` read the tracker's per-side fields (Connection.orig_unacked,
SideEvidence.resends, resends_acked, resent_ts, resend_first_ts); `stall_words` is
the head of the control_stalled and data_stalled messages, so the two read alike;
`unacked_from` and `unacked_words` the NDMP messages a side's unacknowledged bytes hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import (
    Connection,
    NdmpMessage,
    NdmpStream,
    connection_ends,
    other_direction,
)
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import one_sided
from flowcheck.verify.stall_passed import passed_stall
from flowcheck.verify.stall_record import Stall

if TYPE_CHECKING:
    from flowcheck.verify.capture_host_proof import CaptureHostProof

# Resends of a sender's last bytes that show the path stopped delivering them: each
# waited a retransmission timeout for an ACK that did not come.
RESENDS_FOR_STALL = 2

# The reading shared by control_stalled and data_stalled.
STATE_LOST = ("A firewall or NAT device between them that dropped the connection's state "
              "drops its later packets this way, without a reset")


def silent_peer_words(receiver: str, host: str, sender: str,
                      on: CaptureHostProof | None = None) -> str:
    """The readings of resends its receiver never answered besides a device between the
    hosts (STATE_LOST): the receiver host gone or unreachable, and, on a capture taken on
    that host itself, the host (the packet tap sees arriving packets before the host's
    firewall and stack: control_unanswered reads SYNs so). receiver: its role ("the
    agent"); host, sender: the addresses; on: the host the capture was taken on when the
    TTLs or the Linux cooked marks show it (verify.capture_host.proven_host), said
    plainly then."""
    gone = (f" Or {receiver} {host} itself went down or became unreachable (powered off, "
            "its link down, hung, its route lost): seen from elsewhere that looks the same.")
    cause = (f"the resends reached it and it never answered: the cause is on {host} (its "
             f"TCP stack, its route back to {sender}, its host firewall, or the host hung), "
             "not a device between them.")
    if on is None:
        return f"{gone} If this capture was taken on {host} itself, {cause}"
    if on.host == host:
        return f" This capture was taken on {host} ({on.words}): {cause}"
    return (f"{gone} This capture was taken on {sender} ({on.words}): a "
            f"capture on {host} shows whether the resends reach it.")


def silent_peer_fix(receiver: str, host: str, sender: str,
                    on: CaptureHostProof | None = None) -> str:
    """The fix for silent_peer_words: the host first (the first thing an admin checks);
    on: as there."""
    if on is not None and on.host == host:
        return (f"Look on {receiver} {host}, where this capture was taken: its routing "
                f"table (its routes back to {sender}), host firewall and system log, and "
                "whether its NDMP service still runs.")
    return (f"Check that {receiver} {host} is up and reachable from {sender} (its console, "
            f"its link, its routes back to {sender}); on a capture taken on {host}, look "
            "there: its routing table, host firewall and system log.")


def stall_of(conn: Connection, *, closing: bool = False) -> Stall | None:
    """The side of conn that stopped being delivered, from its trailing resends
    (SideEvidence.resends): RESENDS_FOR_STALL or more of bytes the peer never ACKed
    in the capture (orig_unacked: known only when the peer's ACKs are captured), or of
    bytes the capture shows ACKed (SideEvidence.resends_acked), or, when the capture holds
    none of the peer's packets (one direction: sessions.classify.one_sided) or only its
    handshake ones (handshake_only: its ACKs lost by the sniffer), resends of
    more than one byte (Stall.unseen: the sender's TCP waited a timeout before each, so no
    ACK reached it; a zero-window probe, which the unseen window would explain, carries
    one byte) and no FIN sent once after them (never resent: it was acknowledged, and
    the resends with it); None when none. A sender that sent new bytes after its resends
    was delivered again (a stall that resumed). An unseen stall is timed by its run alone
    (unseen_run_long): an ACK after its last resend could not be seen.

    closing: also a side that closed the connection and resent its FIN RESENDS_FOR_STALL
    or more times with no answer from its peer at all (_unanswered_closer: a close
    attempt the other side never answered nor acknowledged; every FIN in fin_frames is
    the closer's): a receiver that gave up on a silent transfer closes it, and its FIN
    is lost as the data was. The time is the connection's last packet (its last FIN)."""
    for side in ("orig", "resp"):
        evidence = conn.evidence(side)
        if evidence.resends < RESENDS_FOR_STALL:
            continue
        acked = evidence.resends_acked
        unacked = getattr(conn, f"{side}_unacked")
        # A FIN sent once after the resends, never resent: its ACK (and theirs) came.
        closed_after = len(conn.fin_frames) == 1 and conn.fin_frames[0] > evidence.resent_frame
        peer = other_direction(side)
        unseen = (not acked and not unacked and evidence.resent_len > 1 and not closed_after
                  and (one_sided(conn) == peer or handshake_only(conn, peer)))
        if acked or unacked or unseen:
            return Stall(side, evidence.resends, 0 if acked else unacked, bool(acked),
                         evidence.resent_ts, evidence.resent_frame,
                         first_ts=evidence.resend_first_ts,
                         first_frame=evidence.resend_first_frame, unseen=unseen)
    closer = _unanswered_closer(conn) if closing else None
    if closer is not None:
        return Stall(closer, len(conn.fin_frames) - 1, 0, False, conn.last_ts,
                     conn.fin_frames[-1], fin=True,
                     unseen=one_sided(conn) == (other_direction(closer)))
    return None


def handshake_only(conn: Connection, side: str) -> bool:
    """Does the capture hold `side`'s packets on conn but only its handshake ones (its
    SYNs, SYN-ACKs: they acknowledge no byte of the peer's), none after them, no RST?
    Its ACKs are missing then (the sniffer lost them, or a filter kept only SYNs), as in
    a capture of the other direction: review 63f, trial 34's capture without the media
    server's handshake ACK, its only packet after the SYN, read `step_missing` for the
    callback though the agent's greeting was resent 6 times, no ACK reaching it."""
    if side == "orig":
        return 0 < conn.orig_pkts == len(conn.syn_frames) and not conn.orig_rst
    return 0 < conn.resp_pkts == len(conn.synack_frames) and not conn.resp_rst


# Zeek's states of a connection one side closed and the other did not: S2 / S3 with
# the other side seen talking before, SH / SHR with none of its packets in the capture
# or only from its middle (one direction captured, a capture started late).
_CLOSER = {"S2": "orig", "SH": "orig", "S3": "resp", "SHR": "resp"}


def unseen_run_long(stall: Stall, seconds: float) -> bool:
    """For a stall whose receiver's packets are not captured (Stall.unseen, not a FIN):
    did its run of resends last at least `seconds` (the retransmission timeout), so the
    sender went that long without an ACK (RFC 6298 5.4: it resends only when none came)?
    Time after the last resend proves nothing here: an ACK then would not be seen."""
    return (stall.first_ts is not None and stall.ts is not None
            and stall.ts - stall.first_ts >= seconds)


def _unanswered_closer(conn: Connection) -> str | None:
    """The side ("orig", "resp") that closed conn and resent its FIN RESENDS_FOR_STALL or
    more times with no answer at all from its peer (_CLOSER's states: no FIN and no RST
    of the peer; each resend waited the closer's timeout for an ACK that never reached
    it, whether or not the capture holds the peer's direction), nor an ACK of the FIN in
    the capture (Connection.orig_fin_acked: the peer got it and answered it; resends of a
    last segment carrying it are SACK recovery then, trial 31); None when none."""
    closer = _CLOSER.get(conn.conn_state)
    if closer is None or len(conn.fin_frames) <= RESENDS_FOR_STALL:
        return None
    return None if getattr(conn, f"{closer}_fin_acked") else closer


def closed_unanswered_after(conn: Connection, stall: Stall) -> bool:
    """True when, after the stall's latest resend, the receiver closed conn and resent
    its FIN RESENDS_FOR_STALL or more times with no answer from the sender (S2 / S3):
    each of those resends waited a retransmission timeout of its own, so the path still
    lost the connection's packets then, however soon after them the capture ended (the
    job engine killed: its FIN lost as the data or the ACKs were)."""
    receiver = other_direction(stall.side)
    return (not stall.fin and _unanswered_closer(conn) == receiver
            and conn.fin_frames[0] > stall.frame > 0)


def stall_words(kind: str, conn: Connection, roles: tuple[str, str], stall: Stall,
                what: str, after: float | None = None, from_first: bool = False) -> str:
    """The head of a stall's message: "The control connection A -> B stopped delivering:
    the agent 10.77.0.2 sent its last 104 B again and again (7 retransmissions, the last
    in frame 90) and the media server 10.77.0.1 never acknowledged them; ...".
    kind: "control", "data"; roles: the sender's and the receiver's ("the agent", "the
    media server"); what: the bytes' words ("its last 104 B (from ...)"); after: seconds
    the capture went on after the latest resend, when known; from_first: after is from
    the first resend instead ("..., the first in frame 80, the last in frame 90) ...; the
    capture went on 12.4 s after the first of them")."""
    sender, receiver = conn.host(stall.side), conn.host(other_direction(stall.side))
    role, receiver = roles[0], f"{roles[1]} {receiver}"
    first = from_first and stall.first_frame > 0
    last = ((f", the first in {frame_text(stall.first_frame)}" if first else "")
            + (f", the last in {frame_text(stall.frame)}" if stall.frame else ""))
    went_on = ("" if after is None else
               f"; the capture went on {span_words(after)} after the "
               + ("first of them" if first else "last"))
    head = (f"The {kind} connection {connection_ends(conn)} stopped delivering: {role} {sender} ")
    if stall.acks_lost:
        return (head + f"sent {what} again and again ({stall.resends} retransmissions{last}) "
                f"although {receiver} had acknowledged them: its ACKs are in the capture but "
                f"never reached {sender}, lost between the capture point and it{went_on}.")
    them = "it" if stall.fin else "them"
    if stall.unseen:
        return (head + f"sent {what} again and again ({stall.resends} retransmissions{last}): "
                f"no ACK of {them} reached {sender}{went_on}. The capture holds no packet of "
                f"{receiver} on this connection {_unseen_where(conn, stall)}, so whether the "
                "resends never reached it or its ACKs were lost on the way back cannot be "
                "seen; either way the path stopped delivering the connection.")
    return (head + f"sent {what} again and again ({stall.resends} retransmissions{last}) and "
            f"{receiver} never acknowledged {them}{went_on}.")


def _unseen_where(conn: Connection, stall: Stall) -> str:
    """Which of the receiver's packets an unseen stall's capture lacks (Stall.unseen):
    "(one direction captured)", or, its handshake packets captured (handshake_only),
    "after its SYN-ACK (its ACKs not captured: lost by the sniffer or left out by a
    filter)"."""
    receiver = other_direction(stall.side)
    if not (conn.resp_pkts if receiver == "resp" else conn.orig_pkts):
        return "(one direction captured)"
    return (f"after its {'SYN-ACK' if receiver == 'resp' else 'SYN'} (its ACKs not captured: "
            "lost by the sniffer or left out by a filter)")


def lost_stall(conn: Connection) -> Stall | None:
    """The stall seen from the receiving end: a side's bytes in sequence gaps the
    receiver's own ACKs, captured after them, never covered (SideEvidence.lost: its
    cumulative ACK stayed below them to its last ACK, RFC 9293 3.4), no resend of them in
    the capture either (it would have filled the gap). None when no side has such bytes
    (a gap the receiver's ACK jumps over is the sniffer's loss, capture_loss)."""
    for side in ("orig", "resp"):
        evidence = conn.evidence(side)
        if evidence.lost:
            ts, frame = evidence.lost_ts, evidence.lost_frame
            return Stall(side, 0, evidence.lost, False, ts, frame, first_ts=ts,
                         first_frame=frame, lost=True, ack_frame=evidence.lost_ack_frame,
                         ack_ts=evidence.lost_ack_ts, next_len=evidence.lost_next)
    return None


def data_stall(conn: Connection) -> Stall | None:
    """A data connection's stall (stall_of, with the closing shape; else lost_stall, the
    receiver's view) unless a RST came before its last resend (or the gap): the reset is
    then the first evidence of the cut (a reject rule or an IPS answering one side's
    packets, data_reset), the resends its aftermath; or unless the receiver's window was
    0 since before the first resend (or the gap: its trailing zero window,
    SideEvidence.zero_window_frame): the resends are zero-window probes (Windows sends
    one byte, again and again), answered; the receiver stopped reading
    (data_receiver_stalled), nothing was lost."""
    stall = stall_of(conn, closing=True) or lost_stall(conn) or passed_stall(conn)
    if stall is None or (conn.rst_frames and stall.frame
                         and conn.rst_frames[0] < stall.frame):
        return None
    receiver = other_direction(stall.side)
    closed = conn.evidence(receiver).zero_window_frame
    if closed and closed < (stall.first_frame or stall.frame or closed + 1):
        return None
    return stall


def last_sent(stream: NdmpStream, side: str) -> NdmpMessage | None:
    """The side's last NDMP message; None when none."""
    return next((m for m in reversed(stream.messages) if m.direction == side), None)


def unacked_from(stream: NdmpStream, stall: Stall) -> NdmpMessage | None:
    """The stalled side's NDMP message its unacknowledged bytes began in: going back
    over its messages, the one whose size (NdmpMessage.size) brings their sum to
    Stall.unacked (trial 26 D8: 96 B were a LOG_MESSAGE and a NOTIFY_DATA_HALTED, not
    the halt alone); its last message when a size is unknown or the bytes are not
    known (a FIN, ACKs lost)."""
    last = last_sent(stream, stall.side)
    total = 0
    for message in reversed(stream.messages):
        if message.direction != stall.side:
            continue
        if not message.size or not stall.unacked:
            return last
        total += message.size
        if total >= stall.unacked:
            return message if total == stall.unacked else last
    return last


def unacked_words(stream: NdmpStream, stall: Stall, first: NdmpMessage) -> str:
    """"from LOG_MESSAGE, frame 2260, to NOTIFY_DATA_HALTED, frame 2261" for the stalled
    side's unacknowledged bytes beginning in `first` (unacked_from); "from X to Y, frame
    N" when one packet held them, "from X, frame N" for one message."""
    final = last_sent(stream, stall.side)
    if final is None or final is first:
        return f"from {message_op(first)}, {frame_text(first.frame)}"
    if final.frame == first.frame:
        return f"from {message_op(first)} to {message_op(final)}, {frame_text(first.frame)}"
    return (f"from {message_op(first)}, {frame_text(first.frame)}, to {message_op(final)}, "
            f"{frame_text(final.frame)}")
