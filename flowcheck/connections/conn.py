"""Per-connection tracking state and the reference (one packet at a time) update.

`update_packet` is the definition of what a packet does to a connection. The bulk path
(flowcheck.connections.bulk) must give exactly the same result for the packets it takes,
and tests compare the two on every capture.
"""

from __future__ import annotations

from dataclasses import field

from flowcheck.connections.ack_repeats import note as note_repeat
from flowcheck.connections.endpoint import EVIDENCE_CAP, Endpoint, signed32
from flowcheck.connections.reordering import note_packet, unseen_retransmission
from flowcheck.connections.state import EndpointState
from flowcheck.connections.zero_window import zero_window_update
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
PRE_TAP_CAP = 8  # packets kept for replay until the tap decides
# Letter order inside one packet; the bulk path appends letters in the same order.
LETTER_RANK = {c: i for i, c in enumerate("^QISHDATGWFR")}


def refusal_shape(flags: int, seq: int, plen: int) -> bool:
    """A RST shaped as the answer to a SYN at a port nothing listens on (RFC 9293
    3.10.7.1, CLOSED state: a segment without ACK gets <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
    <CTL=RST,ACK>, Linux, Windows and BSD alike, and firewalls' TCP resets): RST and ACK,
    no SYN or FIN, no payload, seq 0. An abort's RST carries its sender's own seq (and
    Windows' a window of 0): it is no refusal. flags: the TCP flags byte; seq: raw;
    plen: payload bytes. The bulk path (flowcheck.connections.short) tests the same."""
    return flags & (SYN | FIN | RST | ACK) == RST | ACK and plen == 0 and seq == 0


@fields_dataclass(slots=True)
class ConnState:
    """The tracker's state of one connection: its record, both sides' endpoints
    (connections.endpoint), and what the one-at-a-time path waits for (tap, SYNs)."""

    record: Connection
    orig_is_lower: bool  # the originator is the flow key's lower endpoint
    orig: Endpoint = field(default_factory=Endpoint)
    resp: Endpoint = field(default_factory=Endpoint)
    tapped: bool = False
    tap_pending: bool = False  # waiting for the first payload to ask the tap
    pre_tap: list[tuple] = field(default_factory=list)
    last_syn_ts: float | None = None
    # The originator's first pure ACK seen before both SYNs: (raw seq, raw ack, ts).
    early_ack: tuple[int, int, float] | None = None
    # record.stale_ack_frame is set and no later packet of the responder has shown yet
    # that it accepted the SYN (update_packet clears both then): the responder's packets
    # go one at a time meanwhile (steady_for), so the bulk path need not look for that.
    stale_pending: bool = False

    @property
    def closed(self) -> bool:
        o, r = self.orig.state, self.resp.state
        return (self.orig.fin and self.resp.fin) or EndpointState.RESET in (o, r)

    def add_letter(self, letter: str) -> None:
        if letter not in self.record.history:
            self.record.history += letter

    def steady_for(self, is_orig: bool) -> bool:
        """A packet without SYN/FIN/RST from this side cannot change endpoint states."""
        if is_orig:
            return self.orig.steady() and self.resp.state != EndpointState.SYN_ACK_SENT
        return self.resp.steady() and not self.stale_pending


def _note(frames: list[int], frame: int) -> None:
    if len(frames) < EVIDENCE_CAP:
        frames.append(frame)


