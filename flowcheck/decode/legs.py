"""The interface each packet was captured on, as far as its capture file tells.

A capture of several interfaces at once (`tcpdump -i any`, a pcapng of several
interfaces, a SPAN session mirroring two ports) holds a packet a router or bridge
forwarded twice: once as it came in, once as it left. What tells the two copies apart
is where each was captured (flowcheck.connections.relay_copies):
- the pcapng interface (its Interface Description Block: PacketBatch.interface);
- a Linux cooked capture v2 (LINKTYPE_LINUX_SLL2, `tcpdump -i any` since libpcap 1.10):
  the interface index, bytes 4-7 of its 20-byte header, and the packet type, byte 10
  (0 to this host, 3 to another host, 4 sent by it): a router-on-a-stick's packet comes
  in on the trunk and leaves by it again, the two copies told by the packet type alone;
- Linux cooked v1 (LINKTYPE_LINUX_SLL): no interface index, but the packet type (bytes
  0-1) and the link-layer address (bytes 6-13: the sender's): a forwarded packet comes
  in to the router's address from the previous hop and goes out from the router's own;
  the address, a MAC as Ethernet's are, counts with the MAC pairs below;
- Ethernet: the destination and source MAC addresses (bytes 0-11): a router rewrites
  both, a mirror port's copies of the ingress and egress legs differ so. A bridge
  forwards a frame with its MAC pair unchanged, and a host sends its resend to another
  router's MAC when it changed its default router: a MAC pair is no interface's name.
Any other link type tells nothing: 0.

The code (int64) holds the two kinds apart: its high 32 bits a hash of what names an
interface (the pcapng interface, SLL2's index and packet type, SLL's packet type; 0:
nothing names one), its low 32 bits a hash of the MAC addresses (Ethernet's pair, SLL's
address; 0 for other link types). `named_part` gives the first: two copies whose named
parts differ were captured on two named interfaces. The named part's two low bits say
which way the packet went, where the file tells it (a Linux cooked capture's packet
type: `way`): such marks, incoming on one interface and outgoing on another
(`forwarded`), show one host that captured several of its interfaces; a pcapng
interface alone (mergecap's output, two hosts' captures merged) shows no such host.
Not on the bulk path: computed only for the batches where a pair of equal packets apart
beyond a capture point's own copies needs it.
"""

from __future__ import annotations

import numpy as np

from flowcheck.arrays import HASH_MULTIPLIERS
from flowcheck.sources.batch import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    PacketBatch,
)

UNKNOWN = 0  # the capture does not tell the interface
INCOMING, OUTGOING = 1, 2  # `way`: the file says the packet came in, or went out
# `way`: it came in addressed to another host's link-layer address (PACKET_OTHERHOST: a
# bridge port's, or a promiscuous interface's, a SPAN of the host's own port among them).
PASSING = 3
# Linux cooked capture packet types (linux/if_packet.h): to this host's own link-layer
# address, to another host's, sent by this host.
PACKET_HOST, PACKET_OTHERHOST, PACKET_OUTGOING = 0, 3, 4
_WAYS = np.uint64(3)
_SLL2_TYPE = 10  # SLL2's packet type byte (SLL v1's 16-bit field ends before it)
# The ARPHRD type's first byte: SLL2 bytes 8-9, SLL v1 bytes 2-3 (big-endian).
_SLL2_HATYPE, _SLL_HATYPE = 8, 2
ARPHRD_LOOPBACK = 772  # linux/if_arp.h: lo
_WIDTH = 14  # bytes read from each packet's start (SLL v1's address ends there)
_LOW = np.uint64(0xFFFFFFFF)
_HALF = np.uint64(32)


