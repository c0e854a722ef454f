"""The agent's FIN that answered the media server's lost FIN is no close on an
unanswered request (flowcheck.verify.unanswered_close with verify.first_close).

captures/ndmjob/v4-backup.pcap (a good NDMP v4 backup) with the sniffer's losses at the
job's end: two of the media server's last three DATA_GET_STATE-style requests, the
agent's replies after its second-last one, and the media server's FIN. The media
server's last request is captured; the agent's FIN acknowledges one sequence number
past it: the media server's FIN, which the capture lacks, so the media server closed
first and the agent's FIN answered it. A new-user trial (control packets of
v4-three-resources lost at 25%) read INCONCLUSIVE: step 2 "unknown: after its last NDMP
message ... 10.77.0.2 acknowledged 57 B more ..., then closed the control connection
(FIN ...): not a CONNECT_CLOSE ... (another resource's DATA_LISTEN that 10.77.0.2
could not serve ... ends a job so)", the 57 B being the two lost requests and the
media server's FIN. Now: PASS, the losses still said (ndmp_partial, capture_loss).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pcap_records import stored_records, tcp_of, write_records

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

STORED = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
MEDIA = bytes([10, 77, 0, 1])
_FIN = 0x01


def _records() -> tuple[int, tuple]:
    return stored_records(STORED / "v4-backup.pcap")


def _lost(tmp_path: Path) -> Path:
    """Without the media server's third- and second-last control requests, the agent's
    last three replies and the media server's FIN."""
    linktype, records = _records()
    control = [n for n, r in enumerate(records)
               if (t := tcp_of(r.data)) is not None and 10000 in (t.sport, t.dport)]
    media = [n for n in control if records[n].data[26:30] == MEDIA]
    agent = [n for n in control if records[n].data[26:30] != MEDIA]
    media_data = [n for n in media if tcp_of(records[n].data).payload]
    agent_data = [n for n in agent if tcp_of(records[n].data).payload]
    media_fin = next(n for n in media if tcp_of(records[n].data).flags & _FIN)
    agent_fin = next(n for n in agent if tcp_of(records[n].data).flags & _FIN)
    assert media_fin < agent_fin  # the media server closed first
    dropped = {media_data[-3], media_data[-2], *agent_data[-3:], media_fin}
    kept = [r for n, r in enumerate(records) if n not in dropped]
    return write_records(tmp_path / "lost.pcap", linktype, kept)


def _analyze(path: Path) -> Analysis:
    config = build_config(load_file(STORED / "flowcheck.toml"))
    return analyze(read_traffic([str(path)], config), config)


def test_answering_fin_is_no_unanswered_close(tmp_path: Path) -> None:
    result = _analyze(_lost(tmp_path))
    (session,) = result.sessions
    assert [s.status for s in session.steps] == ["ok"] * len(session.steps)
    assert not any("the one request NDMP leaves unanswered" in s.detail
                   for s in session.steps)
    assert result.verdict == "pass"
    codes = {f.code for f in result.findings}
    assert {"ndmp_partial", "capture_loss"} <= codes
    assert "ndmp_no_reply" not in codes


def _number(data: bytes, field: int) -> int:
    """An Ethernet IPv4 TCP frame's sequence (field 4) or ACK number (field 8)."""
    at = 14 + (data[14] & 0x0F) * 4 + field
    return int.from_bytes(data[at:at + 4], "big")


def _moved(data: bytes, field: int, by: int) -> bytes:
    """An Ethernet IPv4 TCP frame with its sequence (field 4) or ACK number (field 8)
    moved by `by` (mod 2**32); flowcheck checks no TCP checksum."""
    at = 14 + (data[14] & 0x0F) * 4 + field
    value = (_number(data, field) + by) % (1 << 32)
    return data[:at] + value.to_bytes(4, "big") + data[at + 4:]


def _as_connect_close(data: bytes) -> bytes:
    """A frame whose one NDMP header (record mark, then 24 B) becomes CONNECT_CLOSE's."""
    tcp = 14 + (data[14] & 0x0F) * 4
    at = tcp + (data[tcp + 12] >> 4) * 4 + 4 + 12  # record mark, then the message code
    return data[:at] + (0x902).to_bytes(4, "big") + data[at + 4:]


def _never_answered(tmp_path: Path) -> Path:
    """The agent never answered the media server's last three requests: its three last
    replies never sent (its later sequence numbers, and the media server's ACKs of them,
    as if so); the sniffer lost two of those requests and the media server's FIN; the
    media server's last request, captured, is a CONNECT_CLOSE (it gave up)."""
    linktype, records = _records()
    control = [n for n, r in enumerate(records)
               if (t := tcp_of(r.data)) is not None and 10000 in (t.sport, t.dport)]
    media = [n for n in control if records[n].data[26:30] == MEDIA]
    agent = [n for n in control if records[n].data[26:30] != MEDIA]
    media_data = [n for n in media if tcp_of(records[n].data).payload]
    never = [n for n in agent if tcp_of(records[n].data).payload][-3:]
    media_fin = next(n for n in media if tcp_of(records[n].data).flags & _FIN)
    # The agent's byte after each reply never sent, and that reply's size.
    ends = [(_number(records[n].data, 4) + tcp_of(records[n].data).payload,
             tcp_of(records[n].data).payload) for n in never]
    lost = {media_data[-3], media_data[-2], media_fin}
    # The media server's ACKs of replies never sent are not sent either.
    lost |= {n for n in media if never[0] < n < never[-1]
             and not tcp_of(records[n].data).payload}
    kept = []
    for n, record in enumerate(records):
        if n in never or n in lost:
            continue
        data = record.data
        if n > never[0] and n in agent:
            data = _moved(data, 4, -sum(size for _, size in ends))
        elif n > never[0] and n in media:
            ack = _number(data, 8)
            data = _moved(data, 8, -sum(size for end, size in ends
                                        if (ack - end) % (1 << 32) < 1 << 31))
        if n == media_data[-1]:
            data = _as_connect_close(data)
        kept.append(replace(record, data=data))
    return write_records(tmp_path / "never.pcap", linktype, kept)


def test_a_request_never_answered_before_the_media_servers_lost_fin(tmp_path: Path) -> None:
    """The agent's FIN answers the media server's lost FIN (first_close.peer_fin_first)
    but its sequence numbers show it sent nothing after its last reply: the two lost
    requests went unanswered, the media server gave up (CONNECT_CLOSE, FIN). Step 2
    stays unknown, its words the media server's close (it read PASS on da5c20d4)."""
    result = _analyze(_never_answered(tmp_path))
    (session,) = result.sessions
    assert result.verdict == "inconclusive"
    (unknown,) = [s for s in session.steps if s.status != "ok"]
    assert unknown.status == "unknown"
    assert ("acknowledged 57 B more of 10.77.0.1's control stream than the capture holds "
            "and answered none of it; then 10.77.0.1 closed the control connection (its "
            "FIN, which the capture lacks: 10.77.0.2:10000's own FIN") in unknown.detail
    assert "10.77.0.1 giving up on it" in unknown.detail
    codes = {f.code for f in result.findings}
    assert {"ndmp_partial", "capture_loss"} <= codes
