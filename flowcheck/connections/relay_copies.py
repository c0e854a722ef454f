"""Relay copies: a packet a router or bridge forwarded, captured as it came in and as it
left, by one capture of several interfaces (`tcpdump -i any` on the router).

The egress copy waits in the router's queue: in trial 30 (a router shaping its egress
with a queue) from 0.1 ms to 209 ms after the ingress one, far beyond copies.py's 0.5
ms, so 931 copies read as retransmissions (evidence of loss) and their bytes as sent
twice. What tells such a copy from a sender's resend is where and how it was captured:

A packet is the relay copy of an earlier packet of the same file when
- they are equal in copies.py's fields (the same direction of the same connection,
  IPv4 ID, TCP sequence and acknowledgement numbers, flags, window, payload length and,
  for a packet without an IPv4 ID, its header's options: packet_identity);
- they were captured on different interfaces (flowcheck.decode.legs: the Linux cooked
  capture's interface index and packet type, or its packet type and address, the pcapng
  interface, or the Ethernet MAC addresses), both known;
- its TTL (IPv6: hop limit) is one lower than the earlier packet's (routed: RFC 791
  3.2, RFC 8200 3), or equal (bridged) where the two interfaces are named ones (another
  interface index, packet type or pcapng interface: legs.named_part). A bridge forwards
  a frame with its MAC pair unchanged, so two copies told apart by their MAC pairs alone
  are a router's or none: a host that switched its default router (R1 -> R2) sends its
  resend, bit for bit over IPv6 without timestamps, to R2's MAC with the same hop limit;
- it was captured at most RELAY_WINDOW after it, and the earlier packet is neither a
  copy itself nor the original of another copy.
Among several equal earlier packets (a bit-identical resend: IPv6, or IPv4 ID 0, with
no timestamp option) the latest that qualifies is taken.

A copy without its original. `tcpdump -i any` drops packets when it falls behind (trial
30: 123 of 5,740), an ingress copy as well as an egress one. The egress copy left alone
then comes a queueing delay after the ingress copies of later segments: it reads as a
retransmission filling a gap (65 in trial 30's agent-kill). Once relay copies showed by
which interface, with which TTL, a host's packets to another leave the router (the copy's
addresses, file, interface and TTL: `exits`, at most EXITS_CAP), a packet captured so is
an egress copy too, its original (the ingress copy) not captured: every packet of that
host pair passes the ingress interface first, a resend too. It counts as a copy (`orphans`);
its bytes are the capture's loss, not the network's. Only on evidence: the pairs were
told by named interfaces (a MAC pair names none: a host's own capture after it changed
its default router holds its packets to the new router's MAC, every one unpaired), and
EXIT_PAIRS of them showed that exit (a sustained pattern, not one resend that left by
another interface). Whether the sniffer dropped the ingress copies is the orphans'
share of the pairs (`dropped_likely`): a sniffer falling behind drops a few.

A sender's resend is not such a copy: it comes in on the interface its original came in
on (unless its route changed, below), with its original's TTL, and mostly differs anyway
(Linux, Windows and the BSDs give it a new IPv4 ID; a later TSval changes the checksum).
A packet dropped after the capture point and resent is captured twice more, the resend's
own two copies: one retransmission. RELAY_WINDOW (1 s) bounds the queueing delay taken:
a queue holding a packet longer than TCP's initial retransmission timeout (1 s, RFC 6298
2.1) has its sender resend it anyway. Within it the interface and TTL tell the copy, as
far as they can: a resend captured 200 ms or more after its original (a retransmission
timeout) on another interface with an acceptable TTL is taken for a copy too. That is a
host captured with `tcpdump -i any` whose route moved to another of its interfaces
between the two (IPv6 or IPv4 ID 0, no timestamps): indistinguishable from a VLAN's
packet captured again on its trunk after the trunk's queue (both outgoing, the same
TTL); one such pair is no sustained pattern, so it makes no later packet an orphan.

Cost. The pairs come from copies.py's sort of each batch (equal packets adjacent in
capture order): pairs of two packets in numpy, larger groups (identical resends, rare)
in Python, a few candidates each. Until the first relay copy the capture is not taken
for a multi-interface one: copies.py keeps only its 0.5 ms of packets across batches
and reads no interface. From then on it keeps, across batches, the packets of the last
RELAY_WINDOW that found no copy yet (those still in the router's queue) of the host
pairs whose packets showed relay copies (copies_tail.RelayPairs, at most
RELAY_PAIRS_CAP pairs), at most RELAY_TAIL_CAP packets: state bounded by the queue and
those pairs' packet rate, not the history nor the other hosts' traffic.

Held by neighbour resolution. A router that has no link-layer address for the next hop
yet queues the packets for it while it asks (RFC 1122 2.3.2.2: keep at least one; RFC
4861 7.2.2 for IPv6) and sends them once answered: Linux keeps them in the neighbour
entry's queue (unres_qlen) through its probes, mcast_solicit (3) of them retrans_time (1
s) apart, so up to 3 s, and drops them when none is answered. A SYN to a host the
router has not talked to lately waits so, and its resends join it in the queue: field
check 54 (seed 117 run 24, both hosts' dumpcap captures merged keeping their
interfaces) holds the media server's three SYNs at its own point and, 2.05 s after the
first, all three at the agent's one hop lower; two came beyond RELAY_WINDOW and read as
two more resent SYNs. Beyond RELAY_WINDOW, up to NEIGHBOUR_HOLD (those 3 s and half a
second for the timers' and two capture clocks' slack), a packet is the relay copy of an
earlier one when, besides the rule above, its TTL is one lower (a router between the
two captures; a bridge resolves nothing) and both carry the same TCP header with a
timestamp option in it (stamped_identity: the same TSval; with an IPv4 ID, the same one
too, as every field copies.py compares). A resend is stamped anew (RFC 7323 5.4: TSval
is the timestamp clock's value when sent, a tick of 1 ms to 1 s; a SYN is resent after 1
s, RFC 6298 2.1, so its clock has ticked): equal TSvals are one transmission. A packet
without a timestamp option keeps RELAY_WINDOW (its resend may be bit for bit its
original, at the resend timing). Found within a batch only (a file's CHUNK_BYTES, 16
MiB): a copy in a later batch than its original's is past the tail (before any relay
copy its 0.5 ms, after one RELAY_WINDOW's unpaired packets) and reads as a resend, as
before the rule (run 24 read in 600-byte chunks; a live pipe's 50 ms batches). Keeping
stamped SYNs NEIGHBOUR_HOLD across batches would read their stamps in every capture
with SYNs, copies or not; not done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field

import numpy as np

from flowcheck.arrays import HASH_MULTIPLIERS
from flowcheck.connections.near_copies import NearCopies
from flowcheck.decode.legs import (
    UNKNOWN,
    forwarded,
    handed_on,
    named_part,
)
from flowcheck.fields_dataclass import fields_dataclass

RELAY_WINDOW = 1.0  # seconds a router's queue may hold a packet, at most (see above)
# s a router holds a packet while it resolves its next hop's address, at most, for a
# routed copy with its original's TSval (see "Held by neighbour resolution" above).
NEIGHBOUR_HOLD = 3.5
# s: relay copies none of which came sooner than this after its original, all bridged,
# read as two capture points' clocks apart as likely as a queue (RelayCopies.clock_like).
CLOCK_LIKE = 0.005
RELAY_TAIL_CAP = 1 << 16  # packets without their copy yet kept across batches, at most
SEARCH = 8  # earlier equal packets compared with each one in a larger group
FRAMES_KEPT = 8
EXITS_CAP = 1024  # (host pair, file, interface, TTL) of the egress copies kept, at most
EXIT_PAIRS = 8  # relay pairs by named interfaces an exit needs before orphans are taken
DROPPED_SHARE = 0.25  # orphans per pair, at most, to read them as the sniffer's drops
# Per pair (earlier, later: indexes into Candidates), bool: the same stamped identity
# (stamped_identity), read when asked: copies.py's, for the pairs beyond RELAY_WINDOW.
Held = Callable[[np.ndarray, np.ndarray], np.ndarray]


@fields_dataclass(slots=True)
class RelayCopies(NearCopies):
    """What the relay copies found so far show: `count`, the `routed` ones (TTL one
    lower) and the `bridged` ones (equal), the `longest` and `shortest` time (seconds) a
    copy came after its original, the first copies' `frames`; `orphans`: egress copies without
    their original (among `count`); `exits`: the egress codes (`exit_codes`) of pairs
    told by named interfaces, oldest first, each with its pairs so far (orphans once
    EXIT_PAIRS). The near copies' counts are NearCopies' (connections.near_copies)."""


    count: int = 0
    routed: int = 0
    bridged: int = 0
    longest: float = 0.0
    shortest: float = float("inf")
    orphans: int = 0
    frames: list[int] = field(default_factory=list)
    exits: dict[int, int] = field(default_factory=dict)
    forwarded: int = 0  # pairs the file shows one host forwarding (legs.forwarded)
    held: int = 0  # of count: beyond RELAY_WINDOW (a router's neighbour queue, its TSval)
    # The capture times (s) of the first and last held copy: a neighbour queue sends
    # what it held at once, when the next hop answers (relay_words.held_words).
    held_first: float = float("inf")
    held_last: float = float("-inf")
    # Pairs the file marks leaving one host, then arriving at another (legs.handed_on):
    # two hosts' Linux cooked captures merged; of them, `handed_routed` one TTL lower.
    handed: int = 0
    handed_routed: int = 0

    @property
    def clock_like(self) -> bool:
        """Whether the copies look like two capture points' clocks apart rather than a
        queue: all bridged (one TTL), none marked forwarded by the file (a pcapng's
        interfaces, mergecap's output), and none sooner than CLOCK_LIKE after its
        original (a bridge whose queue is empty forwards in microseconds; a constant
        delay is two clocks' offset)."""
        return (self.count > 0 and self.bridged == self.count and not self.forwarded
                and self.shortest > CLOCK_LIKE)

    @property
    def interfaces(self) -> bool:
        """Whether the capture's copies are one capture host's several interfaces: relay
        copies were told whose file marks them forwarded (legs.forwarded), or most copies
        within copy_window.COPY_WINDOW read (`note_near`) were captured on another named
        interface of the same file with the same TTL (or one lower), marked forwarded."""
        return bool(self.forwarded) or (self.near_read > 0
                                     and 2 * self.near_named > self.near_read)

    def learn(self, codes: np.ndarray) -> None:
        """Take the egress codes of the copies found by named interfaces (uint64,
        `exit_codes`; legs.named_part), counting each one's pairs."""
        ordered = np.sort(codes)
        if not ordered.size:
            return
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        counts = np.diff(np.append(starts, ordered.size))
        for code, pairs in zip(ordered[starts].tolist(), counts.tolist(), strict=True):
            self.exits[code] = self.exits.pop(code, 0) + pairs
            if len(self.exits) > EXITS_CAP:
                del self.exits[next(iter(self.exits))]

    def orphaned(self, codes: np.ndarray, copy: np.ndarray) -> np.ndarray:
        """Per packet (bool): not a copy yet but captured where and as at least EXIT_PAIRS
        relay copies of its host pair were: an egress copy whose original the capture
        lacks (counted)."""
        trusted = [code for code, pairs in self.exits.items() if pairs >= EXIT_PAIRS]
        if not trusted:
            return np.zeros(codes.shape[0], bool)
        found = ~copy & np.isin(codes, np.array(trusted, np.uint64))
        self.orphans += int(np.count_nonzero(found))
        return found

    @property
    def dropped_likely(self) -> bool:
        """Whether the orphans read as a sniffer's drops: a few against the pairs found
        (at most DROPPED_SHARE of them), as a sniffer falling behind drops (trial 30's
        stored capture: 1 against 350). More point elsewhere (the ingress copies not
        captured at all, or a pattern that is no router's)."""
        return self.orphans <= DROPPED_SHARE * self.count

    def note(self, ttl_first: np.ndarray, ttl_then: np.ndarray, delay: np.ndarray,
             frames: np.ndarray, legs_first: np.ndarray, legs_then: np.ndarray,
             times: np.ndarray) -> None:
        """Count the pairs found (their TTLs, delays in seconds, the copies' frames, the
        legs: those the file marks forwarded, legs.forwarded; times: the copies' capture
        times in seconds, which bound the held ones', held_first and held_last)."""
        if not frames.size:
            return
        late = delay > RELAY_WINDOW
        if late.any():
            self.held_first = min(self.held_first, float(times[late].min()))
            self.held_last = max(self.held_last, float(times[late].max()))
        self.count += int(frames.size)
        self.forwarded += int(np.count_nonzero(forwarded(legs_first, legs_then)))
        handed = handed_on(legs_first, legs_then)
        self.handed += int(np.count_nonzero(handed))
        self.handed_routed += int(np.count_nonzero(handed & (ttl_then != ttl_first)))
        routed = int(np.count_nonzero(ttl_then != ttl_first))
        self.routed += routed
        self.bridged += int(frames.size) - routed
        self.held += int(np.count_nonzero(late))
        self.longest = max(self.longest, float(delay.max()))
        self.shortest = min(self.shortest, float(delay.min()))
        self.frames = sorted(self.frames + frames[:FRAMES_KEPT].tolist())[:FRAMES_KEPT]


@fields_dataclass(slots=True)
class Candidates:
    """The packets copies.py compares (parallel arrays, the batch's tail first): their
    direction, fields, times, files, TTLs, legs (flowcheck.decode.legs), whether each is
    the batch's (not the tail's), a copy already, or an original already."""

    side: np.ndarray
    fields: np.ndarray
    ts: np.ndarray
    source: np.ndarray
    ttl: np.ndarray
    leg: np.ndarray
    in_batch: np.ndarray
    copied: np.ndarray
    taken: np.ndarray


def exit_codes(src: np.ndarray, dst: np.ndarray, source: np.ndarray, leg: np.ndarray,
               ttl: np.ndarray) -> np.ndarray:
    """Per packet (uint64): a code of its sender and receiver addresses ((k, 4) words,
    DecodedBatch.tcp_src / tcp_dst), its file of the set, interface and TTL."""
    with np.errstate(over="ignore"):
        code = (source.astype(np.uint64) * HASH_MULTIPLIERS[0]
                + leg.astype(np.uint64) * HASH_MULTIPLIERS[1])
        code += ttl.astype(np.uint64) * HASH_MULTIPLIERS[2]
        for word in range(src.shape[1]):
            code = (code ^ (code >> np.uint64(29))) * HASH_MULTIPLIERS[3]
            code += (src[:, word].astype(np.uint64) << np.uint64(32)) | dst[:, word]
        code ^= code >> np.uint64(31)
    return code


def relay_pairs(packets: Candidates, top: np.ndarray, position: np.ndarray,
                held: Held | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The relay copies among packets (module docstring): (originals, copies), indexes
    into packets, the copies in the batch. top: copies.py's sorted hashes (equal packets
    adjacent), position: the packet at each place of the sort (capture order within
    equal hashes); held: whether pairs (earlier, later indexes) carry the same stamped
    identity, for those apart beyond RELAY_WINDOW (None: none is taken)."""
    none = np.zeros(0, np.int64)
    n = top.shape[0]
    if n < 2:
        return none, none
    starts = np.flatnonzero(np.concatenate(([True], top[1:] != top[:-1])))
    size = np.diff(np.append(starts, n))
    two = starts[size == 2]
    first, then = position[two], position[two + 1]
    ok = _qualifies(packets, first, then, held)
    firsts, thens = [first[ok]], [then[ok]]
    for start, length in zip(starts[size > 2].tolist(), size[size > 2].tolist(), strict=True):
        found = _greedy(packets, position[start:start + length], held)
        if found:
            pairs = np.array(found, np.int64)
            firsts.append(pairs[:, 0])
            thens.append(pairs[:, 1])
    return np.concatenate(firsts), np.concatenate(thens)


def _qualifies(p: Candidates, first: np.ndarray, then: np.ndarray,
               held: Held | None = None) -> np.ndarray:
    """Whether each `then` is a relay copy of `first` (bool, the rule's conditions; held:
    relay_pairs')."""
    drop = p.ttl[first] - p.ttl[then]
    bridged = (drop == 0) & (named_part(p.leg[first]) != named_part(p.leg[then]))
    gap = np.abs(p.ts[then] - p.ts[first])
    ok = (p.in_batch[then] & ~p.copied[then] & ~p.copied[first] & ~p.taken[first]
          & (p.side[first] == p.side[then]) & (p.fields[first] == p.fields[then]).all(axis=1)
          & (p.source[first] == p.source[then])
          & (p.leg[first] != p.leg[then]) & (p.leg[first] != UNKNOWN)
          & (p.leg[then] != UNKNOWN))
    within = ok & (gap <= RELAY_WINDOW) & (bridged | (drop == 1))
    if held is not None:
        late = np.flatnonzero(ok & (drop == 1) & (gap > RELAY_WINDOW) & (gap <= NEIGHBOUR_HOLD))
        if late.size:  # a router's neighbour queue: the same TSval (module docstring)
            within[late] = held(first[late], then[late])
    return within


def _greedy(p: Candidates, members: np.ndarray,
            held: Held | None = None) -> list[tuple[int, int]]:
    """A group of three or more equal packets (capture order): each of the batch's takes
    the latest earlier one still free that it is a relay copy of (up to SEARCH back;
    held: relay_pairs')."""
    free: list[int] = []
    found: list[tuple[int, int]] = []
    for index in members.tolist():
        if p.copied[index] or (not p.in_batch[index]):
            if not p.copied[index] and not p.taken[index]:
                free.append(index)
            continue
        then = np.array([index])
        match = next((cand for cand in reversed(free[-SEARCH:])
                      if _qualifies(p, np.array([cand]), then, held)[0]), None)
        if match is None:
            free.append(index)
        else:
            free.remove(match)
            found.append((match, index))
    return found
