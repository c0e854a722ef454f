"""What the decoder gives for a batch (DecodedBatch) and the TCP header it reads.

Built by flowcheck.decode (its plain paths and flowcheck.decode.general); read by the
connection engine (flowcheck.connections). The TCP header layout is RFC 9293 3.1.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

import numpy as np

from flowcheck.decode.arp import ArpPackets
from flowcheck.decode.ip import (
    FRAGMENT,
    NON_TCP,
    UNDECODABLE,
)
from flowcheck.decode.ndp import NeighbourPackets
from flowcheck.decode.skipped import Skipped
from flowcheck.decode.tunnels import MirrorSequence
from flowcheck.fields_dataclass import fields_dataclass

if TYPE_CHECKING:
    from flowcheck.decode.cut_quote import CutQuote
    from flowcheck.decode.ipv6 import IcmpQuote

IPPROTO_TCP = 6


@fields_dataclass(slots=True)
class DecodedBatch:
    """Per-packet classification plus the TCP fields of the TCP packets (parallel arrays).

    tcp_index holds the batch positions of the TCP packets, in capture order; every
    tcp_* array is parallel to it. Addresses are four big-endian 32-bit words each
    (IPv4 uses word 0 only, tcp_version tells which).
    """

    kind: np.ndarray  # uint8 per packet of the batch
    tcp_index: np.ndarray  # int64
    tcp_frame: np.ndarray  # int64, 1-based frame number
    tcp_ts: np.ndarray  # float64
    tcp_version: np.ndarray  # uint8: 4 or 6
    tcp_src: np.ndarray  # (m, 4) uint32
    tcp_dst: np.ndarray  # (m, 4) uint32
    tcp_sport: np.ndarray  # int64
    tcp_dport: np.ndarray  # int64
    tcp_seq: np.ndarray  # int64 (uint32 values)
    tcp_ack: np.ndarray  # int64
    tcp_flags: np.ndarray  # int64: FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32
    tcp_window: np.ndarray  # int64
    tcp_checksum: np.ndarray  # int64: the TCP checksum as captured (copies: copy.py)
    tcp_ip_id: np.ndarray  # int64: the IPv4 identification (RFC 791); 0 for IPv6
    # uint8: the IPv4 TTL (RFC 791 3.1) or IPv6 hop limit (RFC 8200 3); a tunnelled
    # packet's inner header's (the outer one is the tunnel endpoint's).
    tcp_ttl: np.ndarray
    tcp_payload_len: np.ndarray  # int64, from the IP lengths (not the captured bytes)
    tcp_payload_off: np.ndarray  # int64 offset in the batch buffer (or payload_buf)
    tcp_payload_cap: np.ndarray  # int64, payload bytes actually captured
    tcp_tunnel: np.ndarray  # int64: index into `tunnels` (0: not tunnelled)
    # int64: the length of the (innermost) frame as recorded when its IP length says the
    # packet was longer, or (plain Ethernet, IPv4) is 0 in a frame shorter than
    # FULL_FRAME (cut before the capture: flowcheck.connections.cut_recorded); else 0.
    tcp_cut_frame: np.ndarray
    icmp_quotes: list[IcmpQuote] = field(default_factory=list)
    # ICMP unreachables whose quote the snap length cut before its ports (decode.cut_quote).
    cut_quotes: list[CutQuote] = field(default_factory=list)
    tunnels: list[str] = field(default_factory=lambda: [""])  # names, see decode.tunnels
    arp: ArpPackets = field(default_factory=ArpPackets.empty)  # NON_TCP: decode.arp
    # NON_TCP: IPv6 neighbour discovery, decode.ndp
    neighbours: NeighbourPackets = field(default_factory=NeighbourPackets.empty)
    # What the skipped packets were (decode.skipped); None when none was skipped.
    skipped: Skipped | None = None
    # The ERSPAN II/III packets' GRE sequence numbers (decode.tunnels); None: no such.
    mirror: MirrorSequence | None = None
    # Per packet: a fragment of a datagram reassembled in the batch (decode.ip); None
    # when none is (trial 28 D9: the other fragments are ones never put together).
    assembled: np.ndarray | None = None
    # The bytes tcp_payload_off indexes when a datagram was reassembled (uint8: the
    # batch's buffer, then the reassembled frames, decode.gather.Gather.append); None:
    # the batch's own buffer.
    payload_buf: np.ndarray | None = None
    # Some packet of the batch is a Linux cooked capture's (LINKTYPE_LINUX_SLL 113, SLL2
    # 276: `tcpdump -i any`), whose packet type connections.cooked_hosts reads; set by the
    # general decoder only (a batch all Ethernet never holds one, and pays nothing).
    linux_cooked: bool = False

    @property
    def non_tcp(self) -> int:
        return int(np.count_nonzero(self.kind == NON_TCP))

    @property
    def fragments(self) -> int:
        return int(np.count_nonzero(self.kind == FRAGMENT))

    @property
    def undecodable(self) -> int:
        return int(np.count_nonzero(self.kind == UNDECODABLE))


TCP_HEADER = np.dtype([("sport", ">u2"), ("dport", ">u2"), ("seq", ">u4"), ("ack", ">u4"),
                       ("offset", "u1"), ("flags", "u1"), ("window", ">u2"), ("checksum", ">u2"),
                       ("urgent", ">u2")])
# TCP header fields copied as they are into DecodedBatch.tcp_<name>.
HEADER_COLUMNS = ("sport", "dport", "seq", "ack", "flags", "window", "checksum")


def header_columns(header: np.ndarray) -> dict[str, np.ndarray]:
    """The tcp_* arrays read straight from TCP_HEADER records, as int64."""
    return {f"tcp_{name}": header[name].astype(np.int64) for name in HEADER_COLUMNS}
