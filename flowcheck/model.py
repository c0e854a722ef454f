"""The shared vocabulary of every pipeline stage.

Data flows one way: sources -> decode -> connections -> ndmp -> sessions -> graph ->
verify -> report. Every stage imports from this module and from stages to its left only.
Field names follow Zeek's conn.log (uid, orig_h, history, conn_state) because users of
Zeek and ntopng already read them; the JSON contract is in docs/json.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

Direction = Literal["orig", "resp"]
Role = Literal["control", "callback", "data", "other"]


def endpoint(host: str, port: int) -> str:
    """ip:port as people write it, with brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(slots=True)
class CaptureInfo:
    """One input file (or standard input) of a capture set."""

    path: str
    format: str = "unknown"  # "pcap", "pcapng", with ".gz" appended when compressed
    link_types: list[str] = field(default_factory=list)  # e.g. ["EN10MB", "LINUX_SLL2"]
    packets: int = 0
    truncated: bool = False
    bytes_read: int = 0
    non_tcp: int = 0  # packets counted and skipped (UDP, ARP, ...)
    fragments: int = 0  # IP fragments: counted, not reassembled
    undecodable: int = 0  # packets whose link/IP headers could not be decoded
    error: str | None = None  # why reading stopped early (absurd record length, ...)
    error_offset: int | None = None
    # Live only: packets the sniffer said it dropped (tcpdump's "packets dropped by
    # kernel", dumpcap's received/dropped); None when the tool does not say.
    kernel_dropped: int | None = None

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "format": self.format,
            "link_types": list(self.link_types),
            "packets": self.packets,
            "truncated": self.truncated,
            "non_tcp": self.non_tcp,
            "fragments": self.fragments,
            "undecodable": self.undecodable,
            "error": self.error,
            "error_offset": self.error_offset,
            "kernel_dropped": self.kernel_dropped,
        }


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
    # port nothing listens on (RFC 9293 3.10.7.1: RST+ACK, no payload, seq 0, or window 0
    # where a stack or firewall puts another seq; flowcheck.connections.conn.refusal_shape),
    # so its receiver is the originator, as a SYN-ACK's is: a SYN the capture lacks (one
    # direction captured), refused. Whether the connection holds only that is the
    # reader's to check (flowcheck.sessions.classify.unseen_syn_refused). Not in the JSON.
    refusal_first: bool = False
    # Filled by later stages.
    role: Role = "other"
    session: str | None = None

    @property
    def duration(self) -> float:
        return max(0.0, self.last_ts - self.ts)

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
            "duration": self.duration,
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


@dataclass(slots=True)
class IcmpUnreachable:
    """ICMP (type 3) or ICMPv6 (type 1) destination unreachables quoting a TCP packet of no
    connection in the capture: the packet they answer, sent from (orig_h, orig_p) to
    (resp_h, resp_p), is not in it (a capture of one direction: the reject travels the
    way the capture holds, the SYN the way it lacks).

    Not a connection: tshark's conversation table leaves such a 4-tuple out, and so does
    the connection list. One record per quoted 4-tuple and tunnel, in order of the
    first ICMP message. `frames`: the ICMP messages' frames (capped); `ts`: the first's
    time (seconds, capture clock); `tcp_flags`: the quoted packet's flags, None when the
    quote stops before them; `icmp_code`: the first message's code (RFC 792 / RFC 4443).
    """

    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int
    ts: float
    version: int  # IP version: 4 (ICMP) or 6 (ICMPv6)
    icmp_code: int
    tcp_flags: int | None
    frames: list[int] = field(default_factory=list)
    tunnel: str | None = None

    @property
    def refuses_syn(self) -> bool:
        """A refusal of a connection attempt: the quote shows a SYN without ACK, and the
        code is not IPv4's "fragmentation needed" (path MTU discovery, RFC 1191)."""
        syn, ack = 0x02, 0x10
        return (self.tcp_flags is not None and self.tcp_flags & (syn | ack) == syn
                and not (self.version == 4 and self.icmp_code == 4))


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


