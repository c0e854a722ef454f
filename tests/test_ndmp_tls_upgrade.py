"""A control connection that goes on in TLS after its first NDMP messages (a session
secured in band, STARTTLS-like): one finding that says so, the data connections matched
by direction and ports, their TCP outcomes still judged, the announcement step unknown.

The captures are stored lab captures whose control payload after the CONNECT_CLIENT_AUTH
reply is rewritten as TLS records of the same sizes (TCP sequence numbers unchanged)."""

from __future__ import annotations

import struct
from pathlib import Path

from scapy.all import IP, TCP, Raw, rdpcap, wrpcap
from test_ndmp_stream import events
from test_ndmp_wire import REPLY, REQUEST, msg, u32

from flowcheck.config import build_config, load_file
from flowcheck.ndmp.stream import NdmpStreamDecoder
from flowcheck.ndmp.stream_events import DecodeProblem, RawMessage
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
CLIENT_HELLO = bytes.fromhex("160301020001")  # TLS record: handshake, 3.1, 512 B, type 1


def _tls_after(source: Path, target: Path, frame: int, port: int = 10000) -> Path:
    """`source` with every payload of the connection to `port` after `frame` made TLS:
    each direction's first packet a handshake record, the later ones application data
    (content type 23), each record the packet's whole payload."""
    packets = rdpcap(str(source))
    begun: set[bool] = set()
    for number, packet in enumerate(packets, start=1):
        if number <= frame or TCP not in packet or Raw not in packet \
                or port not in (packet[TCP].sport, packet[TCP].dport):
            continue
        size = len(packet[Raw].load)
        from_server = packet[TCP].sport == port
        kind = 23 if from_server in begun else 22
        begun.add(from_server)
        body = bytes([2 if from_server else 1]) + bytes(size - 6) if kind == 22 \
            else bytes(range(256)) * (size // 256 + 1)
        packet[Raw].load = (bytes([kind, 3, 3]) + struct.pack(">H", size - 5) + body)[:size]
        del packet[TCP].chksum, packet[IP].chksum
    wrpcap(str(target), packets)
    return target


def _analyze(capture: Path, name: str) -> Analysis:
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(capture)], config), config)


def test_decoder_stops_at_tls_after_a_record() -> None:
    """A record, then a TLS handshake record where the next mark should be: the
    message, one "tls" problem, then nothing however the stream goes on."""
    decoder = NdmpStreamDecoder()
    decoder.receive_data(msg(1, REQUEST, 0x900, u32(4)), 1, 1.0)
    decoder.receive_data(CLIENT_HELLO + bytes(506), 2, 2.0)
    found = events(decoder)
    assert isinstance(found[0], RawMessage) and found[0].code == 0x900
    assert [(p.kind, p.frames) for p in found[1:] if isinstance(p, DecodeProblem)] == [
        ("tls", [2])]
    decoder.receive_data(msg(2, REPLY, 0x900, u32(0), reply_sequence=1), 3, 3.0)
    decoder.receive_gap(100, 4, 4.0)
    decoder.receive_cut(10, 5, 5.0)
    decoder.receive_eof()
    assert events(decoder) == []
    assert decoder.bytes_received == len(msg(1, REQUEST, 0x900, u32(4))) + 512 + len(
        msg(2, REPLY, 0x900, u32(0), reply_sequence=1))


def test_tls_from_the_first_byte_is_no_upgrade() -> None:
    """TLS with no NDMP record before it is another protocol (sessions.other_protocol
    reads it): the decoder reports it as bytes that are not NDMP, as before."""
    decoder = NdmpStreamDecoder()
    decoder.receive_data(CLIENT_HELLO + bytes(506), 1, 1.0)
    kinds = [e.kind for e in events(decoder) if isinstance(e, DecodeProblem)]
    assert "tls" not in kinds and "absurd_fragment" in kinds


def test_a_clean_job_secured_in_band_is_inconclusive_not_unannounced(tmp_path: Path) -> None:
    """clean-3-resources with its control connection in TLS from frame 11: it read four
    "record fragment of 369296128 bytes" warnings, a session that "closed without a
    single request" and three unannounced connections. Now one finding names the TLS,
    the three data connections are the session's, steps 4-5 ok on their TCP outcome,
    the announcement step unknown: inconclusive."""
    capture = _tls_after(LAB / "clean-3-resources.pcap", tmp_path / "tls.pcap", 10)
    analysis = _analyze(capture, "clean-3-resources")
    assert analysis.verdict == "inconclusive"
    codes = sorted(f.code for f in analysis.findings)
    assert codes == ["ndmp_undecodable"]
    told = analysis.findings[0]
    assert told.message.startswith("The control connection carries TLS from frame 11: the "
                                   "media server began a TLS handshake after the "
                                   "CONNECT_CLIENT_AUTH reply (frame 10), and the agent "
                                   "went on in TLS in frame 12.")
    assert told.frames == [11, 12]
    (session,) = analysis.sessions
    assert session.kind == "backup" and not session.kind_unknown
    assert len(session.data_connections) == 3 and session.match_reason == "encrypted"
    assert [s.status for s in session.steps] == ["ok", "ok", "unknown", "ok", "ok"]
    assert "carries TLS from frame 11" in session.steps[2].detail
    assert "sniffer lost" not in session.steps[2].detail


def test_a_refused_data_connection_fails_inside_tls(tmp_path: Path) -> None:
    """data-port-in-use in TLS from its CONNECT_CLIENT_AUTH reply: the refusal is TCP's,
    so the job still fails with data_refused."""
    capture = _tls_after(LAB / "data-port-in-use.pcap", tmp_path / "tls.pcap", 10)
    analysis = _analyze(capture, "data-port-in-use")
    assert analysis.verdict == "fail"
    assert "data_refused" in {f.code for f in analysis.findings}
    assert any("carries TLS" in f.message for f in analysis.findings
               if f.code == "ndmp_undecodable")
