"""A hole between a side's last data captured and its FIN is the sniffer's loss, even in a
connection the capture joined mid-stream whose receiver's first ACK captured is the one
of the FIN (connections.accounting.acked_before, fin_closed). newuser64:
captures/nu64/data-cut-to-its-fin.pcap.gz (captures/lab/clean-3-resources.pcap without
frames 22-24 28 30 32 34-205: C3 keeps its first 4 data segments, its FIN and the
answer) read pass, no warning, "405,792 B ... every byte", where tshark flags "Previous
segment(s) not captured" at the FIN and the job moved 600,000 B (README there)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import tshark_fork
from test_capture_loss_sack import every_path
from test_connections_acked_unseen import short_everywhere  # noqa: F401 (fixture)

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.verify.loss import check_capture_loss

CASES = Path(__file__).resolve().parent.parent / "captures" / "nu64"
CUT = CASES / "data-cut-to-its-fin.pcap.gz"
RAW_NUMBERS = ("-o", "tcp.relative_sequence_numbers:FALSE")


def fin_gap(path: Path, port: str) -> int:
    """tshark's premise: the sequence numbers between the end of the last data segment
    the capture holds from `port` and that side's FIN (raw numbers)."""
    top, fin = 0, None
    for flags_fin, seq, length in tshark_fork.fields(
            path, "tcp.srcport == " + port, "tcp.flags.fin", "tcp.seq", "tcp.len",
            options=RAW_NUMBERS):
        if flags_fin in ("1", "True"):
            fin = int(seq)
        elif int(length):
            top = max(top, int(seq) + int(length))
    assert fin is not None
    return fin - top


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stored case inflated (tshark and the test reader take a pcap)."""
    path = tmp_path_factory.mktemp("nu64") / "data-cut-to-its-fin.pcap"
    path.write_bytes(gzip.decompress(CUT.read_bytes()))
    return path


def test_the_bytes_before_the_fin_are_the_sniffers_loss(plain: Path) -> None:
    assert fin_gap(plain, "6001") == 194_208
    config = build_config(load_file(CASES / "data-cut-to-its-fin.toml"))
    traffic = read_traffic([str(plain)], config)
    [c3] = [c for c in traffic.connections if {c.orig_p, c.resp_p} == {5002, 6001}]
    assert c3.sniffer_missed == 194_208 and c3.gaps == 1
    [loss] = [f for f in check_capture_loss(traffic.connections, traffic.captures)
              if "194,208 B" in f.message]
    assert loss.severity.value == "warning"
    analysis = analyze(traffic, config)
    [session] = analysis.sessions
    step5 = next(s for s in session.steps if s.step == 5)
    assert "194,208 B more that the capture lacks" in step5.detail
    assert ("600,000 B in all, each byte once, from the first byte captured: the capture "
            "lacks C3's opening, so bytes sent before that byte are not counted") in step5.detail


def test_a_total_without_the_senders_opening_says_where_it_counts_from() -> None:
    """newuser64's router capture: C2's handshake lost and bytes before its first
    segment captured (the trial's job moved 200,000 B): "68,928 B in all" is no
    transfer's size unless it says where it counts from."""
    config = build_config(load_file(CASES / "router-any-dropped.toml"))
    analysis = analyze(read_traffic([str(CASES / "router-any-dropped.pcap")], config), config)
    [session] = analysis.sessions
    step5 = next(s for s in session.steps if s.step == 5)
    assert ("and 63,136 B more that the capture lacks and the media server acknowledged "
            "(segments the sniffer missed: capture_loss; 68,928 B in all, each byte once, "
            "from the first byte captured: the capture lacks C2's opening, so bytes sent "
            "before that byte are not counted)") in step5.detail


@pytest.mark.usefixtures("short_everywhere")
def test_every_path_counts_the_hole_before_the_fin(plain: Path) -> None:
    """The per-packet reference, the bulk path and batches of a few packets (the short
    pass, parked between them) count the same bytes."""
    results = every_path(plain, chunk=2_000)
    assert results[0] == results[1] == results[2]
    assert [missed for _, missed, _, _ in results[0] if missed] == [194_208]


END = 101_000  # the sender's FIN's sequence number in _close: every byte of its below it


def _close(path: Path, rows: list[tuple[str, int, int, int, bool]]) -> Path:
    """A capture begun after a sender's first 50,000 B passed, rows (flags, seq, ack,
    payload size, from the sender) between 10.0.0.1:40000 (the sender) and
    10.0.0.2:10000, 10 ms apart (scapy)."""
    from scapy.all import IP, TCP, Ether, Raw
    from scapy_files import write_packets

    packets = []
    for number, (flags, seq, ack, size, sender) in enumerate(rows):
        ends = (("10.0.0.1", 40_000), ("10.0.0.2", 10_000))
        (src, sport), (dst, dport) = ends if sender else ends[::-1]
        packet = (Ether() / IP(src=src, dst=dst)
                  / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack))
        packet = packet / Raw(b"x" * size) if size else packet
        packet.time = 1 + number / 100
        packets.append(packet)
    return write_packets(path, packets)


