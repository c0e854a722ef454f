"""The capture engine's SegmentSink for NDMP control connections.

Per tapped connection: one reassembler and one record decoder per direction, then the
messages: names by protocol version, bodies, request/reply pairing, announcements of
data endpoints, and decode findings. Memory follows the number of tapped connections
(plus one record and a small out-of-order backlog each), never the packet count.
"""

from __future__ import annotations

from dataclasses import field

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Announcement, Direction, NdmpMessage, NdmpStream, other_direction
from flowcheck.ndmp.control_packets import ControlPackets, HeldFrames
from flowcheck.ndmp.findings import StreamFindings
from flowcheck.ndmp.handshake import HandshakeStarts
from flowcheck.ndmp.lost import stream_holes
from flowcheck.ndmp.messages import decode_body, fitting_versions
from flowcheck.ndmp.offered import opened_below_offer
from flowcheck.ndmp.protocol import (
    KNOWN_VERSIONS,
    MESSAGE_NAMES,
    MESSAGE_REPLY,
    error_name,
    is_vendor_code,
    message_name,
    message_type,
)
from flowcheck.ndmp.reassembly import Chunk, Delivery, Reassembler
from flowcheck.ndmp.reply_order import replies_after_requests
from flowcheck.ndmp.stream import NdmpStreamDecoder
from flowcheck.ndmp.stream_events import NEED_DATA, DecodeProblem, RawMessage

# A tapped connection that yields no NDMP record in this many bytes is not NDMP: stop
# decoding it (the finding stays) so a bulk stream on the NDMP port costs nothing more.
GIVE_UP_BYTES = 64 * 1024

# Announcing messages: (name, is_reply) -> who listens at the announced endpoint.
ANNOUNCERS: dict[tuple[str, bool], str] = {
    ("NDMP_MOVER_LISTEN", True): "mover",
    ("NDMP_DATA_CONNECT", False): "mover",
    ("NDMP_DATA_START_BACKUP", False): "mover",  # v2: the mover address rides inside
    ("NDMP_DATA_START_RECOVER", False): "mover",
    ("NDMP_DATA_START_RECOVER_FILEHIST", False): "mover",
    ("NDMP_DATA_LISTEN", True): "data",
    ("NDMP_MOVER_CONNECT", False): "data",
}


# Bytes of each direction's start kept to tell another protocol (NdmpStream.opening).
OPENING_BYTES = 32


def _note_opening(stream: NdmpStream, direction: str, first: Delivery) -> None:
    """Keep the first bytes of a direction whose start the capture holds (its SYN or the
    peer's SYN-ACK seen, its first delivery data, not a hole; a snap length cut keeps
    the start exact)."""
    if isinstance(first, Chunk) and first.data:
        stream.opening[direction] = first.data[:OPENING_BYTES]


@fields_dataclass(slots=True)
class _Control:
    """The collector's state of one NDMP control connection: its stream, findings, the
    reassembly and decoding per direction, and the versions and requests seen so far."""

    uid: str
    stream: NdmpStream
    findings: StreamFindings
    reassemblers: dict[str, Reassembler] = field(default_factory=dict)
    decoders: dict[str, NdmpStreamDecoder] = field(default_factory=dict)
    candidates: set[int] = field(default_factory=lambda: set(KNOWN_VERSIONS))
    open_requests: dict[int, int] = field(default_factory=dict)  # sequence -> version
    requests: dict[tuple[str, int], NdmpMessage] = field(default_factory=dict)
    announced: set[tuple[str, int]] = field(default_factory=set)
    given_up: bool = False
    closed: bool = False
    # Packets came in an order other than their frame numbers': a pcapng file read in
    # time order across its interfaces (sources.interface_order): messages go by time.
    reordered: bool = False
    # Its first RST and FIN, keepalive probes, the latest packet (control_packets).
    packets: ControlPackets = field(default_factory=ControlPackets)
    # The SYNs and the packets after them: where each direction starts (ndmp.handshake).
    starts: HandshakeStarts = field(default_factory=HandshakeStarts)
    # Per direction, the first frame after each hole the reassembly found (NdmpStream
    # .holes).
    hole_frames: dict[str, list[int]] = field(
        default_factory=lambda: {"orig": [], "resp": []})
    # The directions whose start the capture holds (Reassembler.start_known), kept at
    # close for NdmpStream.holes (ndmp.lost.hole_contents).
    from_start: frozenset[str] = frozenset()
    # Per direction, the frames of its bytes still waiting to be decoded (the decoder's
    # unfinished record, the reassembly's behind a hole): ControlPackets.prune_acks's
    # `held`, made once, not per packet.
    held: dict[str, HeldFrames] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for direction in ("orig", "resp"):
            reassembler = self.reassemblers[direction] = Reassembler()
            decoder = self.decoders[direction] = NdmpStreamDecoder()
            self.held[direction] = HeldFrames(decoder, reassembler)


