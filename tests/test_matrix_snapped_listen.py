"""A DATA_LISTEN its agent never answered, captured with `tcpdump -s 96` (lab matrix seed
55 run 26, captures/field38-matrix/range-small-listen-unanswered-snap96; seed 57 run 10
is the same shape): the agent, out of ports, closes the control connection instead.
Two edits of it, each one record of the agent's after the request, before its FIN:

- a LOG_MESSAGE whose header the snap length kept (an agent that logs its failure, then
  closes): every record it sent after the request is read, so the unanswered request is
  the same evidence as in a whole capture (step_missing). It passed: the agent sent bytes
  after the request, and the stream was not whole.
- a record whose header the snap length cut: it may be the reply (an announcement never
  used, or a refusal), so no step_missing; nor a pass on the earlier resources'
  announcements, with fewer data connections than DATA_LISTENs: step 3 unknown,
  inconclusive. It passed.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

from pcap_records import Record, read_records, tcp_of, write_records
from stored import errors, stored_analysis
from test_connections_util import internet_checksum

CAPTURE = (Path(__file__).resolve().parents[1] / "captures" / "field38-matrix"
           / "range-small-listen-unanswered-snap96.pcap")
CONFIG = CAPTURE.with_suffix(".toml")
REQUEST = 457  # the third DATA_LISTEN, never answered
AGENT, MEDIA = 10000, 5069  # the control connection's ports
LOG_MESSAGE, DATA_LISTEN_REPLY = (0, 0x603, 0), (1, 0x409, 12)  # type, code, reply seq


def test_the_stored_capture_reads_the_request_unanswered() -> None:
    """The capture as stored: the agent sent no byte after the request; its records whose
    header the snap length lost all lie before it (NdmpStream.unread_last)."""
    analysis = stored_analysis(CAPTURE)
    assert [e.code for e in errors(analysis)] == ["step_missing"]
    [stream] = analysis.traffic.streams
    assert 0 < stream.unread_last["resp"] < REQUEST


def test_a_log_message_after_the_unanswered_listen_is_still_step_missing(
        tmp_path: Path) -> None:
    capture = _edited(tmp_path, "log-then-close.pcap", LOG_MESSAGE, kept=30)
    analysis = stored_analysis(capture, config_path=CONFIG)
    [stream] = analysis.traffic.streams
    assert any(m.frame > REQUEST and m.direction == "resp" for m in stream.messages)
    assert analysis.verdict == "fail"
    [error] = errors(analysis)
    assert error.code == "step_missing"
    assert "DATA_LISTEN request (frame 457) was never answered by 10.77.1.2" in \
        " ".join(error.message.split())
    [session] = analysis.sessions
    assert session.steps[2].status == "missing"


def test_a_header_cut_after_the_listen_may_be_its_reply(tmp_path: Path) -> None:
    capture = _edited(tmp_path, "cut-reply.pcap", DATA_LISTEN_REPLY, kept=10)
    analysis = stored_analysis(capture, config_path=CONFIG)
    [stream] = analysis.traffic.streams
    assert stream.unread_last["resp"] > REQUEST  # the inserted record, header cut
    assert not errors(analysis)
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    step = session.steps[2]
    assert step.status == "unknown"
    assert REQUEST in step.frames
    assert "snap length cut the header of a record 10.77.1.2 sent after it" in \
        " ".join(step.detail.split())


def test_the_media_servers_fin_lost_leaves_the_request_unanswered(tmp_path: Path) -> None:
    """The stored capture without the media server's FIN (the 2% loss sweep, seed 3, lost
    it): the agent's last ACK covers a byte the capture lacks, a gap after the request,
    but in the media server's direction; the agent's own sequence numbers show nothing of
    its missing (NdmpStream.own_gaps none), so it sent nothing after the request, as in the whole
    capture: step_missing. It passed (any gap after the request kept the silence from
    being read)."""
    linktype, records = read_records(CAPTURE)
    fins = [i for i, r in enumerate(records) if (tcp := tcp_of(r.data)) is not None
            and (tcp.sport, tcp.dport) == (MEDIA, AGENT) and tcp.flags & 0x01]
    assert len(fins) == 1
    capture = write_records(tmp_path / "media-fin-lost.pcap", linktype,
                            records[:fins[0]] + records[fins[0] + 1:])
    analysis = stored_analysis(capture, config_path=CONFIG)
    assert analysis.verdict == "fail"
    assert [e.code for e in errors(analysis)] == ["step_missing"]
    [stream] = analysis.traffic.streams
    assert stream.own_gaps_all and not stream.own_gaps.get("resp")


def _edited(tmp_path: Path, name: str, header: tuple[int, int, int], kept: int) -> Path:
    """The stored capture with a 40-byte NDMP record of the agent's (`header`: type, code,
    reply sequence) inserted before its FIN on the control connection, the record
    keeping `kept` payload bytes (30: mark and header; 10: the header cut), the agent's
    later sequence numbers and the media server's ACKs moved on by 40."""
    linktype, records = read_records(CAPTURE)
    return write_records(tmp_path / name, linktype, _with_record(records, header, kept))


def _with_record(records: list[Record], header: tuple[int, int, int], kept: int,
                 payload: int = 40) -> list[Record]:
    out: list[Record] = []
    shift = 0
    for record in records:
        tcp = tcp_of(record.data)
        if tcp is not None and {tcp.sport, tcp.dport} == {AGENT, MEDIA}:
            from_agent = tcp.sport == AGENT
            if from_agent and tcp.flags & 0x01 and not shift:
                out.append(_segment(record, header, payload, kept))
                shift = payload
            if shift:
                record = _moved(record, seq=shift if from_agent else 0,
                                ack=0 if from_agent else shift)
        out.append(record)
    assert shift
    return out


def _segment(fin: Record, header: tuple[int, int, int], payload: int, kept: int) -> Record:
    """A PSH/ACK segment in the FIN's place carrying one NDMP record of `payload` bytes on
    the wire (record mark, header, zero body), the capture keeping `kept` of them."""
    data = bytearray(fin.data[:66])
    struct.pack_into(">H", data, 16, struct.unpack_from(">H", data, 16)[0] + payload)
    _ip_checksum(data)
    data[14 + 20 + 13] = 0x18  # PSH, ACK
    kind, code, reply_sequence = header
    body = (struct.pack(">IIIIIII", 0x80000000 | (payload - 4), 17, 0, kind, code,
                        reply_sequence, 0) + b"\x00" * (payload - 28))
    return Record(fin.micros - 1, fin.wirelen + payload, bytes(data) + body[:kept])


def _moved(record: Record, seq: int, ack: int) -> Record:
    data = bytearray(record.data)
    for offset, delta in ((38, seq), (42, ack)):
        value = struct.unpack_from(">I", data, offset)[0]
        struct.pack_into(">I", data, offset, (value + delta) & 0xFFFFFFFF)
    return replace(record, data=bytes(data))


def _ip_checksum(data: bytearray) -> None:
    """The IPv4 header checksum of an Ethernet frame's 20-byte header, set in place."""
    data[24:26] = b"\x00\x00"
    struct.pack_into(">H", data, 24, internet_checksum(bytes(data[14:34])))