@pytest.mark.usefixtures("short_everywhere")
def test_a_hole_the_receiver_acked_before_the_fin_is_no_sniffer_loss(tmp_path: Path) -> None:
    """review62e: the receiver's ACK of the hole's end came before the FIN (it does not
    acknowledge the FIN), so the bytes may have passed before the capture began, as any
    hole below a receiver's first ACK of a capture joined mid-stream; nu64a's rule read
    48,552 B "the sniffer lost them, not the network"."""
    # A resend of the segment at 50,000 (stale), the receiver's duplicate ACK of every
    # byte, then the sender's FIN and the close.
    path = _close(tmp_path / "stale-then-fin.pcap", [
        ("A", 51_000, 5_000, 1_448, True), ("A", 5_000, END, 0, False),
        ("FA", END, 5_000, 0, True), ("FA", 5_000, END + 1, 0, False),
        ("A", END + 1, 5_001, 0, True)])
    assert fin_gap(path, "40000") == 48_552  # tshark: "Previous segment not captured"
    results = every_path(path, chunk=200)
    assert results[0] == results[1] == results[2] == [("C1", 0, 0, [])]
    traffic = read_traffic([str(path)], build_config())
    assert check_capture_loss(traffic.connections, traffic.captures) == []
    # Another stale resend after the FIN, in the middle of the hole: its lower piece is
    # no more the sniffer's than the whole was.
    split = _close(tmp_path / "stale-split.pcap", [
        ("A", 51_000, 5_000, 1_448, True), ("A", 5_000, END, 0, False),
        ("FA", END, 5_000, 0, True), ("A", 71_000, 5_000, 1_448, True),
        ("FA", 5_000, END + 1, 0, False), ("A", END + 1, 5_001, 0, True)])
    results = every_path(split, chunk=200)
    assert results[0] == results[1] == results[2] == [("C1", 0, 0, [])]


@pytest.mark.usefixtures("short_everywhere")
def test_a_fin_with_the_last_bytes_closes_its_hole_too(tmp_path: Path) -> None:
    """review62e: the FIN carrying the side's last 100 B (a close with data queued) is as
    much the side's last packet as a bare FIN: nu64a's rule counted the hole before a
    bare FIN only, and this one (48,452 B, tshark's "Previous segment not captured")
    read no loss, "every byte"."""
    path = _close(tmp_path / "fin-with-data.pcap", [
        ("A", 51_000, 5_000, 1_448, True), ("FA", END - 100, 5_000, 100, True),
        ("FA", 5_000, END + 1, 0, False), ("A", END + 1, 5_001, 0, True)])
    assert fin_gap(path, "40000") == 48_452
    results = every_path(path, chunk=200)
    assert results[0] == results[1] == results[2] == [("C1", 48_452, 1, [2])]
    # The same close after the receiver's duplicate ACK of the FIN's first byte: a
    # capture begun after the bytes passed, as a bare FIN's.
    stale = _close(tmp_path / "stale-fin-with-data.pcap", [
        ("A", 51_000, 5_000, 1_448, True), ("A", 5_000, END - 100, 0, False),
        ("FA", END - 100, 5_000, 100, True), ("FA", 5_000, END + 1, 0, False),
        ("A", END + 1, 5_001, 0, True)])
    assert every_path(stale, chunk=200)[0] == [("C1", 0, 0, [])]
