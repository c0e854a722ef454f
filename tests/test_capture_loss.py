"""Packets the sniffer lost are not packets the network dropped."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import tshark_fork
from pcap_records import stored_records, write_records
from stored import shared_analysis

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.sessions.kept import kept_packets

NDMJOB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"


def test_lost_synack_is_not_a_dropped_data_connection(tmp_path: Path) -> None:
    # Frame 13 of v4-backup.pcap is the data connection's SYN-ACK; 9 and 17 are control
    # messages. Without them the data still flows both ways (history SADaFf).
    lossy = tmp_path / "lossy.pcap"
    subprocess.run(["editcap", str(NDMJOB / "v4-backup.pcap"), str(lossy), "9", "13", "17"],
                   check=True, capture_output=True)
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    analysis = analyze(read_traffic([str(lossy)], config), config)
    [data] = [c for c in analysis.traffic.connections if c.role == "data"]
    assert not data.synack_frames and "h" not in data.history
    assert analysis.verdict == "pass"
    codes = {f.code for f in analysis.findings}
    assert "data_unanswered" not in codes and "handshake_incomplete" not in codes
    assert "ndmp_partial" in codes  # the lost control bytes are said, as a warning
    assert [s.kind for s in analysis.sessions] == ["backup"]
    assert analysis.sessions[0].data_connections == [data.uid]


def _cut_start(source: Path, first_frame: int, tmp_path: Path) -> Path:
    """The capture as if tcpdump had been started at first_frame."""
    late = tmp_path / f"late-{source.name}"
    subprocess.run(["editcap", "-r", str(source), str(late), f"{first_frame}-10000000"],
                   check=True, capture_output=True)
    return late


def test_capture_started_in_the_middle_of_a_plain_ndmp_backup(tmp_path: Path) -> None:
    # Frame 20 of v4-backup.pcap is already bulk data: the handshake, DATA_CONNECT and
    # DATA_START_BACKUP are before the capture. The job began before it: a resource
    # before the capture may have failed, so its resources' steps are unknown for the
    # job as a whole and the verdict inconclusive, not PASS (verify.late_job).
    late = _cut_start(NDMJOB / "v4-backup.pcap", 20, tmp_path)
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    analysis = analyze(read_traffic([str(late)], config), config)
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    assert session.kind == "backup" and len(session.data_connections) == 1
    assert [s.status for s in session.steps] == ["ok"] + ["unknown"] * 3
    codes = [f.code for f in analysis.findings]
    assert codes == ["capture_started_mid_session"]
    assert "unannounced_connection" not in codes


def test_capture_started_after_the_backup_exec_callback(tmp_path: Path) -> None:
    lab = NDMJOB.parent / "lab"
    # From frame 30 on: the control connection, the callback and the first data
    # connection are already open; two more resources are announced in the capture. The
    # first resource's start is not in it: inconclusive, not PASS (verify.late_job).
    late = _cut_start(lab / "clean-3-resources.pcap", 30, tmp_path)
    config = build_config(load_file(lab / "clean-3-resources.toml"))
    analysis = analyze(read_traffic([str(late)], config), config)
    codes = {f.code for f in analysis.findings}
    assert analysis.verdict == "inconclusive", [f.message for f in analysis.findings]
    assert "step_out_of_order" not in codes and "unannounced_connection" not in codes
    assert "capture_started_mid_session" in codes
    [session] = analysis.sessions
    assert len(session.data_connections) == 3 and session.callback_uid is not None
    assert [s.status for s in session.steps] == ["ok"] * 2 + ["unknown"] * 3


def test_a_connection_opened_during_the_capture_is_still_unannounced(tmp_path: Path) -> None:
    """Matching by ports is only for connections that were already open."""
    from flowcheck.model import Connection
    from flowcheck.profiles import load_profile
    from flowcheck.sessions import build_sessions

    config = build_config({"media_range": "5001-5100", "agent_range": "6001-6100"})
    control = Connection("C1", "10.0.0.1", 5001, "10.0.0.2", 10000, ts=1.0, last_ts=9.0,
                         history="DdAa", orig_bytes=100, resp_bytes=100)
    running = Connection("C2", "10.0.0.1", 5002, "10.0.0.2", 6001, ts=1.5, last_ts=2.0,
                         history="Dd", resp_bytes=1000)
    opened = Connection("C3", "10.0.0.1", 5003, "10.0.0.2", 6002, ts=3.0, last_ts=4.0,
                        history="ShADad", syn_frames=[30], synack_frames=[31],
                        established=True, resp_bytes=1000)
    sessions = build_sessions([control, running, opened], [], config,
                              load_profile("backup-exec-9"))
    assert sessions[0].data_connections == ["C2"]
    assert opened.role == "other" and opened.session is None


# -- how much the capture lost (capture_loss, missed_bytes, gaps) ------------------------

LAB = NDMJOB.parent / "lab"


def _tshark_rows(path: Path, *fields: str, display: str = "") -> list[list[str]]:
    return tshark_fork.fields(path, display, *fields,  # one start a filter (tshark_fork)
                              options=("-o", "tcp.desegment_tcp_streams:FALSE"))


def _data_frames(path: Path, stream: int) -> list[tuple[int, int]]:
    """(frame, tcp.len) of a tcp.stream's packets with payload, in capture order."""
    return [(int(f), int(n)) for f, n in _tshark_rows(
        path, "frame.number", "tcp.len", display=f"tcp.stream == {stream} and tcp.len > 0")]