class NdmpCollector:
    """SegmentSink: decodes tapped connections into NdmpStreams."""

    def __init__(self) -> None:
        # Which connections are NDMP is the engine's choice (port or first payload):
        # the collector decodes whatever it is given.
        self._controls: dict[str, _Control] = {}

    # -- SegmentSink ---------------------------------------------------------------
    def segment(self, uid: str, direction: Direction, seq: int, flags: int, payload: bytes,
                frame: int, ts: float, *, wire_len: int | None = None,
                ack: int | None = None) -> bool:
        """Take one packet of a tapped connection. Returns False once the connection is
        of no more use (not NDMP: decoding gave up; or closed), so the engine can stop
        tapping it and its bulk stays on the bulk path (model.SegmentSink)."""
        control = self._controls.get(uid)
        if control is None:
            control = _Control(uid, NdmpStream(uid=uid), StreamFindings(uid))
            self._controls[uid] = control
        if control.given_up or control.closed:
            return False
        packet = (direction, frame, ts, flags,
                  wire_len if wire_len is not None else len(payload))
        stream = control.stream
        last = control.packets.last
        if last is not None and frame < last[1]:
            control.reordered = True
        control.packets.note(stream, packet, seq, ack)
        control.starts.packet(control.reassemblers, direction, flags, ack)  # peer's start
        if ack is not None:  # what the other direction's receiver had (its last hole)
            control.reassemblers[other_direction(direction)].peer_acked(ack, frame, ts)
        reassembler = control.reassemblers[direction]
        decoder = control.decoders[direction]
        if wire_len is not None and wire_len > len(payload):
            control.findings.snap.packet(len(payload))
        mid_stream_before = reassembler.started_mid_stream or reassembler.start_known
        fed_before = reassembler.delivered or reassembler.missing or reassembler.cut
        deliveries = reassembler.segment(seq, flags, payload, frame, ts, wire_len)
        if not mid_stream_before and reassembler.started_mid_stream:
            decoder.start_mid_stream()
        if deliveries and not fed_before and reassembler.start_known:
            _note_opening(stream, direction, deliveries[0])
        self._feed(control, direction, decoder, deliveries)
        if deliveries:
            self._drain(control, direction)
        control.packets.prune_acks(direction, control.held[direction])
        return not control.given_up

    def close(self, uid: str) -> None:
        control = self._controls.get(uid)
        if control is None or control.closed:
            return
        if not control.given_up:
            for direction in ("orig", "resp"):
                decoder = control.decoders[direction]
                self._feed(control, direction, decoder,
                           control.reassemblers[direction].close())
                decoder.receive_eof()
                self._drain(control, direction)
        control.closed = True
        control.from_start = frozenset(direction for direction, reassembler
                                       in control.reassemblers.items() if reassembler.start_known)
        # Free the per-direction state: only the decoded stream is kept.
        control.packets.drop_acks()
        control.reassemblers.clear()
        control.decoders.clear()
        control.held.clear()
        control.requests.clear()

    def streams(self) -> list[NdmpStream]:
        """Every tapped connection that carried NDMP, or bytes that failed to decode, or
        (no message in it) that closed in the capture: its `fin`, `reset`."""
        out = []
        for uid in list(self._controls):
            self.close(uid)
            control = self._controls[uid]
            stream = control.stream
            self._settle_version(control)
            stream.snap_cut = control.findings.snap.cut_bytes
            stream.snap_lost = control.findings.snap.lost
            stream.unread_last = dict(control.findings.unread_last)
            stream.tls_from = {d: f for d, (f, _) in control.findings.tls.items()}
            stream.messages.sort(key=(lambda m: (m.ts, m.frame)) if control.reordered
                                 else (lambda m: m.frame))
            stream.messages = replies_after_requests(stream.messages)
            stream.snap_finding, stream.findings = control.findings.build(
                stream.messages, control.from_start)
            stream.holes_unchecked = control.findings.holes_unchecked
            stream.lost_replies = control.findings.lost_requests(stream.messages)
            stream.holes = stream_holes(control.hole_frames, stream.messages, control.from_start)
            # One that carried no NDMP byte is kept for its close (FIN or RST): what
            # ended the control connection is evidence of a job's end, whatever
            # direction the capture holds (field check 20, D8).
            closed = (stream.fin or stream.reset) and not control.given_up
            if stream.messages or stream.findings or closed:
                out.append(stream)
        return out

    # -- decoding ------------------------------------------------------------------
    @staticmethod
    def _feed(control: _Control, direction: str, decoder: NdmpStreamDecoder,
              items: list[Delivery]) -> None:
        for item in items:
            if isinstance(item, Chunk):
                decoder.receive_data(item.data, item.frame, item.ts)
                if item.cut:
                    control.findings.snap.cut(item.cut, item.frame, item.ts)
                    decoder.receive_cut(item.cut, item.frame, item.ts)
            else:
                decoder.receive_gap(item.missing, item.frame, item.ts)
                control.hole_frames[direction].append(item.frame)

    def _drain(self, control: _Control, direction: str) -> None:
        decoder = control.decoders[direction]
        while True:
            event = decoder.next_event()
            if event is NEED_DATA:
                break
            if isinstance(event, RawMessage):
                self._message(control, direction, event)
            elif isinstance(event, DecodeProblem):
                control.findings.problem(direction, event)
        if direction == "orig":
            control.stream.orig_bytes = decoder.bytes_received
        else:
            control.stream.resp_bytes = decoder.bytes_received
        # A stream the snap length cut is not judged: its records are unreadable, not alien;
        # nor one in TLS (flowcheck.ndmp.stream): its decoder reads nothing more, and its
        # close is evidence of a job's end as a clear stream's is.
        if control.stream.messages or control.findings.snap.packets or control.findings.tls:
            return
        received = sum(d.bytes_received for d in control.decoders.values())
        if received > GIVE_UP_BYTES:
            control.findings.gave_up(received)
            control.given_up = True
            control.reassemblers.clear()
            control.decoders.clear()

    def _message(self, control: _Control, direction: str, raw: RawMessage) -> None:
        stream = control.stream
        is_reply = raw.raw_type == MESSAGE_REPLY
        name = message_name(raw.code, stream.version)
        short = name[5:]
        header_only = is_reply and raw.error != 0 and not raw.body and not raw.body_len
        body_error: int | None = None
        fields: dict = {}
        addresses = []
        if raw.snapped:
            control.findings.snapped(raw.frame, raw.ts, raw.error_cut)
        if is_vendor_code(raw.code):
            control.findings.vendor(name, raw.frame, raw.ts)
        elif not header_only:
            if raw.snapped and stream.version is None:
                # Before decoding: the length on the wire may pick the layout.
                self._narrow(control, raw.code, short, is_reply, raw.body, raw.body_len)
            allowed = control.candidates if raw.snapped else None
            decoded = decode_body(short, is_reply, raw.body, stream.version, raw.partial,
                                  allowed)
            lower = (opened_below_offer(stream, raw.code, short, is_reply, raw.body)
                     if decoded.problem and not raw.partial else set())
            if lower:  # the DMA opened a lower version than the greeting offered
                control.candidates = lower
                stream.version = next(iter(lower)) if len(lower) == 1 else None
                stream.version_source = "inferred" if stream.version else "unknown"
                decoded = decode_body(short, is_reply, raw.body, stream.version, False, lower)
            fields, addresses, body_error = (decoded.body.fields, decoded.body.addresses,
                                             decoded.body.error)
            if decoded.problem:
                control.findings.bad_body(name, is_reply, decoded.problem, raw.frame, raw.ts)
            if stream.version is None and not raw.partial:
                self._narrow(control, raw.code, short, is_reply, raw.body)
        fields["time_stamp"] = raw.time_stamp  # header clock: tshark skips odd values
        error = raw.error or (body_error or 0)
        message = NdmpMessage(
            frame=raw.frame, ts=raw.ts, direction=direction,  # type: ignore[arg-type]
            sequence=raw.sequence, type=message_type(raw.raw_type, raw.code), code=raw.code,
            name=name, error=error, reply_sequence=raw.reply_sequence if is_reply else 0,
            addresses=addresses, partial=raw.partial, header_error=raw.error,
            body_error=body_error, error_name=error_name(error), body_len=raw.body_len,
            body=fields, size=raw.size)
        if message.error_unknown:
            message.error_name = None  # not NDMP_NO_ERR: the capture does not hold it
        if is_reply:
            request = control.requests.pop((other_direction(direction), raw.reply_sequence), None)
            if request is not None:
                message.body["request_frame"] = request.frame
        elif message.type == "request":
            control.requests[(direction, raw.sequence)] = message
            if len(control.requests) > 256:  # unanswered requests: keep the newest
                control.requests.pop(next(iter(control.requests)))
        stream.messages.append(message)
        ack = control.packets.ack_of(direction, message.frame)  # its record mark's packet
        if ack is not None:
            stream.last_message_ack[direction] = ack
            if message.type == "request":
                stream.request_acks[message.frame] = ack
        self._track_version(control, message)
        self._announce(control, message)

    def _narrow(self, control: _Control, code: int, short: str, is_reply: bool,
                body: bytes, body_len: int | None = None) -> None:
        """Infer the version mid-session from which codes exist and which layouts fit.

        `body_len` is the body's length on the wire when the snap length cut it: then
        `body` is its captured start.
        """
        evidence = {v for v in KNOWN_VERSIONS if code in MESSAGE_NAMES[v]}
        evidence &= fitting_versions(short, is_reply, body, body_len)
        narrowed = control.candidates & evidence
        if narrowed:
            control.candidates = narrowed
        if len(control.candidates) == 1:
            control.stream.version = next(iter(control.candidates))
            control.stream.version_source = "inferred"

    @staticmethod
    def _settle_version(control: _Control) -> None:
        """Bodies cut by the snap length can leave v3 and v4 apart only by layouts the
        capture did not keep; the codes alone ruled v2 out: take v4, the likelier, and
        say it was a guess."""
        stream = control.stream
        if stream.version is None and stream.messages and control.findings.snap.packets and \
                control.candidates and control.candidates <= {3, 4}:
            stream.version = max(control.candidates)
            stream.version_source = "likely"

    def _track_version(self, control: _Control, message: NdmpMessage) -> None:
        stream = control.stream
        if message.name == "NDMP_CONNECT_OPEN":
            if message.type == "request" and "version" in message.body:
                control.open_requests[message.sequence] = message.body["version"]
            elif message.type == "reply" and message.error_free:
                version = control.open_requests.get(message.reply_sequence)
                if version in KNOWN_VERSIONS:
                    stream.version, stream.version_source = version, "connect_open"
            elif message.type == "reply" and message.error_unknown:
                self._open_unknown(control, control.open_requests.get(message.reply_sequence))
        elif message.name == "NDMP_NOTIFY_CONNECTED" and stream.version_source != "connect_open":
            version = message.body.get("protocol_version")
            if version in KNOWN_VERSIONS:
                stream.version, stream.version_source = version, "notify_connected"

    @staticmethod
    def _open_unknown(control: _Control, asked: int | None) -> None:
        """A CONNECT_OPEN reply whose error word the capture cut (error_unknown) to a
        request for version `asked` (None: its version not captured): whether the agent
        accepted it cannot be seen, so it shows no version agreed (field check 72). When
        it asked for another version than the greeting offered (NOTIFY_CONNECTED), the
        version is one of the two: left to the later messages' codes and layouts
        (_narrow, offered.opened_below_offer), not the offer's."""
        stream = control.stream
        if asked not in KNOWN_VERSIONS or asked == stream.version:
            return
        offered = {stream.version} if stream.version is not None else set(KNOWN_VERSIONS)
        control.candidates &= offered | {asked}
        stream.version, stream.version_source = None, "unknown"

    def _announce(self, control: _Control, message: NdmpMessage) -> None:
        listener = ANNOUNCERS.get((message.name, message.type == "reply"))
        if listener is None or (message.type == "reply" and message.error):
            return
        for address in message.addresses:
            endpoint = (address.ip, address.port)
            # Port 0 names no endpoint; 0.0.0.0 with a port is announced (an agent's
            # wildcard bind: announced_address_mismatch says it is unusable).
            if address.port == 0 or endpoint in control.announced:
                continue
            control.announced.add(endpoint)
            control.stream.announcements.append(Announcement(
                control_uid=control.uid, ip=address.ip, port=address.port,
                frame=message.frame, ts=message.ts, message=message.name,
                listener=listener))  # type: ignore[arg-type]
