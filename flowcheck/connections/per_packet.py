"""The tracker's per-packet path: one TCP packet through `conn.update_packet`, with the tap.

The reference semantics every other path of ConnectionTracker is tested against
(`fast=False` sends every packet here), and the path the fast paths fall back to for the
packets that can change a connection's state: SYN/FIN/RST, a flow's first packet, the
first payload while the tap decides, every packet of a tapped connection. It also keeps
what the tap needs: the segments of tapped connections (handed to the sink at the end
of the batch) and the few packets seen before the tap decided (`ConnState.pre_tap`).

Apart from flowcheck.connections.tracker, which routes a batch's flows to its paths, so
each file holds one of them; PerPacketPath is a base class of ConnectionTracker rather
than an object of its own so a packet costs no extra call or attribute hop (the per-packet
loops call `_slow` / `_one` on the tracker itself).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flowcheck.connections.clock import ClockSteps
from flowcheck.connections.conn import (
    ACK,
    PRE_TAP_CAP,
    RST,
    SYN,
    ConnState,
    refusal_shape,
    update_packet,
)
from flowcheck.connections.flows import FlowKey
from flowcheck.connections.joined_order import continues
from flowcheck.connections.parked_table import ParkedTable
from flowcheck.connections.sack import (
    keep_first_sacks,
    keep_unseen_sacks,
    packet_end,
    sack_edges,
)
from flowcheck.connections.state import EndpointState
from flowcheck.decode import DecodedBatch
from flowcheck.sources.batch import PacketBatch


def starts_new(c: ConnState, from_lower: bool, flags: int, seq: int,
               ack: int | None = None, plen: int = 0) -> bool:
    """Whether a packet opens a new connection on c's 4-tuple: a SYN whose seq differs from
    its side's base, a reused 4-tuple (as tshark's tcp.stream); or, in a capture that
    holds only that side of c, a SYN-ACK that does (synack_reuses) or a refusal's RST
    that answers another SYN (refusal_reuses).

    from_lower: the packet's sender is the flow key's lower endpoint; flags: the TCP flags
    byte; seq, ack: its raw sequence and ACK numbers (ack None: not read); plen: its
    payload bytes. The same SYN again is a retry. Whether the old connection closed
    does not matter to tshark's tcp.stream, so it does not matter here either for a SYN.
    """
    bits = flags & (SYN | ACK)
    if bits == SYN:
        side = c.orig if from_lower == c.orig_is_lower else c.resp
        return side.base is not None and seq != side.base
    if bits == SYN | ACK:
        return synack_reuses(c, from_lower, seq, ack)
    return (flags & RST != 0 and ack is not None and refusal_shape(flags, seq, plen)
            and refusal_reuses(c, from_lower, ack))


def _other_side_unseen(c: ConnState, is_orig: bool) -> bool:
    """The capture holds no packet of c's side other than the originator's (is_orig) or
    the responder's: one direction captured."""
    return not (c.record.resp_pkts if is_orig else c.record.orig_pkts)


def _answers_another_syn(c: ConnState, is_orig: bool, ack: int | None) -> bool:
    """An ACK number (raw; None: not read) of c's originator's (is_orig) or responder's
    packet that answers a SYN, one past its ISN, names another ISN than the other side's
    base (its ISN, or one before its first byte acknowledged): another connection's SYN."""
    peer = c.resp if is_orig else c.orig
    return ack is not None and peer.base is not None and (ack - 1) & 0xFFFFFFFF != peer.base


def refusal_reuses(c: ConnState, from_lower: bool, ack: int) -> bool:
    """Whether a RST of refusal_shape (a TCP's answer to a SYN at a port nothing listens
    on: seq 0, its ACK number the SYN's ISN + 1) on c's 4-tuple answers a new connection
    attempt there: the capture holds no packet of c's other side (one direction
    captured: the SYN it refuses missing) and it answers another SYN than c's
    (_answers_another_syn). Kept in c, it read as c reset by its sender and its ACK
    number as bytes acknowledged of the first use (a generated responder-only capture:
    999,999,000 B, "RSTRH"); tshark 4.0 keeps it in c's tcp.stream."""
    is_orig = from_lower == c.orig_is_lower
    return _other_side_unseen(c, is_orig) and _answers_another_syn(c, is_orig, ack)


