"""Frames an ERSPAN mirror's stream lost before the capture (trial 22 D4, mirrordrop5):
the ERSPAN session's sequence numbers skip them, so capture_loss names the mirror's
stream and its fix, not "the sniffer lost them" with tcpdump's buffer alone.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import numpy as np

from flowcheck.config import build_config, load_file
from flowcheck.connections.mirror_gaps import MirrorGaps
from flowcheck.decode import DecodedBatch
from flowcheck.decode.tunnels import MirrorSequence
from flowcheck.model import CaptureInfo
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sources.batch import PacketBatch

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "captures" / "lab"
NAME = "clean-3-resources"
MACS = bytes.fromhex("020000aa0001020000bb0002")


def _erspan2(frame: bytes, seq: int) -> bytes:
    payload = (struct.pack("!HHI", 0x1000, 0x88BE, seq)
               + struct.pack("!HHI", 1 << 12, (3 << 11) | 77, 0) + frame)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, 47, 0,
                     socket.inet_aton("10.9.0.1"), socket.inet_aton("10.9.0.2"))
    return MACS + b"\x08\x00" + ip + payload


def _mirrored(tmp_path: Path, every: int, numbered_after: bool) -> Path:
    """The lab job through an ERSPAN II session that loses every `every`th frame of more
    than 1000 bytes: after numbering it (a gap in the sequence numbers), or before
    (numbered_after: none, as the sniffer's own loss of a plain capture)."""
    source = (LAB / f"{NAME}.pcap").read_bytes()
    out, pos, seq, large = [source[:24]], 24, 0, 0
    while pos + 16 <= len(source):
        seconds, micros, caplen, _ = struct.unpack_from("<IIII", source, pos)
        frame = source[pos + 16:pos + 16 + caplen]
        pos += 16 + caplen
        if not numbered_after:
            seq += 1
        if len(frame) > 1000:
            large += 1
            if large % every == 0:
                continue
        if numbered_after:
            seq += 1
        packet = _erspan2(frame, seq)
        out.append(struct.pack("<IIII", seconds, micros, len(packet), len(packet)) + packet)
    path = tmp_path / "mirror.pcap"
    path.write_bytes(b"".join(out))
    return path


def _run(capture: Path) -> Analysis:
    config = build_config(load_file(LAB / f"{NAME}.toml"), {})
    return analyze(read_traffic([str(capture)], config), config)


def test_frames_the_mirror_stream_skips_are_named_its_loss(tmp_path: Path) -> None:
    analysis = _run(_mirrored(tmp_path, 5, numbered_after=False))
    assert analysis.verdict == "pass"
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    assert "the mirror's ERSPAN stream skips 82 frames (its sequence numbers)" in loss.message
    assert "the sniffer lost them" not in loss.message
    assert loss.fix.startswith("Make the mirror's stream reach the capture whole")
    assert analysis.traffic.captures[0].mirror_skipped == 82


def test_without_sequence_gaps_the_loss_stays_the_sniffers(tmp_path: Path) -> None:
    analysis = _run(_mirrored(tmp_path, 5, numbered_after=True))
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    assert "the sniffer lost them" in loss.message
    assert "ERSPAN stream skips" not in loss.message  # no sequence gap to prove it
    # The mirror session may have dropped them all the same (field check 36b).
    assert "or the mirror session that delivered them in a tunnel (erspan" in loss.message
    assert analysis.traffic.captures[0].mirror_skipped == 0


def _batch(n: int, capture: int = 0) -> PacketBatch:
    zeros = np.zeros(n, dtype=np.int64)
    return PacketBatch(b"", 1, zeros.astype(np.float64), zeros, zeros.astype(np.int32),
                       zeros.astype(np.int32), np.ones(n, np.int32), capture)


def _decoded(tunnel: list[int], session: list[int], seq: list[int]) -> DecodedBatch:
    n = len(seq)
    empty = np.zeros(0, dtype=np.int64)
    columns = {name: empty for name in DecodedBatch.__dataclass_fields__
               if name.startswith("tcp_")}
    return DecodedBatch(kind=np.ones(n, np.uint8), **columns,
                        tunnels=["", "erspan2 10.9.0.1 10.9.0.2", "erspan2 10.9.0.3 10.9.0.2"],
                        mirror=MirrorSequence(np.arange(n), np.array(tunnel),
                                              np.array(session), np.array(seq)))


def test_gaps_per_stream_across_batches_and_the_wrap() -> None:
    """Each tunnel and session counts on its own, across batches, through 2**32; a
    number that goes back or leaps far is no gap."""
    gaps = MirrorGaps()
    top = (1 << 32) - 1
    gaps.see(_batch(5), _decoded([1, 2, 1, 1, 2], [7, 7, 8, 7, 7],
                                 [top - 1, 10, 500, top, 12]))
    gaps.see(_batch(4), _decoded([1, 1, 1, 2], [7, 7, 8, 7], [2, 1, 501, 10_000_000]))
    captures = [CaptureInfo(path="x")]
    gaps.fill(captures)
    # stream (1, 7): top-1, top, 2 (skips 0 and 1), 1 (back): 2; (2, 7): 10, 12: 1.
    assert captures[0].mirror_skipped == 3


def test_a_batch_mixing_plain_frames_and_erspan_keeps_their_positions(tmp_path: Path) -> None:
    """The decode of a batch of several layouts merges the ERSPAN part's sequence numbers
    at their batch positions, with the merged batch's tunnel numbers."""
    from test_connections_util import ACK, ethernet, ipv4, read_batches, tcp, write_pcap

    from flowcheck.decode import decode_batch

    frame = ethernet(ipv4("10.1.0.1", "10.1.0.2", 6, tcp(5001, 10000, 1, 1, ACK, b"x" * 10)))
    path = write_pcap(tmp_path / "mixed.pcap", 1, [frame, _erspan2(frame, 7), frame,
                                                   _erspan2(frame, 9)])
    [batch] = list(read_batches(path))
    decoded = decode_batch(batch)
    assert decoded.mirror is not None
    assert decoded.mirror.rows.tolist() == [1, 3]
    assert decoded.mirror.seq.tolist() == [7, 9] and decoded.mirror.session.tolist() == [77, 77]
    assert [decoded.tunnels[t] for t in decoded.mirror.tunnel.tolist()] == [
        "erspan2 10.9.0.1 10.9.0.2"] * 2


def _ragged(tmp_path: Path) -> Path:
    """The lab job through an ERSPAN II session that loses nothing, each frame recorded
    cut at its own length of 1 to 130 bytes (trial 36 D5): many before the GRE sequence
    number, none before the IP header's end of some."""
    source = (LAB / f"{NAME}.pcap").read_bytes()
    out, pos, seq = [source[:24]], 24, 0
    while pos + 16 <= len(source):
        seconds, micros, caplen, _ = struct.unpack_from("<IIII", source, pos)
        frame = source[pos + 16:pos + 16 + caplen]
        pos += 16 + caplen
        seq += 1
        packet = _erspan2(frame, seq)
        cut = packet[:1 + (seq * 37) % 130]
        out.append(struct.pack("<IIII", seconds, micros, len(cut), len(packet)) + cut)
    path = tmp_path / "ragged.pcap"
    path.write_bytes(b"".join(out))
    return path


def test_frames_cut_before_the_sequence_number_are_no_skip(tmp_path: Path) -> None:
    # Trial 36 D5: "the mirror's ERSPAN stream skips 218 frames ... lost after the mirror
    # session sent them" while every frame was in the file, cut before the GRE sequence
    # field; and "cut at 103 bytes by the snap length" with cuts of every length.
    analysis = _run(_ragged(tmp_path))
    assert analysis.traffic.captures[0].mirror_skipped == 0
    assert not any("ERSPAN stream skips" in f.message for f in analysis.findings)
    (info,) = [f for f in analysis.findings if f.code == "capture_undecodable_packets"]
    assert "cut by the capture at lengths from 1 to " in info.message
    assert "by the snap length" not in info.message
    (loss,) = [f for f in analysis.findings if f.code == "capture_loss"]
    assert "could not decode (capture_undecodable_packets" in loss.message
    assert "the sniffer lost them, not the network" not in loss.message


def test_a_skip_between_frames_cut_short_still_counts_beyond_them() -> None:
    """Two frames whose sequence number the capture cut away between numbers 1 and 5
    may be 2 and 3: one frame (4) is still skipped."""
    gaps = MirrorGaps()
    batch = _batch(4)
    batch.caplen[:] = [100, 20, 20, 100]
    batch.wirelen[:] = [100, 100, 100, 100]
    decoded = _decoded([1, 1], [7, 7], [1, 5])
    decoded.mirror = MirrorSequence(np.array([0, 3]), np.array([1, 1]), np.array([7, 7]),
                                    np.array([1, 5]))
    gaps.see(batch, decoded)
    captures = [CaptureInfo(path="x")]
    gaps.fill(captures)
    assert captures[0].mirror_skipped == 1
