"""The decoded NDMP control conversation: messages, the addresses they carry, the
endpoints they announce, and one stream of them per control connection.

Written by flowcheck.ndmp; read by sessions, verify and report (docs/json.md).
"""

from __future__ import annotations

from dataclasses import field
from typing import Literal

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model.finding import Finding
from flowcheck.model.traffic import Direction


@fields_dataclass(slots=True)
class NdmpAddress:
    """An address an NDMP message carries: IPv4 address, TCP port (and v4's env pairs)."""

    ip: str
    port: int
    env: list[tuple[str, str]] = field(default_factory=list)  # v4 address env pairs

    def as_dict(self) -> dict:
        return {"ip": self.ip, "port": self.port}


@fields_dataclass(slots=True)
class NdmpMessage:
    """One decoded NDMP message of a control connection: where it starts (frame, time in
    seconds), its header (sequence, type, code, error) and its decoded body."""

    frame: int  # frame holding the message's first byte (its record mark)
    ts: float
    direction: Direction
    sequence: int
    type: Literal["request", "reply", "post"]
    code: int
    name: str
    # The header error, else the body's error word, 0 = NDMP_NO_ERR. A reply whose header
    # says none and whose body's error word the capture cut (error_unknown) keeps the
    # header's 0 here (the contract's integer) and has error_name None.
    error: int
    reply_sequence: int  # 0 on requests and posts
    addresses: list[NdmpAddress] = field(default_factory=list)
    partial: bool = False
    header_error: int = 0
    body_error: int | None = None
    error_name: str | None = "NDMP_NO_ERR"  # None when the error is unknown (error_unknown)
    body_len: int | None = None  # the body's length on the wire, when the snap length cut it
    # Decoded body fields that matter for verification (auth type and user, halt
    # reason, log text, butype, window, ...). Never passwords or digests.
    body: dict = field(default_factory=dict)
    # The record's bytes in the TCP stream (record marks, header, body), 0 when unknown:
    # which messages a side's last unacknowledged bytes hold. Not in the JSON.
    size: int = field(default=0, compare=False)

    @property
    def error_unknown(self) -> bool:
        """A reply whose header says NDMP_NO_ERR and whose body's error word the capture
        did not hold (partial: the snap length, a hole or the capture's end cut the body
        before it): whether the peer refused the request cannot be seen. Every NDMP reply
        body carries an error (NDMP v4 spec, ndmp_error in each reply). A header whose own
        error word the snap length cut reads 0 here, its body cut with it
        (RawMessage.error_cut): unknown too."""
        return (self.type == "reply" and self.partial and not self.header_error
                and self.body_error is None)

    @property
    def error_free(self) -> bool:
        """Does the capture show the message without error: a request or post with error
        0, a reply whose error the capture holds and is NDMP_NO_ERR? False for an error,
        and for a reply whose error is unknown (error_unknown): unknown is no success."""
        return not self.error and not self.error_unknown

    def as_dict(self) -> dict:
        return {
            "frame": self.frame,
            "ts": self.ts,
            "direction": self.direction,
            "sequence": self.sequence,
            "type": self.type,
            "code": self.code,
            "name": self.name,
            "error": self.error,
            "error_name": self.error_name,
            "reply_sequence": self.reply_sequence,
            "addresses": [a.as_dict() for a in self.addresses],
            "partial": self.partial,
            "body": self.body,
        }


@fields_dataclass(slots=True)
class Announcement:
    """An endpoint announced on a control connection: an expected data connection."""

    control_uid: str
    ip: str
    port: int
    frame: int
    ts: float
    message: str  # e.g. "NDMP_MOVER_LISTEN", "NDMP_DATA_CONNECT"
    # Who listens at the endpoint and who is told to connect, by NDMP role.
    listener: Literal["mover", "data"]
    used_by: str | None = None  # uid of the connection that reached it

    def as_dict(self) -> dict:
        return {
            "ip": self.ip,
            "port": self.port,
            "frame": self.frame,
            "ts": self.ts,
            "message": self.message,
            "listener": self.listener,
            "used_by": self.used_by,
        }

