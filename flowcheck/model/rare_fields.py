"""The fields of a Connection record (flowcheck.model.traffic) that almost every
connection leaves at their defaults: ICMP messages about it, capture copies, FINs the
capture missed, each side's first RST, gaps' times, records written out of time order.

They live in a RareFields object made only for a record that sets one (Connection.rare,
None otherwise) and are read and written as the record's own attributes
(`conn.too_big_count += 1`) through the properties `rare_property` makes. Each of them in
every Connection was 21 slots and two empty lists: 280 bytes of each of 200,000 short
connections (issue 7). A list field read from a record without them attaches a new
RareFields, so an append to it is kept.
"""

from __future__ import annotations

from dataclasses import field, fields
from typing import Any

from flowcheck.fields_dataclass import fields_dataclass


@fields_dataclass(slots=True, eq=False)
class RareFields:
    """A Connection's rarely set fields (module docstring); equal to None (none set)
    when every compared field is its default."""

    # How many gaps of both sides are lost gaps (SideEvidence.lost), and untold ones
    # (SideEvidence.untold). Not in the JSON.
    lost_gaps: int = 0
    untold_gaps: int = 0
    # The frame of a RST without ACK that was the first packet of the side that had not
    # closed after the other side's first FIN (0: none): the answer of a TCP with no state
    # for the connection (RFC 9293 3.10.7.1: <SEQ=SEG.ACK><CTL=RST>), or of a device in its
    # name; a side that still had it acknowledges the FIN, and its own abortive close
    # (SO_LINGER 0) carries an ACK. Kept by the per-packet path and the short-connection
    # pass (connections.short_times; flowcheck.verify.unseen_reset, trial 30 D2). Not in
    # the JSON, nor compared (as Connection.fin_ts).
    fin_answer_rst: int = field(default=0, compare=False)
    # Payload bytes of each side's capture copies (flowcheck.connections.copies: the same
    # packet captured twice), included in orig_bytes / resp_bytes as tshark counts them:
    # minus these, each byte the capture holds is counted once. Not in the JSON.
    orig_copy_bytes: int = 0
    resp_copy_bytes: int = 0
    # Payload bytes of each side's packets that repeat bytes the capture already held
    # from it (retransmissions, keepalive probes; capture copies are the copy bytes
    # above): Connection.sent_once less the side's unique bytes (tcptrace's "unique
    # bytes sent": connections.accounting.unique_bytes, from the side's first byte, its
    # SYN's + 1 or the first tracked, or the lowest captured below it, to its highest
    # byte captured, less the ranges never captured). Set when the per-packet path
    # closes the side (accounting.repeated_bytes) and by the short-connection pass per
    # batch (short_rare.add_repeated). In the JSON through orig_unique_bytes /
    # resp_unique_bytes (Connection.unique_sent, report.json_rows).
    orig_repeated: int = 0
    resp_repeated: int = 0
    # The first ICMP unreachable's code (RFC 792 / RFC 4443) when icmp_frames: a filter's
    # "administratively prohibited" tells a firewall from a closed port. Not in the JSON.
    icmp_code: int | None = None
    # The first ICMP unreachable's source address (its IP header's): the responder's own
    # reject, or a device's on the path (a router's or firewall's "reject with icmp"),
    # which quotes the SYN but is not the responder (RFC 792, RFC 1812 4.3.2.3). Not in
    # the JSON.
    icmp_sender: str | None = None
    # The host the first ICMP unreachable told: its quoted segment's sender (the quote's
    # source address). The originator when it quotes a SYN; the responder when it quotes
    # the responder's SYN-ACK, which then never reached the originator (a router with no
    # route back to it: trial 40 x1), not a SYN refused. Not in the JSON.
    icmp_to: str | None = None
    # The ICMP unreachables' own IP TTL (IPv6 hop limit) as captured, None when two of
    # them differ (a route change, two senders: none speaks for all; every reject read,
    # those past the icmp_frames kept too: connections.icmp.add_icmp): one from the
    # responder's address with another TTL than the responder's own packets' was sent
    # in its name by a device between (flowcheck.verify.own_reject.forged_reject). Not
    # in the JSON.
    icmp_ttl: int | None = None
    # The first ICMP unreachable's (frame, time: seconds, on its sender's clock), the
    # earliest frame of icmp_frames: a refusal's order against the control connection's
    # close on two clocks apart (flowcheck.verify.after_close.late_refusal). Not in the
    # JSON, nor compared (as Connection.fin_ts).
    icmp_stamp: tuple[int, float] | None = field(default=None, compare=False)
    # The latest ICMP unreachable's time (seconds, its sender's clock), every reject read,
    # those past the icmp_frames kept too: a file of a set holding only such rejects holds
    # this connection's traffic (flowcheck.verify.unjudged_files, review58j). Not in the
    # JSON, nor compared.
    icmp_last: float | None = field(default=None, compare=False)
    # How a Linux cooked capture (tcpdump -i any) marked the ICMP unreachables about it,
    # capture copies included: bits 1 << packet type (connections.syn_ways: 4 sent by the
    # capture host, 0 addressed to it), 0 when no file tells (another link type). Set
    # when the tracker finishes (connections.cooked_hosts.RejectWays); read by
    # flowcheck.verify.own_reject. Not in the JSON, nor compared.
    icmp_ways: int = field(default=0, compare=False)
    # When the first ICMP unreachable's quote was cut by the snap length before its TCP
    # ports (flowcheck.decode.cut_quote), tied to this connection by its addresses and
    # time (flowcheck.connections.icmp_cut): (bytes of the quoted packet kept, the
    # seconds from the SYN or SYN-ACK of this connection it answers to it, "host" when
    # the ICMP came from the other end, "router" from a third address). Not in the JSON.
    icmp_cut: tuple[int, float, str] | None = None
    # The first ICMP unreachable with a cut quote that may answer this connection's SYN
    # or SYN-ACK but was not tied to it, other connection attempts of the quoted
    # packet's sender being open then (flowcheck.connections.icmp_cut): (its frame, the
    # seconds from this connection's packet before it, its source address, how many
    # attempts it may answer). The capture then holds an ICMP message that may be this
    # connection's reject: "no ICMP" is not to be said. Not in the JSON.
    icmp_untied: tuple[int, float, str, int] | None = None
    # Each side's first RST's frame (0: that side sent none), beyond rst_frames' cap
    # too: "reset by both ends" cites one of each (trial 20 D12). Not in the JSON.
    orig_rst_frame: int = 0
    resp_rst_frame: int = 0
    # Sides whose FIN the capture missed: no FIN of theirs captured, and the peer ACKed
    # exactly one sequence number past their last byte captured, which is what a FIN
    # takes (a lone byte sent last is told apart by nothing else). Each is counted in
    # missed_bytes and gaps as one byte, as Zeek counts it; capture_loss says FINs (trial
    # 25 D6). Not in the JSON.
    fins_unseen: int = 0
    # Which sides those are: the sender's FIN the receiver acknowledged ends its sending
    # as a FIN seen would (flowcheck.verify.open_transfer). Not in the JSON.
    orig_fin_unseen: bool = False
    resp_fin_unseen: bool = False
    # Sides the capture holds nothing of (one direction captured) whose peer's highest
    # ACK of them is one past the peer's ACK level before it: that side's FIN or a lone
    # last byte, which the capture cannot tell apart; its FIN (orig/resp_fin_unseen)
    # only once the peer's own FIN is captured too (accounting.fin_proved_unseen). A
    # connection with no FIN or RST captured is not "still open" then (lab matrix seed
    # 108 run 18: flowcheck.verify.unseen_resources). Not in the JSON.
    orig_fin_or_byte: bool = False
    resp_fin_or_byte: bool = False
    # Sides the capture holds nothing of (one direction captured): the time (seconds,
    # capture clock) of the peer's first ACK that acknowledged more of the side than a
    # closing FIN takes (orig/resp_acked_unseen above 1 from then on:
    # Endpoint.unseen_moved_ts, kept by every path of the tracker); None: none did, or
    # the side is captured. When the side's data had moved, whatever the peer sent
    # later (flowcheck.verify.gave_up._data_before). Not in the JSON.
    orig_acked_unseen_ts: float | None = None
    resp_acked_unseen_ts: float | None = None
    # The time of each of gap_frames (seconds, capture clock), in the same order:
    # capture_loss's time is its first frame's (trial 25 D6). Not in the JSON.
    gap_times: list[float] = field(default_factory=list)
    # ICMPv6 packet too big (RFC 4443 3.2) and ICMP fragmentation needed (RFC 1191)
    # messages quoting this connection's segments: how many, the first 8 frames, the
    # smallest MTU they report (None when none does), the first one's source (a router
    # on the path) and the host it told (the quoted segment's sender): path MTU
    # discovery's word that a stall of full-size segments was heard (flowcheck.verify.
    # pmtu, trial 28 D5). Not in the JSON.
    too_big_count: int = 0
    too_big_frames: list[int] = field(default_factory=list)
    too_big_mtu: int | None = None
    too_big_sender: str | None = None
    too_big_to: str | None = None
    # ICMP time exceeded (RFC 792 type 11) and ICMPv6 time exceeded (RFC 4443 3.3)
    # messages quoting this connection's segments: the first 20 frames (as many as
    # syn_frames keeps, so each SYN's can be told: tcptraceroute's 3 a hop) and the first
    # one's source (the router whose TTL check dropped the segment): a routing loop or a
    # path longer than the TTL, proven (flowcheck.verify.ttl_exceeded, review 54h). Not
    # in the JSON.
    ttl_exceeded_frames: list[int] = field(default_factory=list)
    ttl_exceeded_sender: str | None = None
    # The frame of the originator's ACK that completed the handshake (its first ACK of
    # the responder's SYN: Endpoint.acked_frame), kept by the per-packet path when the
    # responder's SYN-ACK comes again after it (0: none such, or unknown): a listener
    # that resent its SYN-ACK after that ACK never got it (flowcheck.sessions.
    # unheard_ack, trial 34). Not in the JSON, nor compared (as Connection.fin_ts).
    ack_frame: int = field(default=0, compare=False)
    # The frames of the originator's duplicate ACKs (tshark's tcp.analysis.duplicate_ack)
    # of the responder's SYN (its ACK number the responder's base + 1), sent while it had
    # sent nothing but its SYN (its sequence number the SYN's + 1): the handshake's ACK
    # again, each answering a SYN-ACK the listener resent, the first EVIDENCE_CAP. Kept
    # whatever the originator sent after them (SideEvidence.handshake_ack_repeats counts
    # the run at the end only, while it sent nothing else: a SYN proxy's handshake, then
    # data, keeps one here and counts none). Kept on every path (flowcheck.connections.
    # ack_repeats); put in handshake_incomplete's frames (flowcheck.verify.ack_unheard).
    # Not in the JSON.
    ack_repeat_frames: list[int] = field(default_factory=list)
    # The frame of the responder's first packet when it answered the originator's SYN
    # (no SYN-ACK before it) with an ACK that does not acknowledge that SYN: its ACK
    # number is neither the SYN's sequence number + 1 nor within what the originator sent
    # after it (0: none such). A TCP that still holds an earlier connection on the same
    # 4-tuple (TIME-WAIT, or established) answers a new SYN so, with that connection's
    # ACK (RFC 9293 3.10.7.4, RFC 5961 4: the challenge ACK); the originator answers it
    # with a RST (RFC 9293 3.10.7.3) and sends its SYN again. Not a SYN-ACK the sniffer
    # missed (flowcheck.sessions.classify.stale_answer). Back to 0 when a later packet
    # of the responder, not a RST, acknowledges the SYN after all: it accepted the SYN
    # (again): its SYN-ACK, seen or lost by the sniffer, came before (conn.update_packet).
    # Kept by the per-packet path (the short-connection path hands such a flow back, the
    # bulk path leaves the responder's packets to it meanwhile: ConnState.stale_pending).
    # Not in the JSON (trial 35 D2).
    stale_ack_frame: int = 0
    # (frame, its stamp) of the first / last packet in file order, kept when records
    # written out of time order moved ts / last_ts off them (connections.by_time):
    # the clock's samples at those frames (verify.capture_time). Not in the JSON.
    written_first: tuple[int, float] | None = None
    written_last: tuple[int, float] | None = None
    # The SYN-ACKs (frames) of this connection's view on the other side of a NAT, when
    # the set holds it there (flowcheck.connections.nat_views: the far view, left out)
    # and not in this view: they left the responder and reached the capture point
    # across the NAT, never this one (field check 36: an ASA that drops the return
    # traffic, its inside and outside captures given). Not in the JSON.
    far_synack_frames: list[int] = field(default_factory=list)
    # A side the capture holds no packet of on this connection, though the connection's
    # other side proves it talked (sessions.classify.one_sided's reading), whose host-to-
    # host direction the capture holds on other connections, and that sent nothing else
    # the capture would need: none of its bytes acknowledged but a FIN, no data of its
    # peer's it had to acknowledge, no resend waiting for it. Its few packets were lost
    # or not captured; the capture is not one of one direction (one_sided is None):
    # trial 31's control connection without the agent's FIN. Set by
    # flowcheck.sessions.held_elsewhere. Not in the JSON, nor compared.
    side_held_elsewhere: bool = field(default=False, compare=False)

    def _compared(self) -> tuple:
        return tuple(getattr(self, name) for name in COMPARED)

    def __eq__(self, other: object) -> bool:
        """Compared fields equal; None stands for a RareFields with every default (a
        record with none set), so records compare as when these were their own fields."""
        if other is None:
            other = _DEFAULTS
        if not isinstance(other, RareFields):
            return NotImplemented
        return self._compared() == other._compared()

    __hash__ = None  # type: ignore[assignment]  # mutable, as Connection


# Every default (never written to: records without rare fields compare with it).
_DEFAULTS = RareFields()
NAMES = tuple(f.name for f in fields(RareFields))
COMPARED = tuple(f.name for f in fields(RareFields) if f.compare)
_LISTS = frozenset(f.name for f in fields(RareFields) if isinstance(getattr(_DEFAULTS, f.name),
                                                                  list))


def rare_property(name: str) -> property:
    """The Connection attribute `name` (one of NAMES), kept in its record's RareFields:
    read as the default while the record has none, and written without making one
    while the value is the default. A list field's read makes one (an append must
    stay)."""
    default: Any = getattr(_DEFAULTS, name)
    is_list = name in _LISTS

    def get(record: Any) -> Any:
        rare = record.rare
        if rare is None:
            if not is_list:
                return default
            rare = record.rare = RareFields()
        return getattr(rare, name)

    def put(record: Any, value: Any) -> None:
        rare = record.rare
        if rare is None:
            if value == default:
                return
            rare = record.rare = RareFields()
        setattr(rare, name, value)

    return property(get, put, doc=f"RareFields.{name}, read and written on the record.")
