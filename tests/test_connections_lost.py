"""SideEvidence.lost: bytes in sequence gaps the receiver's own ACKs never covered.

A gap whose receiver ACKed after it without ever covering it (its cumulative ACK names
the next byte it lacks, RFC 9293 3.4) holds bytes the receiver never got: the network
lost them before the capture point, not the sniffer (Zeek's capture loss counts only an
"ACKed segment that wasn't captured"). A gap the receiver's ACK jumps over is the
sniffer's. Checked on generated captures through each path of the tracker (the
reference `fast=False`, the bulk path, the short-connection pass) and on the stored
trial capture of a path MTU black hole seen from the receiver.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.all import IP, TCP, Ether, Raw, wrpcap
from test_connections_acked_unseen import run, short_everywhere  # noqa: F401 (fixture)
from test_connections_util import read_batches

from flowcheck.connections import ConnectionTracker
from flowcheck.model import Connection
from flowcheck.verify.loss import check_capture_loss

M, A = "10.77.0.1", "10.77.0.2"
ROOT = Path(__file__).resolve().parent.parent
BLACKHOLE = ROOT / "captures" / "ndmjob-pmtu" / "v4-pmtu-blackhole-at-media.pcap"


def gap_capture(path: Path, receiver_covers: bool, acks_after: int = 30) -> Path:
    """A -> M data: 1448 B ACKed, then 2 x 1448 B the capture lacks, then 500 B seen;
    M then ACKs `acks_after` times (each 0.5 s apart) and closes: its ACK stays at the
    gap (the network lost the segments) or jumps over it (the sniffer lost them)."""
    a, m = 6001, 5001
    t = 1000.0
    packets = []

    def add(src: str, dst: str, sport: int, dport: int, flags: str, seq: int, ack: int,
            payload: bytes = b"") -> None:
        nonlocal t
        pkt = Ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags,
                                                    seq=seq, ack=ack, window=65535)
        if payload:
            pkt = pkt / Raw(payload)
        pkt.time = t
        packets.append(pkt)
        t += 0.001

    isn_a, isn_m = 1000, 5000
    add(A, M, a, m, "S", isn_a, 0)
    add(M, A, m, a, "SA", isn_m, isn_a + 1)
    add(A, M, a, m, "A", isn_a + 1, isn_m + 1)
    add(A, M, a, m, "A", isn_a + 1, isn_m + 1, b"x" * 1448)
    add(M, A, m, a, "A", isn_m + 1, isn_a + 1 + 1448)
    # 2 x 1448 B not in the capture, then 500 B.
    add(A, M, a, m, "PA", isn_a + 1 + 3 * 1448, isn_m + 1, b"y" * 500)
    top = isn_a + 1 + 3 * 1448 + 500
    ack = top if receiver_covers else isn_a + 1 + 1448
    for _ in range(acks_after):
        add(M, A, m, a, "A", isn_m + 1, ack)
        t += 0.5
    add(M, A, m, a, "FA", isn_m + 1, ack)
    wrpcap(str(path), packets)
    return path


def records(path: Path) -> list[list[Connection]]:
    """The capture's records through the reference, the bulk and the short paths."""
    reference, _ = run(path, 100_000, fast=False)
    bulk, _ = run(path, 100_000, fast=True)
    short, _ = run(path, 20, fast=True)
    return [reference, bulk, short]


@pytest.mark.parametrize("acks_after", [0, 1, 30])
def test_a_gap_the_receiver_never_acked_is_lost_on_every_path(
        tmp_path: Path, acks_after: int, short_everywhere: None) -> None:  # noqa: F811
    path = gap_capture(tmp_path / "lost.pcap", receiver_covers=False, acks_after=acks_after)
    reference, *others = records(path)
    assert all(other == reference for other in others)
    (c,) = reference
    assert (c.missed_bytes, c.gaps) == (2 * 1448, 1)
    # Its frame 6 opened the gap; the FIN (frame 7 + acks_after) is M's last ACK.
    assert (c.evidence("orig").lost, c.evidence("resp").lost, c.lost_gaps) == (2 * 1448, 0, 1)
    sent = c.evidence("orig")
    assert (sent.lost_frame, sent.lost_ack_frame) == (6, 7 + acks_after)
    assert sent.lost_ack_ts is not None and sent.lost_ts is not None
    assert sent.lost_ack_ts - sent.lost_ts == pytest.approx(0.001 + 0.501 * acks_after)
    assert c.sniffer_missed == 0
    assert check_capture_loss(reference, []) == []


