"""Messages, bodies, versions, announcements and decode findings, through the collector."""

from __future__ import annotations

import json

from test_ndmp_wire import (
    REPLY,
    REQUEST,
    greeting,
    header,
    ip,
    msg,
    u32,
    u64,
    v3_tcp_addr,
    v4_tcp_addr,
    xdr_string,
)

from flowcheck.model import NdmpStream
from flowcheck.ndmp import NdmpCollector, looks_like_ndmp
from flowcheck.ndmp.protocol import MESSAGE_NAMES, message_name

SYN, ACK = 0x02, 0x10
MOVER_LISTEN, DATA_LISTEN, DATA_CONNECT, MOVER_CONNECT = 0xA01, 0x409, 0x40A, 0xA09
DATA_START_BACKUP, NOTIFY_DATA_HALTED, LOG_MESSAGE = 0x401, 0x501, 0x603


class Session:
    """Feeds a collector as the engine would: SYNs, then segments in capture order."""

    def __init__(self) -> None:
        self.collector = NdmpCollector()
        self.frame = 0
        self.seq = {"orig": 1000, "resp": 5000}
        for direction in ("orig", "resp"):
            self._segment(direction, SYN, b"")
            self.seq[direction] += 1

    def _segment(self, direction: str, flags: int, payload: bytes) -> None:
        self.frame += 1
        self.collector.segment("C1", direction, self.seq[direction], flags,  # type: ignore[arg-type]
                               payload, self.frame, float(self.frame))

    def send(self, direction: str, payload: bytes) -> int:
        self._segment(direction, ACK, payload)
        self.seq[direction] += len(payload)
        return self.frame

    def stream(self) -> NdmpStream:
        streams = self.collector.streams()
        assert len(streams) == 1
        return streams[0]


def v4_session() -> Session:
    s = Session()
    s.send("resp", greeting(4))
    s.send("orig", msg(1, REQUEST, 0x900, u32(4)))
    s.send("resp", msg(2, REPLY, 0x900, u32(0), reply_sequence=1))
    return s


def test_version_from_connect_open_and_pairing() -> None:
    stream = v4_session().stream()
    assert (stream.version, stream.version_source) == (4, "connect_open")
    names = [(m.name, m.type) for m in stream.messages]
    assert names == [("NDMP_NOTIFY_CONNECTED", "post"), ("NDMP_CONNECT_OPEN", "request"),
                     ("NDMP_CONNECT_OPEN", "reply")]
    reply = stream.messages[2]
    assert reply.reply_sequence == 1 and reply.body["request_frame"] == stream.messages[1].frame
    assert stream.messages[0].body["protocol_version"] == 4


def test_rejected_connect_open_falls_back_to_notify_connected() -> None:
    s = Session()
    s.send("resp", greeting(3))
    s.send("orig", msg(1, REQUEST, 0x900, u32(4)))
    s.send("resp", msg(2, REPLY, 0x900, u32(28), reply_sequence=1))  # VERSION_NOT_SUPPORTED
    stream = s.stream()
    assert (stream.version, stream.version_source) == (3, "notify_connected")
    assert stream.messages[2].error == 28 and stream.messages[2].body_error == 28


def test_v4_mover_listen_reply_keeps_every_address_and_env() -> None:
    s = v4_session()
    s.send("orig", msg(3, REQUEST, MOVER_LISTEN, u32(1) + u32(1)))
    frame = s.send("resp", msg(4, REPLY, MOVER_LISTEN, u32(0) + v4_tcp_addr(
        ("10.0.0.1", 5001), ("192.168.1.1", 5001), env=[("k", "v")]), reply_sequence=3))
    stream = s.stream()
    reply = stream.messages[-1]
    assert [(a.ip, a.port, a.env) for a in reply.addresses] == [
        ("10.0.0.1", 5001, [("k", "v")]), ("192.168.1.1", 5001, [("k", "v")])]
    assert [(a.ip, a.port, a.frame, a.listener) for a in stream.announcements] == [
        ("10.0.0.1", 5001, frame, "mover"), ("192.168.1.1", 5001, frame, "mover")]


