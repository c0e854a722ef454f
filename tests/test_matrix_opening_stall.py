"""Lab matrix seed 58 run 9 (captures/field38-matrix/greeting-stalled-synack-lost): the
media server's input chain drops every packet but the SYN to its media range, which holds
its control connection's own source port, so the agent's greeting is resent 8 times and
never acknowledged; captured on the agent with the sniffer's loss taking the SYN-ACK. The
stall at the connection's first bytes was judged only with the SYN-ACK in the capture,
so it read as a port check (the media server sent nothing and closed) and passed. The
agent's greeting after the SYN proves the SYN-ACK (as capture_loss says): control_stalled,
as with the whole handshake (trial34-ack-dropped/media-drops-nonsyn-to-media-range).
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

from pcap_records import read_records, write_records
from stored import errors, stored_analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
CASE = CAPTURES / "field38-matrix" / "greeting-stalled-synack-lost.pcap"
ONE_WAY = CAPTURES / "field38-matrix" / "greeting-stalled-one-direction-out.pcap"
TRIAL34 = CAPTURES / "trial34-ack-dropped" / "media-drops-nonsyn-to-media-range.pcap"


def _stalled_at_opening(capture: Path, config: Path, later: str = "not_applicable") -> None:
    """control_stalled at the opening; the later steps `later`: not reached when the
    capture shows the connection close (CASE: the media server's FIN at 30 s), unknown
    when it ended with the connection open (TRIAL34: 7.3 s, the greeting still resent)."""
    analysis = stored_analysis(capture, config_path=config)
    assert analysis.verdict == "fail"
    [error] = errors(analysis)
    assert error.code == "control_stalled"
    message = " ".join(error.message.split())
    assert "sent its first 60 B (from NOTIFY_CONNECTED" in message
    assert "It stalled at its first bytes, right after the handshake" in message
    [session] = analysis.sessions
    assert [s.status for s in session.steps] == ["ok"] + [later] * 4
    assert "port check" not in session.steps[0].detail


def test_a_greeting_never_acknowledged_with_the_synack_lost_is_control_stalled() -> None:
    _stalled_at_opening(CASE, CASE.with_suffix(".toml"))
    analysis = stored_analysis(CASE)
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    assert "its SYN-ACK" in " ".join(loss.message.split())


def test_the_syn_lost_instead_is_control_stalled_too(tmp_path: Path) -> None:
    """trial34's capture without its SYN (frame 1): the SYN-ACK, then the media server's
    handshake ACK, prove it; it read step_missing for the callback."""
    linktype, records = read_records(TRIAL34)
    capture = write_records(tmp_path / "no-syn.pcap", linktype, records[1:])
    _stalled_at_opening(capture, TRIAL34.with_suffix(".toml"), "unknown")


def test_the_synack_lost_before_the_media_servers_ack_is_control_stalled_too(
        tmp_path: Path) -> None:
    """trial34's capture without its SYN-ACK (frame 2): the media server's handshake ACK
    is its only ACK and comes before any packet of the agent; it read step_missing for
    the callback (the agent's greeting counted as acknowledged by no ACK at all, so no
    stall was seen)."""
    linktype, records = read_records(TRIAL34)
    capture = write_records(tmp_path / "no-synack.pcap", linktype,
                            [records[0], *records[2:]])
    _stalled_at_opening(capture, TRIAL34.with_suffix(".toml"), "unknown")


def test_without_syn_and_synack_the_opening_is_not_judged(tmp_path: Path) -> None:
    """Neither handshake packet: the capture may have started after the connection's
    first bytes, so no stall at the opening is read (inconclusive, as before)."""
    linktype, records = read_records(TRIAL34)
    capture = write_records(tmp_path / "no-handshake.pcap", linktype, records[2:])
    analysis = stored_analysis(capture, config_path=TRIAL34.with_suffix(".toml"))
    assert analysis.verdict == "inconclusive"
    assert not errors(analysis)


def test_the_agents_side_only_shows_the_stall_at_the_opening() -> None:
    """Lab matrix seed 57 run 20: the same fault captured `-Q out` on the agent (its
    SYN-ACK, its greeting resent 8 times, its ACKs of M's FIN only). Its resends show no
    ACK reached it and its ACK numbers that nothing of the media server's but the
    handshake and the FIN reached it: control_stalled, not inconclusive."""
    analysis = stored_analysis(ONE_WAY, config_path=ONE_WAY.with_suffix(".toml"))
    assert analysis.verdict == "fail"
    [error] = errors(analysis)
    assert error.code == "control_stalled"
    message = " ".join(error.message.split())
    assert "sent its first 60 B (from NOTIFY_CONNECTED" in message
    assert "one direction captured" in message
    assert "sent nothing that reached 10.77.0.2 but the handshake and at most a FIN" in message
    assert "or 10.77.0.1's ACKs on the way back" in message
    [session] = analysis.sessions
    assert [s.status for s in session.steps] == ["ok"] + ["not_applicable"] * 4
    assert "capture_one_direction" in {f.code for f in analysis.findings}


def test_a_one_way_stall_after_the_other_sides_bytes_is_not_at_the_opening(
        tmp_path: Path) -> None:
    """The agent's side only, its greeting resent but its ACKs showing the media server's
    request arrived (ACK number past the SYN by 28 B): the media server talked, so this is
    not a stall at the first bytes; the capture cannot show the rest (inconclusive)."""
    linktype, records = read_records(ONE_WAY)
    edited = []
    for record in records:
        data = bytearray(record.data)
        if not data[47] & 0x02:  # not the SYN-ACK: Ethernet 14 + IPv4 20, TCP flags at 13
            ack = struct.unpack_from(">I", data, 42)[0]
            struct.pack_into(">I", data, 42, (ack + 28) & 0xFFFFFFFF)
        edited.append(replace(record, data=bytes(data)))
    capture = write_records(tmp_path / "answered.pcap", linktype, edited)
    analysis = stored_analysis(capture, config_path=ONE_WAY.with_suffix(".toml"))
    assert "control_stalled" not in {e.code for e in errors(analysis)}