def test_a_gap_the_receiver_acked_is_the_sniffers(tmp_path: Path,
                                                   short_everywhere: None) -> None:  # noqa: F811
    path = gap_capture(tmp_path / "sniffer.pcap", receiver_covers=True)
    reference, *others = records(path)
    assert all(other == reference for other in others)
    (c,) = reference
    assert (c.missed_bytes, c.lost_gaps, c.orig_evidence) == (2 * 1448, 0, None)
    [finding] = check_capture_loss(reference, [])
    assert "2,896 B" in finding.message and "sniffer lost them" in finding.message
    # With a connection whose gap the receiver never got: said apart, not counted.
    lost, _ = run(gap_capture(tmp_path / "lost.pcap", receiver_covers=False), 100_000,
                  fast=False)
    [both] = check_capture_loss(reference + lost, [])
    assert "missed 2,896 B" in both.message and "in 1 gap " in both.message
    assert "Not counted: 2,896 B the receivers never acknowledged" in both.message


def test_one_direction_captured_leaves_the_gap_to_the_sniffer(tmp_path: Path) -> None:
    # Without the receiver's ACKs nothing shows it lacked the bytes.
    both = gap_capture(tmp_path / "both.pcap", receiver_covers=False)
    from scapy.all import rdpcap
    one = tmp_path / "one.pcap"
    wrpcap(str(one), [p for p in rdpcap(str(both)) if p[IP].src == A])
    (c,), _ = run(one, 100_000, fast=False)
    assert (c.missed_bytes, c.evidence("orig").lost) == (2 * 1448, 0)


def test_the_pmtu_black_hole_receivers_gap_is_not_the_sniffers() -> None:
    # Trial 10: the agent's 1448 B segments never arrive, a 952 B one does (frame 21);
    # the media server's ACKs (frame 22, and its FIN, frame 31) stay at byte 1.
    reference, _ = run(BLACKHOLE, 100_000, fast=False)
    bulk, _ = run(BLACKHOLE, 100_000, fast=True)
    assert bulk == reference
    [data] = [c for c in reference if c.resp_p == 5072]
    assert (data.missed_bytes, data.evidence("orig").lost, data.evidence("orig").lost_frame,
            data.evidence("orig").lost_ack_frame) == (7240, 7240, 21, 31)
    assert check_capture_loss(reference, []) == []


SENDER = ROOT / "captures" / "ndmjob-pmtu" / "v4-pmtu-blackhole-at-agent.pcap"


@pytest.mark.parametrize("chunk", [20, 100_000])
def test_full_size_resends_on_every_path(chunk: int,
                                         short_everywhere: None) -> None:  # noqa: F811
    # The agent's side of the black hole: 1448 B segments and one of 952 B; it resends
    # its first 1448 B segment 12 times (seg_max, resent_len).
    reference, _ = run(SENDER, 100_000, fast=False)
    fast, _ = run(SENDER, chunk, fast=True)
    assert fast == reference
    [data] = [c for c in reference if c.resp_p == 5072]
    sent = data.evidence("orig")
    assert (data.orig_seg_max, sent.resent_len, sent.resends) == (1448, 1448, 12)
    assert (data.resp_seg_max, data.evidence("resp").resent_len) == (0, 0)
    [control] = [c for c in reference if c.resp_p == 10000]
    assert control.evidence("orig").resent_len == control.evidence("resp").resent_len == 0
    assert 0 < control.orig_seg_max < 1448


RESTORE = ROOT / "captures" / "ndmjob-pmtu" / "v4-restore-pmtu-blackhole-at-agent.pcap"