def test_same_endpoint_announced_twice_is_one_announcement() -> None:
    s = v4_session()
    first = s.send("resp", msg(4, REPLY, MOVER_LISTEN, u32(0) + v4_tcp_addr(("10.0.0.1", 5001)),
                               reply_sequence=3))
    s.send("orig", msg(5, REQUEST, DATA_CONNECT, v4_tcp_addr(("10.0.0.1", 5001))))
    announcements = s.stream().announcements
    assert [(a.frame, a.message) for a in announcements] == [(first, "NDMP_MOVER_LISTEN")]


def test_swapped_pairing_announces_the_data_side() -> None:
    s = v4_session()
    s.send("resp", msg(4, REPLY, DATA_LISTEN, u32(0) + v4_tcp_addr(("10.0.0.2", 6001)),
                       reply_sequence=3))
    s.send("orig", msg(5, REQUEST, MOVER_CONNECT, u32(0) + v4_tcp_addr(("10.0.0.2", 6002))))
    announced = [(a.port, a.listener, a.message) for a in s.stream().announcements]
    assert announced == [(6001, "data", "NDMP_DATA_LISTEN"), (6002, "data", "NDMP_MOVER_CONNECT")]


def test_local_and_unroutable_addresses_are_not_announced() -> None:
    s = v4_session()
    s.send("resp", msg(4, REPLY, MOVER_LISTEN, u32(0) + u32(0), reply_sequence=3))  # LOCAL
    s.send("orig", msg(5, REQUEST, DATA_CONNECT, v4_tcp_addr(("0.0.0.0", 0))))
    stream = s.stream()
    assert stream.announcements == []
    assert stream.messages[-2].body["addr_type"] == "LOCAL"
    assert [(a.ip, a.port) for a in stream.messages[-1].addresses] == [("0.0.0.0", 0)]


def test_v3_address_layout() -> None:
    s = Session()
    s.send("orig", msg(1, REQUEST, 0x900, u32(3)))
    s.send("resp", msg(2, REPLY, 0x900, u32(0), reply_sequence=1))
    s.send("orig", msg(2, REQUEST, DATA_CONNECT, v3_tcp_addr("10.1.1.1", 5010)))
    stream = s.stream()
    assert stream.version == 3
    assert [(a.ip, a.port) for a in stream.announcements] == [("10.1.1.1", 5010)]


def test_v2_mover_address_inside_data_start_backup() -> None:
    s = Session()
    s.send("orig", msg(1, REQUEST, 0x900, u32(2)))
    s.send("resp", msg(2, REPLY, 0x900, u32(0), reply_sequence=1))
    body = u32(1) + ip("10.2.2.2") + u32(5020) + xdr_string("dump") + u32(1) + xdr_string(
        "FILESYSTEM") + xdr_string("/secret/value")
    s.send("orig", msg(2, REQUEST, DATA_START_BACKUP, body))
    stream = s.stream()
    start = stream.messages[-1]
    assert start.body["butype"] == "dump" and start.body["env_names"] == ["FILESYSTEM"]
    assert "/secret/value" not in json.dumps(start.as_dict())
    assert [(a.ip, a.port, a.listener, a.message) for a in stream.announcements] == [
        ("10.2.2.2", 5020, "mover", "NDMP_DATA_START_BACKUP")]


def test_version_inferred_without_connect_open() -> None:
    # Capture starts mid-session: no SYN, no greeting. A v4 NOTIFY_DATA_HALTED has no text.
    collector = NdmpCollector()
    collector.segment("C9", "resp", 777, ACK, msg(40, REQUEST, NOTIFY_DATA_HALTED, u32(1)),
                      3, 0.0)
    stream = collector.streams()[0]
    assert (stream.version, stream.version_source) == (4, "inferred")
    assert stream.messages[0].body["reason"] == "SUCCESSFUL"


def test_version_inferred_v3_from_log_message_length() -> None:
    collector = NdmpCollector()
    body = u32(0) + u32(1) + xdr_string("hello")  # v3: no associated-message fields
    collector.segment("C9", "resp", 1, ACK, msg(40, REQUEST, LOG_MESSAGE, body), 3, 0.0)
    stream = collector.streams()[0]
    assert (stream.version, stream.messages[0].body["text"]) == (3, "hello")