def _track_sequence(side: Endpoint, seq: int, plen: int, frame: int, ts: float,
                    peer: Endpoint, rtt: float | None) -> tuple[bool, bool]:
    """Update one side's sequence space and its resends; return (retransmission, gap).

    A retransmission: payload the capture saw before from the side (a repeat), or a
    segment with bytes it had not seen (one filling a gap, typically) that starts below
    the side's next expected sequence number when Wireshark calls it one rather than
    out-of-order (reordering.unseen_retransmission: the peer's duplicate ACKs, rtt the
    connection's handshake round trip). Only a repeat is a resend (Endpoint.resends)."""
    start = side.unwrap(seq)
    end = start + plen
    if plen > side.seg_max:
        side.seg_max = plen
    if side.max_end is None:
        side.max_end = side.first = start
    if start > side.max_end:
        side.open_hole(side.max_end, start, frame, ts, plen)
        side.max_end = end
        side.resends = 0
        return unseen_retransmission(side, peer, seq, plen, ts, rtt), True
    if plen == 0:
        return False, False
    if start < side.max_end:  # below the side's first byte too? (unique bytes)
        side.note_below(start, end)
    # Holes all lie below max_end: only a packet starting below it can touch one.
    overlaps_hole = start < side.max_end and side.fill(start, end)
    repeat = end <= side.max_end and not overlaps_hole
    if repeat and plen == 1 and end == side.max_end:
        # A TCP keepalive probe as Windows sends it: the byte below SND.NXT again (RFC
        # 1122 4.2.3.6); tshark's "Keep-Alive", no retransmission (field check 42).
        return False, False
    if repeat:
        if not side.resends:
            side.resend_first_ts, side.resend_first_frame = ts, frame
        side.resends += 1
        side.resent_u, side.resent_ts, side.resent_frame = start, ts, frame
        side.resent_len = plen
        return True, False
    if end > side.max_end:
        side.resends = 0
        side.max_end = end
    return unseen_retransmission(side, peer, seq, plen, ts, rtt), False


def note_ahead(side: Endpoint, seq: int, frame: int) -> None:
    """A pure ACK of side (no payload, SYN, FIN or RST) with sequence number seq: keep it
    when above the side's highest byte seen (Endpoint.seq_ahead). Unwrapped against the
    side's last sequence number without moving it (only data and FINs do)."""
    if side.max_end is None or side.last_u is None:
        return
    u = side.last_u + signed32(seq - side.last_raw)
    if u > side.max_end and (side.seq_ahead is None or u > side.seq_ahead):
        side.seq_ahead, side.seq_ahead_frame = u, frame


def track_ack(side: Endpoint, ack_number: int, frame: int, ts: float = 0.0) -> None:
    """The peer ACKed side's bytes up to ack_number: keep the highest, and the last one's
    frame and time.

    Unwrapped against the previous ACK (the first against max_end; the bulk path takes
    the run's final max_end, the same within 2**31), so ACKs for gigabytes the capture
    never saw still add up.
    """
    ref = side.ack_last if side.ack_last is not None else side.max_end
    if ref is None:  # nothing of this side seen yet: no reference to unwrap against
        _ack_unseen(side, ack_number, ts)
        return
    acked = side.ack_last = ref + signed32(ack_number - ref)
    side.ack_last_frame, side.ack_last_ts = frame, ts
    if side.acked is None:
        side.acked = side.ack_first = acked
        side.acked_frame, side.acked_ts = frame, ts
    elif acked > side.acked:
        side.acked = acked
        side.acked_frame, side.acked_ts = frame, ts


def _ack_unseen(side: Endpoint, ack_number: int, ts: float) -> None:
    """The peer ACKed side's bytes up to ack_number (at ts) while nothing of side is
    seen: the first ACK is the origin, each next one unwrapped against the one before;
    the first that takes the top more than one past the origin is when data moved
    (Endpoint.unseen_moved_ts)."""
    if side.unseen_first is None:
        side.unseen_first = side.unseen_last = side.unseen_top = ack_number
        return
    last = side.unseen_last = side.unseen_last + signed32(ack_number - side.unseen_last)
    if last > side.unseen_top:
        side.unseen_below, side.unseen_top = side.unseen_top, last
        if side.unseen_moved_ts is None and last - side.unseen_first > 1:
            side.unseen_moved_ts = ts


