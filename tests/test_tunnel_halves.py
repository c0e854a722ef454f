"""Each direction of a connection in a tunnel of its own (trial 22, D5): one connection.

ERSPAN from two switches (each mirrors its host's port to one collector: the media
server's packets come from one switch, the agent's from the other) and VXLAN with an
asymmetric return VTEP (EVPN, a host behind a vPC/MLAG pair answering from the anycast
VTEP) put the two directions of every connection in two tunnels whose outer addresses
differ. tshark keys a tcp.stream on the inner 4-tuple and sees one connection; flowcheck
split each in two half-connections, and a clean job failed with step_missing. Built from
stored lab captures: every frame wrapped by its inner source, as the trial's encap.py
did; the verdicts, findings and connections must be the plain capture's.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest
from stored import shared_analysis
from test_connections_util import (
    SYN,
    ethernet,
    internet_checksum,
    ipv4,
    read_batches,
    tcp,
    tracked_records,
    write_pcap,
)
from test_tcpdump_corpus import _parse, _tshark, ours

from flowcheck.config import build_config, load_file
from flowcheck.connections import ConnectionTracker
from flowcheck.pipeline import Analysis, analyze, read_traffic

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "captures" / "lab"
MEDIA = socket.inet_aton("10.77.0.1")  # the lab's media server
A, B = "10.77.0.1", "10.77.0.2"
RECORD = struct.Struct("<IIII")
OUTER_MACS = bytes.fromhex("020000aa0001" "020000bb0002")


def _ipv4(proto: int, payload: bytes, src: str, dst: str, ident: int) -> bytes:
    header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF,
                                   0x4000, 64, proto, 0, socket.inet_aton(src),
                                   socket.inet_aton(dst)))
    struct.pack_into("!H", header, 10, internet_checksum(bytes(header)))
    return OUTER_MACS + b"\x08\x00" + bytes(header) + payload


def erspan_by_switch(frame: bytes, index: int) -> bytes:
    """ERSPAN II to the collector 10.9.0.2: the media server's packets from switch
    10.9.0.1 (session 77), the agent's from switch 10.9.0.3 (session 78)."""
    media = frame[26:30] == MEDIA
    switch, session = ("10.9.0.1", 77) if media else ("10.9.0.3", 78)
    gre = struct.pack("!HHI", 0x1000, 0x88BE, index)
    erspan = struct.pack("!HHI", 0x1000, (3 << 11) | session, 0)
    return _ipv4(47, gre + erspan + frame, switch, "10.9.0.2", index)


def vxlan_asymmetric(frame: bytes, index: int) -> bytes:
    """VXLAN: the media server's packets 10.1.1.1 -> 10.1.1.2, the agent's answered
    from the anycast VTEP 10.1.1.12 -> 10.1.1.1."""
    src, dst = ("10.1.1.1", "10.1.1.2") if frame[26:30] == MEDIA else ("10.1.1.12", "10.1.1.1")
    body = struct.pack("!II", 0x08000000, 5001 << 8) + frame
    udp = struct.pack("!HHHH", 49152 + index % 1000, 4789, 8 + len(body), 0) + body
    return _ipv4(17, udp, src, dst, index)


def local_span_and_erspan(frame: bytes, index: int) -> bytes:
    """One collector NIC fed by a local SPAN of the media server's switch port (its
    packets plain) and an ERSPAN II session from the agent's remote switch 10.9.0.3
    (the agent's packets): each direction of every connection arrives differently."""
    return frame if frame[26:30] == MEDIA else erspan_by_switch(frame, index)


def wrap(source: Path, target: Path, how) -> Path:  # noqa: ANN001 - one of the two above
    """Every frame of a little-endian microsecond Ethernet pcap wrapped by `how`."""
    data = source.read_bytes()
    out = [data[:16] + struct.pack("<I", 262144) + data[20:24]]
    at, index = 24, 0
    while at + 16 <= len(data):
        sec, usec, caplen, wirelen = RECORD.unpack_from(data, at)
        frame = data[at + 16:at + 16 + caplen]
        at += 16 + caplen
        index += 1
        wrapped = how(frame, index)
        out.append(RECORD.pack(sec, usec, len(wrapped), wirelen - caplen + len(wrapped))
                   + wrapped)
    target.write_bytes(b"".join(out))
    return target


