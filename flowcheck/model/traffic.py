"""The capture's traffic as records: TCP connections, what each side shows of a failure,
and the interface the connection engine feeds NDMP decoders through (the input files
are flowcheck.model.capture).

Written by sources, decode and connections; read by every later stage. Field names follow
Zeek's conn.log (uid, orig_h, history, conn_state); the JSON contract is in docs/json.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Direction = Literal["orig", "resp"]
Role = Literal["control", "callback", "data", "other"]


def endpoint(host: str, port: int) -> str:
    """ip:port as people write it, with brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(slots=True)
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
    # Whether a RST of the side arrived with another TTL than its first (a capture copy
    # or not): seen at a second capture point, a router apart; and whether a capture copy
    # of one of its packets did than its first packet's (two capture points a router
    # apart: flowcheck.connections.points). Kept by the per-packet path only (the
    # short-connection path leaves them False): flowcheck.verify.capture_points.
    # resets_between reads them for established connections only. Not in the JSON, nor
    # compared (the paths differ here only).
    rst_twice: bool = field(default=False, compare=False)
    copy_ttl_other: bool = field(default=False, compare=False)

    def __bool__(self) -> bool:
        """False for a side with no evidence (every field its default)."""
        return self != NO_EVIDENCE


# The evidence of a side that has none: Connection.evidence's answer for it. Shared by
# every such side, so never written to (writers make their own: Connection.set_evidence).
NO_EVIDENCE = SideEvidence()