def test_header_only_error_reply_is_legal() -> None:
    s = v4_session()
    s.send("orig", msg(3, REQUEST, DATA_LISTEN, u32(1)))
    s.send("resp", msg(4, REPLY, DATA_LISTEN, reply_sequence=3, error=1))
    stream = s.stream()
    reply = stream.messages[-1]
    assert (reply.error, reply.header_error, reply.body_error) == (1, 1, None)
    assert reply.error_name == "NDMP_NOT_SUPPORTED_ERR"
    assert stream.findings == [] and stream.announcements == []


def test_body_error_when_header_says_none() -> None:
    s = v4_session()
    s.send("resp", msg(4, REPLY, 0x300, u32(9), reply_sequence=3))  # TAPE_OPEN: ILLEGAL_ARGS
    reply = s.stream().messages[-1]
    assert (reply.error, reply.header_error, reply.error_name) == (9, 0,
                                                                  "NDMP_ILLEGAL_ARGS_ERR")


def test_vendor_code_is_an_info_finding_not_an_error() -> None:
    s = v4_session()
    frame = s.send("orig", msg(3, REQUEST, 0xF123, b"\x01\x02\x03\x04"))
    stream = s.stream()
    assert stream.messages[-1].name == "NDMP_VENDOR_0xF123"
    assert [(f.code, str(f.severity), f.frames) for f in stream.findings] == [
        ("ndmp_vendor_message", "info", [frame])]


def test_body_too_short_is_undecodable() -> None:
    s = v4_session()
    frame = s.send("resp", msg(4, REPLY, MOVER_LISTEN, u32(0) + u32(1) + u32(3),
                               reply_sequence=3))  # says 3 addresses, carries none
    findings = s.stream().findings
    assert [(f.code, f.frames) for f in findings] == [("ndmp_undecodable", [frame])]
    assert "shorter" in findings[0].message


def test_client_auth_never_exposes_password_or_digest() -> None:
    s = v4_session()
    s.send("orig", msg(3, REQUEST, 0x901, u32(1) + xdr_string("admin")
                       + xdr_string("Sup3rS3cret!")))
    s.send("orig", msg(4, REQUEST, 0x901, u32(2) + xdr_string("md5user") + b"\xAB" * 16))
    stream = s.stream()
    text = json.dumps(stream.as_dict())
    assert "Sup3rS3cret" not in text and "abab" not in text.lower()
    assert [(m.body["auth_type"], m.body["user"]) for m in stream.messages[-2:]] == [
        ("TEXT", "admin"), ("MD5", "md5user")]


def test_set_window_and_halt_reasons() -> None:
    s = v4_session()
    s.send("orig", msg(3, REQUEST, 0xA05, u64(0) + u64(1 << 40)))
    s.send("resp", msg(5, REQUEST, 0x503, u32(1)))  # v4 mover halted: CONNECT_CLOSED
    messages = s.stream().messages
    assert messages[-2].body["length"] == 1 << 40
    assert (messages[-1].type, messages[-1].body["reason"]) == ("post", "CONNECT_CLOSED")


def test_mover_halt_media_error_is_a_v4_reason() -> None:
    """NDMP v4's ndmp_mover_halt_reason adds MEDIA_ERROR (5); v2 and v3 stop at
    CONNECT_ERROR (4), a media error pausing their mover, so there 5 stays unknown."""
    s = v4_session()
    s.send("resp", msg(5, REQUEST, 0x503, u32(5)))
    assert s.stream().messages[-1].body["reason"] == "MEDIA_ERROR"
    v3 = Session()
    v3.send("resp", greeting(3))
    v3.send("resp", msg(2, REQUEST, 0x503, u32(5) + xdr_string("tape error")))
    stream = v3.stream()
    assert stream.version == 3
    assert stream.messages[-1].body["reason"] == "UNKNOWN_5"


def test_lost_segment_gives_partial_message_and_finding() -> None:
    s = v4_session()
    big = msg(3, REQUEST, LOG_MESSAGE, u32(0) + u32(1) + xdr_string("x" * 200) + u64(0))
    s.send("resp", big[:40])
    s.seq["resp"] += len(big) - 40  # the rest of the message never reaches the capture
    s.send("resp", msg(4, REQUEST, NOTIFY_DATA_HALTED, u32(1)))
    stream = s.stream()
    assert [(m.sequence, m.partial) for m in stream.messages[-2:]] == [(3, True), (4, False)]
    assert [f.code for f in stream.findings] == ["ndmp_partial"]