def _tshark_expert(path: Path, stream: int) -> tuple[list[int], list[int]]:
    """tshark's expert info for one stream: frames flagged "previous segment not
    captured" (tcp.analysis.lost_segment) and "ACKed segment that wasn't captured"."""
    lost = _tshark_rows(path, "frame.number",
                        display=f"tcp.stream == {stream} and tcp.analysis.lost_segment")
    acked = _tshark_rows(path, "frame.number",
                         display=f"tcp.stream == {stream} and tcp.analysis.ack_lost_segment")
    return [int(r[0]) for r in lost], [int(r[0]) for r in acked]


def _remove(source: Path, frames: list[int], tmp_path: Path, name: str) -> Path:
    lossy = tmp_path / name
    subprocess.run(["editcap", str(source), str(lossy), *map(str, frames)], check=True,
                   capture_output=True)
    return lossy


def _analysis(path: Path, config_file: Path):  # noqa: ANN202
    config = build_config(load_file(config_file))
    return analyze(read_traffic([str(path)], config), config)


def _loss(analysis):  # noqa: ANN001, ANN202
    found = [f for f in analysis.findings if f.code == "capture_loss"]
    assert len(found) <= 1
    return found[0] if found else None


def test_five_segments_removed_from_a_backup_exec_capture(tmp_path: Path) -> None:
    source = LAB / "clean-3-resources.pcap"
    # tcp.stream 2 is the first data connection (agent port 6001 -> media server).
    data = _data_frames(source, 2)
    removed = [data[k] for k in (10, 30, 50, 70, 90)]  # each with captured data around it
    lossy = _remove(source, [f for f, _ in removed], tmp_path, "five-lost.pcap")
    analysis = _analysis(lossy, LAB / "clean-3-resources.toml")
    [conn] = [c for c in analysis.traffic.connections if c.missed_bytes]
    # What the sniffer "lost" is exactly what editcap removed (tshark's tcp.len).
    assert conn.missed_bytes == sum(n for _, n in removed) == 7240 and conn.gaps == 5
    # tshark flags each of these gaps on the same file: "previous segment not captured".
    lost, _acked = _tshark_expert(lossy, 2)
    assert len(lost) == conn.gaps and conn.gap_frames == lost
    finding = _loss(analysis)
    assert finding is not None and str(finding.severity) == "warning"
    assert "7,240 B" in finding.message and "5 gaps" in finding.message
    assert conn.uid in finding.message and finding.uid == conn.uid
    assert set(finding.frames) == set(lost[:4])
    for what in ("tcpdump -B", "dumpcap", "local disk", "host 10.77.0.1", "lighter load"):
        assert what in finding.fix
    # Sniffer loss is not network loss: the job still passes, every step ok.
    assert analysis.verdict == "pass"
    assert [s.status for s in analysis.sessions[0].steps] == ["ok"] * 5