@dataclass(slots=True)
class NdmpAddress:
    ip: str
    port: int
    env: list[tuple[str, str]] = field(default_factory=list)  # v4 address env pairs

    def as_dict(self) -> dict:
        return {"ip": self.ip, "port": self.port}


@dataclass(slots=True)
class NdmpMessage:
    frame: int  # frame holding the message's first byte (its record mark)
    ts: float
    direction: Direction
    sequence: int
    type: Literal["request", "reply", "post"]
    code: int
    name: str
    error: int  # header error, else body error, 0 = NDMP_NO_ERR
    reply_sequence: int  # 0 on requests and posts
    addresses: list[NdmpAddress] = field(default_factory=list)
    partial: bool = False
    header_error: int = 0
    body_error: int | None = None
    error_name: str = "NDMP_NO_ERR"
    # Decoded body fields that matter for verification (auth type and user, halt
    # reason, log text, butype, window, ...). Never passwords or digests.
    body: dict = field(default_factory=dict)

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


@dataclass(slots=True)
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


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(slots=True)
class Finding:
    code: str  # stable snake_case, see flowcheck.findings.CATALOGUE
    severity: Severity
    message: str  # plain words: what happened
    fix: str = ""  # the firewall rule or setting that cures it
    session: str | None = None
    uid: str | None = None
    ts: float | None = None
    frames: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "session": self.session,
            "uid": self.uid,
            "ts": self.ts,
            "frames": list(self.frames),
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(slots=True)
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

    def as_dict(self) -> dict:
        return {
            "uid": self.uid,
            "version": self.version,
            "version_source": self.version_source,
            "messages": [m.as_dict() for m in self.messages],
            "announced": [a.as_dict() for a in self.announcements],
        }


# "unknown": the capture cannot show whether the step worked (it ended too soon after
# the event, holds one direction only, or the snap length or sniffer loss hid it).
StepStatus = Literal["ok", "missing", "failed", "violated", "not_applicable", "unknown"]


@dataclass(slots=True)
class Step:
    step: int
    name: str
    status: StepStatus
    uids: list[str] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    detail: str = ""

    def as_dict(self) -> dict:
        return {
            "step": self.step,
            "name": self.name,
            "status": self.status,
            "uids": list(self.uids),
            "frames": list(self.frames),
            "detail": self.detail,
        }


@dataclass(slots=True)
class Session:
    id: str
    control_uid: str
    media_server: str
    remote_agent: str
    version: int | None
    kind: Literal["backup", "restore", "browse"]
    steps: list[Step] = field(default_factory=list)
    callback_uid: str | None = None
    announced: list[Announcement] = field(default_factory=list)
    data_connections: list[str] = field(default_factory=list)
    # Announcing messages whose address the snap length cut: (frame, name, uid of the
    # connection matched to it or ""). Data connections matched by the profile's
    # direction and ports instead of an announced address are `port_matched` (uids),
    # `match_reason` says why.
    cut_announcements: list[tuple[int, str, str]] = field(default_factory=list)
    port_matched: list[str] = field(default_factory=list)
    # Who listens at a port-matched connection's responder ("data": the agent, "mover":
    # the media server), by uid: the cut message's listener, or the profile's direction.
    port_listener: dict[str, Literal["data", "mover"]] = field(default_factory=dict)
    # Why data connections were matched by ports: "snap_length" (announcement cut),
    # "capture_start" (the capture began after the session and its data connections),
    # "one_direction" (the capture holds one direction of the control connection) or
    # "capture_loss" (the sniffer lost part of the control stream).
    match_reason: str = ""
    # Data connections that reached an announced port under another address than the
    # announced one (a NAT rewrote it): (uid, announced ip).
    address_matched: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "control_uid": self.control_uid,
            "media_server": self.media_server,
            "remote_agent": self.remote_agent,
            "version": self.version,
            "kind": self.kind,
            "steps": [s.as_dict() for s in self.steps],
            "callback_uid": self.callback_uid,
            "announced": [a.as_dict() for a in self.announced],
            "data_connections": list(self.data_connections),
        }