def completes_handshake(isn: int | None, peer_isn: int | None, seq: int, ack: int,
                        plen: int, fin: int) -> bool:
    """Is the originator's packet the ACK that completes the handshake (RFC 9293 3.5):
    no payload, no FIN, its sequence number its SYN's + 1 and its ACK the SYN-ACK's + 1
    (raw 32-bit numbers)? Only its time gives the handshake's round trip: the first
    packet after a SYN-ACK may be a FIN or data seconds later when a capture filter (on
    the TCP flags, say) or the sniffer left the ACK out (trial 13: "handshake 3.12e+03
    ms" from a FIN). tshark's tcp.analysis.initial_rtt takes that later packet too."""
    return (not plen and not fin and isn is not None and peer_isn is not None
            and seq == (isn + 1) & 0xFFFFFFFF and ack == (peer_isn + 1) & 0xFFFFFFFF)


def acknowledges_syn(side: Endpoint, ack_number: int) -> bool:
    """Does the peer's ACK number (raw) acknowledge side's SYN: its sequence number + 1,
    or a later one up to what side sent after it (max_end: its SYN's data, data sent once
    a SYN-ACK the capture lacks reached it)? One that does not answers another connection
    (Connection.stale_ack_frame). side's SYN must have been seen (its isn)."""
    assert side.isn is not None and side.max_end is not None
    return 0 < signed32(ack_number - side.isn) <= side.max_end - side.isn


def answers_again(side: Endpoint, peer: Endpoint, seq: int, ack_number: int) -> bool:
    """Is a SYN-ACK of side (raw seq and ACK number) with another ISN than side's the same
    SYN answered again, side's sequence space to restart from it: side sent nothing but
    its SYN-ACK (no byte, no FIN, no gap), the peer acknowledged none of it, and the ACK
    number names the SYN its first SYN-ACK answered (the peer's base + 1). Linux answers
    a SYN resent once its request expired (its SYN-ACK retries spent) with a new ISN
    (tests/test_one_way_reanswered: SYN-ACKs dropped on their way, one SYN answered
    with two ISNs or more); kept against the first ISN, the side's bytes read as a gap
    of the ISNs' distance (493,887,756 B of "capture loss" for a 2 B answer)."""
    return (side.isn is not None and seq != side.isn and side.max_end == side.isn + 1
            and not side.fin and not side.holes and side.acked is None
            and peer.base is not None and (ack_number - 1) & 0xFFFFFFFF == peer.base)


def handshake_written_early(c: ConnState) -> None:
    """The handshake of a file whose records are out of time order: the originator's
    ACK that completes it (completes_handshake) was written before its SYN or SYN-ACK
    (c.early_ack) though stamped after the SYN-ACK. Once both SYNs are in, the ACK gives
    the round trip from the SYN before it in time (the last SYN's, else the first's) and
    establishes the connection, as it would have in time order."""
    assert c.early_ack is not None
    seq, ack_number, ts = c.early_ack
    record = c.record
    if not completes_handshake(c.orig.isn, c.resp.isn, seq, ack_number, 0, 0):
        return
    syn_ts = next((t for t in (c.last_syn_ts, record.syn_ts) if t is not None and t <= ts),
                  None)
    if syn_ts is None or record.synack_ts is None or not record.synack_ts < ts:
        return  # the ACK came before the SYN-ACK in time too: not the handshake's
    c.early_ack = None
    record.rtt = ts - syn_ts
    record.established = True
    for side in (c.orig, c.resp):
        if side.state in (EndpointState.PARTIAL, EndpointState.SYN_SENT,
                          EndpointState.SYN_ACK_SENT):
            side.state = EndpointState.ESTABLISHED


