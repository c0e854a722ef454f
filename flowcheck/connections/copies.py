"""Capture copies: the same packet captured twice, which is not a packet sent twice.

A SPAN session mirroring both switch ports of a conversation (and tcpdump -i any on a
host whose packets cross a bridge, or two merged interfaces) captures every packet once
on its way in and once on its way out, microseconds apart. tshark flags the second
copy as tcp.analysis.retransmission (and its ACK as a duplicate ACK); counted as a
retransmission or a SYN retry, it would be evidence of a drop that never happened.

A packet is a capture copy of an earlier packet in the same direction of the same
4-tuple (flow key, tunnel included; any number of packets may come between them: the
copies of a burst interleave with its packets, p1 p2 p1' p2', when the mirrored ports
forward at line rate) when:
- its IPv4 identification, TCP sequence and acknowledgement numbers, flags, window,
  payload length and, for a packet without an IPv4 ID (0, IPv6), its TCP header's other
  fields and options (the timestamp option's TSval included; not the checksum, which a
  sender's own capture holds unfilled under checksum offload) are all equal to that
  packet's (flowcheck.connections.packet_identity), and
- it was captured at most COPY_WINDOW seconds from it (flowcheck.connections.copy_window:
  a sender's own resend differs, and comes later).

Some packets have no identity of their own (IP ID 0, IPv6: a SYN-ACK, a RST, a
time-wait ACK): two equal answers to two arrivals microseconds apart are no copies
until the capture has shown a copy of an identified packet, decided in capture order
(flowcheck.connections.copy_pairs, which also takes the pairs within COPY_WINDOW or
WIDE_COPY_WINDOW).

An ICMP destination unreachable's copies are told by the message's bytes
(flowcheck.connections.icmp_copies).

Copies are counted as packets (tshark counts them: packet and byte counts stay
tshark's) and change nothing else of a connection (conn.update_packet); an ICMP copy is
attached to no connection. Marking is per batch and path-independent: the tracker's
fast paths and its reference path take the same marks. The packets near a batch's end
are kept (`Tail`) so a copy in the next batch finds its original; cost per batch
follows its packets, never the history. Until the capture shows a copy of any kind (or
a second capture point, or a tool's identities), a batch is first tried by
flowcheck.connections.no_copies' cheap exact proof that no two of its packets (and the
tail's) are equal; proven, it skips the search below (`_quiet`).

Copies seen at two capture points (both hosts' captures given together, at any clock
offset: flowcheck.connections.points) are found by the same sort (copies_points). A
TSO/GSO super-frame at one point whose first wire segment another point holds is that
segment's copy (super_frames, with its own look-back across batches), once the capture
is known to hold two points or copies. Copies a read chunk or more after their
originals (captures joined end to end, `cat` or `mergecap -a`) are past the tail: once
the capture's time steps back, flowcheck.connections.replays tells them from what each
connection showed before; they count as the copies found here do. A capture tool that
names a packet's copies itself (pktmon's identities: appearances) has them marked by
that identity too, at any spacing.

A router's or bridge's copies in one capture of several of its interfaces (`tcpdump -i
any` on it), the egress copy a queueing delay after the ingress one, are told by the
interface and TTL (flowcheck.connections.relay_copies: a TTL one lower, or equal across
named interfaces) from the same sort's equal packets, at up to RELAY_WINDOW (up to
NEIGHBOUR_HOLD one hop lower with the same TSval: a router's neighbour queue); they are
one capture point's, never points.py's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flowcheck.arrays import HASH_MULTIPLIERS, distinct
from flowcheck.connections.appearances import Appearances
from flowcheck.connections.copies_points import FAR_TAIL_CAP, PointCopies
from flowcheck.connections.copies_tail import (
    NOT_READ,
    TAIL_CAP,
    RelayPairs,
    Rows,
    Tail,
    kept_tail,
    with_tail,
)
from flowcheck.connections.copy_legs import note_legs
from flowcheck.connections.copy_pairs import CopyPairs
from flowcheck.connections.copy_window import COPY_WINDOW, WIDE_COPY_WINDOW
from flowcheck.connections.flows import BatchFlows
from flowcheck.connections.icmp_copies import IcmpCopies
from flowcheck.connections.no_copies import KeyTable, QuietBatches
from flowcheck.connections.packet_identity import FIELDS, identity_fields
from flowcheck.connections.points import CapturePoints
from flowcheck.connections.relay_copies import (
    Candidates,
    RelayCopies,
    exit_codes,
    relay_pairs,
)
from flowcheck.connections.replays import Spans
from flowcheck.connections.stamped_identity import (
    read_stamps,
    same_stamps,
    tail_syns,
)
from flowcheck.connections.super_frames import SuperFrames
from flowcheck.decode import DecodedBatch
from flowcheck.decode.legs import crossed_again, handed_on, named_part

EXAMPLE_CAP = 8  # example frames kept
# The IPv4 ID's column of the fields a copy has equal to its original (packet_identity.FIELDS).
_IP_ID = 0


class CaptureCopies(CopyPairs, PointCopies, QuietBatches, IcmpCopies):
    """Marks the capture copies of each batch (see the module docstring).

    `count` is the copies seen so far, `frames` the first EXAMPLE_CAP of them (frame
    numbers), `within` the files of the set (PacketBatch.capture) holding copies of their
    own packets at one capture point (not another point's), `systematic` whether a copy
    of an identified packet was seen (from then on equal packets without identity are
    copies too). `points` finds the capture points and
    their offsets; once two are known, the copies of a packet seen at another point, at
    any clock offset (flowcheck.connections.points), are marked and counted here too.
    `relays` counts a router's copies (flowcheck.connections.relay_copies).
    """

    def __init__(self) -> None:
        self.count = 0
        # The packets compared for copies: TCP packets (every row `mark` was given) and
        # ICMP errors quoting TCP (icmp_originals'); `count` is of them, never of the
        # set's other packets (ARP, neighbour discovery, UDP: duplicates.compared_words).
        self.compared = 0
        self.icmp_compared = 0
        self.icmp_count = 0  # of `count`, the ICMP errors' copies (IcmpCopies)
        # Of `count`: the copies over IPv4 (TCP, or ICMP quoting an IPv4 packet): none in
        # a capture whose copies are all IPv6 (copy_family: its words, no IP ID, no TTL).
        self.ipv4 = 0
        self.frames: list[int] = []
        self._times: dict[int, float] = {}  # the kept frames' times
        self.within: set[int] = set()
        self.appearances = Appearances()
        self.systematic = False
        # Files that showed a copy of an identified packet within themselves (_near), and
        # whether an ICMP copy showed (its file not told: every file's gate opens).
        self._duplicating: set[int] = set()
        self._icmp_copied = False
        self.points = CapturePoints()
        self.relays = RelayCopies()  # relay_copies: a router's packets in and out
        self.super_frames = SuperFrames()  # super_frames: offload's, across batches too
        self._relaying = RelayPairs()  # their host pairs: the tail carries their packets
        self._tail: Tail | None = None
        self._icmp: list[tuple[float, str, bytes]] = []  # (ts, tunnel, identity), recent
        self._keys = KeyTable()  # no_copies' table, for the batches without copies
        # replays: copies a read chunk or more after their originals (captures joined)
        self.replays = Spans()
        # Of `count`: copies after a step back of the clock of packets before it (replays)
        self.replayed = 0
        self.proven = 0  # batches proven to hold no copy (_quiet): no full search
        # Copies within COPY_WINDOW at another TTL than their originals: a router between
        # two capture points whose captures were merged with their clocks that close
        # (TrackResult.routed_points; a router's own interfaces, interface_copies).
        self.near_routed = 0
        # Per direction (flow key, from its lower endpoint) with copies within COPY_WINDOW
        # whose legs are known: True when one is on another leg than its original
        # (another TTL, or another link-layer address pair: an L3 device rewrote the
        # frame, whether it lowered the TTL or not, as a Cisco ASA does not), False when
        # every such copy kept its original's TTL and address pair, both told. A
        # direction whose copies all kept its leg was recorded twice where it was first
        # seen (a firewall's drop capture, a drop stage, a SPAN duplicate) while others
        # crossed (flowcheck.verify.copy_counts; TrackResult.copy_legs; field check 36).
        self.legs_crossed: dict[tuple[tuple, bool], bool] = {}
        # Of `count`: copies beyond COPY_WINDOW by their IPv4 ID, TTL and TSval (copy_window:
        # WIDE_COPY_WINDOW), and the longest time between one and its original (seconds).
        self.wide = 0
        self.widest = 0.0
        self._wide_then = np.zeros(0, np.int64)  # the batch's wide copies (every's indexes)

    def mark(self, d: DecodedBatch, flows: BatchFlows, since: int | None = None,
             sources: np.ndarray | None = None,
             identity: np.ndarray | None = None,
             legs: Callable[[], np.ndarray] | None = None,
             headers: np.ndarray | None = None,
             stamped: Callable[[np.ndarray], np.ndarray] | None = None,
             legs_at: Callable[[np.ndarray], np.ndarray] | None = None,
             ) -> tuple[np.ndarray, np.ndarray]:
        """Per TCP packet of the batch (DecodedBatch rows, bool): whether it is a capture
        copy, and whether it is a replayed one (a copy after a step back of the clock of a
        packet before it: replays.Spans.mark's, or found beside its original,
        Spans.across_step; of the copies). flows: the batch's group_flows; since: the batch
        row of a copy of an identified packet found elsewhere (an ICMP copy:
        icmp_originals), when the capture showed none before; sources: each TCP packet's
        file of the set (PacketBatch.capture; None: all from one); identity: each TCP
        packet's identity by its capture tool (PacketBatch.identity; None: none has one);
        legs: each TCP packet's interface (flowcheck.decode.legs.capture_legs), asked for
        only when a relay copy may be among them (relay_copies; None: none tells); headers:
        each TCP packet's packet_identity.header_identity (None: its captured checksum
        stands for it); stamped: the stamped_identity of the TCP packets at the batch rows
        given (None: not told, no copy beyond COPY_WINDOW: copy_window); legs_at: legs'
        of the batch rows given, read for the packets of the batch's last `window` the
        tail keeps, so that a copy in the next batch is read against its original
        (near_copies.note_near) whatever the batching (None: not told)."""
        m = d.tcp_index.shape[0]
        self.compared += m
        copy = np.zeros(m, bool)
        if not m:
            self.systematic = self.systematic or since is not None
            self._icmp_copied = self._icmp_copied or since is not None
            return copy, np.zeros(0, bool)  # two arrays, as every other return gives
        replayed = self.replays.mark(d, flows, COPY_WINDOW)
        if not replayed.any() and self._quiet(d, flows, since, sources, identity, headers,
                                              stamped, legs_at):
            return copy, replayed
        own = Rows(2 * flows.flow + flows.from_lower,
                   identity_fields(d, np.where(d.tcp_ip_id != 0, 0, d.tcp_checksum)
                                   if headers is None else headers), d.tcp_ts,
                   d.tcp_frame, np.zeros(m, np.int32) if sources is None else sources,
                   d.tcp_ttl.astype(np.int16), np.zeros(m, bool), np.zeros(m, np.int64),
                   np.full(m, NOT_READ, np.int64))
        every, rows, in_tail = with_tail(self._tail, flows, own, self.replays.numbers)
        # Equal packets of a direction made adjacent, in capture order: a hash of the
        # direction and the fields, its low bits replaced by the position, sorted (a sort
        # of values, several times faster than a stable argsort); equality of adjacent
        # candidates is then checked exactly.
        n = every.side.shape[0]
        bits = np.uint64(max(1, (n - 1).bit_length()))
        with np.errstate(over="ignore"):
            hashed = every.side.astype(np.uint64) * HASH_MULTIPLIERS[0]
            for column in range(len(FIELDS)):  # FIXED follows from the header identity
                hashed += every.fields[:, column].astype(np.uint64) * HASH_MULTIPLIERS[column + 1]
            hashed ^= hashed >> np.uint64(29)
        ordered = np.sort((hashed >> bits << bits) | np.arange(n, dtype=np.uint64))
        top = ordered >> bits
        position = (ordered & ((np.uint64(1) << bits) - np.uint64(1))).astype(np.int64)
        self._wide_then = np.zeros(0, np.int64)
        near = self._near(d, every, rows, top, position, since, stamped, legs, own)
        copy[rows[near[1]]] = True
        copy |= replayed
        across = self.replays.steps.across_step(every.frame, top, position, near[1], rows)
        if across.any():  # replayed copies too: the same join read in one chunk
            replayed = replayed.copy()
            replayed[rows[near[1][across]]] = True
        if near[1].size:
            self.near_routed += note_legs(self.legs_crossed, flows, every, rows, near, own,
                                          legs)
        relayed, named = self._relayed(every, rows, top, position, near, own, legs, stamped)
        if legs is not None and near[1].size and self.relays.near_wanted:
            if not every.leg[n - m:].any():  # not read by _relayed
                every.leg[n - m:] = own.leg[:] = legs()
            # The first NEAR_SAMPLE copies in capture order, an original in the tail too
            # (its interface read when kept): what the batches' ends do not change.
            first, then = near[0], near[1]
            if then.size > self.relays.near_left:
                first, then = first[np.argsort(then)], np.sort(then)
                first, then = first[:self.relays.near_left], then[:self.relays.near_left]
            self.relays.note_near(every.source[first] == every.source[then],
                                  every.leg[first], every.leg[then], every.ttl[first],
                                  every.ttl[then], every.ts[first] == every.ts[then],
                                  crossed_again(first, then, every.leg))
        copy[rows[relayed]] = True
        if relayed.size:
            self._relaying.learn([flows.keys[f] for f in
                                  distinct(flows.flow[rows[relayed]]).tolist()])
        if self.relays.count:  # an egress copy whose ingress copy the capture lacks
            codes = exit_codes(d.tcp_src, d.tcp_dst, own.source, own.leg, own.ttl)
            self.relays.learn(codes[rows[named]])
            orphan = self.relays.orphaned(codes, copy)
            copy |= orphan
            relayed = np.concatenate((relayed, n - m + np.flatnonzero(orphan)))
        named = None if identity is None else self.appearances.mark(
            identity, d.tcp_seq, d.tcp_ack, d.tcp_flags)
        if named is not None:
            copy |= named  # systematic below: named copies are copies of identified packets
        self.within.update(distinct(own.source[copy]).tolist())
        self.systematic = self.systematic or since is not None or bool(copy.any())
        self._icmp_copied = self._icmp_copied or since is not None
        points = self.points
        if points.active:
            far = self._far(every, rows, top, position, near, relayed)
            if far.size:
                copy[far] = True
                self.systematic = True  # the capture holds packets twice
        else:
            # A packet's named appearances are one point's, whatever their spacing (and in
            # whichever file: pktmon's flow and drop files): never a sample's pair.
            relay_copy = np.zeros(m, bool)
            relay_copy[rows[relayed]] = True
            # A wide copy (copy_window) is sampled as a pair apart, as before it was one:
            # points.py's offsets (one_ttl.py) learn from it as from any such pair.
            sampled_copy = copy
            if self._wide_then.size:
                sampled_copy = copy.copy()
                sampled_copy[rows[self._wide_then]] = False
            self._sample(flows, own, sampled_copy, named, relay_copy, d=d)
        if points.active or self.systematic:  # two points, a router's interfaces, copies
            originals = every.taken[n - m:].copy()  # a copy of its own found: no frame
            originals[rows[near[0]][rows[near[0]] >= 0]] = True  # a look-back needs
            copy |= self.super_frames.mark(flows, own.fields, own.ts, own.source, own.ttl,
                                           copy, originals, points)
        if in_tail is not None and self._tail is not None:
            self._tail.rows.taken[in_tail] = every.taken[:in_tail.shape[0]]
        own.taken = every.taken[n - m:]
        own.stamp = every.stamp[n - m:]
        window = self.points.window
        if self.wide and stamped is not None:  # wide copies shown: keep the wide window
            window = max(window, WIDE_COPY_WINDOW)
            read_stamps(own.stamp, np.flatnonzero((d.tcp_ts >= d.tcp_ts[-1] - window)
                                                   & (own.fields[:, _IP_ID] != 0)), stamped)
        syns = None if self.wide or stamped is None else tail_syns(d, own.stamp, None, stamped)
        if legs_at is not None and not own.leg.any():
            # The batch's bytes are gone by the next batch: the interfaces of the packets
            # a near copy there may be a copy of (_near's: within COPY_WINDOW of its end,
            # or WIDE_COPY_WINDOW), not of the far ones two points keep (points.window).
            reach = min(window, WIDE_COPY_WINDOW)
            last = np.flatnonzero(np.abs(d.tcp_ts - d.tcp_ts[-1]) <= reach)
            own.leg[last] = legs_at(last)
        self._tail = kept_tail(self._tail, d.tcp_ts, flows, own, copy, window,
                               FAR_TAIL_CAP if self.points.active else TAIL_CAP,
                               self._relaying, syns=syns, numbers=self.replays.numbers)
        found = copy.nonzero()[0]
        if found.size:
            self.replayed += int(np.count_nonzero(replayed))
            self.ipv4 += int(np.count_nonzero(d.tcp_version[found] == 4))
            # The batch's lowest frame numbers, not its first rows: in a pcapng of
            # several interfaces rows go by time, frames by the file, and the first rows'
            # frames made the examples depend on the batches (newuser63's dumpcap file
            # named frames 24-29 in one 16 MiB batch, 10-14 in 4 KiB ones).
            numbers = d.tcp_frame[found]
            if found.size > EXAMPLE_CAP:
                numbers_at = np.argpartition(numbers, EXAMPLE_CAP - 1)[:EXAMPLE_CAP]
            else:
                numbers_at = np.arange(found.size)
            self._note(numbers[numbers_at].tolist(),
                       d.tcp_ts[found[numbers_at]].tolist(), int(found.size))
        return copy, replayed

    def _relayed(self, every: Rows, rows: np.ndarray, top: np.ndarray,
                 position: np.ndarray, near: tuple[np.ndarray, np.ndarray], own: Rows,
                 legs: Callable[[], np.ndarray] | None,
                 stamped: Callable[[np.ndarray], np.ndarray] | None = None,
                 ) -> tuple[np.ndarray, np.ndarray]:
        """The relay copies (relay_copies), indexes into every, the batch's, and those of
        them told from their originals by named interfaces (legs.named_part: an exit of
        RelayCopies.learn), but those marked handed on (legs.handed_on: two hosts'
        captures, no router's exit); their pairs are counted in `relays` and marked
        taken. The interfaces are read (legs) once relay copies were seen, or when equal
        packets are left that are no copies yet; stamped: mark's (None: no pair beyond
        RELAY_WINDOW is taken, as a router's neighbour queue's)."""
        none = np.zeros(0, np.int64)
        if legs is None or top.shape[0] < 2:
            return none, none
        n, m = top.shape[0], own.side.shape[0]
        if not self.relays.count and np.count_nonzero(
                (top[1:] == top[:-1]) & (rows[position[1:]] >= 0)) <= near[1].shape[0]:
            return none, none
        own.leg[:] = legs()
        every.leg[n - m:] = own.leg
        copied = np.zeros(n, bool)
        copied[near[1]] = True
        held = None if stamped is None else same_stamps(every.stamp, rows, stamped, n - m)
        first, then = relay_pairs(Candidates(every.side, every.fields, every.ts, every.source,
                                             every.ttl, every.leg, rows >= 0, copied,
                                             every.taken), top, position, held)
        every.taken[first] = True
        every.taken[then] = True
        self.relays.note(every.ttl[first], every.ttl[then], every.ts[then] - every.ts[first],
                         every.frame[then], every.leg[first], every.leg[then], every.ts[then])
        return then, then[(named_part(every.leg[first]) != named_part(every.leg[then]))
                          & ~handed_on(every.leg[first], every.leg[then])]

    def _note(self, frames: list[int], times: list[float],
              count: int | None = None) -> None:
        """Count copies (count: len(frames) unless given) and keep the first frames of
        all, in frame order (a batch's ICMP and TCP copies are noted apart), and the
        time of the first (times: each frame's, seconds)."""
        self.count += len(frames) if count is None else count
        self._times.update(zip(frames, times, strict=True))
        self.frames = sorted(self.frames + frames)[:EXAMPLE_CAP]
        self._times = {frame: self._times[frame] for frame in self.frames}

    @property
    def first_ts(self) -> float | None:
        """The time of the first copy kept (the first of `frames`); None without any."""
        return self._times.get(self.frames[0]) if self.frames else None