def test_data_acked_but_never_captured_at_the_end(tmp_path: Path) -> None:
    """The last segment lost and the capture stopped at the receiver's ACK of it: only
    the ACK tells (tshark: "ACKed segment that wasn't captured")."""
    source = LAB / "clean-3-resources.pcap"
    *_, (last, length) = _data_frames(source, 3)
    acks = _tshark_rows(source, "frame.number",
                        display=f"tcp.stream == 3 and frame.number > {last} and tcp.len == 0")
    ack_frame = int(acks[0][0])
    cut = tmp_path / "cut.pcap"
    subprocess.run(["editcap", "-r", str(source), str(cut), f"1-{ack_frame}"], check=True,
                   capture_output=True)
    lossy = _remove(cut, [last], tmp_path, "tail-lost.pcap")
    [conn] = [c for c in _analysis(lossy, LAB / "clean-3-resources.toml").traffic.connections
              if c.missed_bytes]
    lost, acked = _tshark_expert(lossy, 3)
    assert not lost and acked == [ack_frame - 1]  # one frame fewer before it
    assert (conn.missed_bytes, conn.gaps, conn.gap_frames) == (length, 1, acked)


def test_gap_frames_are_the_gaps_never_filled(tmp_path: Path) -> None:
    """A segment that arrived three frames late (reordered: its own later time) opens a
    gap the capture fills; one removed (the sniffer's loss) opens one it never fills.
    The finding cites the second only (trial B of session 34: four reordered frames for
    "1 gap", the real one not among them)."""
    source = LAB / "clean-3-resources.pcap"
    data = _data_frames(source, 2)
    late, lost = data[10][0], data[60][0]
    # The file scapy's rdpcap and wrpcap made of the edit, byte for byte, from the records
    # (pcap_records: scapy parsed and rebuilt the capture's 2,000 frames, 3 CPU-s).
    linktype, packets = stored_records(source)
    moved = replace(packets[late - 1], micros=packets[late + 2].micros + 10)
    order = [p for n, p in enumerate(packets, 1) if n not in (late, lost)]
    order.insert(order.index(packets[late + 2]) + 1, moved)
    path = write_records(tmp_path / "reordered.pcap", linktype, order)
    analysis = _analysis(path, LAB / "clean-3-resources.toml")
    [conn] = [c for c in analysis.traffic.connections if c.missed_bytes]
    assert conn.gaps == 1 and conn.missed_bytes == data[60][1]
    tshark_lost, _acked = _tshark_expert(path, 2)
    assert len(conn.gap_frames) == 1 and conn.gap_frames[0] in tshark_lost
    finding = _loss(analysis)
    assert finding is not None and f"1 gap (frame {conn.gap_frames[0]})" in finding.message



@pytest.mark.parametrize(("lengths", "severity"), [((952,), "info"), ((1448, 1448), "warning")])
def test_below_a_thousandth_of_the_payload_is_info(tmp_path: Path, lengths: tuple[int, ...],
                                                   severity: str) -> None:
    source = NDMJOB / "v4-backup.pcap"  # 2,037,760 bytes of backup data in tcp.stream 1
    data = _data_frames(source, 1)[5:]
    removed: list[tuple[int, int]] = []
    for length in lengths:
        removed.append(next((f, n) for f, n in data if n == length
                            and all(abs(f - r) > 4 for r, _ in removed)))
    lossy = _remove(source, [f for f, _ in removed], tmp_path, "lossy.pcap")
    analysis = _analysis(lossy, NDMJOB / "flowcheck.toml")
    finding = _loss(analysis)
    assert finding is not None and str(finding.severity) == severity
    missed = sum(n for _, n in removed)
    assert f"{missed:,} B" in finding.message
    seen = sum(c.orig_bytes + c.resp_bytes for c in analysis.traffic.connections)
    assert (missed / (missed + seen) > 0.001) == (severity == "warning")
    assert analysis.verdict == "pass"


def test_fast_path_counts_loss_as_the_slow_path(tmp_path: Path) -> None:
    from test_tshark_counts import track

    source = LAB / "concurrent-jobs.pcap"
    lossy = _remove(source, list(range(40, 400, 37)), tmp_path, "lossy.pcap")
    fast = track(lossy, fast=True)
    assert sum(c.gaps for c in fast) >= 5
    assert fast == track(lossy, fast=False)