@dataclass(slots=True)
class Connection:
    """One TCP connection; the SYN sender is the originator (Zeek's conn.log record)."""

    uid: str
    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int
    ts: float
    last_ts: float = 0.0
    conn_state: str = "OTH"
    history: str = ""
    orig_pkts: int = 0
    resp_pkts: int = 0
    orig_bytes: int = 0  # TCP payload of every packet, retransmissions included (tshark)
    resp_bytes: int = 0
    missed_bytes: int = 0  # payload the capture never saw: sequence gaps, ACKs above it
    gaps: int = 0  # separate sequence ranges never seen (Zeek's G, counted)
    retransmits: int = 0  # retransmitted data packets, both directions
    syn_retries: int = 0  # SYNs sent again after the first
    first_frame: int = 0
    last_frame: int = 0
    rtt: float | None = None  # SYN -> SYN-ACK -> ACK, when the handshake was seen
    # Evidence for findings (frame numbers, capped to a few each).
    syn_frames: list[int] = field(default_factory=list)
    synack_frames: list[int] = field(default_factory=list)
    rst_frames: list[int] = field(default_factory=list)  # any RST, either side
    resp_rst: bool = False  # the responder sent a RST
    orig_rst: bool = False
    icmp_frames: list[int] = field(default_factory=list)  # ICMP unreachable quoting this flow
    fin_frames: list[int] = field(default_factory=list)
    # The packet after a gap (tshark's "previous segment not captured"), or the ACK
    # covering data never seen ("ACKed segment that wasn't captured").
    gap_frames: list[int] = field(default_factory=list)
    established: bool = False  # three-way handshake completed (originator ACKed SYN-ACK)
    syn_ts: float | None = None  # the first SYN's time
    synack_ts: float | None = None  # the first SYN-ACK's time
    rst_ts: float | None = None  # the first RST's time, either side
    # The tunnel the connection arrived in, outermost first (docs/json.md), None if none.
    tunnel: str | None = None
    # Bytes of a side the capture holds no segment of that takes a sequence number (no
    # SYN or SYN-ACK, no data, no FIN; pure ACKs and RSTs take none: a capture of one
    # direction, tcpdump -Q out), known only from the other side's ACKs: its highest
    # ACK minus its first, unwrapped across the 32-bit wrap (RFC 9293 3.4: many GB add
    # up), never negative; an ACKed FIN counts one (it cannot be told apart from a
    # byte). 0 for a side the capture holds. Not in missed_bytes (compared with Zeek and
    # tshark) nor in the JSON (as syn_ts, synack_ts, rst_ts: Connection.as_dict).
    orig_acked_unseen: int = 0  # the originator's bytes, ACKed by the responder
    resp_acked_unseen: int = 0  # the responder's bytes, ACKed by the originator
    # Payload bytes a side sent that the other side never ACKed in the capture (RFC 9293
    # 3.4): the side's highest sequence end seen (unwrapped; a FIN takes none, as in
    # missed_bytes) minus the peer's highest ACK of it, never negative; counted only
    # when the capture holds both the side's segments and at least one of the peer's
    # ACKs of them, else 0 (one direction captured: unknown, not unacknowledged). Late
    # data retransmitted and never ACKed: a peer gone or a firewall dropping an idle
    # session. Not in missed_bytes nor in the JSON (Connection.as_dict).
    orig_unacked: int = 0  # the originator's bytes the responder did not ACK
    resp_unacked: int = 0  # the responder's bytes the originator did not ACK
    # The connection's first packet was a RST of the shape a TCP answers a SYN with at a
    # port nothing listens on (RFC 9293 3.10.7.1: RST+ACK, no payload, seq 0;
    # flowcheck.connections.conn.refusal_shape),
    # so its receiver is the originator, as a SYN-ACK's is: a SYN the capture lacks (one
    # direction captured), refused. Whether the connection holds only that is the
    # reader's to check (flowcheck.sessions.classify.unseen_syn_refused). Not in the JSON.
    refusal_first: bool = False
    # Per-side evidence for the verdicts (resends, lost gaps, unseen sends, zero windows:
    # SideEvidence), None for a side that has none (almost every side: 200,000 short
    # connections would carry 40 fields each). Read it with `evidence(side)`.
    orig_evidence: SideEvidence | None = None
    resp_evidence: SideEvidence | None = None
    # The IP TTL (IPv6 hop limit) of each side's first packet without RST as captured (RFC
    # 791 3.1, RFC 8200 3; a RST may be a device's in the side's name), None for a side
    # that sent nothing else; a tunnelled packet's inner header's.
    # A host's packets leave it with its initial TTL (64 Linux and macOS, 128 Windows, 255
    # some network OSes) and lose one per router: which host the capture was taken on,
    # and whose name a RST was sent in (flowcheck.verify.ttl). Not in the JSON.
    orig_ttl: int | None = None
    resp_ttl: int | None = None
    # How many gaps of both sides are lost gaps (SideEvidence.lost), and untold ones
    # (SideEvidence.untold). Not in the JSON.
    lost_gaps: int = 0
    untold_gaps: int = 0
    # Each side's last packet's time (seconds, capture clock) as the per-packet and bulk
    # paths of the tracker saw it; None where unknown (a side with no packet, or one only
    # the short-connection paths tracked, which keep no such time: a reader checks that
    # the later of the two is last_ts, else a short path saw later packets): how long a
    # side was silent before its peer closed (flowcheck.verify.silent_sender). Not in the
    # JSON, nor compared (the paths agree on every other field).
    orig_last_ts: float | None = field(default=None, compare=False)
    resp_last_ts: float | None = field(default=None, compare=False)
    # The connection's first FIN's time (either side: its sender is the first of F / f in
    # history) and the other side's last packet's time before it (its orig_last_ts /
    # resp_last_ts then), kept by the per-packet path when it sees that FIN (no work for
    # other packets); None where unknown (a FIN the short-connection path saw, a side
    # with no packet or one only that path tracked): how long a side was silent before
    # its peer closed, when it answered the close (flowcheck.verify.silent_sender). Not
    # in the JSON, nor compared (as orig_last_ts).
    fin_ts: float | None = field(default=None, compare=False)
    fin_peer_last_ts: float | None = field(default=None, compare=False)
    # The frame of a RST without ACK that was the first packet of the side that had not
    # closed after the other side's first FIN (0: none): the answer of a TCP with no state
    # for the connection (RFC 9293 3.10.7.1: <SEQ=SEG.ACK><CTL=RST>), or of a device in its
    # name; a side that still had it acknowledges the FIN, and its own abortive close
    # (SO_LINGER 0) carries an ACK. Kept by the per-packet path (flowcheck.verify.
    # unseen_reset, trial 30 D2). Not in the JSON, nor compared (as fin_ts).
    fin_answer_rst: int = field(default=0, compare=False)
    # Payload bytes of each side's capture copies (flowcheck.connections.copies: the same
    # packet captured twice), included in orig_bytes / resp_bytes as tshark counts them:
    # minus these, each byte the capture holds is counted once. Not in the JSON.
    orig_copy_bytes: int = 0
    resp_copy_bytes: int = 0
    # A side's largest data segment seen (payload bytes): resends as large as it are
    # full-size ones (a path MTU black hole drops those, RFC 2923). Not in the JSON.
    orig_seg_max: int = 0
    resp_seg_max: int = 0
    # The first ICMP unreachable's code (RFC 792 / RFC 4443) when icmp_frames: a filter's
    # "administratively prohibited" tells a firewall from a closed port. Not in the JSON.
    icmp_code: int | None = None
    # The first ICMP unreachable's source address (its IP header's): the responder's own
    # reject, or a device's on the path (a router's or firewall's "reject with icmp"),
    # which quotes the SYN but is not the responder (RFC 792, RFC 1812 4.3.2.3). Not in
    # the JSON.
    icmp_sender: str | None = None
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
    # Sides whose FIN is captured and that their peer's highest ACK covers: above the
    # side's last byte (max_end), one sequence number the FIN takes (RFC 9293 3.4). A
    # FIN so acknowledged reached its peer, however often it was resent (SACK recovery
    # resends a last segment that carries it within a round trip): it was answered, no
    # close left unanswered (flowcheck.verify.stalled, trial 31). Not in the JSON.
    orig_fin_acked: bool = False
    resp_fin_acked: bool = False
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
    # (frame, its stamp) of the first / last packet in file order, kept when records
    # written out of time order moved ts / last_ts off them (connections.by_time):
    # the clock's samples at those frames (verify.capture_time). Not in the JSON.
    written_first: tuple[int, float] | None = None
    written_last: tuple[int, float] | None = None
    # Filled by later stages.
    role: Role = "other"
    session: str | None = None

    @property
    def duration(self) -> float:
        return max(0.0, self.last_ts - self.ts)

    @property
    def first_rsts(self) -> list[tuple[int, str]]:
        """(frame, sender's address) of each side's first RST, in frame order: one of
        each end when both reset it (rst_frames may hold only one side's)."""
        sent = [(self.orig_rst_frame, self.orig_h), (self.resp_rst_frame, self.resp_h)]
        return sorted(item for item in sent if item[0])

    def evidence(self, side: Direction) -> SideEvidence:
        """side's ("orig" or "resp") evidence; NO_EVIDENCE (read only) when it has none."""
        found = self.orig_evidence if side == "orig" else self.resp_evidence
        return NO_EVIDENCE if found is None else found

    def set_evidence(self, side: Direction, evidence: SideEvidence | None) -> None:
        """Keep evidence as side's ("orig" or "resp"); one with nothing in it as None."""
        kept = evidence if evidence else None
        if side == "orig":
            self.orig_evidence = kept
        else:
            self.resp_evidence = kept

    def sent_once(self, side: Direction) -> int:
        """side's ("orig" or "resp") TCP payload bytes with each byte the capture holds
        counted once: orig_bytes / resp_bytes (tshark's sum) minus the side's capture
        copies (orig_copy_bytes / resp_copy_bytes: the same packet captured twice). A
        resend the sender really sent still counts: it crossed the wire twice."""
        if side == "orig":
            return self.orig_bytes - self.orig_copy_bytes
        return self.resp_bytes - self.resp_copy_bytes

    @property
    def sniffer_missed(self) -> int:
        """Bytes of missed_bytes the sniffer lost: all but the ones the receivers never
        got either (SideEvidence.lost) and the ones the capture cannot place
        (SideEvidence.untold)."""
        orig, resp = self.evidence("orig"), self.evidence("resp")
        return self.missed_bytes - orig.lost - resp.lost - orig.untold - resp.untold

    @property
    def untold_missed(self) -> int:
        """Bytes of missed_bytes neither the sniffer's nor the network's for certain
        (SideEvidence.untold of both sides)."""
        return self.evidence("orig").untold + self.evidence("resp").untold

    @property
    def syn_seen(self) -> bool:
        return bool(self.syn_frames)

    @property
    def synack_seen(self) -> bool:
        return bool(self.synack_frames)

    def as_dict(self) -> dict:
        return {
            "uid": self.uid,
            "orig_h": self.orig_h,
            "orig_p": self.orig_p,
            "resp_h": self.resp_h,
            "resp_p": self.resp_p,
            "ts": self.ts,
            "duration": max(0.0, self.last_ts - self.ts),  # self.duration, without its call
            "conn_state": self.conn_state,
            "history": self.history,
            "orig_pkts": self.orig_pkts,
            "resp_pkts": self.resp_pkts,
            "orig_bytes": self.orig_bytes,
            "resp_bytes": self.resp_bytes,
            "missed_bytes": self.missed_bytes,
            "gaps": self.gaps,
            "retransmits": self.retransmits,
            "syn_retries": self.syn_retries,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "rtt": self.rtt,
            "icmp_unreachable": len(self.icmp_frames),
            "tunnel": self.tunnel,
            "role": self.role,
            "session": self.session,
        }


class SegmentSink(Protocol):
    """Receives every packet of a connection the engine taps (NDMP control candidates).

    The engine calls `segment` in capture order for every TCP packet of a tapped
    connection, SYN and FIN included (so the reassembler learns the initial sequence
    numbers and the stream ends), then `close` once when the capture ends.
    `wire_len` is the TCP payload length on the wire when the capture kept less of it
    (snap length: `payload` is then its first bytes); None means len(payload). The engine
    passes it only for such cut packets, so a sink written before it existed still works
    on full captures.
    `segment` may return False when the sink wants no more packets of that connection
    (it is not what the sink decodes): the engine may then stop tapping it, so the rest
    of a bulk stream costs no per-packet work. None (a sink that returns nothing) or True:
    go on.
    """

    def segment(
        self,
        uid: str,
        direction: Direction,
        seq: int,
        flags: int,  # TCP flags byte: FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10
        payload: bytes,
        frame: int,
        ts: float,
        *,
        wire_len: int | None = None,
    ) -> bool | None: ...

    def close(self, uid: str) -> None: ...
