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
  payload length and TCP checksum (which covers the options, the timestamp option's
  TSval included, and the payload) are all equal to that packet's, and
- it was captured at most COPY_WINDOW seconds from it.
A sender's own resend differs: Linux gives every packet of a connected socket the next
IP ID (a SYN retry too), and the TSval of a resend is later; and it comes after a
timeout: a SYN's 1 s (RFC 6298 2.1), the retransmission timeout's 200 ms minimum in
Linux (RFC 6298 2.4 says 1 s), the tail-loss probe's 2 ms minimum (Linux; RFC 8985
7.2). COPY_WINDOW (0.5 ms) is over 30 times the 15 us a SPAN copy lagged in the
trial captures (a switch mirrors in microseconds; both copies queue on the same mirror
port, so queueing delays them alike), and 4 times below the soonest resend.

Some packets have no identity of their own: Linux sends SYN-ACKs, RSTs and its time-wait
ACKs with IP ID 0 (and DF), and IPv6 has no IP ID. Such a packet answers an arriving one,
so two arrivals microseconds apart get two equal answers: a SYN-ACK resent by its timer
and the one answering the resent SYN, both at the SYN retry's time (Linux runs both
timers from 1 s, doubling), 20 us apart in the trial captures; a RST for each segment of
a burst sent to a closed socket. Their TSval is equal too (a 1 ms clock, RFC 7323 5.4).
Taken for copies they would hide the SYN-ACK retries that show a blocked return path. So
a packet is identified when its IPv4 ID is not 0, or it is a SYN without ACK, or it
carries payload (sent again on a timer or after duplicate ACKs); an equal packet of another
kind is a copy only once the capture has shown, at or before it, a copy of an identified
packet: it evidently holds packets twice (a SPAN session duplicates a SYN or the first
data well before its SYN-ACK or RST). Decided in capture order, the rule is the same for
any batching; it cannot tell an answer sent twice from a copy in a capture that
duplicates (there it counts the pair as one packet sent).

An ICMP destination unreachable quoting a TCP packet (flowcheck.connections.icmp) is a
capture copy of an earlier one when the IP addresses and IPv4 identification of the
packets carrying them and the ICMP messages (type, code, checksum and the quoted bytes:
the quoted packet's IP header with its ID and its TCP header) are equal, captured at most
COPY_WINDOW apart. An ICMP error answers one datagram (RFC 792; RFC 1812 4.3.2.8 limits
their rate): a SYN sent again gets its own, quoting that SYN's IP ID and TSval. Taken for
two, a copy would be one more reject, and for a connection known only from quotes one
more SYN retry. An ICMP copy is one of a packet with an identity of its own (the quote
gives it one, IPv6 too): from it on, the capture duplicates.

Copies are counted as packets (tshark counts them: packet and byte counts stay
tshark's) and change nothing else of a connection (conn.update_packet); an ICMP copy is
attached to no connection. Marking is per batch and path-independent: the tracker's
fast paths and its reference path take the same marks. The packets near a batch's end
are kept (`_Tail`) so a copy in the next batch finds its original; cost per batch
follows its packets, never the history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowcheck.connections.flows import BatchFlows, FlowKey
from flowcheck.decode import DecodedBatch, IcmpQuote

COPY_WINDOW = 0.0005  # seconds between a packet and its capture copy, at most
TAIL_CAP = 1 << 14  # packets kept across a batch boundary, at most (the latest)
EXAMPLE_CAP = 8  # example frames kept
ICMP_CAP = 64  # ICMP messages kept within COPY_WINDOW of the latest, at most
# The fields a copy has equal to its original (DecodedBatch columns).
_FIELDS = ("tcp_ip_id", "tcp_seq", "tcp_ack", "tcp_flags", "tcp_window", "tcp_payload_len",
           "tcp_checksum")
_IP_ID, _FLAGS, _PAYLOAD = 0, 3, 5  # their columns
_SYN, _ACK = 0x02, 0x10
_MULTIPLIERS = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
     0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9],
    dtype=np.uint64)


@dataclass(slots=True)
class _Tail:
    """The previous batches' last packets within COPY_WINDOW of their end."""

    keys: list[FlowKey]  # per packet: its flow key
    from_lower: np.ndarray  # bool
    fields: np.ndarray  # (n, len(_FIELDS)) int64
    ts: np.ndarray  # float64


