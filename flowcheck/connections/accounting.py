"""What a connection's sides add up to at the end: missed_bytes and gaps (Zeek's), the
bytes the receiver never got (lost gaps), ACKed of a side never seen, seen and never
ACKed, sent beyond the capture, and the trailing resends (flowcheck.model.Connection's
fields and its sides' SideEvidence); read from the tracking state
(flowcheck.connections.conn.Endpoint) when the tracker finishes a connection. The
short-connection path's records get the same from its arrays
(flowcheck.connections.short_accounting)."""

from __future__ import annotations

from typing import Any

from flowcheck.connections.conn import EVIDENCE_CAP, ConnState
from flowcheck.connections.endpoint import Endpoint, signed32
from flowcheck.connections.reordering import M32
from flowcheck.connections.zero_window import ZERO_FIELDS, zero_window_evidence
from flowcheck.model import SideEvidence


def acked_unseen(side: Endpoint) -> int:
    """Bytes of a side never seen (max_end None at the end) its peer ACKed: the highest
    ACK minus the first (an ACKed FIN counts one); 0 for a side seen."""
    if side.max_end is not None or side.unseen_first is None:
        return 0
    return side.unseen_top - side.unseen_first


def acked_unseen_ts(side: Endpoint) -> float | None:
    """When the peer's ACKs first acknowledged more of a side never seen than a FIN
    (Endpoint.unseen_moved_ts; seconds, capture clock); None for a side seen."""
    return side.unseen_moved_ts if side.max_end is None else None


def unique_bytes(side: Endpoint) -> int | None:
    """The side's payload bytes the capture holds, each counted once by sequence number
    (tcptrace's "unique bytes sent"): from its first byte (Endpoint.first_byte: a SYN's
    sequence number + 1, else the first one tracked), or the lowest captured below it
    (a capture joined mid-stream: Endpoint.low), to its highest byte seen (max_end: a
    FIN takes none), less the holes never filled and the bytes below the first never
    captured (Endpoint.under); None for a side with no byte or FIN seen. Called before
    acked_before drops holes (they are bytes the capture lacks all the same). Review
    54b: from Wireshark's base + 1, the peer's first ACK when that came first, it
    counted bytes never captured and left out those below the first segment."""
    first = side.first_byte()
    if side.max_end is None or first is None:
        return None
    start = first if side.low is None else side.low
    if start > side.max_end:
        start -= 1 << 32
    return max(0, side.max_end - start - side.under_bytes() - side.missed_bytes())


def repeated_bytes(sent: int, unique: int | None) -> int:
    """Of a side's `sent` payload bytes (capture copies left out: Connection.sent_once),
    those its packets repeated (RareFields.orig_repeated): sent less unique_bytes,
    never negative; 0 when unique is unknown (None)."""
    return 0 if unique is None else max(0, sent - unique)


def fin_acked(side: Endpoint) -> bool:
    """Did the peer ACK the side's FIN, captured: its highest ACK above the side's last
    byte (max_end, which a FIN takes none of), as a FIN takes one sequence number?"""
    return (side.fin and side.acked is not None and side.max_end is not None
            and side.acked > side.max_end)


def unacked(side: Endpoint) -> int:
    """Payload bytes of side seen that its peer never ACKed: max_end (a FIN takes none)
    minus the peer's highest ACK, never negative; 0 when either is unknown. Every ACK of
    the peer's captured before the side's first packet (kept apart as unseen_top: the
    handshake's ACK when the sniffer lost the SYN-ACK, trial34's capture edited) counts
    as well, unwrapped against max_end: the capture holds the peer's acknowledgement, it
    only came first."""
    if side.max_end is None:
        return 0
    acked = side.acked
    if acked is None and side.unseen_first is not None:
        acked = early_acked(side.max_end, side.unseen_top)
    return 0 if acked is None else max(0, side.max_end - acked)


def early_acked(max_end: int, unseen_top: int) -> int:
    """The peer's highest ACK captured before any packet of the side (unseen_top, its
    low 32 bits the raw ACK number) in the side's unwrapped sequence space, the one
    nearest max_end (within 2**31)."""
    delta = ((unseen_top - max_end) & M32)
    return max_end + (delta - (1 << 32) if delta >= 1 << 31 else delta)


