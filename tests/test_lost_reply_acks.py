"""A request decoded after a hole the sniffer left keeps its own packet's ACK
(flowcheck.ndmp.control_packets.ControlPackets.ack_of).

captures/ndmjob/v4-backup.pcap (a good NDMP v4 backup) with three control packets the
sniffer lost at the job's end: one of the media server's DATA_GET_STATE polls (a hole
in its direction: its later requests are held by the reassembly until the hole is
given up, packets later), the agent's reply to the last poll and the media server's
FIN. The agent's FIN, captured, has a sequence number past the lost reply's bytes and
acknowledges the media server's FIN. A new-user trial (30% of a three-resources
backup's frames removed) read FAIL ndmp_no_reply: "The agent never answered
DATA_GET_STATE ..., although its TCP acknowledged it; it closed the connection
instead": the held request took the ACK of the newest packet when it was decoded (the
media server's ACK of the agent's FIN), which covered the lost reply, so the reply
read as sent before the request. Now the request keeps the ACK of the packet that
completed it: the reply's bytes come after it, so the agent did answer; PASS.
"""

from __future__ import annotations

from pathlib import Path

from pcap_records import read_records, stored_records, tcp_of, write_records

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sessions import message_op

STORED = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
MEDIA = bytes([10, 77, 0, 1])
_FIN = 0x01


def _records() -> tuple[int, tuple]:
    return stored_records(STORED / "v4-backup.pcap")


def _control(frame: bytes) -> bool:
    tcp = tcp_of(frame)
    return tcp is not None and 10000 in (tcp.sport, tcp.dport)


def _lost(tmp_path: Path) -> Path:
    """The capture without the media server's third-last control payload packet, the
    agent's last one (the reply to the last poll) and the media server's FIN."""
    linktype, records = _records()
    control = [n for n, r in enumerate(records) if _control(r.data)]
    media_data = [n for n in control if records[n].data[26:30] == MEDIA
                  and tcp_of(records[n].data).payload]
    agent_data = [n for n in control if records[n].data[26:30] != MEDIA
                  and tcp_of(records[n].data).payload]
    media_fin = next(n for n in control if records[n].data[26:30] == MEDIA
                     and tcp_of(records[n].data).flags & _FIN)
    dropped = {media_data[-3], agent_data[-1], media_fin}
    assert agent_data[-1] > media_data[-1]  # the reply to the last request
    kept = [r for n, r in enumerate(records) if n not in dropped]
    return write_records(tmp_path / "lost.pcap", linktype, kept)


def _analyze(path: Path) -> Analysis:
    config = build_config(load_file(STORED / "flowcheck.toml"))
    return analyze(read_traffic([str(path)], config), config)


def test_reply_lost_behind_a_hole_is_no_silence(tmp_path: Path) -> None:
    result = _analyze(_lost(tmp_path))
    codes = {f.code for f in result.findings}
    assert "ndmp_no_reply" not in codes
    assert result.verdict == "pass"
    assert "ndmp_partial" in codes  # the holes are still said


def test_held_request_keeps_its_own_packets_ack(tmp_path: Path) -> None:
    """The last request's ACK is the one its packet carried: below the agent's FIN's
    sequence number (the lost reply between), not the ACK of the media server's packet
    after that FIN."""
    result = _analyze(_lost(tmp_path))
    (stream,) = [s for s in result.traffic.streams if s.messages]
    last = [m for m in stream.messages if m.direction == "orig" and m.type == "request"][-1]
    assert message_op(last) == "DATA_GET_STATE"
    _, records = read_records(tmp_path / "lost.pcap")
    carried = tcp_ack(records[last.frame - 1].data)
    assert stream.request_acks[last.frame] == carried
    assert stream.fin is not None and stream.fin.direction == "resp"


def tcp_ack(frame: bytes) -> int:
    """The acknowledgement number of an Ethernet II IPv4 TCP frame."""
    ihl = (frame[14] & 0x0F) * 4
    return int.from_bytes(frame[14 + ihl + 8:14 + ihl + 12], "big")