def capture_legs(batch: PacketBatch, rows: np.ndarray) -> np.ndarray:
    """Per packet at `rows` (batch positions), int64: a code of the interface (or link
    leg) it was captured on, equal for two packets captured on the same one, UNKNOWN
    (0) when the file does not tell; its high 32 bits the named part (`named_part`), its
    low 32 the MAC pair's (module docstring)."""
    k = rows.shape[0]
    if not k:
        return np.zeros(0, np.int64)
    buf = np.frombuffer(batch.buf, dtype=np.uint8)
    start = np.asarray(batch.data_off, np.int64)[rows]
    caplen = np.asarray(batch.caplen, np.int64)[rows]
    linktype = np.asarray(batch.linktype)[rows]
    head = np.zeros((k, _WIDTH), np.uint8)
    at = np.flatnonzero(caplen >= _WIDTH)
    if at.size and buf.shape[0] >= _WIDTH:
        head[at] = buf[np.minimum(start[at], buf.shape[0] - _WIDTH)[:, None]
                       + np.arange(_WIDTH)]
    told = caplen >= _WIDTH
    if batch.interface is None and (linktype == LINKTYPE_ETHERNET).all():
        return _ethernet_legs(head, told)
    return _any_legs(batch, rows, head, told, linktype)


def _any_legs(batch: PacketBatch, rows: np.ndarray, head: np.ndarray, told: np.ndarray,
              linktype: np.ndarray) -> np.ndarray:
    """capture_legs of packets of any link type (rows: their batch positions; head:
    their first _WIDTH bytes (k, _WIDTH) uint8, told: whether each holds them;
    linktype: each one's)."""
    k = rows.shape[0]
    words = head.astype(np.uint64)
    named = np.zeros(k, np.uint64)  # what names the interface, + 1 (0: nothing)
    pair = np.zeros(k, np.uint64)  # the Ethernet MAC pair's hash
    is_sll2, is_sll = linktype == LINKTYPE_LINUX_SLL2, linktype == LINKTYPE_LINUX_SLL
    is_ethernet = linktype == LINKTYPE_ETHERNET
    with np.errstate(over="ignore"):
        # Big-endian integers of the bytes that name the leg, per link type.
        sll2 = (_number(words[:, 4:8]) << np.uint64(8)) | words[:, 10]
        ether = _number(words[:, 0:6]) ^ (_number(words[:, 6:12]) * HASH_MULTIPLIERS[2])
        sll = is_sll & told
        named = np.where(is_sll2 & told, sll2 * HASH_MULTIPLIERS[1] + np.uint64(1), named)
        named = np.where(sll, _number(words[:, 0:2]) * HASH_MULTIPLIERS[0] + np.uint64(1), named)
        # SLL v1's address is the previous hop's (or this host's) MAC, as a MAC pair is.
        pair = np.where(sll, _number(words[:, 6:14]) * HASH_MULTIPLIERS[2], pair)
        pair = np.where(is_ethernet & told, ether * HASH_MULTIPLIERS[1], pair)
        if batch.interface is not None:
            interface = np.asarray(batch.interface)[rows].astype(np.uint64) + np.uint64(1)
            named = named * HASH_MULTIPLIERS[2] + interface
        kind = np.where(is_sll2, words[:, 10], _number(words[:, 0:2]))
        told_way = told & (is_sll2 | is_sll)
        ways = np.where(told_way, np.where(
            kind == PACKET_OUTGOING, np.uint64(OUTGOING),
            np.where(kind == PACKET_OTHERHOST, np.uint64(PASSING), np.uint64(INCOMING))),
            np.uint64(0))
        folded = _fold(named)
        # The two low bits: the way (0 where not told, then at least 4: never UNKNOWN).
        folded = np.where(folded == 0, folded,
                          np.maximum(folded & ~_WAYS, np.uint64(4)) | ways)
        legs = ((folded << _HALF) | _fold(pair)).view(np.int64)
    legs[legs == UNKNOWN] = 1  # a told leg is never UNKNOWN, whatever its code
    unknown = ~told | ~(is_sll2 | is_sll | is_ethernet)
    if batch.interface is None:
        legs[unknown] = UNKNOWN
    return legs