@pytest.mark.parametrize("path, port, side, sent, frame", [
    (BLACKHOLE, 5072, "orig", 8688, 32),  # the agent's ACK of the FIN: seq 16881
    (RESTORE, 5020, "resp", 15928, 36),  # the media server's: seq 15929, nothing seen
])
def test_bytes_sent_unseen_on_every_path(path: Path, port: int, side: str, sent: int,
                                         frame: int,
                                         short_everywhere: None) -> None:  # noqa: F811
    # A pure ACK's sequence number above the sender's last byte captured (tshark's
    # "previous segment not captured" on an ACK): bytes it sent the capture never saw.
    reference, _ = run(path, 100_000, fast=False)
    for chunk in (7, 20, 100_000):
        fast, _ = run(path, chunk, fast=True)
        assert fast == reference, chunk
    [data] = [c for c in reference if c.resp_p == port]
    other = "resp" if side == "orig" else "orig"
    assert (data.evidence(side).sent_unseen,
            data.evidence(side).sent_unseen_frame) == (sent, frame)
    assert data.evidence(other).sent_unseen == 0
    assert data.missed_bytes == (7240 if path == BLACKHOLE else 0)  # not in missed_bytes


def ended_gap_capture(path: Path, then: float | None = None, one_way: bool = False) -> Path:
    """Trial 11's B-loss50-mid-media: A -> M data, 1448 B ACKed, 2 x 1448 B the capture
    lacks; M's FIN (still ACKing below the gap), A's 500 B after the gap, M's RST (no ACK)
    25 us later. then: seconds after it, A sends 500 B more (the connection goes on);
    one_way: A's packets only."""
    a, m = 6001, 5001
    packets = []

    def add(t: float, src: str, flags: str, seq: int, ack: int, size: int = 0) -> None:
        sport, dport = (a, m) if src == A else (m, a)
        pkt = Ether() / IP(src=src, dst=M if src == A else A) / TCP(
            sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=65535)
        if size:
            pkt = pkt / Raw(b"x" * size)
        pkt.time = t
        if not one_way or src == A:
            packets.append(pkt)

    isn_a, isn_m = 1000, 5000
    add(1000.0, A, "S", isn_a, 0)
    add(1000.001, M, "SA", isn_m, isn_a + 1)
    add(1000.002, A, "A", isn_a + 1, isn_m + 1)
    add(1000.003, A, "A", isn_a + 1, isn_m + 1, 1448)
    add(1000.004, M, "A", isn_m + 1, isn_a + 1 + 1448)
    add(1029.0, M, "FA", isn_m + 1, isn_a + 1 + 1448)
    add(1029.0001, A, "A", isn_a + 1 + 3 * 1448, isn_m + 1, 500)
    add(1029.000125, M, "R", isn_m + 1, 0)
    if then is not None:
        add(1029.0001 + then, A, "A", isn_a + 1 + 3 * 1448 + 500, isn_m + 1, 500)
    wrpcap(str(path), packets)
    return path


@pytest.mark.parametrize("one_way", [False, True])
def test_a_gap_the_connection_ended_on_is_untold_on_every_path(
        tmp_path: Path, one_way: bool, short_everywhere: None) -> None:  # noqa: F811
    # Reset 25 us after the gap showed: neither end could resend or acknowledge it, so
    # the capture cannot tell the network's loss from the sniffer's (trial 11 D3).
    path = ended_gap_capture(tmp_path / "ended.pcap", one_way=one_way)
    reference, *others = records(path)
    assert all(other == reference for other in others)
    (c,) = reference
    sent = c.evidence("orig")
    frame = 4 if one_way else 7  # the packet after the gap
    assert (c.missed_bytes, sent.lost, sent.untold, sent.untold_frame) == (2896, 0, 2896, frame)
    assert (c.untold_gaps, c.untold_missed, c.sniffer_missed) == (1, 2896, 0)
    if not one_way:
        assert check_capture_loss(reference, []) == []
        return
    # A's packets only: the gap is still seen, and named, hedged (task onedirloss: it
    # was left unsaid, as a gap the receiver's packets could not place).
    [finding] = check_capture_loss(reference, [])
    message = " ".join(finding.message.split())
    assert "missed 2,896 B of TCP payload in 1 gap" in message
    assert "who lost them cannot be told without the other direction" in message
    assert "sniffer lost them" not in message