def resends_acked(side: Endpoint, peer: Endpoint, rst_frames: list[int]) -> int:
    """The side's trailing resends (Endpoint.resends) when the capture holds an ACK of
    them the sender never got: the latest began below its peer's highest ACK, and
    neither did that ACK come only after the latest resend (answered late: a slow link
    delivered them), unless on a RST (in rst_frames: it ends the connection, answering
    nothing), nor did the sender acknowledge anything new of its peer's after it (it took
    a later packet, which carried the ACK). Else 0."""
    if not side.resends or side.acked is None or side.resent_u is None:
        return 0
    answered = side.acked_frame > side.resent_frame and side.acked_frame not in rst_frames
    took_later = peer.acked is not None and peer.acked_frame > side.resent_frame
    lost = side.resent_u < side.acked and not answered and not took_later
    return side.resends if lost else 0


def account_missed(c: ConnState, rto: float = 3.0) -> None:
    """At the end: missed_bytes and gaps from the holes never filled, plus the bytes the
    receiver ACKed beyond the last byte seen (Zeek counts those in missed_bytes too);
    apart from them, the bytes ACKed of a side never seen (orig/resp_acked_unseen), the
    bytes seen never ACKed (orig/resp_unacked), the largest segments (orig/resp_seg_max),
    and each side's evidence (side_evidence; rto: seconds, the retransmission timeout
    that decides its untold holes, Config.retransmission_timeout)."""
    record = c.record
    record.orig_acked_unseen = acked_unseen(c.orig)
    record.resp_acked_unseen = acked_unseen(c.resp)
    record.orig_unacked, record.resp_unacked = unacked(c.orig), unacked(c.resp)
    record.orig_seg_max, record.resp_seg_max = c.orig.seg_max, c.resp.seg_max
    record.missed_bytes, record.gaps = 0, 0
    mid_stream = joined_mid_stream(c)
    # Before acked_before drops holes: bytes the capture lacks are none of the unique.
    record.orig_repeated = repeated_bytes(record.sent_once("orig"), unique_bytes(c.orig))
    record.resp_repeated = repeated_bytes(record.sent_once("resp"), unique_bytes(c.resp))
    # A connection in which no gap ever opened (almost all): no hole to drop, no frame.
    gapped = c.orig.holes or c.resp.holes or c.orig.hole_frames or c.resp.hole_frames
    if gapped:
        before = {frame for side in (c.orig, c.resp)
                  for frame in acked_before(side, mid_stream, record.fin_frames)}
        # The gaps never filled, where each opened (a hole keeps its frame): not those a
        # reordered segment filled a few frames later (trial B of session 34: four such
        # frames cited for "1 gap", the one real gap's frame not among them).
        firsts = sorted(pair for pair in [
            (hole[2], hole[3]) for side in (c.orig, c.resp) for hole in side.holes]
            if pair[0] not in before)[:EVIDENCE_CAP]
        record.gap_frames = [frame for frame, _ in firsts]
        record.gap_times = [ts for _, ts in firsts]
    else:
        record.gap_frames, record.gap_times = [], []
    record.lost_gaps = record.untold_gaps = 0
    orig_missed = not c.orig.fin and _acked_beyond(c.orig) == 1
    resp_missed = not c.resp.fin and _acked_beyond(c.resp) == 1
    record.fins_unseen = orig_missed + resp_missed  # each one byte in missed_bytes
    record.orig_fin_unseen = orig_missed or fin_proved_unseen(c.orig, c.resp)
    record.resp_fin_unseen = resp_missed or fin_proved_unseen(c.resp, c.orig)
    record.orig_fin_or_byte = acked_one_more(c.orig)
    record.resp_fin_or_byte = acked_one_more(c.resp)
    record.orig_acked_unseen_ts = acked_unseen_ts(c.orig)
    record.resp_acked_unseen_ts = acked_unseen_ts(c.resp)
    record.orig_fin_acked, record.resp_fin_acked = fin_acked(c.orig), fin_acked(c.resp)
    for name, side, peer in (("orig", c.orig, c.resp), ("resp", c.resp, c.orig)):
        lost = side.lost_holes() if side.holes else []
        untold = untold_holes(side, record.last_ts, rto) if side.holes else []
        record.lost_gaps += len(lost)
        record.untold_gaps += len(untold)
        record.set_evidence(name, side_evidence(side, peer, record.rst_frames, lost, untold)
                            if lost or untold or has_evidence(side, peer) else None)
        if side.holes:
            record.missed_bytes += side.missed_bytes()
        record.gaps += len(side.holes)
        beyond = _acked_beyond(side) - (_sacked_beyond(side) if mid_stream else 0)
        if beyond > 0:
            record.missed_bytes += beyond
            record.gaps += 1
            if len(record.gap_frames) < EVIDENCE_CAP:
                record.gap_frames.append(side.acked_frame)
                record.gap_times.append(side.acked_ts)
        elif gapped and not side.holes:
            # Every gap of this side filled later: no gap in the capture (Zeek's history
            # has no content gap then either), so no G/g, as `gaps` counts none.
            record.history = record.history.replace("G" if name == "orig" else "g", "")