class CaptureCopies:
    """Marks the capture copies of each batch (see the module docstring).

    `count` is the copies seen so far, `frames` the first EXAMPLE_CAP of them (frame
    numbers), `systematic` whether a copy of an identified packet was seen (from then on
    equal packets without identity are copies too).
    """

    def __init__(self) -> None:
        self.count = 0
        self.frames: list[int] = []
        self.systematic = False
        self._tail: _Tail | None = None
        self._icmp: list[tuple[float, str, bytes]] = []  # (ts, tunnel, identity), recent

    def icmp_originals(self, quotes: list[IcmpQuote]) -> tuple[list[IcmpQuote], int | None]:
        """The batch's ICMP quotes (capture order) without the capture copies, and the
        batch row (IcmpQuote.position) of its first copy when that is the capture's first
        copy of any kind (None otherwise): the TCP answers after it are copies too
        (`mark`'s `since`). Counts the copies and keeps their frames."""
        kept: list[IcmpQuote] = []
        found: list[int] = []
        first = None
        for quote in quotes:
            key = (quote.tunnel, quote.identity)
            recent = [e for e in self._icmp if abs(quote.ts - e[0]) <= COPY_WINDOW]
            if any((tunnel, identity) == key for _, tunnel, identity in recent):
                found.append(quote.frame)
                if first is None and not self.systematic:
                    first = quote.position
            else:
                kept.append(quote)
            self._icmp = [*recent, (quote.ts, *key)][-ICMP_CAP:]
        if found:
            self._note(found)
        return kept, first

    def mark(self, d: DecodedBatch, flows: BatchFlows, since: int | None = None) -> np.ndarray:
        """Per TCP packet of the batch (DecodedBatch rows, bool): whether it is a capture
        copy. flows: the batch's group_flows; since: the batch row of a copy of an
        identified packet found elsewhere (an ICMP copy: icmp_originals), when the
        capture showed none before."""
        m = d.tcp_index.shape[0]
        copy = np.zeros(m, bool)
        if not m:
            self.systematic = self.systematic or since is not None
            return copy
        own = fields = np.column_stack([getattr(d, name) for name in _FIELDS])
        side = 2 * flows.flow + flows.from_lower
        ts, tail = d.tcp_ts, self._tail
        rows = np.arange(m)
        if tail is not None:
            number = {key: f for f, key in enumerate(flows.keys)}
            flow = np.fromiter((number.get(key, -1) for key in tail.keys), np.int64,
                               len(tail.keys))
            known = flow >= 0
            side = np.concatenate((2 * flow[known] + tail.from_lower[known], side))
            fields = np.concatenate((tail.fields[known], fields))
            ts = np.concatenate((tail.ts[known], ts))
            rows = np.concatenate((np.full(int(known.sum()), -1), rows))
        # Equal packets of a direction made adjacent, in capture order: a hash of the
        # direction and the fields, its low bits replaced by the position, sorted (a sort
        # of values, several times faster than a stable argsort); equality of adjacent
        # candidates is then checked exactly.
        n = side.shape[0]
        bits = np.uint64(max(1, (n - 1).bit_length()))
        with np.errstate(over="ignore"):
            hashed = side.astype(np.uint64) * _MULTIPLIERS[0]
            for column in range(fields.shape[1]):
                hashed += fields[:, column].astype(np.uint64) * _MULTIPLIERS[column + 1]
            hashed ^= hashed >> np.uint64(29)
        ordered = np.sort((hashed >> bits << bits) | np.arange(n, dtype=np.uint64))
        top = ordered >> bits
        pair = np.flatnonzero(top[1:] == top[:-1])
        if pair.size:
            position = (ordered & ((np.uint64(1) << bits) - np.uint64(1))).astype(np.int64)
            first, then = position[pair], position[pair + 1]
            same = ((side[first] == side[then]) & (fields[first] == fields[then]).all(axis=1)
                    & (np.abs(ts[then] - ts[first]) <= COPY_WINDOW))
            later = rows[then[same]]
            was = fields[then[same]][later >= 0]
            later = later[later >= 0]  # a pair within the tail was judged with its batch
            if not self.systematic:
                identified = ((was[:, _IP_ID] != 0) | (was[:, _PAYLOAD] > 0)
                              | (was[:, _FLAGS] & (_SYN | _ACK) == _SYN))
                at = d.tcp_index[later]  # batch rows, to compare with since
                firsts = [int(at[identified].min())] if identified.any() else []
                if since is not None:
                    firsts.append(since)
                if firsts:
                    # Answers before the first identified copy stay sent (capture order).
                    identified |= at > min(firsts)
                later = later[identified]
            copy[later] = True
        self.systematic = self.systematic or since is not None or bool(copy.any())
        self._keep_tail(d, flows, own)
        found = np.flatnonzero(copy)
        if found.size:
            self._note(d.tcp_frame[found[:EXAMPLE_CAP]].tolist(), int(found.size))
        return copy

    def _note(self, frames: list[int], count: int | None = None) -> None:
        """Count copies (count: len(frames) unless given) and keep the first frames of
        all, in frame order (a batch's ICMP and TCP copies are noted apart)."""
        self.count += len(frames) if count is None else count
        self.frames = sorted(self.frames + frames)[:EXAMPLE_CAP]

    def _keep_tail(self, d: DecodedBatch, flows: BatchFlows, fields: np.ndarray) -> None:
        """Keep this batch's packets within COPY_WINDOW of its last one, and the earlier
        tail's that still are (a direction silent in this batch keeps its last packets)."""
        last = float(d.tcp_ts[-1])
        near = np.flatnonzero(np.abs(d.tcp_ts - last) <= COPY_WINDOW)[-TAIL_CAP:]
        keys = [flows.keys[f] for f in flows.flow[near].tolist()]
        from_lower, kept, ts = flows.from_lower[near], fields[near], d.tcp_ts[near]
        old = self._tail
        if old is not None and near.shape[0] < TAIL_CAP:
            still = np.flatnonzero(np.abs(old.ts - last) <= COPY_WINDOW)
            still = still[max(0, still.shape[0] - (TAIL_CAP - near.shape[0])):]
            keys = [old.keys[i] for i in still.tolist()] + keys
            from_lower = np.concatenate((old.from_lower[still], from_lower))
            kept = np.concatenate((old.fields[still], kept))
            ts = np.concatenate((old.ts[still], ts))
        self._tail = _Tail(keys, from_lower, kept, ts) if keys else None