@fields_dataclass(slots=True, frozen=True)
class StreamHole:
    """A hole the capture left in one direction of a control stream (bytes never
    captured, then more data): the direction, the first frame after it, and the names of
    the whole messages it held ("NDMP_DATA_GET_STATE"; () for none: only parts of
    messages whose headers were read) when the NDMP sequence numbers around it tell them
    all (flowcheck.ndmp.lost.hole_contents), else None (NdmpStream.holes)."""

    direction: Direction
    frame: int
    held: tuple[str, ...] | None


@fields_dataclass(slots=True, frozen=True)
class ControlPacket:
    """One TCP packet of a control connection as the NDMP collector saw it (NdmpStream
    .reset, .before_reset): direction, frame, ts (seconds, capture clock), flags (the
    TCP flags byte: FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10) and payload (its TCP
    payload bytes on the wire)."""

    direction: Direction
    frame: int
    ts: float
    flags: int
    payload: int


@fields_dataclass(slots=True)
class NdmpStream:
    """The decoded messages of one control connection."""

    uid: str
    version: int | None = None
    # "connect_open", "notify_connected", "inferred" (from codes and layouts), "likely"
    # (bodies cut by the snap length: v3 and v4 not told apart, v4 taken), "unknown"
    version_source: str = "unknown"
    messages: list[NdmpMessage] = field(default_factory=list)
    announcements: list[Announcement] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # decode findings
    orig_bytes: int = 0  # reassembled bytes fed to the decoder
    resp_bytes: int = 0
    # The snap length cut this stream: payload bytes on the wire not captured, and the
    # summary ndmp_partial finding (later stages add plain words to it).
    snap_cut: int = 0
    snap_finding: Finding | None = None
    # Records whose mark or header the snap length cut (about one per packet): messages
    # not read at all, whose names are unknown. Not in the JSON.
    snap_lost: int = 0
    # Per direction ("orig", "resp"), the last frame holding a record the decoder could
    # not read (mark or header cut by the snap length, a hole, bytes passed over or not
    # NDMP); a direction absent had none. What a later message's absence needs: every
    # record of that direction after the frame was read (flowcheck.verify.snapped_halts
    # .headers_from). Not in the JSON.
    unread_last: dict[str, int] = field(default_factory=dict)
    # The connection's first RST and its packet just before it, either direction (what
    # a RST in answer follows: a TCP, or a firewall in its name, answers a segment of a
    # connection it has no state for with one, RFC 9293 3.10.7.1), and its first FIN;
    # None when none. Not in the JSON.
    reset: ControlPacket | None = None
    before_reset: ControlPacket | None = None
    fin: ControlPacket | None = None
    # The TCP keepalive probes the first RST's side sent that the other side never
    # answered before that RST (flowcheck.ndmp.keepalive): its TCP gave the connection
    # up. Not in the JSON.
    probes_before_reset: list[ControlPacket] = field(default_factory=list)
    # The other side's keepalive probe that the first RST answered (the packet just
    # before it), None when none. Not in the JSON.
    probe_reset: ControlPacket | None = None
    # The latest packet (no RST, before the first RST) that answered a keepalive probe
    # of the other side: the peer's TCP still held the connection then, whatever the
    # job did (flowcheck.verify.silent_end); None when none. Not in the JSON.
    probe_answer: ControlPacket | None = None
    # How many sequence numbers of the other side the first FIN's ACK covers beyond the
    # same side's packet before it (mod 2**32); None when either carried no ACK or the
    # FIN is its side's first packet. 1 from a side whose peer's direction the capture
    # lacks: it acknowledged its peer's FIN, which came first (an NDMP message is never
    # 1 byte: flowcheck.verify.first_close). Not in the JSON.
    fin_acked_new: int | None = None
    # The acknowledgement numbers (raw, 32 bits): per direction, that of the packet that
    # holds the side's last NDMP message's record mark (its first segment: the whole of a
    # message that fits one; control_packets.ack_of), and that of the first FIN (None: it
    # carried no ACK). What the other side had sent by then, read where the capture
    # lacks that side (flowcheck.verify.unanswered_close). Not in the JSON.
    last_message_ack: dict[str, int] = field(default_factory=dict)
    fin_ack: int | None = None
    # Bytes of the first FIN's side the capture lacks just before that FIN: its sequence
    # number past the side's highest byte seen (0: none, or unknown: no byte of the side
    # seen before it). What its last NDMP message read may not be (flowcheck.verify
    # .unanswered_close). Not in the JSON.
    fin_unseen: int = 0
    # Per direction, its last packet carrying payload before the first FIN (that FIN's own
    # payload included), a direction absent when it sent none: what a side said before
    # the close, read where the messages cannot be (a session in TLS: a record of the
    # agent's after its data's end would be its halt; flowcheck.verify.tls_close). Not in
    # the JSON.
    payload_before_fin: dict[str, ControlPacket] = field(default_factory=dict)
    # Per direction, its packets whose sequence number was past the highest byte of that
    # side seen before them: (frame, the first sequence number missing, how many), the
    # first 64 (own_gaps_all False when there were more); a side absent had none. A gap
    # of 1 is a FIN the capture lacks (an NDMP record is never 1 byte). With
    # request_acks: whether a side sent bytes the capture lacks after a request
    # (flowcheck.verify.snapped_halts.silent_after). Not in the JSON.
    own_gaps: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    own_gaps_all: bool = True
    # Per direction, the first packet that shows a FIN of that direction the capture
    # lacks (a FIN takes one sequence number: RFC 9293 3.4): the direction's own pure ACK
    # (no payload, SYN, FIN or RST) whose sequence number is one past its highest byte
    # seen, or the other direction's ACK one past it; kept only while no FIN of the
    # direction was seen (an NDMP record is never 1 byte). Who closed a control connection
    # whose FINs the capture lacks (flowcheck.verify.lost_fin). Not in the JSON.
    fins_lost: dict[str, ControlPacket] = field(default_factory=dict)
    # The acknowledgement number of the packet holding each request's record mark (its
    # first frame -> the raw 32-bit number; control_packets.ack_of): the other side's
    # bytes received before it.
    # Not in the JSON.
    request_acks: dict[int, int] = field(default_factory=dict)
    # The first bytes of each direction ("orig", "resp"), when the capture holds that
    # direction's start (its SYN, then data with no hole before them; as much of them as
    # the snap length kept): what tells another protocol on the NDMP port (flowcheck.sessions
    # .other_protocol). A direction absent when it sent nothing or its start is not
    # captured. Not in the JSON.
    opening: dict[str, bytes] = field(default_factory=dict)
    # The requests whose replies holes the sniffer left held (flowcheck.ndmp.lost), in
    # frame order: what a lost reply may hide (flowcheck.verify.lost_reply). Not in
    # the JSON.
    lost_replies: list[NdmpMessage] = field(default_factory=list)
    # The holes the sniffer left in either direction, in frame order: which may hide a
    # message that decides the job (flowcheck.verify.hidden_ends). Not in the JSON.
    holes: list[StreamHole] = field(default_factory=list)
    # Per direction, the frame where it went on in TLS after NDMP records were read (the
    # session secured in band: flowcheck.ndmp.stream); nothing after it is read. Not in
    # the JSON.
    tls_from: dict[str, int] = field(default_factory=dict)
    # Its ndmp_partial (the one holding the holes' words: the snap-length summary's, else
    # its own) names an announcement a hole held and says the address it gave cannot be
    # checked (flowcheck.ndmp.lost.lost_words): verify.lost_announcement adds no note of
    # its own there. Not in the JSON.
    holes_unchecked: bool = False

    @property
    def tls_start(self) -> int | None:
        """The first frame either direction went on in TLS (tls_from), None if neither."""
        return min(self.tls_from.values(), default=None)

    @property
    def tls_whole(self) -> bool:
        """Is the stream TLS from its first byte: it went on in TLS with no NDMP message
        read and no NDMP record cut by the snap length (flowcheck.ndmp.findings
        .tls_from_start's reading)? Then a snap length cut TLS records only, which hide
        nothing that the TLS did not (lab matrix seed 131 run 13)."""
        return self.tls_start is not None and not self.messages and not self.snap_lost

    def as_dict(self) -> dict:
        return {
            "uid": self.uid,
            "version": self.version,
            "version_source": self.version_source,
            "messages": [m.as_dict() for m in self.messages],
            "announced": [a.as_dict() for a in self.announcements],
        }
