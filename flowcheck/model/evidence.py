"""What one side of a TCP connection shows of a failure (its trailing resends, lost and
untold gaps, bytes only its pure ACKs show, its trailing zero window, its RSTs' TTLs): the
evidence the verdicts read (flowcheck.verify), kept per side of a
flowcheck.model.traffic.Connection only for a side that has some.

Written by the connection engine when it finishes a connection
(flowcheck.connections.accounting, short_accounting); not in the JSON (docs/json.md).
"""

from __future__ import annotations

from dataclasses import field

from flowcheck.fields_dataclass import fields_dataclass


@fields_dataclass(slots=True)
class SideEvidence:
    """What one side of a connection shows of a failure, for the verdicts (flowcheck.verify):
    its trailing resends, the gaps its receiver never got, bytes only its pure ACKs show,
    its trailing zero window. All 0 / None for a side with none of them, which then has
    no object at all (Connection.orig_evidence is None; Connection.evidence gives
    NO_EVIDENCE). Filled when the engine finishes a connection
    (flowcheck.connections.accounting, short_accounting). Not in the JSON.
    """

    # Trailing resends: data segments the side sent again (retransmissions, as
    # Connection.retransmits counts them) since it last sent a byte never sent before; 0
    # when its last data was new. A sender that waits for an ACK that does not come resends
    # its oldest unacknowledged segment after each retransmission timeout (RFC 6298 5.4):
    # several at the end of a connection, the path stopped delivering it. resends_acked:
    # the same count when the latest resend began below the peer's highest ACK in the
    # capture, that ACK came before the latest resend (or on a RST: it answers nothing) and
    # the sender acknowledged nothing new of the peer's after it (the capture holds the ACK
    # the sender never got: lost between the capture point and the sender), else 0
    # (resends an ACK answered only after them, a slow link, were delivered); resent_ts:
    # the latest resend's time (seconds, capture clock), None when resends is 0, and
    # resent_frame its frame (0 then), resent_len its payload bytes (0 then);
    # resend_first_ts and resend_first_frame the same of the run's first resend (each
    # waited a retransmission timeout for its ACK: the stall's earliest evidence).
    resends: int = 0
    resends_acked: int = 0
    resent_ts: float | None = None
    resent_frame: int = 0
    resent_len: int = 0
    resend_first_ts: float | None = None
    resend_first_frame: int = 0
    # Bytes in sequence gaps the peer's ACKs never covered although the capture holds the
    # peer's ACKs after each gap opened (conn.Endpoint.lost_holes): the receiver's
    # cumulative ACK stayed at or below the gap, so it never got them either: lost in the
    # network before the capture point (or after the sniffer and before the receiver), not
    # by the sniffer. Counted in Connection.missed_bytes too (Zeek's, tshark's), never
    # claimed by capture_loss. lost_frame, lost_ts: the packet after the first such gap
    # (tshark's "previous segment not captured"), lost_next its payload bytes (it arrived;
    # 0: a FIN); lost_ack_frame, lost_ack_ts: the peer's last ACK (still at or below it).
    lost: int = 0
    lost_frame: int = 0
    lost_ts: float | None = None
    lost_next: int = 0
    lost_ack_frame: int = 0
    lost_ack_ts: float | None = None
    # Bytes in sequence gaps whose loss the capture cannot place
    # (accounting.untold_holes): the peer's ACKs neither covered them nor came after them,
    # and the connection's last packet came less than a retransmission timeout after the
    # packet after the gap (a reset, a close, the capture's end): the sender had no time
    # to resend them nor the receiver to acknowledge them, so the network may have lost
    # them as well as the sniffer. Counted in Connection.missed_bytes, never claimed by
    # capture_loss as the sniffer's. untold_frame: the packet after the first such gap.
    untold: int = 0
    untold_frame: int = 0
    # Bytes the side's pure ACKs show it had sent beyond the last byte of it captured
    # (their sequence number above it: tshark's "previous segment not captured" on an
    # ACK), and that ACK's frame; 0 when none. Not in missed_bytes.
    sent_unseen: int = 0
    sent_unseen_frame: int = 0
    # While the capture holds nothing of the side (none of its packets, to the end: a
    # capture of one direction), the first of its peer's pure ACKs that acknowledged
    # nothing new yet named bytes of it beyond the ACK in SACK blocks (RFC 2018): those
    # bytes arrived, a segment before them did not (a path MTU black hole lets a smaller
    # segment through and drops the full-size ones: RFC 2923 2.1). sacked_unseen: their
    # bytes, each counted once (0: none); sacked_unseen_frame: that ACK's frame;
    # sacked_unseen_ack its ACK number and sacked_unseen_blocks the bytes beyond it
    # ((left, right) edges, right exclusive; the blocks cut at the ACK, sorted, merged
    # where they overlap or touch: a D-SACK block, RFC 2883, is no new data), relative to
    # the side's base (Wireshark's relative sequence numbers: the byte after the SYN is
    # 1). connections.sack.keep_unseen_sacks.
    sacked_unseen: int = 0
    sacked_unseen_frame: int = 0
    sacked_unseen_ack: int = 0
    sacked_unseen_blocks: tuple[tuple[int, int], ...] = ()
    # The side's duplicate ACKs (Wireshark's tcp.analysis.duplicate_ack: no payload, its
    # previous ACK number, window and sequence number again) of the peer's SYN, before
    # any payload of its own and while it acknowledged nothing more of the peer's (its
    # ACK number the peer's SYN's + 1, or its first ACK's when the capture lacks the
    # peer's SYN and every packet of the peer): each answers the peer's SYN-ACK sent
    # again, which a listener resends only while the ACK completing the handshake has not
    # reached it (RFC 9293 3.10.7.4). 0 when none. Read for a capture that holds only the
    # originator's packets (flowcheck.sessions.unheard_ack.acks_repeated).
    handshake_ack_repeats: int = 0
    # A trailing zero window (RFC 9293 3.8.6.1): the side's latest window advertisement (a
    # segment without SYN or RST; the raw field: 0 whatever the RFC 7323 scale) was 0 since
    # zero_window_ts (seconds, capture clock; None: it was not) and its frame
    # (zero_window_frame, 0 then): the receiving process stopped reading the socket.
    # zero_window_acks: its segments with window 0 since (the first included: one answers
    # each probe); zero_window_probes: the other side's segments since (zero-window
    # probes: Linux without payload at snd_una - 1, Windows one byte). Of the side's zero
    # windows that reopened (a non-zero advertisement after them), the longest:
    # zero_window_longest seconds (0.0: none) from zero_window_longest_ts and
    # zero_window_longest_frame to zero_window_reopened_frame (the first kept when two
    # last as long).
    zero_window_ts: float | None = None
    zero_window_frame: int = 0
    zero_window_acks: int = 0
    zero_window_probes: int = 0
    zero_window_longest: float = 0.0
    zero_window_longest_ts: float | None = None
    zero_window_longest_frame: int = 0
    zero_window_reopened_frame: int = 0
    # The IP TTL (IPv6 hop limit) of the side's first RST as captured (RFC 791 3.1, RFC
    # 8200 3; a capture copy is no RST of its own); None when it sent none. A RST a device
    # between the hosts injects in the side's name leaves with the device's initial TTL
    # and crosses other routers: it differs from Connection.orig_ttl / resp_ttl, the
    # TTL of the side's own packets (flowcheck.verify.reset_answer).
    rst_ttl: int | None = None
    # The IP TTL (hop limit) of the side's last packet before that RST (not a RST, not a
    # capture copy); None when it sent no RST or none before it. The TTL its own packets
    # had just then: a route changed mid-connection (one router more or less) moves it
    # away from the first packet's (Connection.orig_ttl / resp_ttl; trial 37c D2), so a
    # RST is compared with this one (flowcheck.verify.ttl.reset_ttls).
    ttl_before_rst: int | None = None
    # The latest change of the IP TTL (hop limit) from one of the side's packets to its
    # next (not a RST, not a capture copy; before its first RST) as (the packet's time in
    # seconds, capture clock; the TTL before; the TTL after): the host's route toward the
    # capture point changed while the connection was open; None when it never did (almost
    # always). Its packets arrive with the TTL after it from then on, a RST of its own on
    # another connection to the same peer too (flowcheck.verify.ttl.reset_ttls: field
    # check 41, a control connection idle while the data connection saw the change).
    ttl_moved: tuple[float, int, int] | None = None
    # Whether a RST of the side arrived with another TTL than its first (a capture copy
    # or not): seen at a second capture point, a router apart; and whether a capture copy
    # of one of its packets did than its first packet's (two capture points a router
    # apart: flowcheck.connections.points). Kept by the per-packet path only (the
    # short-connection path leaves them False): flowcheck.verify.capture_points.
    # resets_between reads them for established connections only. Not in the JSON, nor
    # compared (the paths differ here only).
    rst_twice: bool = field(default=False, compare=False)
    copy_ttl_other: bool = field(default=False, compare=False)
    # Whether a capture copy of the side's first RST itself arrived with another TTL (a
    # copy before any second RST of its own): that RST seen at both capture points, where
    # rst_twice may be a later RST's (review64k: a device's RST in the side's name at one
    # point, the side's own RST crossing after it). Per-packet path only; not compared.
    first_rst_crossed: bool = field(default=False, compare=False)

    def __bool__(self) -> bool:
        """False for a side with no evidence (every field its default)."""
        return self != NO_EVIDENCE


# The evidence of a side that has none: Connection.evidence's answer for it. Shared by
# every such side, so never written to (writers make their own: Connection.set_evidence).
NO_EVIDENCE = SideEvidence()
