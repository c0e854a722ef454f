"""flowcheck's NDMP messages against Wireshark's dissector (tshark), on every capture."""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
from stored import default_traffic
from test_tshark_counts import IN_TIME_ORDER
from tshark_tcp import tcp_fields

from flowcheck.config import Config, build_config
from flowcheck.model import Connection, NdmpMessage, NdmpStream
from flowcheck.ndmp.crosscheck import (
    TSHARK_KNOWN_CODES,
    TSHARK_MAX_CODE,
    TSHARK_MAX_ERROR,
    TSHARK_MAX_TIME,
    TSHARK_MIN_TIME,
)

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
PORT_10500 = CAPTURES / "ndmjob-lab" / "v4-backup-port-10500.pcap"


def _replay_with_dpkt(path: Path, ndmp_port: int) -> tuple[list[NdmpStream], list[Connection]]:
    """A minimal stand-in for the capture engine (Ethernet/IPv4 pcap only)."""
    import dpkt

    from flowcheck.ndmp import NdmpCollector, looks_like_ndmp

    collector = NdmpCollector()
    connections: dict[tuple, Connection] = {}
    tapped: dict[str, bool | None] = {}
    with path.open("rb") as handle:
        for frame, (ts, data) in enumerate(dpkt.pcap.Reader(handle), 1):
            packet = dpkt.ethernet.Ethernet(data).data
            if not isinstance(packet, dpkt.ip.IP) or not isinstance(packet.data, dpkt.tcp.TCP):
                continue
            tcp = packet.data
            src = (socket.inet_ntoa(packet.src), tcp.sport)
            dst = (socket.inet_ntoa(packet.dst), tcp.dport)
            conn = connections.get((src, dst)) or connections.get((dst, src))
            if conn is None:
                conn = Connection(f"C{len(connections)}", *src, *dst, ts=ts)
                connections[(src, dst)] = conn
                tapped[conn.uid] = ndmp_port in (tcp.sport, tcp.dport) or None
            direction = "orig" if (conn.orig_h, conn.orig_p) == src else "resp"
            if tapped[conn.uid] is None and tcp.data:
                tapped[conn.uid] = looks_like_ndmp(bytes(tcp.data))
            if tapped[conn.uid] is not False:
                collector.segment(conn.uid, direction, tcp.seq, tcp.flags, bytes(tcp.data),
                                  frame, ts)
    return collector.streams(), list(connections.values())


def decode_with_connections(path: Path, ndmp_port: int, *, stored: bool = False,
                            ) -> tuple[list[NdmpStream], list[Connection]]:
    """Through the real pipeline (read_traffic) once the capture engine is importable.
    stored: `path` is a stored capture and ndmp_port the default, so the run's one read
    of it with the defaults is this one (stored.default_traffic, which
    test_report_json_text analyses)."""
    if os.environ.get("FLOWCHECK_TEST_NDMP_REPLAY"):  # isolate the decoder from the engine
        return _replay_with_dpkt(path, ndmp_port)
    try:
        from flowcheck.connections import track_connections  # noqa: F401
    except ImportError:
        return _replay_with_dpkt(path, ndmp_port)
    from flowcheck.pipeline import read_traffic

    if stored:
        assert Config(ndmp_port=ndmp_port) == build_config({}), ndmp_port
        traffic = default_traffic(path)
    else:
        traffic = read_traffic([str(path)], Config(ndmp_port=ndmp_port))
    # With the second views of connections kept once (the far side of a NAT, a tunnel's
    # copy), which tshark decodes as well: with a static NAT that keeps the ports, both
    # views' messages share tshark's (ports, sequence) key.
    return (traffic.streams + traffic.folded_streams,
            traffic.connections + traffic.folded)


def decode_capture(path: Path, ndmp_port: int) -> list[NdmpStream]:
    return decode_with_connections(path, ndmp_port)[0]


@dataclass
class TsharkLine:
    frame: int
    src_port: int
    dst_port: int
    sequences: list[int]
    codes: list[int]
    types: list[int]
    reply_sequences: list[int]
    errors: list[int]
    ips: list[str]
    ports: list[int]


def _ints(text: str) -> list[int]:
    return [int(v, 0) for v in text.split(",") if v]


def tshark_lines(path: Path, out_of_order: bool = False) -> list[TsharkLine]:
    """The frames in which tshark decodes NDMP messages, from the tshark run the
    connection-count tests share (tshark_tcp: desegmentation on, X11 off). out_of_order:
    tshark's tcp.reassemble_out_of_order, for captures whose holes were all resent later
    (flowcheck.ndmp.crosscheck)."""
    names = ["tcp.srcport", "tcp.dstport", "ndmp.sequence", "ndmp.msg", "ndmp.msg_type",
             "ndmp.reply_sequence", "ndmp.error", "ndmp.addr.ip", "ndmp.addr.tcp_port"]
    output = tcp_fields(path, names, out_of_order=out_of_order)
    lines = []
    for frame, row in enumerate(output.splitlines(), start=1):
        cols = row.split("\t")
        if not cols[2]:
            continue  # no NDMP message decoded in this frame (as `-Y ndmp.sequence`)
        lines.append(TsharkLine(frame, int(cols[0]), int(cols[1]), _ints(cols[2]),
                                _ints(cols[3]), _ints(cols[4]), _ints(cols[5]),
                                _ints(cols[6]), [v for v in cols[7].split(",") if v],
                                _ints(cols[8])))
    return lines