def _ethernet_legs(head: np.ndarray, told: np.ndarray) -> np.ndarray:
    """capture_legs of Ethernet packets of a file without interfaces (a pcap's, the
    common case: the tail's packets of every batch, issue 7): the MAC pair's part only,
    the named part 0, as capture_legs' general path gives them in ~a third of its numpy
    calls. head: the packets' first _WIDTH bytes (k, _WIDTH) uint8; told: whether each
    holds them."""
    k = head.shape[0]
    macs = np.zeros((k, 16), np.uint8)  # each MAC as the low 6 bytes of a big-endian word
    macs[:, 2:8] = head[:, 0:6]
    macs[:, 10:16] = head[:, 6:12]
    words = macs.view(">u8").astype(np.uint64)
    with np.errstate(over="ignore"):
        pair = np.where(told, (words[:, 0] ^ (words[:, 1] * HASH_MULTIPLIERS[2]))
                        * HASH_MULTIPLIERS[1], np.uint64(0))
    legs = _fold(pair).view(np.int64)
    legs[legs == UNKNOWN] = 1  # a told leg is never UNKNOWN, whatever its code
    legs[~told] = UNKNOWN
    return legs


def cooked_packet_types(batch: PacketBatch, rows: np.ndarray) -> np.ndarray:
    """Per packet at `rows` (batch positions), int16: its Linux cooked capture packet
    type (linux/if_packet.h, the capture host's view of the frame: PACKET_HOST 0 to this
    host's own link-layer address, 1 broadcast, 2 multicast, PACKET_OTHERHOST 3 to
    another host's, a bridge port's or a promiscuous interface's, PACKET_OUTGOING 4 sent
    by this host; SLL2's byte 10, SLL v1's bytes 0-1); -1 where the link type is no
    Linux cooked capture or the header is cut before it. Vectorised: no per-packet
    Python."""
    linktype = np.asarray(batch.linktype)[rows]
    is_sll2, is_sll = linktype == LINKTYPE_LINUX_SLL2, linktype == LINKTYPE_LINUX_SLL
    kinds = np.full(rows.shape[0], -1, np.int16)
    told = np.flatnonzero((is_sll2 | is_sll)
                          & (np.asarray(batch.caplen, np.int64)[rows] >= _SLL2_TYPE + 1))
    if not told.size:
        return kinds
    buf = np.frombuffer(batch.buf, dtype=np.uint8)
    start = np.asarray(batch.data_off, np.int64)[rows[told]]
    two = is_sll[told]
    # SLL v1: a 16-bit big-endian field at 0 (its high byte 0 for the types above).
    kinds[told] = np.where(two, (buf[start].astype(np.int16) << 8) | buf[start + 1],
                           buf[start + _SLL2_TYPE])
    return kinds


def cooked_loopback(batch: PacketBatch, rows: np.ndarray) -> np.ndarray:
    """Per packet at `rows` (batch positions), bool: a Linux cooked capture's packet of a
    loopback interface (its ARPHRD type 772, SLL2's bytes 8-9, SLL v1's 2-3): the host's
    packet to itself, which `tcpdump -i any` holds once, marked arriving (PACKET_HOST),
    though the host sent it too (review 56a: UDP to 127.0.0.1, each packet marked 0).
    False where the link type is no Linux cooked capture or the header is cut before it.
    Vectorised."""
    linktype = np.asarray(batch.linktype)[rows]
    is_sll2, is_sll = linktype == LINKTYPE_LINUX_SLL2, linktype == LINKTYPE_LINUX_SLL
    found = np.zeros(rows.shape[0], bool)
    told = np.flatnonzero((is_sll2 | is_sll)
                          & (np.asarray(batch.caplen, np.int64)[rows] >= _SLL2_HATYPE + 2))
    if not told.size:
        return found
    buf = np.frombuffer(batch.buf, dtype=np.uint8)
    at = (np.asarray(batch.data_off, np.int64)[rows[told]]
          + np.where(is_sll2[told], _SLL2_HATYPE, _SLL_HATYPE))
    found[told] = ((buf[at].astype(np.int32) << 8) | buf[at + 1]) == ARPHRD_LOOPBACK
    return found


def named_part(legs: np.ndarray) -> np.ndarray:
    """Per leg code (capture_legs, int64): what names its interface (int64; 0 where
    nothing does: a plain Ethernet capture's MAC pairs). Two copies captured on two
    named interfaces (another interface index, packet type or pcapng interface) have
    different named parts; two told apart by their MAC pairs alone, the same."""
    return (legs.view(np.uint64) >> _HALF).astype(np.int64)