def fin_proved_unseen(side: Endpoint, peer: Endpoint) -> bool:
    """Did the peer acknowledge the FIN of a side the capture holds no packet of (no
    max_end): the peer's FIN captured, and its highest ACK of the side one past its ACK
    level before (acked_one_more; a FIN takes one sequence number, RFC 9293 3.4)?
    The receiver's own packets then show that the sender closed after its data (its FIN
    acknowledged at or after the receiver's own), as Connection.orig/resp_fin_unseen say
    of a side captured; a lone last byte of data looks the same. Not counted in
    missed_bytes: nothing of the side is."""
    return peer.fin and acked_one_more(side)


def acked_one_more(side: Endpoint) -> bool:
    """Is the peer's highest ACK of a side the capture holds no packet of (no max_end)
    one past its ACK level before (Endpoint.unseen_below)? That one sequence number is
    the side's FIN or a lone last byte: Connection.orig/resp_fin_or_byte."""
    return (side.max_end is None and side.unseen_below is not None
            and side.unseen_top - side.unseen_below == 1)


def joined_mid_stream(c: ConnState) -> bool:
    """Whether the capture joined c mid-stream: it holds no SYN of either side (no ISN
    known, Endpoint.isn). A SYN or SYN-ACK captured shows the capture ran before either
    side sent data (each sends its data after the SYN-ACK), so every byte missing of it
    can be the sniffer's (the first-ACK rules of acked_before and _sacked_beyond are for
    a capture that began mid-stream: trial 32 D3)."""
    return c.orig.isn is None and c.resp.isn is None


def acked_before(side: Endpoint, mid_stream: bool, fin_frames: list[int]) -> set[int]:
    """Drop side's holes below its peer's first ACK captured (Endpoint.ack_first), the
    parts of them below it, and those its SACK blocks (RFC 2018; Endpoint.sacked_first)
    cover: the receiver had those bytes when the capture first heard from it, so they may
    have passed before the capture began (a capture joined mid-stream whose first
    segments are stale reordered ones: trial 32 D3, 20,272 bytes "the sniffer lost" where
    tcpdump dropped nothing; and 4,720 to 8,688 bytes its SACK blocks held); no evidence
    of sniffer loss, nor a gap of the capture's (as bytes sent before a capture's first
    packet are none). Only for a connection the capture joined mid-stream (mid_stream:
    joined_mid_stream); else nothing is dropped. A sniffer's loss before the receiver's
    first ACK is left unsaid: under one round trip of a capture's start. Never a hole a
    FIN closed (fin_closed): the FIN's sequence number is the side's last, so its bytes
    came after the data captured below them, the sniffer's loss (newuser64: a data
    connection cut to its first 5,792 B and its FIN, 194,208 B dropped here, the
    receiver's first ACK captured being the one of the FIN, and step 5 said "every
    byte"; fin_frames: the connection's FIN frames, Connection.fin_frames). Returns the
    frames (the packet after the gap) of the holes dropped whole.
    At finish time: the per-packet path keeps ack_first and sacked_first
    (connections.sack) per side."""
    if not mid_stream:
        return set()
    first = side.ack_first
    if first is None or not side.holes or (side.holes[0][0] >= first
                                          and not side.sacked_first):
        return set()
    frames = {hole[2] for hole in side.holes}
    closed = [hole for hole in side.holes if fin_closed(side, hole, fin_frames)]
    side.holes = [hole for hole in side.holes if hole[1] > first and hole not in closed]
    if side.holes and side.holes[0][0] < first:
        side.holes[0][0] = first
    for start, end in side.sacked_first:
        side.fill(start, end)
    # The pieces of the holes a FIN closed lie above every other (a FIN ends the side):
    # kept whole, after the others, the list stays sorted.
    side.holes.extend(closed)
    return frames - {hole[2] for hole in side.holes}