def test_loss_free_captures_have_no_capture_loss() -> None:
    from test_tshark_counts import CAPTURES, shared_track

    # The gaps some hold (a path MTU black hole seen from the receiver) are the
    # network's: the receiver's ACKs never covered them (SideEvidence.lost). Those of a
    # capture filtered by packet kind (captures/ndmjob-filtered-packets) are the
    # filter's: kept_packets tells them, and capture_loss leaves them out.
    # captures/ndmjob-sniffloss holds the sniffer's loss on purpose (frames removed), as
    # does captures/nu64 (editcap cuts, and a router's capture with most packets dropped
    # by the kernel), and captures/review54f's scapy-built bulk flows 2% of their
    # segments left out.
    # A link down mid-transfer (field check 37c) leaves a gap the receiver reset before
    # any ACK could place it: the network's, which the capture cannot tell from the
    # sniffer's (analyze reports no capture_loss for it: the data_reset explains it).
    network_gap = {"router-link-down-media.pcap.gz"}
    # Lab matrix runs of the "loss" form: frames removed on purpose (field38-matrix;
    # field46-matrix: 0.5% of the frames; field48-matrix: the reply to a DATA_LISTEN, or
    # to a CONFIG_GET_HOST_INFO; field50-matrix: 1.93% of a TLS job's frames;
    # field47-tls-matrix: 1.49% of a TLS job's frames, its agent killed; field60-matrix:
    # 1.92% of two jobs' frames; field75-matrix: 1.25% of two IPv6 restores' frames;
    # field78-matrix: 0.9% of a dual-stack job's frames).
    sniffer_loss = {"agent-killed-loss-before-start.pcap.gz",
                    "two-jobs-callback-syns-dropped-by-media-captured-on-agent-sniffer-loss"
                    ".pcap.gz",
                    "data-port-in-use-dual-stack.pcap",
                    "lost-listen-reply-data-refused.pcap.gz",
                    "lost-host-info-reply-callback-dropped.pcap.gz",
                    "two-tls-start-jobs-callback-ack-dropped-sniffer-loss.pcap.gz",
                    "agent-killed-tls-loss.pcap.gz",
                    "ipv6-two-jobs-routed-callback-synacks-dropped-by-media-out-router-loss"
                    ".pcapng.gz",
                    "dual-data-synacks-dropped-by-agent-output-media-sll2-loss.pcap.gz"}
    on_purpose = {"ndmjob-sniffloss", "review54f", "nu64"}
    for path in (p for p in CAPTURES if p.parent.name not in on_purpose
                 and p.name not in network_gap | sniffer_loss):
        connections = shared_track(path)  # read only: kept_packets and the sums read it
        if kept_packets(connections).shape is not None:
            # Its sidecar's analysis: the run's one (stored.shared_analysis), read only.
            assert _loss(shared_analysis(path)) is None, path
            continue
        assert all((c.sniffer_missed, c.gaps - c.lost_gaps) == (0, 0)
                   for c in connections), path
    clean = LAB / "clean-3-resources.pcap"
    assert _tshark_expert(clean, 2) == ([], [])
    assert _loss(_analysis(clean, LAB / "clean-3-resources.toml")) is None


def test_acks_beyond_the_data_seen(tmp_path: Path) -> None:
    from test_connections_states import ACK, FIN, PSH, handshake, one, pkt

    def data(seq: int) -> bytes:
        return pkt(True, PSH | ACK, seq, 901, data=100)

    # The receiver ACKs 101-300; the capture holds 101-200 only: 100 bytes, one gap,
    # evidenced by the ACK (frame 5).
    c = one(tmp_path, [*handshake(), data(101), pkt(False, ACK, 901, 301)])
    assert (c.missed_bytes, c.gaps, c.gap_frames) == (100, 1, [5])
    # The FIN takes one sequence number: its ACK is no loss.
    c = one(tmp_path, [*handshake(), data(101), pkt(True, FIN | ACK, 201, 901),
                       pkt(False, ACK, 901, 202)])
    assert (c.missed_bytes, c.gaps) == (0, 0)
    # A capture started mid-connection: ACKs before the sender's first byte seen are of
    # data sent before the capture, not lost by it.
    c = one(tmp_path, [pkt(False, ACK, 901, 5000), data(5000), pkt(False, ACK, 901, 5100)])
    assert (c.missed_bytes, c.gaps) == (0, 0)
    # A gap later filled (reordering, a retransmission the capture saw) is not missed,
    # nor a gap in the capture: no G (as Zeek's history has no content gap then).
    c = one(tmp_path, [*handshake(), data(101), data(301), data(201),
                       pkt(False, ACK, 901, 401)])
    assert (c.missed_bytes, c.gaps, c.history) == (0, 0, "ShADa")
    # One side's gap filled, the other's not: the letter of the side with a gap stays.
    c = one(tmp_path, [*handshake(), data(101), data(301), data(201),
                       pkt(False, PSH | ACK, 901, 401, data=100),
                       pkt(False, PSH | ACK, 1101, 401, data=100)])
    assert (c.missed_bytes, c.gaps) == (100, 1) and "G" not in c.history
    assert "g" in c.history