def test_garbage_on_the_ndmp_port_is_undecodable() -> None:
    collector = NdmpCollector()
    collector.segment("C2", "orig", 0, SYN, b"", 1, 0.0)
    collector.segment("C2", "orig", 1, ACK, b"SSH-2.0-OpenSSH_9.2\r\n" * 3, 2, 0.1)
    streams = collector.streams()
    assert [s.messages for s in streams] == [[]]
    assert {f.code for f in streams[0].findings} == {"ndmp_undecodable"}


def test_bulk_garbage_stops_decoding() -> None:
    collector = NdmpCollector()
    collector.segment("C3", "orig", 0, SYN, b"", 1, 0.0)
    for index in range(200):
        collector.segment("C3", "orig", 1 + index * 1000, ACK, b"\x00\x01" * 500, index + 2, 0.0)
    findings = collector.streams()[0].findings
    # An amount of data: "N B" with separators, as the report's (tidy61; it read
    # "66000 bytes" beside the report's "N B").
    assert any(f.message.startswith("no NDMP record in the first 66,000 B: stopped "
                                    "decoding") for f in findings), findings


def test_collector_asks_to_stop_tapping_what_is_not_ndmp() -> None:
    """segment's answer (model.SegmentSink): True while the connection may be NDMP,
    False from the packet where decoding gave up on, so the engine can untap it."""
    collector = NdmpCollector()
    answers = [collector.segment("C3", "orig", 0, SYN, b"", 1, 0.0)]
    for index in range(200):
        answers.append(collector.segment("C3", "orig", 1 + index * 1000, ACK,
                                         b"\x00\x01" * 500, index + 2, 0.0))
    stop = answers.index(False)
    assert answers[:stop] == [True] * stop and 60 <= stop <= 70  # 64 KB: GIVE_UP_BYTES
    assert not any(answers[stop:])
    s = v4_session()
    assert s.collector.segment("C1", "orig", s.seq["orig"], ACK,
                               msg(3, REQUEST, DATA_LISTEN, u32(1)) * 200, 99, 99.0)


def test_looks_like_ndmp_is_strict() -> None:
    assert looks_like_ndmp(greeting(4))
    assert looks_like_ndmp(msg(1, REQUEST, 0x900, u32(3)))
    assert not looks_like_ndmp(msg(1, REPLY, 0x900, u32(0), reply_sequence=1))
    assert not looks_like_ndmp(msg(1, REQUEST, 0x400))
    assert not looks_like_ndmp(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
    assert not looks_like_ndmp(greeting(4)[:20])
    assert not looks_like_ndmp(u32(28) + header(1, REQUEST, 0x900) + u32(4))  # no last bit


def test_every_code_of_every_version_has_a_name() -> None:
    for version, names in MESSAGE_NAMES.items():
        for code, name in names.items():
            assert message_name(code, version) == "NDMP_" + name
    assert message_name(0x102, 2) == "NDMP_CONFIG_GET_MOVER_TYPE"
    assert message_name(0x102, 4) == "NDMP_CONFIG_GET_CONNECTION_TYPE"
    assert message_name(0x600, None) == "NDMP_LOG_LOG"
    assert len(MESSAGE_NAMES[4]) >= 55


def test_text_from_the_wire_is_shown_as_text_not_markup() -> None:
    """A LOG_MESSAGE text is the agent's: rich markup in it is printed, not applied (a
    stray closing tag made rich raise)."""
    import io

    from rich.console import Console

    from flowcheck.report.ndmp import render_ndmp

    s = v4_session()
    body = u32(0) + u32(1) + xdr_string("disk [/full] [red]x") + u32(0) + u32(0)
    s.send("resp", msg(5, REQUEST, LOG_MESSAGE, body))
    out = io.StringIO()
    render_ndmp([s.stream()], [], Console(file=out, width=200))
    assert "text=disk [/full] [red]x" in out.getvalue()