def fin_closed(side: Endpoint, hole: list, fin_frames: list[int]) -> bool:
    """Did the side's FIN close the hole: the packet after the gap a FIN (the hole's plen
    0: only a FIN moves a side's sequence without payload, as conn._track_sequence and
    the bulk path open holes; or its frame one of fin_frames, the connection's FIN
    frames: a FIN with the side's last bytes, review62e), the side's FIN captured, and
    the peer's first ACK captured (Endpoint.ack_first) beyond the side's last byte
    (max_end), the FIN's own acknowledged? An ACK of the hole's end alone came before
    the FIN (it does not acknowledge it): the receiver had the bytes before the capture
    heard the FIN, and the data below them may be a stale resend of a capture that began
    after they passed (review62e: a resend of a segment 50,000 B back, the receiver's
    duplicate ACK of every byte, then the FIN read 48,552 B "the sniffer lost")."""
    # The FIN ends the side (its packet ends at max_end): its own ACK is beyond max_end,
    # whatever piece of the hole a later segment left (Endpoint.fill keeps the frame).
    return side.fin and (hole[4] == 0 or hole[2] in fin_frames) \
        and side.ack_first is not None and side.max_end is not None \
        and side.ack_first > side.max_end


def untold_holes(side: Endpoint, end_ts: float, rto: float) -> list[list]:
    """The holes whose loss the capture cannot place (SideEvidence.untold): the peer
    neither ACKed past one (its highest ACK at or below the hole's start, or none
    captured) nor ACKed at all after it (else a lost hole: Endpoint.lost_holes), and the
    connection's last packet (end_ts, seconds) came less than rto seconds after the packet
    after the hole: the connection (or the capture) ended before the sender's
    retransmission timeout (RFC 6298), so neither a resend nor an ACK could show whether
    the receiver got those bytes."""
    acked = side.acked
    return [h for h in side.holes if end_ts - h[3] < rto and (
        acked is None or (h[0] >= acked and side.ack_last_frame <= h[2]))]


def has_evidence(side: Endpoint, peer: Endpoint) -> bool:
    """Whether side_evidence can give side anything but NO_EVIDENCE when it has no lost
    or untold holes: resends, bytes its pure ACKs show beyond its last one seen, a
    trailing or reopened zero window, a RST's TTL, a TTL that changed, its handshake ACK
    repeated. False for almost every side, whose SideEvidence (31 fields, compared with
    NO_EVIDENCE) is then not built at all."""
    return bool(side.resends or side.rst_ttl is not None or side.zero_ts is not None
                or side.ttl_moved is not None
                or side.zero_long_ts is not None or side.zero_long_s or side.zero_long_frame
                or side.zero_long_end or sent_unseen(side)[0]
                or handshake_ack_repeats(side, peer)
                or (side.sacked_unseen is not None and side.max_end is None))


def handshake_ack_repeats(side: Endpoint, peer: Endpoint) -> int:
    """SideEvidence.handshake_ack_repeats: the side's duplicate ACKs (Endpoint.dup_acks,
    Wireshark's count) when it sent nothing but its SYN (no payload) and its last ACK
    number is the peer's SYN's + 1 (the peer's ISN known), or, while nothing of the peer
    is seen, its first ACK's (the peer's base: that ACK's number - 1); else 0."""
    if not side.dup_acks or side.isn is None or side.max_end != side.isn + 1:
        return 0
    if peer.isn is not None:
        answer = (peer.isn + 1) & M32
    elif peer.max_end is None and peer.base is not None:
        answer = (peer.base + 1) & M32
    else:
        return 0
    return side.dup_acks if side.ack_sent == answer else 0