def update_packet(c: ConnState, is_orig: bool, flags: int, seq: int, ack_number: int,
                  window: int, plen: int, frame: int, ts: float, copy: bool = False,
                  ttl: int | None = None) -> None:
    """What one TCP packet does to its connection (the reference semantics).

    ttl: the packet's IP TTL or IPv6 hop limit (flowcheck.decode's tcp_ttl): the TTL of
    its side's first packet without RST is kept (Connection.orig_ttl / resp_ttl: a RST
    may be a device's in the side's name; a copy counts, as it has its original's), and
    its first RST's (Endpoint.rst_ttl), and its last packet's before that RST
    (Endpoint.ttl_before_rst: the side's TTL then, should the route have changed) with
    the latest change of it (Endpoint.ttl_moved).


    copy: the packet is a capture copy of an earlier one (flowcheck.connections.copies):
    a packet (tshark counts it, its payload in orig/resp_copy_bytes too) that changes
    nothing else: no retransmission, SYN retry, evidence frame or history letter, no
    sequence or ACK tracking.
    """
    record = c.record
    if is_orig:
        record.orig_pkts += 1
        record.orig_bytes += plen
        if record.orig_ttl is None and not flags & RST:
            record.orig_ttl = ttl
    else:
        record.resp_pkts += 1
        record.resp_bytes += plen
        if record.resp_ttl is None and not flags & RST:
            record.resp_ttl = ttl
    record.last_frame = frame
    record.last_ts = ts
    before = record.orig_last_ts if is_orig else record.resp_last_ts  # its last until now
    if is_orig:
        record.orig_last_ts = ts
    else:
        record.resp_last_ts = ts
    if copy:
        if is_orig:
            record.orig_copy_bytes += plen
        else:
            record.resp_copy_bytes += plen
        end, own = (c.orig, record.orig_ttl) if is_orig else (c.resp, record.resp_ttl)
        if ttl is not None and own is not None and ttl != own:
            end.copy_ttl_other = True  # two capture points a router apart
        if flags & RST and end.rst_ttl is not None and ttl != end.rst_ttl:
            end.rst_twice = True  # the RST seen again at the other capture point
            if not end.rst_again:  # its first RST the only one it sent yet: this copy's
                end.first_rst_crossed = True
        return
    if plen:
        if is_orig:
            record.orig_last_data = (frame, ts)
            if record.orig_first_data is None:
                record.orig_first_data = (frame, ts)
        else:
            record.resp_last_data = (frame, ts)
            if record.resp_first_data is None:
                record.resp_first_data = (frame, ts)
    side, peer = (c.orig, c.resp) if is_orig else (c.resp, c.orig)
    letters: list[str] = []
    syn, fin, rst, ack = flags & SYN, flags & FIN, flags & RST, flags & ACK
    if c.stale_pending and not is_orig and ack and not rst and acknowledges_syn(peer,
                                                                                 ack_number):
        # The responder's ACK (a SYN-ACK, data, an ACK) acknowledges the SYN after all:
        # it accepted it (its SYN-ACK maybe lost by the sniffer), so the ACK before was no
        # earlier connection's answer. A RST's ACK of the SYN is a refusal's: it stays.
        record.stale_ack_frame, c.stale_pending = 0, False
    if side.base is None:
        side.base = seq if syn else (seq - 1) & 0xFFFFFFFF
    if ack and peer.base is None:
        peer.base = (ack_number - 1) & 0xFFFFFFFF
    if ack:
        track_ack(peer, ack_number, frame, ts)
    if syn and fin:
        letters.append("Q")
    if syn and rst:
        letters.append("I")
    if syn:
        if ack:
            letters.append("H")
            _note(record.synack_frames, frame)
            if record.established and not record.ack_frame and side.acked_frame:
                # Resent after the handshake's ACK (rare): that ACK's frame, for the
                # finding that it never reached the listener (sessions.unheard_ack).
                record.ack_frame = side.acked_frame
            if record.synack_ts is None:
                record.synack_ts = ts
            if side.isn is None:
                side.start_sequence(seq, plen)
            elif answers_again(side, peer, seq, ack_number):
                side.base, side.next_seq = seq, None
                side.start_sequence(seq, plen)
            if side.state in (EndpointState.INACTIVE, EndpointState.PARTIAL,
                              EndpointState.SYN_SENT):
                side.state = EndpointState.SYN_ACK_SENT
            if peer.state == EndpointState.SYN_SENT:
                peer.state = EndpointState.ESTABLISHED
        else:
            letters.append("S")
            if is_orig and record.syn_frames and seq == side.isn:
                record.syn_retries += 1
            _note(record.syn_frames, frame)
            if record.syn_ts is None:
                record.syn_ts = ts
            c.last_syn_ts = ts
            if side.isn is None:
                side.start_sequence(seq, plen)
            if side.state in (EndpointState.INACTIVE, EndpointState.PARTIAL):
                side.state = EndpointState.SYN_SENT
        if c.early_ack is not None and record.rtt is None:
            handshake_written_early(c)
    elif not rst:
        if side.state == EndpointState.INACTIVE:
            if (not is_orig and ack and peer.state == EndpointState.SYN_SENT
                    and not acknowledges_syn(peer, ack_number)):
                record.stale_ack_frame = frame  # an earlier connection's ACK
                c.stale_pending = True
            side.state = EndpointState.PARTIAL
        if is_orig and ack and peer.state == EndpointState.SYN_ACK_SENT:
            peer.state = EndpointState.ESTABLISHED
            if side.state == EndpointState.SYN_SENT:
                side.state = EndpointState.ESTABLISHED
            if not record.established:
                record.established = True
                if c.last_syn_ts is not None and completes_handshake(
                        side.isn, peer.isn, seq, ack_number, plen, fin):
                    record.rtt = ts - c.last_syn_ts
        if (is_orig and ack and not plen and not fin and c.early_ack is None
                and (side.isn is None or peer.isn is None)):
            # Maybe the handshake's ACK, written before its SYN or SYN-ACK: kept for
            # handshake_written_early.
            c.early_ack = (seq, ack_number, ts)
    if plen > 0:
        letters.append("D")
    elif ack and not flags & (SYN | FIN | RST):
        letters.append("A")
    if (plen > 0 or fin) and not syn:
        retransmit, gap = _track_sequence(side, seq, plen, frame, ts, peer, record.rtt)
        if retransmit:
            record.retransmits += 1
            letters.append("T")
        if gap:
            letters.append("G")
    elif ack and not flags & (SYN | RST):
        note_ahead(side, seq, frame)
    if not flags & (SYN | RST):
        if window == 0:
            letters.append("W")
        if window == 0 or side.zero_ts is not None or peer.zero_ts is not None:
            zero_window_update(side, peer, window, frame, ts)
    if fin:
        letters.append("F")
        side.fin = True
        if not record.fin_frames:  # the first FIN: the peer's silence before it
            record.fin_ts = ts
            record.fin_peer_last_ts = record.resp_last_ts if is_orig else record.orig_last_ts
        _note(record.fin_frames, frame)
        if side.state != EndpointState.RESET:
            side.state = EndpointState.CLOSED
    if rst:
        letters.append("R")
        if (not ack and not side.fin and peer.fin and not record.fin_answer_rst
                and record.fin_ts is not None and (before is None or before <= record.fin_ts)):
            record.fin_answer_rst = frame  # its first answer to the peer's close
        _note(record.rst_frames, frame)
        if record.rst_ts is None:
            record.rst_ts = ts
        side.state = EndpointState.RESET
        if side.rst_ttl is None:
            side.rst_ttl = ttl
        else:
            side.rst_again = True  # a second RST of its own: later copies may be of it
            if ttl != side.rst_ttl:
                side.rst_twice = True
        if is_orig:
            record.orig_rst = True
            record.orig_rst_frame = record.orig_rst_frame or frame
        else:
            record.resp_rst = True
            record.resp_rst_frame = record.resp_rst_frame or frame
    elif side.rst_ttl is None:
        if side.ttl_before_rst is not None and ttl != side.ttl_before_rst:
            side.ttl_moved = (ts, side.ttl_before_rst, ttl)
        side.ttl_before_rst = ttl
    if note_packet(side, flags, seq, ack_number, plen, window, ts) and is_orig:
        note_repeat(record, side, peer, seq, ack_number, frame)  # the handshake's ACK again?
    for letter in letters:
        c.add_letter(letter if is_orig else letter.lower())