@pytest.mark.parametrize("one_way", [False, True])
def test_a_gap_the_connection_went_on_after_is_the_sniffers(
        tmp_path: Path, one_way: bool, short_everywhere: None) -> None:  # noqa: F811
    # The sender went on for a retransmission timeout (3 s) without resending: the
    # receiver had the bytes (its ACKs of them were lost by the sniffer too).
    path = ended_gap_capture(tmp_path / "on.pcap", then=3.5, one_way=one_way)
    reference, *others = records(path)
    assert all(other == reference for other in others)
    (c,) = reference
    assert (c.evidence("orig").untold, c.untold_gaps, c.sniffer_missed) == (0, 0, 2896)
    [finding] = check_capture_loss(reference, [])
    assert "missed 2,896 B" in finding.message
    # With A's packets only no ACK tells the sniffer's loss from the network's: hedged.
    assert ("sniffer lost them" in finding.message) is not one_way
    assert ("who lost them cannot be told" in " ".join(finding.message.split())) is one_way
    # A shorter retransmission timeout (Config.retransmission_timeout) decides the same
    # gap sooner: 0.5 s after it, with a timeout of 0.25 s.
    path = ended_gap_capture(tmp_path / "soon.pcap", then=0.5, one_way=one_way)
    tracker = ConnectionTracker(fast=False, rto=0.25)
    for batch in read_batches(path, chunk=100_000):
        tracker.feed(batch)
    (soon,) = tracker.finish()
    assert (soon.untold_missed, soon.sniffer_missed) == (0, 2896)
    (late,), _ = run(path, 100_000, fast=False)
    assert (late.untold_missed, late.sniffer_missed) == (2896, 0)


def test_untold_bytes_are_said_apart_when_the_sniffer_lost_others(tmp_path: Path) -> None:
    sniffer, _ = run(gap_capture(tmp_path / "sniffer.pcap", receiver_covers=True), 100_000,
                     fast=False)
    ended, _ = run(ended_gap_capture(tmp_path / "ended.pcap"), 100_000, fast=False)
    [finding] = check_capture_loss(sniffer + ended, [])
    assert "missed 2,896 B" in finding.message and "in 1 gap " in finding.message
    assert ("Not counted either: 2,896 B in gaps the connections ended less than a "
            "retransmission timeout after") in finding.message
    assert "cannot tell whether the network or the sniffer lost them" in finding.message


def test_one_way_gaps_are_said_apart_from_the_sniffers(tmp_path: Path) -> None:
    """A gap the receiver's ACKs place (the sniffer's) beside a gap of a connection whose
    receiver's packets the capture lacks: the second is named in a sentence of its own,
    hedged (task onedirloss: it was "Not counted either ... ended less than a
    retransmission timeout after", as a gap no one could place)."""
    sniffer, _ = run(gap_capture(tmp_path / "sniffer.pcap", receiver_covers=True), 100_000,
                     fast=False)
    one_way, _ = run(ended_gap_capture(tmp_path / "one-way.pcap", one_way=True), 100_000,
                     fast=False)
    [finding] = check_capture_loss(sniffer + one_way, [])
    message = " ".join(finding.message.split())
    assert ("The capture missed 2,896 B of TCP payload in 1 gap (at least as many "
            "segments) across 1 connection") in message
    assert "so the sniffer lost them, not the network" in message
    assert ("It also missed 2,896 B of TCP payload in 1 gap (at least as many "
            "segments) of the sender's stream across 1 connection whose receiver's packets "
            "the capture does not hold, one direction") in message
    assert "Not counted either" not in message
    assert not finding.fix.startswith("Capture both directions")  # the sniffer's first