def synack_reuses(c: ConnState, from_lower: bool, seq: int, ack: int | None) -> bool:
    """Whether a SYN-ACK (raw seq and ack, ack None: not read; sent from the key's lower
    endpoint when from_lower) on c's 4-tuple opens a new connection there: its ISN is
    not its side's base (a connection keeps its ISN, RFC 9293 3.4: a resent SYN-ACK
    repeats it), the capture holds no packet of c's other side (one direction captured,
    `tcpdump -Q out` on the responder or a one-way SPAN port: the new use's SYN is
    missing, so the SYN rule cannot split it), and the capture shows c's first use
    over: it answers another SYN than c's (its ACK number - 1 not the other side's
    base: the originator's new ISN; RFC 6528's ISN clock moves 250,000 a second, so a
    new use's SYN has one), or the side's own FIN or RST is captured. Kept as one
    connection, the new use's ACK numbers were read against the first use's ISN: its
    bytes ACKed inflated by up to 2**31, a gap of the new ISN's distance (tshark 4.0
    keeps it in one tcp.stream, "A new tcp session is started with the same ports as an
    earlier session"). Two directions captured, the SYN decides, as tshark's. A new ISN
    answering the same SYN, no close captured, stays however long the side was silent
    before it: the same attempt answered again (a SYN proxy's SYN-ACK and the
    responder's; Linux's to the SYN resent once its request expired, seconds after its
    last SYN-ACK: tests/test_one_way_reanswered, which a 1 s silence split into a
    half-open connection for each expired request)."""
    is_orig = from_lower == c.orig_is_lower
    side = c.orig if is_orig else c.resp
    if side.base is None or seq == side.base or not _other_side_unseen(c, is_orig):
        return False
    if _answers_another_syn(c, is_orig, ack):
        return True
    return side.fin or side.state == EndpointState.RESET