def test_data_on_a_syn_is_no_gap(tmp_path: Path) -> None:
    """TCP Fast Open: the SYN's payload takes the sequence numbers after the SYN's own
    (tshark flags nothing; a 4-byte gap was counted before, as in tcpdump's
    tfo-5c1fa7f9ae91.pcap test capture)."""
    from test_connections_states import ACK, FIN, PSH, SYN, one, pkt

    c = one(tmp_path, [pkt(True, SYN, 100, data=4), pkt(False, SYN | ACK, 900, 105),
                       pkt(True, PSH | ACK, 105, 901, data=10), pkt(True, FIN | ACK, 115, 901),
                       pkt(False, ACK, 901, 116)])
    assert (c.missed_bytes, c.gaps, c.history) == (0, 0, "SDhFa")


def test_acks_for_gigabytes_never_seen_add_up(tmp_path: Path) -> None:
    """Each ACK unwraps against the previous one, so 5 GiB ACKed past the SYN (sequence
    numbers wrapped once) count as 5 GiB, not modulo 2**32."""
    from test_connections_states import ACK, handshake, one, pkt

    gib = 1 << 30
    acks = [pkt(False, ACK, 901, 101 + k * gib) for k in range(1, 6)]
    c = one(tmp_path, [*handshake(), *acks])
    assert (c.missed_bytes, c.gaps, c.gap_frames) == (5 * gib, 1, [8])


def test_announcement_replies_lost_by_the_sniffer_are_not_a_capture_that_ended(
        tmp_path: Path) -> None:
    """The three DATA_LISTEN replies of clean-3-resources removed (sniffer loss): the
    session went on (later replies, CONNECT_CLOSE, FINs), so "the capture ended 0.056 s
    after" the last request (a new-user trial) was false. The data connections, matched
    by direction and ports, carried the data: the announcements reached the media server
    (step 3 ok, new-user trial 54), the addresses announced unchecked (no DATA_GET_STATE reply
    names them), no word of an end."""
    lab = NDMJOB.parent / "lab"
    source = lab / "clean-3-resources.pcap"
    replies = [frame for (frame,) in tshark_fork.fields(
        source, "ndmp.msg==0x409 && ndmp.msg_type==1", "frame.number")]
    assert len(replies) == 3
    lossy = tmp_path / "no-replies.pcap"
    subprocess.run(["editcap", str(source), str(lossy), *replies], check=True,
                   capture_output=True)
    config = build_config(load_file(lab / "clean-3-resources.toml"))
    analysis = analyze(read_traffic([str(lossy)], config), config)
    codes = {f.code for f in analysis.findings}
    assert "capture_ended_early" not in codes and "capture_loss" in codes
    steps = analysis.sessions[0].steps
    assert [s.status for s in steps] == ["ok"] * 5
    assert "the capture ended" not in steps[2].detail
    assert "whether it named the address C3, C4, C5 reached cannot be checked" in " ".join(
        steps[2].detail.split())
    assert analysis.verdict == "pass"  # capture_loss says what the capture lacks


def test_live_loss_with_kernel_drops_says_the_bytes_are_a_floor(tmp_path: Path) -> None:
    """Trial 15 D4: beside "273 packets dropped by the kernel (79.1%)" the byte share
    read "0.13% of the 21,832 bytes sent" (a transfer's lost tail leaves no gap), and
    the fix told live's user to run tcpdump -B, which live does not take."""
    from flowcheck.verify.loss import check_capture_loss

    source = LAB / "clean-3-resources.pcap"
    data = _data_frames(source, 2)
    lossy = _remove(source, [data[10][0]], tmp_path, "one-lost.pcap")
    analysis = _analysis(lossy, LAB / "clean-3-resources.toml")
    [capture] = analysis.traffic.captures
    capture.kernel_dropped, capture.sniffer, capture.buffer_mib = 900, "tcpdump", 32
    [finding] = check_capture_loss(analysis.traffic.connections, [capture])
    assert "bytes sent)" not in finding.message
    assert ("B, the TCP payload of every packet captured (resends included, as tshark "
            "sums it) and the bytes missed") in finding.message
    assert "900 packets dropped by the kernel" in finding.message
    assert "more payload may be missing than the bytes above" in finding.message
    assert "--buffer" in finding.fix and "than the 32 MiB it had" in finding.fix
    assert "--capture-filter 'host " in finding.fix and "tcpdump -B 65536 -w" in finding.fix