def _analyze(name: str, path: Path) -> Analysis:
    """`path` analysed with the lab case NAME's configuration (LAB/NAME.toml). The plain
    captures' analyses are the run's shared ones (stored.shared_analysis: the same
    configuration, read only), not made again by each case."""
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def _codes(analysis: Analysis) -> list[str]:
    return sorted(f.code for f in analysis.findings)


def _counts(analysis: Analysis) -> list[tuple]:
    return [(c.orig_h, c.orig_p, c.resp_h, c.resp_p, c.first_frame, c.orig_pkts, c.resp_pkts,
             c.orig_bytes, c.resp_bytes, c.history, c.conn_state, c.role, c.session)
            for c in analysis.traffic.connections]


@pytest.mark.parametrize("how", [erspan_by_switch, vxlan_asymmetric])
@pytest.mark.parametrize("name", ["clean-3-resources", "callback-rejected", "data-port-in-use",
                                  "callback-blocked", "data-port-dropped"])
def test_each_direction_in_its_own_tunnel_is_one_connection(tmp_path: Path, name: str,
                                                            how) -> None:  # noqa: ANN001
    plain = shared_analysis(LAB / f"{name}.pcap")  # read only
    split = _analyze(name, wrap(LAB / f"{name}.pcap", tmp_path / "split.pcap", how))
    assert split.verdict == plain.verdict
    assert len(split.sessions) == len(plain.sessions)
    assert _codes(split) == _codes(plain)
    assert _counts(split) == _counts(plain)
    # Named by the tunnel of the connection's first packet: the media server's side.
    first = "erspan2 10.9.0.1 10.9.0.2" if how is erspan_by_switch else "vxlan 10.1.1.1 10.1.1.2"
    assert split.traffic.connections[0].tunnel == first


def test_callback_refused_by_icmp_in_the_other_tunnel(tmp_path: Path) -> None:
    """The agent's callback SYN comes from one switch, the media server's ICMP reject
    from the other: the reject still answers the SYN (callback_refused, not
    callback_unanswered)."""
    name = "callback-rejected"
    split = _analyze(name, wrap(LAB / f"{name}.pcap", tmp_path / "split.pcap", erspan_by_switch))
    assert "callback_refused" in _codes(split)
    assert "callback_unanswered" not in _codes(split)
    [callback] = [c for c in split.traffic.connections if c.role == "callback"]
    assert len(callback.icmp_frames) >= 1


@pytest.mark.parametrize("how", [erspan_by_switch, vxlan_asymmetric])
def test_split_tunnels_equal_tsharks_streams(tmp_path: Path, how) -> None:  # noqa: ANN001
    path = wrap(LAB / "clean-3-resources.pcap", tmp_path / "split.pcap", how)
    assert ours(path) == _parse(_tshark(path))[0].streams



# One packet a batch on the short capture only: on the job's (644 batches a path, most
# of this test's time) it walked no branch of flowcheck the other cases do not (branch
# coverage over every case, session 48).
@pytest.mark.parametrize(("name", "chunk"), [
    ("clean-3-resources", 3), ("clean-3-resources", 64), ("callback-rejected", 1),
    ("callback-rejected", 3), ("callback-rejected", 64)])
def test_halves_met_across_batches_and_on_the_reference_path(tmp_path: Path, name: str,
                                                             chunk: int) -> None:
    """Each half's first packet in another batch, and every packet one at a time."""
    split = wrap(LAB / f"{name}.pcap", tmp_path / "split.pcap", erspan_by_switch)
    plain = tracked_records(LAB / f"{name}.pcap", 1 << 20)
    assert tracked_records(split, chunk) == plain
    assert tracked_records(split, chunk, fast=False) == plain