def side_evidence(side: Endpoint, peer: Endpoint, rst_frames: list[int],
                  lost: list[list], untold: list[list] | None = None) -> SideEvidence:
    """side's evidence at the end (SideEvidence; all defaults when it has none): its
    trailing resends (resends_acked given the connection's RST frames), its lost holes
    (`lost`: Endpoint.lost_holes) and untold ones (`untold`: untold_holes), sent_unseen,
    its zero windows, its handshake ACK repeated, its first RST's TTL and the TTL before
    it, its TTL's latest change."""
    resent = side.resends > 0
    unseen, unseen_frame = sent_unseen(side)
    first = lost[0] if lost else None
    untold = untold or []
    return SideEvidence(
        resends=side.resends, resends_acked=resends_acked(side, peer, rst_frames),
        resent_ts=side.resent_ts if resent else None,
        resent_frame=side.resent_frame if resent else 0,
        resent_len=side.resent_len if resent else 0,
        resend_first_ts=side.resend_first_ts if resent else None,
        resend_first_frame=side.resend_first_frame if resent else 0,
        lost=sum(h[1] - h[0] for h in lost), lost_frame=first[2] if first else 0,
        lost_ts=first[3] if first else None, lost_next=first[4] if first else 0,
        lost_ack_frame=side.ack_last_frame if first else 0,
        lost_ack_ts=side.ack_last_ts if first else None,
        untold=sum(h[1] - h[0] for h in untold), untold_frame=untold[0][2] if untold else 0,
        sent_unseen=unseen, sent_unseen_frame=unseen_frame,
        handshake_ack_repeats=handshake_ack_repeats(side, peer),
        **sacked_unseen(side),
        **zero_window_evidence([getattr(side, f) for f in ZERO_FIELDS]),
        rst_ttl=side.rst_ttl, rst_twice=side.rst_twice,
        ttl_before_rst=side.ttl_before_rst if side.rst_ttl is not None else None,
        ttl_moved=side.ttl_moved,
        copy_ttl_other=side.copy_ttl_other, first_rst_crossed=side.first_rst_crossed)


def sacked_unseen(side: Endpoint) -> dict[str, Any]:
    """SideEvidence's sacked_unseen fields of a side never captured (max_end None at the
    end) from Endpoint.sacked_unseen: the ACK number and blocks relative to the side's
    base (mod 2**32), the blocks' bytes; {} (the defaults) otherwise."""
    if side.sacked_unseen is None or side.max_end is not None or side.base is None:
        return {}
    frame, ack, edges = side.sacked_unseen
    base = side.base
    starts = [((left - base) & M32, signed32(right - left)) for left, right in edges]
    blocks = tuple((start, start + size) for start, size in starts)
    return {"sacked_unseen": sum(right - left for left, right in blocks),
            "sacked_unseen_frame": frame, "sacked_unseen_ack": (ack - base) & M32,
            "sacked_unseen_blocks": blocks}


def sent_unseen(side: Endpoint) -> tuple[int, int]:
    """(bytes, frame): what the side's pure ACKs show it sent beyond its last byte seen
    (Endpoint.seq_ahead minus max_end at the end, a FIN seen taking one), and the ACK's
    frame; (0, 0) when none."""
    if side.seq_ahead is None or side.max_end is None:
        return 0, 0
    ahead = side.seq_ahead - side.max_end - (1 if side.fin else 0)
    return (ahead, side.seq_ahead_frame) if ahead > 0 else (0, 0)


def _sacked_beyond(side: Endpoint) -> int:
    """Of the bytes the peer ACKed beyond the last byte of side seen (_acked_beyond), those
    the SACK blocks of its first ACK captured cover (Endpoint.sacked_first): the receiver
    had them when the capture first heard from it (acked_before; the caller asks only for
    a connection joined mid-stream, joined_mid_stream)."""
    if side.acked is None or side.max_end is None or not side.sacked_first:
        return 0
    low, high = side.max_end + (1 if side.fin else 0), side.acked
    return sum(max(0, min(end, high) - max(start, low)) for start, end in side.sacked_first)


def _acked_beyond(side: Endpoint) -> int:
    """Bytes the peer ACKed beyond the last byte of side seen (a FIN seen takes one)."""
    if side.acked is None or side.max_end is None:
        return 0
    return max(0, side.acked - side.max_end - (1 if side.fin else 0))