def pair_part(legs: np.ndarray) -> np.ndarray:
    """Per leg code (capture_legs, int64): the MAC pair's part (int64; 0 where no MAC
    pair or link-layer address was read). Two copies of a plain Ethernet capture under
    different MAC pairs have different pair parts, their named parts both UNKNOWN."""
    return (legs.view(np.uint64) & _LOW).astype(np.int64)


def crossed_again(first: np.ndarray, then: np.ndarray, legs: np.ndarray) -> np.ndarray:
    """Per pair of equal packets (first, then: indexes into legs, int64, the later copy
    of each pair the next one captured): whether the copy was captured under the very
    MAC pair (pair_part, not 0) of an earlier copy two captures before it, the packet
    whose copy `first` is: one packet crossed one link leg twice, the same way, a TTL
    lower each time it came round (a routing loop, two routers each taking the other
    for the next hop). Points a router apart, merged, hold each packet once per leg
    (review 54h: a loop captured at one bridge port read as a router's interfaces or
    two points' captures, "Not copies a device duplicated")."""
    again = np.zeros(first.shape[0], bool)
    if not first.size:
        return again
    order = np.argsort(then, kind="stable")
    later = then[order]
    at = np.minimum(np.searchsorted(later, first), later.shape[0] - 1)
    chained = later[at] == first  # `first` is itself a pair's copy
    before = first[order[at]]  # that pair's original, where chained
    pair = pair_part(legs[then])
    return chained & (pair != 0) & (pair_part(legs[before]) == pair)


def way(legs: np.ndarray) -> np.ndarray:
    """Per leg code (capture_legs, int64): INCOMING, OUTGOING or PASSING where the file
    says which way the packet went (a Linux cooked capture's packet type: 4 outgoing, 3
    other-host passing, else incoming), else 0."""
    return (named_part(legs) & int(_WAYS)).astype(np.int64)


def forwarded(first: np.ndarray, then: np.ndarray) -> np.ndarray:
    """Per pair of leg codes (int64): whether the file shows one host forwarding the
    packet: the first copy captured coming in, the later going out (a bridge's or
    router's `tcpdump -i any`; a bridge port marks its arrivals other-host, PASSING). A
    pcapng interface without such marks (mergecap's output of two hosts' captures,
    dumpcap -i a -i b) shows none: False."""
    came = way(first)
    return ((came == INCOMING) | (came == PASSING)) & (way(then) == OUTGOING)


def handed_on(first: np.ndarray, then: np.ndarray) -> np.ndarray:
    """Per pair of leg codes (int64): whether the file marks the first copy leaving a host
    (a Linux cooked capture's PACKET_OUTGOING: its sender's capture) and the later one
    arriving at the host it was addressed to (PACKET_HOST, or broadcast, multicast): two
    hosts' captures merged hold each packet between them so. Not an other-host arrival
    (PASSING): one host's capture holds its own packet leaving, then other-host, when a
    promiscuous interface of its mirrors its own port (a SPAN). One host's `-i any` holds
    no loopback packet twice (libpcap leaves out loopback's outgoing copies)."""
    return (way(first) == OUTGOING) & (way(then) == INCOMING)


def _fold(value: np.ndarray) -> np.ndarray:
    """64-bit codes (uint64) as 32-bit ones, 0 kept 0 (nothing told), else never 0."""
    with np.errstate(over="ignore"):
        folded = ((value * HASH_MULTIPLIERS[0]) >> _HALF) & _LOW
    return np.where(value == 0, np.uint64(0), np.maximum(folded, np.uint64(1)))


def _number(columns: np.ndarray) -> np.ndarray:
    """Bytes (k, w) uint64, w <= 8, as one big-endian integer each."""
    value = np.zeros(columns.shape[0], np.uint64)
    for column in range(columns.shape[1]):
        value = (value << np.uint64(8)) | columns[:, column]
    return value
