"""One side of a TCP connection as the tracker follows it: its sequence space unwrapped
(RFC 9293 3.4), the holes the capture left in it, what its peer's ACKs covered.

Filled by flowcheck.connections.conn's update_packet (one packet at a time) and the bulk
paths; read when a connection closes (flowcheck.connections.accounting).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import field
from typing import TypeVar

import numpy as np

from flowcheck.connections.state import EndpointState
from flowcheck.fields_dataclass import fields_dataclass

EVIDENCE_CAP = 20  # frames kept per evidence list: as many as a finding lists (docs/json.md)


Step = TypeVar("Step", int, np.ndarray)


def signed32(value: Step) -> Step:
    """A 32-bit difference of sequence numbers as a signed step (RFC 1982 serial
    arithmetic): -2**31 .. 2**31 - 1; an int, or element-wise an int64 array."""
    return ((value + 0x80000000) & 0xFFFFFFFF) - 0x80000000


@fields_dataclass(slots=True)
class Endpoint:
    """One side's sequence space, unwrapped: last_u is last_raw made monotone-ish.

    `holes` are the byte ranges [start, end) below max_end never seen yet, disjoint and
    sorted by start (a hole only ever opens at max_end, above every other one), each as
    [start, end, frame, ts, plen]: the packet after the gap (its frame, time and payload
    length; the pieces of a hole filled in its middle keep them). A packet
    that lands below max_end finds the holes it overlaps by bisection, so the cost of a
    packet does not grow with the number of holes (sniffer loss in a long transfer).
    """

    state: EndpointState = EndpointState.INACTIVE
    # Wireshark's base_seq: a SYN's seq, else the first seq - 1, or the peer's first
    # ACK - 1. A new SYN whose seq differs from it starts a new connection (tcp.stream).
    base: int | None = None
    isn: int | None = None
    last_raw: int = 0
    last_u: int | None = None
    max_end: int | None = None  # highest sequence number seen + 1 (unwrapped)
    holes: list[list] = field(default_factory=list)  # [start, end, frame, ts, plen] unseen
    holes_opened: int = 0  # sequence gaps opened, filled later or not (record.gaps: unfilled)
    hole_frames: list[int] = field(default_factory=list)  # where the first gaps opened
    hole_times: list[float] = field(default_factory=list)  # ... and their times
    fin: bool = False
    # The peer's highest ACK of this side's bytes (unwrapped) and its frame: above
    # max_end, the receiver got data the capture never saw (Zeek's ack-above-hole).
    acked: int | None = None
    acked_frame: int = 0
    acked_ts: float = 0.0  # the time of acked_frame
    # The peer's first ACK of this side's bytes captured once any of them was (unwrapped):
    # holes below it were acknowledged before the capture could hold their segments
    # (a capture joined mid-stream, its first segments stale reordered ones: trial 32 D3).
    ack_first: int | None = None
    # The SACK blocks (RFC 2018) of that ACK above it, unwrapped, sorted (connections.sack):
    # bytes the receiver held then too, a capture joined mid-stream need not hold them.
    sacked_first: list[tuple[int, int]] = field(default_factory=list)
    # While nothing of this side is captured (max_end None): its peer's first ACK that
    # acknowledged nothing new yet named bytes of it beyond its ACK in SACK blocks, as
    # (frame, raw ACK number, raw (left, right) edges of the bytes above it, merged and
    # sorted: sack.above_ack); None: none (connections.sack.keep_unseen_sacks;
    # SideEvidence.sacked_unseen).
    sacked_unseen: tuple[int, int, tuple[tuple[int, int], ...]] | None = None
    ack_last: int | None = None  # the peer's last ACK, unwrapped: each unwraps the next
    ack_last_frame: int = 0  # ... its frame and time (0 and 0.0 while ack_last is None)
    ack_last_ts: float = 0.0
    # While nothing of this side is seen (max_end None): the peer's ACKs of it, kept
    # apart from acked/ack_last (which unwrap against max_end once it is known), for
    # Connection.orig_acked_unseen / resp_acked_unseen (`acked_unseen`).
    unseen_first: int | None = None  # the peer's first ACK number (raw)
    unseen_last: int = 0  # its last, unwrapped from the first by signed 32-bit steps
    unseen_top: int = 0  # its highest, unwrapped
    # Its highest below unseen_top (unwrapped; None while none is): the ACK level before
    # the last advance. One past it at the end, with the peer's FIN captured, the peer
    # acknowledged the side's FIN (a FIN takes one sequence number, RFC 9293 3.4; so
    # does a lone last byte): accounting.acked_one_more. Set on an advance only.
    unseen_below: int | None = None
    # The time (seconds, capture clock) of the peer's first ACK that took unseen_top more
    # than one past unseen_first: more of the side acknowledged than a closing FIN takes,
    # data moved (Connection.orig/resp_acked_unseen > 1 from then on). Set once, on an
    # advance; None: none yet. When data moved before a stop, whatever the peer sent
    # after it (flowcheck.verify.gave_up._data_before).
    unseen_moved_ts: float | None = None
    # The side's data segments resent since it last sent a byte never sent before (its
    # trailing run of retransmissions: RFC 6298 5.4, the oldest unacknowledged segment
    # again after each timeout), the latest resend's start (unwrapped), time, frame, and
    # the first resend's time and frame (set when the count leaves 0).
    resends: int = 0
    resent_u: int | None = None
    resent_ts: float | None = None
    resent_frame: int = 0
    resend_first_ts: float | None = None
    resend_first_frame: int = 0
    # The side's trailing zero window (RFC 9293 3.8.6.1): its latest window advertisement
    # (a segment without SYN or RST, not a capture copy; the raw field, 0 whatever the
    # RFC 7323 scale) is 0 since zero_ts / zero_frame (None / 0: it is not), in
    # zero_acks of its segments since, while its peer sent zero_probes segments into it.
    # Of its zero windows that reopened, the longest: zero_long_s seconds (0.0: none)
    # from zero_long_ts / zero_long_frame to its reopening segment zero_long_end.
    zero_ts: float | None = None
    zero_frame: int = 0
    zero_acks: int = 0
    zero_probes: int = 0
    zero_long_s: float = 0.0
    zero_long_ts: float | None = None
    zero_long_frame: int = 0
    zero_long_end: int = 0
    # The side's largest data segment (payload bytes, retransmissions included) and the
    # latest resend's payload bytes: full-size resends (RFC 2923's black hole) or not.
    seg_max: int = 0
    resent_len: int = 0
    # The highest sequence number a pure ACK of the side carried above max_end at the
    # time (unwrapped; its SND.NXT: bytes it sent that the capture never saw, tshark's
    # "previous segment not captured" on an ACK) and that ACK's frame; None and 0 if none.
    seq_ahead: int | None = None
    seq_ahead_frame: int = 0
    # The IP TTL of the side's first RST (not a capture copy); None until it sends one
    # (SideEvidence.rst_ttl).
    rst_ttl: int | None = None
    # The IP TTL of the side's latest packet (not a RST, not a capture copy) while it has
    # sent no RST: at its first RST, the TTL before it (SideEvidence.ttl_before_rst).
    ttl_before_rst: int | None = None
    # The latest change of that TTL from one packet to the next (not a RST, not a capture
    # copy) while the side has sent no RST, as (the packet's time, the TTL before, the
    # TTL after): its route changed mid-connection (SideEvidence.ttl_moved); None: none.
    ttl_moved: tuple[float, int, int] | None = None
    # A RST of the side with another TTL than its first, a capture copy or not: seen at
    # a second capture point a router apart (SideEvidence.rst_twice); a capture copy of
    # one of the side's packets with another TTL than its first packet's: two capture
    # points a router apart (SideEvidence.copy_ttl_other). Per-packet path only.
    rst_twice: bool = False
    copy_ttl_other: bool = False
    # Whether the side sent a second RST of its own (not a capture copy), and whether a
    # capture copy of its first RST arrived with another TTL before that: its first RST
    # itself seen at a second capture point (SideEvidence.first_rst_crossed; review64k:
    # rst_twice may be a later RST's). Per-packet path only.
    rst_again: bool = False
    first_rst_crossed: bool = False
    # For the unique bytes (connections.accounting.unique_bytes) of a side without its
    # SYN: its first byte tracked (unwrapped; None: base + 1, as the short path keeps
    # it, short.py handing back a flow where it is not: the base may be the peer's first
    # ACK - 1), the lowest byte captured below that (None: none) and the ranges [start,
    # end) between the two never captured, sorted. A capture joined mid-stream holds
    # bytes below a side's first segment (stale or resent ones) that no hole covers
    # (review 54b: fh-pathloss-media cut from frame 333, 14,480 B said sent again where
    # tcptrace saw each once). Not compared: the paths' bookkeeping differs.
    first: int | None = field(default=None, compare=False)
    low: int | None = field(default=None, compare=False)
    under: list[list[int]] | None = field(default=None, compare=False)
    # Wireshark's sequence analysis of the side (flowcheck.connections.reordering: a
    # segment filling a gap is a retransmission or out-of-order), raw 32-bit numbers: its
    # next expected sequence number and when it was set, its last ACK number and time,
    # the duplicate ACKs it sent since that number, its last window.
    next_seq: int | None = None
    next_seq_ts: float | None = None
    ack_sent: int | None = None
    ack_sent_ts: float | None = None
    dup_acks: int = 0
    window_last: int | None = None

    def unwrap(self, raw: int) -> int:
        if self.last_u is None:
            self.last_u = raw
        else:
            self.last_u += signed32(raw - self.last_raw)
        self.last_raw = raw
        return self.last_u

    def start_sequence(self, isn: int, plen: int = 0) -> None:
        self.isn = isn
        self.last_raw = isn
        self.last_u = isn
        # The SYN takes one sequence number, and its data (TCP Fast Open) the next plen.
        self.max_end = isn + 1 + plen

    def steady(self) -> bool:
        return self.state != EndpointState.INACTIVE

    def open_hole(self, start: int, end: int, frame: int, ts: float = 0.0,
                  plen: int = 0) -> None:
        """The one place a sequence gap opens: bytes [start, end) skipped (start = max_end),
        seen at `frame`, time `ts` in a packet of `plen` payload bytes (the packet after the
        gap: the evidence tshark flags)."""
        self.holes.append([start, end, frame, ts, plen])
        self.holes_opened += 1
        if len(self.hole_frames) < EVIDENCE_CAP:
            self.hole_frames.append(frame)
            self.hole_times.append(ts)

    def fill(self, start: int, end: int) -> bool:
        """Remove [start, end) from the holes; True if it overlapped one.

        O(log holes + holes touched) comparisons: bisection on the sorted starts.
        """
        holes = self.holes
        if not holes or end <= holes[0][0]:
            return False
        first = bisect_right(holes, start, key=_hole_start) - 1
        if first < 0 or holes[first][1] <= start:
            first += 1
        last = first
        while last < len(holes) and holes[last][0] < end:
            last += 1
        if last == first:
            return False
        pieces = []
        if holes[first][0] < start:
            pieces.append([holes[first][0], start, *holes[first][2:]])
        if holes[last - 1][1] > end:
            pieces.append([end, *holes[last - 1][1:]])
        holes[first:last] = pieces
        return True

    def first_byte(self) -> int | None:
        """The side's first sequence number of data, unwrapped: its SYN's + 1, else its
        first byte tracked (`first`), else its base + 1 (None without a base)."""
        if self.isn is not None:
            return self.isn + 1
        if self.first is not None:
            return self.first
        return None if self.base is None else (self.base + 1) & 0xFFFFFFFF

    def note_below(self, start: int, end: int) -> None:
        """A data segment [start, end) starting below max_end: when it starts below the
        first byte of a side without its SYN (a capture joined mid-stream; below a SYN's
        sequence number + 1 it is no data: a keepalive probe before any data, a stale
        connection's segment on the same 4-tuple), keep the lowest byte captured
        (`low`) and the ranges below the first byte never captured (`under`). O(1)
        unless it does (O(len(under)) then, a rare event)."""
        if self.isn is not None:  # below a SYN's + 1: no data (a keepalive probe's byte)
            return
        first = self.first_byte()
        if first is None or start >= first:
            return
        low = first if self.low is None else self.low
        under = [] if self.under is None else self.under
        if start < low:
            if end < low:
                under.insert(0, [end, low])
            self.low = start
        top = min(end, first)
        self.under = [piece for lo, hi in under
                      for piece in ([lo, min(hi, start)], [max(lo, top), hi])
                      if piece[0] < piece[1]] if under else under

    def under_bytes(self) -> int:
        """Bytes below the side's first byte, above its lowest captured, never captured."""
        return sum(hi - lo for lo, hi in self.under) if self.under else 0

    def missed_bytes(self) -> int:
        return sum(hole[1] - hole[0] for hole in self.holes)

    def lost_holes(self) -> list[list]:
        """The holes the peer's ACKs never covered although it ACKed after they opened:
        its highest ACK at or below the hole's start, its last ACK after the hole's frame
        (a receiver's cumulative ACK names the next byte it lacks, RFC 9293 3.4). The
        receiver never got those bytes either: not the sniffer's loss (Zeek's capture loss
        counts only an "ACKed segment that wasn't captured"), the network's before the
        capture point. [] when the peer's ACKs are not captured."""
        if self.acked is None:
            return []
        return [h for h in self.holes if h[0] >= self.acked and self.ack_last_frame > h[2]]


def _hole_start(hole: list[int]) -> int:
    return hole[0]
