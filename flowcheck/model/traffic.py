"""The capture's traffic as records: TCP connections and the interface the connection
engine feeds NDMP decoders through (the input files are flowcheck.model.capture, what a
connection's side shows of a failure flowcheck.model.evidence).

Written by sources, decode and connections; read by every later stage. Field names follow
Zeek's conn.log (uid, orig_h, history, conn_state); the JSON contract is in docs/json.md.
"""

from __future__ import annotations

from dataclasses import field
from typing import Literal, Protocol

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model.evidence import NO_EVIDENCE, SideEvidence
from flowcheck.model.rare_fields import NAMES as RARE_NAMES
from flowcheck.model.rare_fields import RareFields, rare_property

Direction = Literal["orig", "resp"]


def other_direction(direction: str) -> Direction:
    """The other side of a connection: "resp" for "orig", "orig" for "resp"."""
    return "resp" if direction == "orig" else "orig"

# Initial TTLs (IPv6 hop limits) of the common systems: Linux, macOS and BSD 64; Windows
# 128; Cisco IOS, Solaris and other network OSes 255 (read by flowcheck.verify.ttl).
INITIAL_TTLS = (64, 128, 255)
# A full-size TCP segment on an Ethernet path of MTU 1500 (RFC 894; 1500 - 20 - 20, no
# options): a segment or SACKed block smaller than that is no full-size one.
ETHERNET_MSS = 1460


def hops_travelled(ttl: int) -> int:
    """How many routers a packet that arrived with `ttl` crossed: from the nearest initial
    TTL at or above it (RFC 791 3.1, RFC 8200 3: each router takes one off)."""
    return min((initial for initial in INITIAL_TTLS if initial >= ttl), default=255) - ttl
Role = Literal["control", "callback", "data", "other"]


