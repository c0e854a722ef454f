"""Field check 51's lab matrix (captures/field51-matrix, README.md there), seed 114
without the newer axes: runs the judge found right whose words, read by hand against
tshark, were not.

Seed 114 runs 0 and 1: a control connection or callback captured one way (`tcpdump -Q
out` / `-Q in` on the media server). The side never captured is known only from the
other side's ACKs, which count that side's FIN as one byte: an agent that sent 344 B
and closed is acknowledged up to 345. The receiver's own FIN and its ACK one past its
level before prove the sender's FIN (connections.accounting.fin_proved_unseen), so the
words give the bytes and the FIN apart.

Seed 114 run 32: a restore's data connection whose ACK and data the agent's input chain
dropped (handshake_incomplete). The media server sent 15,928 B once and resent its
oldest 1,448 B segment 7 times; the message's byte count (Connection.sent_once, which
counts a resend again: it crossed the wire twice) read as 26,064 B of data beside "(7
resends)".

Seed 114 runs 2 and 19: ndmp_partial counted every cut packet, a capture copy (both
hosts merged: each packet twice) or a resend of bytes already taken among them, beside
bytes counted once: "18 packets, 206 bytes not captured" of 9 packets, "9 packets, 30
bytes" of one segment resent 8 times.

A run written by hand (NDMP v2, which the matrix does not draw): ndmjob's v2 backup
whose data SYN the media server reset, captured on the agent's packets only. v2's
DATA_START_BACKUP carries the mover's address and the data server connects before it
replies; its UNDEFINED_ERR right after the data SYN read only "check the backup type
and environment".
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import tshark_fork

from flowcheck.config import Config, build_config, load_file
from flowcheck.pipeline import Traffic, analyze, read_traffic

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "captures" / "field51-matrix"
CLEAN_IN = CASES / "clean-restore-routed-captured-in-on-media"
CALLBACK_OUT = CASES / "restore-callback-dropped-routed-captured-out-on-media"
ACK_DROPPED = CASES / "data-ack-dropped-by-agent-routed-restore"
MERGED_SNAP = CASES / "callback-rejected-by-router-both-hosts-snap96"
RESENT_SNAP = CASES / "control-acks-dropped-by-media-snap96"
V2_START = CASES / "ndmjob-v2-data-reset-captured-out-on-agent"


def _read(case: Path) -> tuple[Traffic, Config]:
    config = build_config(load_file(case.with_suffix(".toml")))
    return read_traffic([str(case.with_name(case.name + ".pcap.gz"))], config), config


def _tcp_facts(traffic: Traffic, port: int) -> tuple[int, int, bool]:
    """(the bytes the other side's ACKs acknowledge of the side the capture holds no
    packet of, payload bytes of them, FIN proved) of the connection with `port`."""
    [conn] = [c for c in traffic.connections if port in (c.orig_p, c.resp_p)]
    side = "resp" if conn.orig_pkts else "orig"
    acked = conn.orig_acked_unseen if side == "orig" else conn.resp_acked_unseen
    return acked, conn.acked_unseen_split(side)[0], conn.acked_unseen_split(side)[1]


def test_an_unseen_sides_fin_is_not_counted_as_a_byte_in_step_details() -> None:
    traffic, config = _read(CLEAN_IN)
    # The capture's facts (tshark: the agent's last ACK of the control connection 842,
    # 841 before its own FIN; of the callback 2 after its FIN, 1 before).
    assert _tcp_facts(traffic, 10000) == (841, 840, True)
    assert _tcp_facts(traffic, 6041) == (1, 0, True)
    analysis = analyze(traffic, config)
    assert analysis.verdict == "pass"
    steps = analysis.sessions[0].steps
    assert "media server -> agent not captured (840 B of it acknowledged, and its FIN)" \
        in steps[0].detail
    assert "media server -> agent not captured (its FIN acknowledged)" in steps[1].detail
    assert "1 B of it acknowledged" not in steps[1].detail


def test_a_one_way_control_connections_kind_counts_the_unseen_fin_apart() -> None:
    traffic, config = _read(CALLBACK_OUT)
    assert _tcp_facts(traffic, 10000) == (345, 344, True)
    analysis = analyze(traffic, config)
    assert analysis.verdict == "fail"
    session = analysis.sessions[0]
    assert session.kind_unknown
    assert ("nothing from 10.77.1.2 to 10.77.0.1, though 10.77.0.1 acknowledged 344 B of "
            "it and its FIN)") in session.kind_unknown_why
    assert "agent -> media server not captured (344 B of it acknowledged, and its FIN)" \
        in session.steps[0].detail


@pytest.mark.parametrize("case", [CLEAN_IN, CALLBACK_OUT])
def test_the_fin_is_not_claimed_without_the_receivers_own_fin(case: Path) -> None:
    """Negative control: a side whose ACKed count the receiver's FIN does not end (the
    same connections with the receiver's FIN unproved) keeps its whole count."""
    traffic, _ = _read(case)
    [control] = [c for c in traffic.connections if c.resp_p == 10000]
    control.orig_fin_unseen = control.resp_fin_unseen = False
    for side in ("orig", "resp"):
        acked = control.orig_acked_unseen if side == "orig" else control.resp_acked_unseen
        assert control.acked_unseen_split(side) == (acked, False)