def test_two_mirror_sessions_of_the_whole_connection_stay_copies(tmp_path: Path) -> None:
    """Both switches mirror both directions: each tunnel holds the whole connection, so
    the two are copies (capture_duplicates, judged once), not halves to join."""
    name = "data-port-dropped"
    data = (LAB / f"{name}.pcap").read_bytes()
    out = [data[:16] + struct.pack("<I", 262144) + data[20:24]]
    at, index = 24, 0
    while at + 16 <= len(data):
        sec, usec, caplen, wirelen = RECORD.unpack_from(data, at)
        frame = data[at + 16:at + 16 + caplen]
        at += 16 + caplen
        for switch, lag in (("10.9.0.1", 0), ("10.9.0.3", 20)):  # the far switch 20 us later
            index += 1
            gre = struct.pack("!HHI", 0x1000, 0x88BE, index)
            wrapped = _ipv4(47, gre + struct.pack("!HHI", 0x1000, 77, 0) + frame, switch,
                            "10.9.0.2", index)
            out.append(RECORD.pack(sec, usec + lag, len(wrapped),
                                   wirelen - caplen + len(wrapped)) + wrapped)
    path = tmp_path / "twice.pcap"
    path.write_bytes(b"".join(out))
    plain = shared_analysis(LAB / f"{name}.pcap")  # read only
    twice = _analyze(name, path)
    assert twice.verdict == plain.verdict
    assert len(twice.sessions) == len(plain.sessions) == 1
    assert _codes(twice) == sorted([*_codes(plain), "capture_duplicates"])
    assert len(twice.traffic.connections) == len(plain.traffic.connections)
    [copies] = [f for f in twice.findings if f.code == "capture_duplicates"]
    # Both copies are tunnelled: two mirror sessions, not "-i any" on a tunnel endpoint.
    assert "in two tunnels" in copies.message
    assert "-i any" not in copies.message + (copies.fix or "")


@pytest.mark.parametrize("chunk", [1, 1000])
def test_a_reject_from_the_other_switch_answers_the_syn(tmp_path: Path, chunk: int) -> None:
    """A's SYN mirrored by one switch, B's ICMP port unreachable by the other: the
    reject answers the SYN (one connection, refused), in a batch of its own too."""
    syn = ipv4(A, B, 6, tcp(5001, 10000, 1000, 0, SYN))
    reject = ipv4(B, A, 1, struct.pack("!BBHI", 3, 3, 0, 0) + syn)
    frames = [erspan_by_switch(ethernet(syn), 1)]
    frames.append(erspan_by_switch(ethernet(reject), 2).replace(  # from the other switch
        socket.inet_aton("10.9.0.1"), socket.inet_aton("10.9.0.3"), 1))
    path = write_pcap(tmp_path / "reject.pcap", 1, frames)
    tracker = ConnectionTracker()
    for batch in read_batches(path, chunk=chunk):
        tracker.feed(batch)
    [connection] = tracker.finish()
    assert (connection.orig_h, connection.resp_h, connection.orig_pkts) == (A, B, 1)
    assert len(connection.icmp_frames) == 1
    assert connection.tunnel == "erspan2 10.9.0.1 10.9.0.2"


@pytest.mark.parametrize("name", ["clean-3-resources", "callback-rejected", "data-port-in-use",
                                  "callback-blocked", "data-port-dropped"])
def test_one_direction_plain_and_the_other_tunnelled_is_one_connection(tmp_path: Path,
                                                                       name: str) -> None:
    """A local SPAN (plain) for the media server's packets and a remote ERSPAN session for
    the agent's (field check: encapsulation invariance, D1): the plain capture's verdict,
    findings and connections; tshark sees one stream each too. The connection is named by
    its first packet's carrier: the media server's, plain."""
    plain = shared_analysis(LAB / f"{name}.pcap")  # read only
    path = wrap(LAB / f"{name}.pcap", tmp_path / "mixed.pcap", local_span_and_erspan)
    mixed = _analyze(name, path)
    assert mixed.verdict == plain.verdict
    assert len(mixed.sessions) == len(plain.sessions)
    assert _codes(mixed) == _codes(plain)
    assert _counts(mixed) == _counts(plain)
    assert ours(path) == _parse(_tshark(path))[0].streams
    assert {c.tunnel for c in mixed.traffic.connections if c.orig_h == A} == {None}


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_plain_and_tunnelled_halves_met_across_batches(tmp_path: Path, chunk: int) -> None:
    """The same, each half's first packet in another batch, and on the reference path."""
    name = "callback-rejected"
    mixed = wrap(LAB / f"{name}.pcap", tmp_path / "mixed.pcap", local_span_and_erspan)
    plain = tracked_records(LAB / f"{name}.pcap", 1 << 20)
    assert tracked_records(mixed, chunk) == plain
    assert tracked_records(mixed, chunk, fast=False) == plain