def endpoint(host: str, port: int) -> str:
    """ip:port as people write it, with brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def connection_ends(conn: Connection) -> str:
    """"originator -> responder" as people write it ("10.0.0.1:40000 -> 10.0.0.2:10000"),
    each end by `endpoint`."""
    return f"{endpoint(conn.orig_h, conn.orig_p)} -> {endpoint(conn.resp_h, conn.resp_p)}"


@fields_dataclass(slots=True)
class Connection:
    """One TCP connection; the SYN sender is the originator (Zeek's conn.log record).

    Also has, as attributes, the rarely set fields of flowcheck.model.rare_fields
    (lost_gaps, icmp_code, orig_rst_frame, gap_times, too_big_*, written_first, ...).
    """

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
    # ACKs of them (or, none after them, the peer's ACKs before the side's first packet:
    # a handshake ACK whose SYN-ACK the sniffer lost), else 0 (one direction captured:
    # unknown, not unacknowledged). Late
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
    # Each side's last packet's time (seconds, capture clock; a capture copy's too), kept
    # by every path of the tracker (per-packet, bulk, short-connection: the same whatever
    # the read chunk, tests/test_chunk_size_results.py); None: the capture holds no
    # packet of the side. How long a side was silent before its peer closed
    # (flowcheck.verify.silent_sender). Not in the JSON, nor compared.
    orig_last_ts: float | None = field(default=None, compare=False)
    resp_last_ts: float | None = field(default=None, compare=False)
    # Each side's last data packet (TCP payload, not a capture copy) as (frame, time in
    # seconds, capture clock), kept per batch by every path of the tracker (per-packet,
    # bulk, short-connection); None: the capture holds no data packet of the side. A
    # transfer's last packet of data, not an ACK of its receiver after it
    # (flowcheck.verify.open_transfer). Not in the JSON, nor compared (as orig_last_ts).
    orig_last_data: tuple[int, float] | None = field(default=None, compare=False)
    resp_last_data: tuple[int, float] | None = field(default=None, compare=False)
    # A side's largest data segment seen (payload bytes): resends as large as it are
    # full-size ones (a path MTU black hole drops those, RFC 2923). Not in the JSON.
    orig_seg_max: int = 0
    resp_seg_max: int = 0
    # Sides whose FIN is captured and that their peer's highest ACK covers: above the
    # side's last byte (max_end), one sequence number the FIN takes (RFC 9293 3.4). A
    # FIN so acknowledged reached its peer, however often it was resent (SACK recovery
    # resends a last segment that carries it within a round trip): it was answered, no
    # close left unanswered (flowcheck.verify.stalled, trial 31). Not in the JSON.
    orig_fin_acked: bool = False
    resp_fin_acked: bool = False
    # Each side's first data packet (TCP payload, not a capture copy) as (frame, time in
    # seconds, capture clock), kept by every path of the tracker as orig_last_data; None:
    # the capture holds no data packet of the side. Where a transfer's data started, not
    # its handshake: a data connection opens at the announcement and carries nothing
    # until DATA_START_* (the ladder's data arrow runs from it to the last data packet).
    # Not in the JSON, nor compared (as orig_last_data).
    orig_first_data: tuple[int, float] | None = field(default=None, compare=False)
    resp_first_data: tuple[int, float] | None = field(default=None, compare=False)
    # The connection's first FIN's time (either side, not a capture copy: its sender is
    # the first of F / f in history) and the other side's last packet's time before it
    # (its orig_last_ts / resp_last_ts then; None: no packet of it before), kept by every
    # path of the tracker as orig_last_ts (the bulk path reads no FIN); None: no FIN.
    # How long a side was silent before its peer closed, when it answered the close
    # (flowcheck.verify.silent_sender, stall_timing, unseen_reset). Not in the JSON, nor
    # compared (as orig_last_ts). Slots, not rare fields: most short connections close
    # (a RareFields each for them cost 280 bytes of each of 200,000, issue 7). The last
    # of the fields short_records passes in order.
    fin_ts: float | None = field(default=None, compare=False)
    fin_peer_last_ts: float | None = field(default=None, compare=False)
    # Filled by later stages.
    role: Role = "other"
    # The capture proves its two hosts' packets stamped on two clocks apart (two hosts'
    # own captures merged: sessions.clock_apart.mark_clocks_apart): the order of one
    # side's packets against the other's is not the file's. Not in the JSON.
    clocks_apart: bool = field(default=False, compare=False)
    session: str | None = None
    # How a Linux cooked capture (tcpdump -i any) marked each side's SYNs (the
    # originator's SYNs, the responder's SYN-ACKs), once the capture holds capture
    # copies: bits of flowcheck.connections.syn_ways (SENT: captured leaving its sender;
    # ARRIVED: captured arriving at the host it was addressed to, at the TTL it left
    # with; OTHER_TTL; ELSEWHERE), 0 when none tells. Per 4-tuple direction (connections
    # reusing one share it); a slot, not a rare field: a merged capture sets it on every
    # connection. Read by flowcheck.verify.arrival. Not in the JSON, nor compared.
    orig_syn_ways: int = field(default=0, compare=False)
    resp_syn_ways: int = field(default=0, compare=False)
    # The fields almost every connection leaves at their defaults (ICMP messages about
    # it, capture copies, FINs missed, each side's first RST, gap times, records written
    # out of order: flowcheck.model.rare_fields.NAMES), kept here only once one is set
    # and read and written as the record's own attributes (conn.icmp_code, ...): not
    # __init__ arguments; dataclasses.replace shares this object.
    rare: RareFields | None = None

    @property
    def opening_ts(self) -> float:
        """When the connection opened: its first SYN's time, else its first packet's (a
        connection the capture joined after its SYN; seconds, capture clock)."""
        return self.syn_ts if self.syn_ts is not None else self.ts

    @property
    def duration(self) -> float:
        return max(0.0, self.last_ts - self.ts)

    @property
    def first_rsts(self) -> list[tuple[int, str]]:
        """(frame, sender's address) of each side's first RST, in frame order: one of
        each end when both reset it (rst_frames may hold only one side's)."""
        sent = [(self.orig_rst_frame, self.orig_h), (self.resp_rst_frame, self.resp_h)]
        return sorted(item for item in sent if item[0])

    @property
    def sender_is_orig(self) -> bool:
        """Is the originator the side carrying the data: its payload in the capture at
        least the responder's, or (no payload either way: a capture of one direction,
        the receiver's) its bytes the responder's ACKs acknowledge at least as many?"""
        if self.orig_bytes or self.resp_bytes:
            return self.orig_bytes >= self.resp_bytes
        return self.orig_acked_unseen >= self.resp_acked_unseen

    def host(self, side: str) -> str:
        """The address of the connection's `side`, a direction: orig_h for "orig", resp_h
        for "resp" (a packet's or message's `direction` is its sender's side; the other
        end's is host(other_direction(side)))."""
        return self.orig_h if side == "orig" else self.resp_h

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

    def unique_sent(self, side: Direction) -> int:
        """side's ("orig" or "resp") payload bytes counted once each by sequence number:
        sent_once less the bytes its packets repeated (orig_repeated / resp_repeated:
        retransmissions of bytes the capture held already). What the side moved, as
        tcptrace's "unique bytes sent" counts it; the bytes the capture never holds
        (missed_bytes) are not in it."""
        if side == "orig":
            return self.orig_bytes - self.orig_copy_bytes - self.orig_repeated
        return self.resp_bytes - self.resp_copy_bytes - self.resp_repeated

    def acked_unseen_split(self, side: Direction) -> tuple[int, bool]:
        """(payload bytes, FIN acknowledged) of a side the capture holds no segment of,
        as the other side's ACKs show them: orig/resp_acked_unseen, less the side's FIN
        when the receiver's own FIN and its ACK one past the level before prove it
        (orig/resp_fin_unseen: connections.accounting.fin_proved_unseen; a lone last
        byte looks the same). An ACK counts a FIN as one byte: a control connection
        closed after 840 B acknowledges 841 (lab matrix seed 114 run 1). (0, False) for
        a side the capture holds."""
        acked, fin = ((self.orig_acked_unseen, self.orig_fin_unseen) if side == "orig"
                      else (self.resp_acked_unseen, self.resp_fin_unseen))
        fin = fin and acked > 0
        return acked - fin, fin

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
            "orig_unique_bytes": self.unique_sent("orig"),
            "resp_unique_bytes": self.unique_sent("resp"),
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


for _name in RARE_NAMES:
    setattr(Connection, _name, rare_property(_name))
del _name


class SegmentSink(Protocol):
    """Receives every packet of a connection the engine taps (NDMP control candidates).

    The engine calls `segment` in capture order for every TCP packet of a tapped
    connection, SYN and FIN included (so the reassembler learns the initial sequence
    numbers and the stream ends), then `close` once when the capture ends.
    `wire_len` is the TCP payload length on the wire when the capture kept less of it
    (snap length: `payload` is then its first bytes); None means len(payload). The engine
    passes it only for such cut packets. `ack` is the packet's acknowledgement number
    when its ACK flag is set, else None (and None for the few packets the engine kept
    before it decided to tap the connection, which come before its first payload).
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
        ack: int | None = None,
    ) -> bool | None: ...

    def close(self, uid: str) -> None: ...
