"""Frames a capture tool cut and recorded as whole: truncation that reads as loss.

netsh trace with packettruncatebytes (and pktmon with --pkt-size) keeps the first bytes
of each packet; converted by Microsoft's etl2pcapng, a large send (LSO) gets the cut
length as its original length too ("since the length field is not filled, we can't
infer the original length, so we use the truncated length as the original length",
etl2pcapng's source). Such a frame says it was captured whole while its IPv4 header
says it was longer, or gives no length at all (total length 0, as an LSOv2 send leaves
it, in a frame shorter than a full Ethernet frame: an offload super-frame is always
longer). The next segment's sequence number then lies beyond the bytes the frame holds:
a gap that no sniffer lost (trial 24 D5: "95.4% ... the sniffer lost them").

Counted per file of the set (PacketBatch.capture), with the lengths recorded, from the
decoder's DecodedBatch.tcp_cut_frame of the TCP packets with payload: an IP length longer
than the frame in any layout (plain, tagged, MPLS, IPv6, or inside a tunnel, whose inner
frame's length is then the one recorded: an ERSPAN mirror session's truncation, trial 22
D4), and a plain Ethernet IPv4 frame's total length 0 in a frame shorter than a full one.
"""

from __future__ import annotations

from collections import Counter

from flowcheck.decode import DecodedBatch
from flowcheck.model import CaptureInfo
from flowcheck.sources.batch import PacketBatch


class CutRecorded:
    """Per file of the set: the frames cut and recorded as whole, and their lengths."""

    def __init__(self) -> None:
        self._lengths: dict[int, Counter[int]] = {}

    def see(self, batch: PacketBatch, d: DecodedBatch) -> None:
        """Count one batch's frames cut and recorded as whole (module docstring)."""
        length = d.tcp_cut_frame
        cut = (length > 0) & (d.tcp_payload_len > 0)
        if not cut.any():
            return
        rows, length = d.tcp_index[cut], length[cut]
        files = batch.capture_of(rows)
        for file, size in zip(files.tolist(), length.tolist(), strict=True):
            self._lengths.setdefault(file, Counter())[size] += 1

    def fill(self, captures: list[CaptureInfo]) -> None:
        """Set each CaptureInfo's cut_recorded and cut_length."""
        for index, info in enumerate(captures):
            lengths = self._lengths.get(index)
            if lengths:
                info.cut_recorded = sum(lengths.values())
                info.cut_length = lengths.most_common(1)[0][0]