def test_bytes_never_acknowledged_say_their_resends_are_counted_in() -> None:
    traffic, config = _read(ACK_DROPPED)
    [data] = [c for c in traffic.connections if c.resp_p == 6001]
    # The capture's facts (tshark: 11 new segments, 15928 B, then 7 resends of 1448 B).
    assert (data.sent_once("orig"), data.evidence("orig").resends) == (26064, 7)
    assert data.evidence("orig").resent_len == 1448
    analysis = analyze(traffic, config)
    [finding] = [f for f in analysis.findings if f.code == "handshake_incomplete"]
    assert ("; the 26,064 B 10.77.0.1 sent after it, its 7 resends included, were never "
            "acknowledged.") in finding.message
    assert "acknowledged (7 resends)" not in finding.message


def _partial(case: Path) -> str:
    traffic, config = _read(case)
    analysis = analyze(traffic, config)
    [finding] = [f for f in analysis.findings if f.code == "ndmp_partial"]
    return finding.message


def test_snap_cut_packets_are_counted_once_as_their_bytes_are() -> None:
    if shutil.which("tshark"):
        # The wire's facts: 18 control packets cut, 9 (IP ID, sequence) pairs twice,
        # their missing payload bytes 206 counted once.
        cut = [tuple(row) for row in tshark_fork.fields(
            MERGED_SNAP.with_name(MERGED_SNAP.name + ".pcap.gz"),
            "tcp.port == 10000 and frame.cap_len < frame.len",
            "ip.id", "tcp.seq_raw", "frame.len", "frame.cap_len")]
        assert len(cut) == 18 and len(set(cut)) == 9
        assert sum(int(wire) - int(kept) for _, _, wire, kept in set(cut)) == 206
    message = _partial(MERGED_SNAP)
    assert "(9 packets, 206 B not captured). 9 NDMP message(s)" in message
    assert "18 packets" not in message


def test_a_resent_cut_segment_is_one_packet_of_the_stream() -> None:
    traffic, _ = _read(RESENT_SNAP)
    [control] = [c for c in traffic.connections if c.resp_p == 10000]
    assert control.evidence("resp").resends == 8
    message = _partial(RESENT_SNAP)
    assert "(1 packet, 30 B not captured)" in message


def test_a_v2_start_refused_names_the_connect_it_carries() -> None:
    traffic, config = _read(V2_START)
    [data] = [c for c in traffic.connections if c.orig_h == "10.77.0.2" and c.resp_p != 10000]
    assert (data.orig_pkts, data.resp_pkts) == (1, 0)  # its SYN, no answer captured
    analysis = analyze(traffic, config)
    assert analysis.sessions[0].version == 2
    [finding] = [f for f in analysis.findings
                 if f.code == "ndmp_error_reply" and str(f.severity) == "error"]
    assert finding.message.startswith("DATA_START_BACKUP was answered UNDEFINED_ERR")
    assert finding.fix.startswith(
        "NDMP v2's DATA_START_BACKUP carries the mover's address and the agent on 10.77.0.2 "
        "connects to it before it replies, so the error may be that connection's: allow TCP "
        "between 10.77.0.1 and 10.77.0.2 on 5001-5100 (media range)")
    assert "check the backup type and environment" in finding.fix


def test_a_v2_start_refused_after_its_connect_opened_is_not_sent_to_the_firewall(
        tmp_path: Path) -> None:
    """ndmjob's v2 backup with its DATA_START_BACKUP reply made ILLEGAL_ARGS_ERR (the
    backup type refused): the agent's connection to the mover's address opened before it
    in the capture (frames 12-14), so the connect worked and the error is not its; the fix
    is the agent's (second read: it read "the error may be that connection's: allow TCP
    ...")."""
    import struct

    source = ROOT / "captures" / "ndmjob" / "v2-backup.pcap"
    data = bytearray(source.read_bytes())
    at, frame = 24, 0
    while at < len(data):
        incl = struct.unpack_from("<I", data, at + 8)[0]
        frame += 1
        if frame == 15:  # the DATA_START_BACKUP reply: its body's error, the last 4 bytes
            end = at + 16 + incl
            assert data[end - 4:end] == b"\0\0\0\0"
            data[end - 4:end] = struct.pack("!I", 9)  # NDMP_ILLEGAL_ARGS_ERR
        at += 16 + incl
    capture = tmp_path / "v2-start-refused.pcap"
    capture.write_bytes(bytes(data))
    config = build_config(load_file(source.with_name("flowcheck.toml")))
    traffic = read_traffic([str(capture)], config)
    [data_conn] = [c for c in traffic.connections if c.resp_p == 5002]
    assert data_conn.established  # the connect the start carried worked
    analysis = analyze(traffic, config)
    [finding] = [f for f in analysis.findings
                 if f.code == "ndmp_error_reply" and str(f.severity) == "error"]
    assert finding.message.startswith("DATA_START_BACKUP was answered ILLEGAL_ARGS_ERR")
    assert "connects to it before it replies" not in finding.fix
    assert finding.fix.startswith("The agent on 10.77.0.2 would not start the operation: "
                                  "check the backup type and environment")
