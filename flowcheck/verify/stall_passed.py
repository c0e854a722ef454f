"""A data connection's stall seen from the sender's packets alone, captured past the
loss (Stall.lost with Stall.sender_only): a capture of one direction (none of the
receiver's packets on the connection) taken a router or more from the sender (its
packets arrive with a TTL below any initial one: flowcheck.model.traffic.INITIAL_TTLS),
that holds a sequence gap in its data never filled and, later, a pure ACK of its whose
sequence number is past the last byte captured (SideEvidence.sent_unseen: bytes it sent
that never came past the capture point), with no resend and no new byte of it captured
for a retransmission timeout or more after its last data packet (passed_timed).

ndmjob-pmtu/v4-pmtu-blackhole-at-media cut to the agent's packets: of the 16880 B the
agent sent (its ACK of frame 32 carries 16881), the capture holds one 952 B segment
(frame 21); the 7240 B before it and the 8688 B after it never came, nor any resend of
them in the 25 s until the media server closed. The sniffer's loss does not fit: a
sender whose bytes arrived gets their ACKs and sends more (its SND.NXT would move), and
one whose bytes did not arrive resends them after each retransmission timeout (RFC 6298
5.4), which a capture past the loss never holds. Its largest segment captured being
smaller than a full-size one while more than that never came is the pattern of a path
MTU black hole (RFC 2923 2.1). The missing bytes are then the network's, not the
sniffer's: capture_loss leaves them out (placed_uids).
"""

from __future__ import annotations

from collections.abc import Iterable

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session, connection_ends, other_direction
from flowcheck.model.traffic import ETHERNET_MSS, INITIAL_TTLS
from flowcheck.sessions.classify import one_sided
from flowcheck.verify.context import Context
from flowcheck.verify.stall_record import Stall
from flowcheck.verify.ttl import own_ttl


def passed_stall(conn: Connection) -> Stall | None:
    """The stall of the side the capture holds alone, past the loss (module docstring):
    unacked its bytes in gaps (the sniffer's by the tracker's rules: no ACK captured),
    ts and frame the packet after the first gap, next_len its largest segment captured
    (Connection.*_seg_max); None otherwise (its pure ACK past them must come after its
    last data packet). Timed by passed_timed."""
    missing = one_sided(conn)
    if missing is None or conn.rst_frames or conn.fin_frames or not conn.gap_frames \
            or not conn.gap_times:
        return None
    side = other_direction(missing)
    evidence = conn.evidence(side)
    ttl = own_ttl(conn, side)
    gaps = conn.sniffer_missed - conn.fins_unseen
    last_data = conn.orig_last_data if side == "orig" else conn.resp_last_data
    if evidence.resends or not evidence.sent_unseen or gaps <= 0 or ttl is None \
            or ttl in INITIAL_TTLS or last_data is None \
            or evidence.sent_unseen_frame < last_data[0]:
        return None
    return Stall(side, 0, gaps, False, conn.gap_times[0], conn.gap_frames[0],
                 first_ts=conn.gap_times[0], first_frame=conn.gap_frames[0], lost=True,
                 ack_frame=evidence.sent_unseen_frame, ack_ts=conn.last_ts,
                 next_len=getattr(conn, f"{side}_seg_max"), sender_only=True)


def passed_timed(conn: Connection, stall: Stall, rto: float) -> bool:
    """Whether the connection's last packet (the sender's: the capture holds no other)
    came a retransmission timeout (rto, seconds) or more after the sender's last data
    packet captured: that long it sent no new byte and no resend came past the capture
    point (RFC 6298 5.4: one comes after each timeout)."""
    last_data = conn.orig_last_data if stall.side == "orig" else conn.resp_last_data
    return last_data is not None and conn.last_ts - last_data[1] >= rto


def passed_by_size(stall: Stall) -> bool:
    """Whether the sender's largest segment captured is smaller than a full-size one
    (ETHERNET_MSS) and more bytes than it never came past the capture point."""
    return 0 < stall.next_len < ETHERNET_MSS and stall.next_len < stall.unacked


def placed_uids(sessions: Iterable[Session], connections: Iterable[Connection],
                rto: float) -> frozenset[str]:
    """The sessions' data connections with a passed_stall the capture went on a
    retransmission timeout (rto, seconds) after: their missing bytes are the network's
    (data_stalled says so), not the sniffer's (capture_loss leaves them out)."""
    data = {uid for session in sessions for uid in session.data_connections}
    return frozenset(c.uid for c in connections if c.uid in data
                     and (stall := passed_stall(c)) is not None
                     and passed_timed(c, stall, rto))


def passed_head(ctx: Context, conn: Connection, stall: Stall, roles: tuple[str, str]) -> str:
    """data_stalled's head for a passed_stall: what never came past the capture point,
    what did, and why that is not the sniffer's loss; roles: the sender's and the
    receiver's role words."""
    sender, receiver = conn.host(stall.side), conn.host(other_direction(stall.side))
    evidence = conn.evidence(stall.side)
    ttl = own_ttl(conn, stall.side)
    last_data = conn.orig_last_data if stall.side == "orig" else conn.resp_last_data
    since = conn.last_ts - (last_data[1] if last_data is not None else conn.last_ts)
    return (f"The data connection {connection_ends(conn)} stopped delivering: {stall.unacked:,} B "
            f"{roles[0]} {sender} sent never came past the capture point, nor "
            f"{evidence.sent_unseen:,} B more after them (its ACK in "
            f"{frame_text(evidence.sent_unseen_frame)} carries a sequence number past them), while "
            f"{conn.sent_once(stall.side):,} B of its data did ({frame_text(stall.frame)}, "
            f"after the "
            f"gap). The capture holds only {sender}'s packets on this connection, taken a "
            f"router or more from it (they arrive with TTL {ttl}), and it holds none of "
            f"those bytes resent nor any new byte of {sender}'s in the {span_words(since)} "
            "from its last data packet to its last packet: not the sniffer's loss. A sender "
            "whose bytes arrived gets their ACKs and sends more; one whose bytes did not "
            "resends them after each retransmission timeout (RFC 6298), and these resends "
            "were lost before the capture point as the first sending was (or "
            f"{roles[1]} {receiver} stopped reading, its window closed in the direction the "
            "capture lacks).")


def passed_detail(stall: Stall, mtu: str) -> str:
    """Step 4's words for a passed_stall; mtu: stalled_transfer.stalled_detail's words for
    segments lost by their size (passed_by_size, through pmtu.lost_by_size), "" when not."""
    return (f"stopped delivering mid-transfer ({stall.unacked:,} B never came past the capture "
            f"point, nor resent, its own packets show no new byte sent since, "
            f"{frame_text(stall.frame)}{mtu})")
