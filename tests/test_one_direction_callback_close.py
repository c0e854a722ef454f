"""A callback the capture holds only closing, in a capture of one host's packets, is no
data connection; what one direction's ACKs show of the other counts as carried
(oneway64, review64f).

lab/clean-3-resources.pcap kept to the media server's packets (`tshark -Y
"ip.src==10.77.0.1"`, as `tcpdump -Q out` on the media server keeps them) and cut as a
sniffer started late would leave it (`editcap -r OUT CUT FROM-1000000`): from any frame
10 to 184 the callback 10.77.0.2:6077 -> 10.77.0.1:5001 is first seen at the media
server's ACK of the agent's FIN (which the capture lacks), then the media server's own
FIN beside the control connection's. It was matched by ports as a fourth data
connection (sessions.by_ports), step 5 "over 4 data connections". The uncut capture
(both directions) is the ground truth: the callback, three data connections.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

from pcap_records import Record, read_records, write_records
from stored import CAPTURES, stored_analysis

from flowcheck.model import Connection
from flowcheck.sessions.callback_from_ack import silent_unopened
from flowcheck.sessions.only_closing import FINS_OF_A_CLOSE, close_only
from flowcheck.traffic import Analysis
from flowcheck.verify.stalled import RESENDS_FOR_STALL

_MEDIA, _AGENT = bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2])


def _sent_by(records: list[Record], host: bytes) -> list[Record]:
    """The Ethernet/IPv4 records whose IP source is `host` (4 bytes)."""
    return [r for r in records if r.data[12:14] == b"\x08\x00" and r.data[26:30] == host]


def _one_way(tmp_path: Path, name: str, host: bytes, first: int) -> Analysis:
    """lab/NAME kept to `host`'s packets, from the kept frame `first` on, analysed with
    its .toml."""
    source = CAPTURES / "lab" / name
    linktype, records = read_records(source)
    kept = _sent_by(records, host)[first - 1:]
    capture = write_records(tmp_path / f"{name}-{first}.pcap", linktype, kept)
    return stored_analysis(capture, config_path=source.with_suffix(".toml"))


def _by_ports(analysis: Analysis, *ports: int) -> Connection:
    [conn] = [c for c in analysis.traffic.connections if {c.orig_p, c.resp_p} == set(ports)]
    return conn


def test_the_media_servers_packets_of_the_callback_closing_are_no_data(
        tmp_path: Path) -> None:
    truth = stored_analysis(CAPTURES / "lab" / "clean-3-resources.pcap")
    [whole] = truth.sessions
    assert whole.callback_uid == _by_ports(truth, 6077, 5001).uid
    assert len(whole.data_connections) == 3
    for first in (10, 100, 171, 184):
        analysis = _one_way(tmp_path, "clean-3-resources.pcap", _MEDIA, first)
        [session] = analysis.sessions
        callback = _by_ports(analysis, 6077, 5001).uid
        steps = {s.step: s for s in session.steps}
        assert callback not in session.data_connections, (first, steps[5].detail)
        assert session.closing_only == [callback], first
        assert steps[2].status == "unknown"
        # (from 184 the capture holds the job's end only: step 2 says so instead)
        assert f"{callback} 10.77.0.2:6077 <-> 10.77.0.1:5001" in steps[2].detail \
            or first == 184, (first, steps[2].detail)


def test_the_whole_job_from_frame_10_counts_three_data_connections(tmp_path: Path) -> None:
    analysis = _one_way(tmp_path, "clean-3-resources.pcap", _MEDIA, 10)
    [session] = analysis.sessions
    step5 = next(s for s in session.steps if s.step == 5)
    assert len(session.data_connections) == 3
    assert "600,000 B of data if all data connections closed) over 3 data connections" \
        in step5.detail, step5.detail


def _callback_fin_resent(tmp_path: Path, times: int) -> Analysis:
    """The media server's packets of lab/clean-3-resources from frame 10 (as _one_way),
    the media server's FIN of the callback 10.77.0.2:6077 -> 10.77.0.1:5001 resent
    `times` times, 0.21 s apart (an RTO each: the agent's ACK late or lost)."""
    source = CAPTURES / "lab" / "clean-3-resources.pcap"
    linktype, records = read_records(source)
    kept = _sent_by(records, _MEDIA)[9:]
    tcp = [14 + (r.data[14] & 0xF) * 4 for r in kept]
    [fin] = [r for r, t in zip(kept, tcp, strict=True)
             if set(struct.unpack_from(">HH", r.data, t)) == {6077, 5001} and r.data[t + 13] & 1]
    resends = [replace(fin, micros=fin.micros + 210_000 * k) for k in range(1, times + 1)]
    capture = write_records(tmp_path / f"resent-{times}.pcap", linktype,
                            sorted(kept + resends, key=lambda r: r.micros))
    return stored_analysis(capture, config_path=source.with_suffix(".toml"))


def test_a_callback_fin_resent_once_in_one_direction_is_its_close(tmp_path: Path) -> None:
    """One resend is fewer than a stall's (verify.stalled.RESENDS_FOR_STALL), and the ACK
    that ended it such a capture cannot hold: the callback is still the job's closing
    (only_closing.FINS_OF_A_CLOSE; review64l: it was a fourth data connection, as before
    oneway64). Resent twice, it is no close (a stall's resends)."""
    analysis = _callback_fin_resent(tmp_path, 1)
    [session] = analysis.sessions
    callback = _by_ports(analysis, 6077, 5001)
    assert len(callback.fin_frames) == 2
    assert session.closing_only == [callback.uid]
    assert len(session.data_connections) == 3, session.data_connections
    twice = _by_ports(_callback_fin_resent(tmp_path, 2), 6077, 5001)
    assert len(twice.fin_frames) == 3 and not close_only(twice)


def test_fins_of_a_close_are_fewer_than_a_stalls() -> None:
    """only_closing.FINS_OF_A_CLOSE stays the FINs short of verify.stalled's stall."""
    assert FINS_OF_A_CLOSE == RESENDS_FOR_STALL


def test_acked_bytes_of_the_side_not_captured_are_carried(tmp_path: Path) -> None:
    """One direction's ACKs that moved over the other side's data show it carried some:
    not held only closing (only_closing.close_only)."""
    # The media server's packets from frame 171: the last data connection 5004 -> 6003,
    # first seen at its ACK of 191,888 B, acknowledges 8,113 B more and the agent's FIN.
    analysis = _one_way(tmp_path, "clean-3-resources.pcap", _MEDIA, 171)
    data = _by_ports(analysis, 5004, 6003)
    assert data.resp_acked_unseen > 1 and not data.resp_pkts
    assert not close_only(data)
    assert data.uid in analysis.sessions[0].data_connections


def test_acked_bytes_of_the_side_not_captured_are_no_silence(tmp_path: Path) -> None:
    """As above, for callback_from_ack.silent_unopened."""
    # The agent's packets of a restore from its first data connection's 20th ACK: that
    # connection, first seen at the agent's ACK (6001 -> 5002), acknowledges the media
    # server's data.
    analysis = _one_way(tmp_path, "restore-2-resources.pcap", _AGENT, 30)
    data = _by_ports(analysis, 6001, 5002)
    assert (data.orig_p, data.resp_p) == (6001, 5002) and data.resp_acked_unseen > 1
    assert not silent_unopened(data, analysis.config)


def _port_moved(record: Record, old: int, new: int) -> Record:
    """The Ethernet/IPv4 TCP record with its port `old` (either end) made `new`, a
    microsecond later (the TCP checksum left as it was: nothing here checks it)."""
    data = bytearray(record.data)
    tcp = 14 + (data[14] & 0xF) * 4
    for offset in (tcp, tcp + 2):
        if struct.unpack_from(">H", data, offset)[0] == old:
            struct.pack_into(">H", data, offset, new)
    return replace(record, data=bytes(data), micros=record.micros + 1)


def _beside_a_silent_job(tmp_path: Path) -> Analysis:
    """lab-trial17/mtu-blackhole-media.pcap.gz from frame 25, which holds the callback
    10.77.1.2:6021 -> 10.77.0.1:5001 from the agent's handshake ACK on (sessions.
    callback_from_ack names it the job's: test_callback_cut_to_ack), beside a second job
    between the same hosts, begun before the capture, that announces nothing in it: its
    control connection the first one's packets after DATA_LISTEN (frames 31 to 45) from
    media port 5070."""
    source = CAPTURES / "lab-trial17" / "mtu-blackhole-media.pcap.gz"
    linktype, records = read_records(source)
    second = [_port_moved(r, 5069, 5070) for r in records[30:45]
              if r.data[12:14] == b"\x08\x00"
              and 5069 in struct.unpack_from(">HH", r.data, 14 + (r.data[14] & 0xF) * 4)]
    assert len(second) == 6
    capture = write_records(tmp_path / "two-jobs.pcap", linktype,
                            sorted(records[24:] + second, key=lambda r: r.micros))
    return stored_analysis(capture, config_path=source.with_name(
        "mtu-blackhole-media.toml"))


def test_a_job_announcing_nothing_may_own_the_callback_seen_from_its_ack(
        tmp_path: Path) -> None:
    """Either job of _beside_a_silent_job may own that callback, so neither takes it by
    its silence (it was named the first job's, step 2 `ok`)."""
    analysis = _beside_a_silent_job(tmp_path)
    callback = _by_ports(analysis, 6021, 5001).uid
    first, other = sorted(analysis.sessions, key=lambda s: s.control_uid)
    assert first.announced and not other.announced
    assert {first.callback_uid, other.callback_uid} == {None}
    assert not first.callback_from_ack
    assert callback in first.port_tied and callback in other.port_tied  # either's, untold
    assert next(s for s in first.steps if s.step == 2).status == "unknown"


def test_the_tied_callback_is_named_in_step_2(tmp_path: Path) -> None:
    """Step 2 of each job of _beside_a_silent_job names the callback both fit
    (verify.callback_tie.tied_unnamed); it said "no callback in the capture" though
    the capture holds it (review64l)."""
    analysis = _beside_a_silent_job(tmp_path)
    callback = _by_ports(analysis, 6021, 5001).uid
    first, other = sorted(analysis.sessions, key=lambda s: s.control_uid)
    for session, rival in ((first, other), (other, first)):
        step2 = next(s for s in session.steps if s.step == 2)
        assert step2.status == "unknown"
        assert step2.detail.startswith(
            f"unknown: {callback} 10.77.1.2:6021 -> 10.77.0.1:5001 (first seen at frame 1, "
            f"carrying nothing) may be this session's callback, but it fits {rival.id} as "
            "well"), step2.detail
        assert "no callback in the capture" not in step2.detail
        assert step2.uids == [callback]


def test_the_labs_tcpdump_q_out_capture_cut_reads_the_callback_closing(
        tmp_path: Path) -> None:
    """lab/one-direction-out.pcap (tcpdump -Q out on the media server's veth in the
    netns lab) from frame 10: the callback 10.77.0.2:6075 -> 10.77.0.1:5001, its
    SYN-ACK cut off, was read `unannounced_connection`; it is the job's closing."""
    source = CAPTURES / "lab" / "one-direction-out.pcap"
    linktype, records = read_records(source)
    capture = write_records(tmp_path / "cut.pcap", linktype, records[9:])
    analysis = stored_analysis(capture, config_path=source.with_suffix(".toml"))
    [session] = analysis.sessions
    callback = _by_ports(analysis, 6075, 5001).uid
    assert session.closing_only == [callback]
    assert len(session.data_connections) == 2
    assert not [f for f in analysis.findings if f.code == "unannounced_connection"]