class PerPacketPath:
    """ConnectionTracker's packets one at a time (see the module docstring).

    Reads and updates the tracker's state, set by ConnectionTracker.__init__ and per
    batch by its feed; uses its connection table (`_get`, `_open`).
    """

    tap: Callable[[bytes], bool] | None
    one_at_a_time: int
    clock: ClockSteps
    _flows: dict[FlowKey, ConnState]
    _parked: ParkedTable
    _segments: list[tuple]
    _decoded: DecodedBatch
    _buf: np.ndarray | None
    _batch: PacketBatch | None
    _copy: np.ndarray
    _columns: tuple[memoryview, ...] | None  # _packet_columns, per batch
    _get: Callable[[FlowKey], ConnState | None]
    _open: Callable[[FlowKey, bool, int, int, float, bool], ConnState]

    def _slow(self, key: FlowKey, k: int, from_lower: bool) -> None:
        """Packet k of the batch (a DecodedBatch TCP row, of flow key) through _one, its
        fields read from the batch's arrays."""
        columns = self._columns
        if columns is None:
            columns = self._columns = self._packet_columns()
        flags, seq, ack, window, plen, frame, ts, copy, ttl = columns
        self._one(key, k, from_lower, flags[k], seq[k], ack[k], window[k], plen[k],
                  frame[k], ts[k], copy[k], ttl[k])

    def _packet_columns(self) -> tuple[memoryview, ...]:
        """The fields `_slow` reads, as memoryviews of the batch's arrays (made at the
        batch's first packet one at a time; the tracker drops them at its end): an item
        of a memoryview is the Python number (int, float, bool) .item() gives, for
        about a sixth of its instructions (a method call on the array: 7,000
        instructions a packet for ten fields on (d) mixed-sizes, bench/README.md)."""
        d = self._decoded
        # In native byte order (no copy when it is already): a memoryview indexes no other.
        return tuple(memoryview(np.asarray(column, column.dtype.newbyteorder("=")))
                     for column in (d.tcp_flags, d.tcp_seq, d.tcp_ack, d.tcp_window,
                                    d.tcp_payload_len, d.tcp_frame, d.tcp_ts, self._copy,
                                    d.tcp_ttl))

    def _one(self, key: FlowKey, k: int, from_lower: bool, flags: int, seq: int, ack: int,
             window: int, plen: int, frame: int, ts: float, copy: bool, ttl: int) -> None:
        """Packet k (of flow key) through update_packet, with its fields already read
        (copy: a capture copy; the tap still sees it, as it would a retransmission; ttl:
        its IP TTL)."""
        self.one_at_a_time += 1
        c = self._flows.get(key)
        if c is None and key in self._parked:
            c = self._get(key)
        if c is None or starts_new(c, from_lower, flags, seq, ack, plen):
            # A SYN's only (joined_order.continues): not a one-way capture's SYN-ACK or
            # refusal that starts_new took for a new use (synack_reuses, refusal_reuses).
            if c is not None and flags & (SYN | ACK) == SYN and (
                    gap := continues(c, from_lower, seq, ts)) is not None:
                self.clock.note_continued(frame, c.record.first_frame, gap)
            c = self._open(key, from_lower, flags, frame, ts,
                           refusal_shape(flags, seq, plen))
        is_orig = from_lower == c.orig_is_lower
        peer = c.resp if is_orig else c.orig
        unacked = peer.ack_first is None
        # The peer's last ACK while nothing of it is captured (connections.sack): an ACK
        # of it acknowledging nothing new may name bytes of it in SACK blocks.
        # Only a pure ACK (no payload, no capture copy) is read for them: the locals first.
        unseen_last = (peer.unseen_last if not plen and not copy and flags & ACK
                       and peer.max_end is None and peer.unseen_first is not None
                       and peer.sacked_unseen is None else None)
        update_packet(c, is_orig, flags, seq, ack, window, plen, frame, ts, copy, ttl)
        # The receiver's first ACK captured, of a side whose SYN was not (joined
        # mid-stream; accounting.joined_mid_stream decides at the end): its SACK blocks.
        if unacked and peer.ack_first is not None and peer.isn is None:
            keep_first_sacks(peer, self._sacks(k))
        if unseen_last is not None and peer.unseen_last == unseen_last \
                and peer.max_end is None:
            keep_unseen_sacks(peer, self._sacks(k), ack, frame)
        if c.tap_pending and plen > 0:
            c.tap_pending = False
            if self.tap is not None and self.tap(self._payload(k)):
                c.tapped = True
                # Keyed by this packet's place: before it, in the order they came.
                for segment in c.pre_tap:
                    self._segments.append((k, c, *segment, 0, None))
            c.pre_tap = []
        if c.tapped:
            direction = "orig" if is_orig else "resp"
            # Keyed by the packet's place in the batch: frame numbers are not in that
            # order in a pcapng read in time order across interfaces (interface_order).
            self._segments.append((k, c, direction, seq, flags, self._payload(k), frame, ts,
                                   plen, ack if flags & ACK else None))
        elif c.tap_pending and len(c.pre_tap) < PRE_TAP_CAP:
            c.pre_tap.append(("orig" if is_orig else "resp", seq, flags, b"", frame, ts))

    def _sacks(self, k: int) -> list[tuple[int, int]]:
        """The SACK blocks of packet k (raw edges; connections.sack): read for a side's
        first ACK only."""
        d = self._decoded
        if self._buf is None or self._batch is None:
            return []
        return sack_edges(self._buf, d, k, packet_end(self._batch, d, k))

    def _payload(self, k: int) -> bytes:
        """The captured TCP payload of packet k (as much as the snap length kept)."""
        d = self._decoded
        start = int(d.tcp_payload_off[k])
        assert self._buf is not None
        return bytes(self._buf[start:start + int(d.tcp_payload_cap[k])])