def ndmp_captures() -> list[Path]:
    return sorted(p for p in CAPTURES.rglob("*") if p.suffix in (".pcap", ".pcapng", ".gz"))


# pcapng files of several interfaces holding each packet on two of them (a router's two
# sides: test_tshark_counts.IN_TIME_ORDER, one list for every tshark comparison), one
# interface's packets in blocks: tshark decodes a message at its copy first in the file,
# flowcheck at the first in time, which the file may hold later (frame 27 against
# tshark's 4).
COPIES_FIRST_IN_FILE = {path.removeprefix("captures/") for path in IN_TIME_ORDER}

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark missing")


@needs_tshark
@pytest.mark.parametrize("path", ndmp_captures(), ids=lambda p: str(p.relative_to(CAPTURES)))
def test_messages_agree_with_tshark(path: Path) -> None:
    rel = str(path.relative_to(CAPTURES))
    streams, connections = decode_with_connections(path, 10000, stored=True)
    by_uid = {c.uid: c for c in connections}
    complete = not any(by_uid[s.uid].missed_bytes or s.snap_cut for s in streams)
    theirs = tshark_lines(path, out_of_order=complete)
    if not theirs:
        # No NDMP on port 10000 for tshark (control refused or dropped, or NDMP on
        # another port): flowcheck must not find any there either, but for messages
        # tshark's limits drop: a header whose error word the snap length cut
        # (field70-matrix's 24 B of payload kept) names its message to flowcheck, while
        # tshark 4.x decodes none of that capture's (no whole header in any packet).
        on_port = [s for s in streams if 10000 in (by_uid[s.uid].orig_p, by_uid[s.uid].resp_p)]
        assert all(tshark_skips(m) for s in on_port for m in s.messages)
        return
    # By ports, sequence and type; a night of jobs reuses a port pair for a later control
    # connection, whose messages start their sequences again: several candidates then,
    # the latest one that began at or before tshark's frame is the one it decoded.
    ours: dict[tuple, list] = {}
    for stream in streams:
        conn = by_uid[stream.uid]
        for message in stream.messages:
            src, dst = ((conn.orig_p, conn.resp_p) if message.direction == "orig"
                        else (conn.resp_p, conn.orig_p))
            key = (src, dst, message.sequence, message.type == "reply")
            ours.setdefault(key, []).append((stream, message))
    compared: set[int] = set()  # id() of our messages tshark also decodes
    for line in theirs:
        single = len(line.sequences) == 1
        for index, sequence in enumerate(line.sequences):
            key = (line.src_port, line.dst_port, sequence, line.types[index] == 1)
            assert key in ours, f"frame {line.frame}: tshark decodes a message we miss"
            earlier = [c for c in ours[key] if c[1].frame <= line.frame]
            stream, message = (max(earlier, key=lambda c: c[1].frame) if earlier
                               else ours[key][0])
            assert message.code == line.codes[index]
            if rel not in COPIES_FIRST_IN_FILE:
                assert message.frame <= line.frame  # ours: first byte; tshark: last segment
            if message.type == "reply":
                assert message.reply_sequence == line.reply_sequences[index]
            compared.add(id(message))
            if not single:
                continue  # tshark joins several messages' errors and addresses in one list
            assert message.header_error == line.errors[0]
            if stream.version == 2:
                continue  # tshark reads v2 bodies with the v3 layout (see crosscheck)
            if stream.version_source != "connect_open" and stream.version not in (None, 4):
                continue  # no CONNECT_OPEN settled it: tshark reads v4 (see crosscheck)
            if message.code not in TSHARK_KNOWN_CODES:
                continue  # tshark decodes no body of a message it has no entry for
            body_errors = line.errors[1:]
            if message.type == "reply" and message.body_error is not None:
                assert body_errors == [message.body_error]
            assert sorted((a.ip, a.port) for a in message.addresses) == sorted(
                zip(line.ips, line.ports, strict=True))
    # Every message on port 10000 except those tshark's documented limits drop (it may
    # still decode the header of a message the snap length cut).
    expected = [m for s in streams if 10000 in (by_uid[s.uid].orig_p, by_uid[s.uid].resp_p)
                for m in s.messages if not tshark_skips(m)]
    assert all(id(m) in compared for m in expected)


def tshark_skips(message: NdmpMessage) -> bool:
    stamp = message.body.get("time_stamp", TSHARK_MIN_TIME)
    return (message.code > TSHARK_MAX_CODE or message.header_error > TSHARK_MAX_ERROR
            or not TSHARK_MIN_TIME <= stamp < TSHARK_MAX_TIME or message.partial)


@needs_tshark
@pytest.mark.skipif(not PORT_10500.exists(), reason="lab capture on port 10500 not made yet")
def test_nonstandard_port_decoded_by_us_not_by_tshark() -> None:
    assert tshark_lines(PORT_10500, out_of_order=True) == []
    for port in (10500, 10000):  # 10000: found by looks_like_ndmp on NOTIFY_CONNECTED
        streams = decode_capture(PORT_10500, port)
        names = [m.name for s in streams for m in s.messages]
        assert "NDMP_CONNECT_OPEN" in names and "NDMP_NOTIFY_CONNECTED" in names
        assert any(s.announcements for s in streams)
