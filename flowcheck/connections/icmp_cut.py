"""ICMP unreachables whose quote the snap length cut, tied to connections by their
addresses and time when that is unambiguous (field check 46).

A cut quote (flowcheck.decode.cut_quote.CutQuote) names no 4-tuple, but the message
still goes to the quoted packet's sender (RFC 792, RFC 4443 2.4) right after that packet
left it: a host's own reject comes within microseconds of the SYN at a capture on it, a
router's or a capture elsewhere's within a round trip. So the connection it answers is a
connection attempt whose opening packet (a SYN, or a SYN-ACK) the ICMP message's
destination sent within WINDOW seconds before it and whose other end had not answered
by then (an attempt no longer open refuses nothing), in the same tunnel (or the other
half's of a connection split between two tunnels: tunnel_halves), whose fields agree
with what the quote kept (its source and destination addresses, its ports, its IPv4
identification, and its length: a bare TCP header of 20 to 60 bytes plus the packet's
own payload, which a segment of data does not fit).

Of those, when the ICMP message's source is the destination of some of them, it came
from that host itself ("host"), and only the attempts between those two hosts count;
else it came from a third address ("router": a router or firewall on the way; "own":
the sender's own stack) and every attempt of the sender counts. Tied only when exactly
one attempt (a 4-tuple, direction and initial sequence number: a SYN's retries are one)
remains: the message is then that connection's, as a whole quote's would be
(Connection.icmp_frames, icmp_code, icmp_sender, icmp_to), with Connection.icmp_cut
saying how it was tied. When several remain, none is tied: each of them gets
Connection.icmp_untied (the capture holds an ICMP message that may be its reject, so
no reader says it got no ICMP). A message none fits is left alone.

The opening packets of the last WINDOW seconds of a batch are carried to the next one
(as columns), so a reject read in the batch after its SYN still finds it. A capture copy
of a message (its bytes again within copies.COPY_WINDOW) is left out (copies.icmp_copy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from flowcheck.connections.conn import RST as _RST
from flowcheck.connections.conn import SYN as _SYN
from flowcheck.connections.copies import icmp_copy
from flowcheck.connections.flows import BatchFlows, FlowKey, address_text
from flowcheck.connections.icmp_attach import add_icmp
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection

if TYPE_CHECKING:
    from flowcheck.decode import DecodedBatch
    from flowcheck.decode.cut_quote import CutQuote

# Seconds from an opening packet within which an ICMP unreachable may answer it: a round
# trip on any path a backup runs over, and Linux's initial SYN retransmission timeout
# (RFC 6298 2.1: 1 s), after which the next SYN is the one answered.
WINDOW = 1.0
_TCP_HEADER = (20, 60)  # bytes, RFC 9293 3.1: data offset 5 to 15 words


@fields_dataclass(slots=True)
class Opening:
    """A SYN or SYN-ACK: its time (s), frame, flow key and direction, IP version, source
    and destination (address bytes) and ports, sequence number, IPv4 identification, TCP
    payload length (bytes), and the time of the first packet of the other end of its
    connection after it (its answer: a SYN-ACK, a RST, the ACK of a SYN-ACK; None while
    the capture holds none)."""

    ts: float
    frame: int
    key: FlowKey
    from_lower: bool
    version: int
    src: bytes
    dst: bytes
    sport: int
    dport: int
    seq: int
    ident: int
    payload: int
    answered: float | None = None


_COLUMNS = ("ts", "frame", "version", "src", "dst", "sport", "dport", "seq", "ident",
            "payload", "from_lower", "answered")


@fields_dataclass(slots=True)
class Openings:
    """SYNs and SYN-ACKs (no RST) as columns, parallel to `keys` (their flow keys):
    times (s, float64), frames, IP versions, source and destination address words ((k,
    4) uint32, as DecodedBatch's), ports, sequence numbers, IPv4 identifications, TCP
    payload lengths, from_lower (bool) and `answered` (the time of the other end's first
    packet after it, float64; NaN: none yet)."""

    ts: np.ndarray
    frame: np.ndarray
    version: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    seq: np.ndarray
    ident: np.ndarray
    payload: np.ndarray
    from_lower: np.ndarray
    answered: np.ndarray
    keys: list[FlowKey]

    @staticmethod
    def of(decoded: DecodedBatch, flows: BatchFlows, since: float) -> Openings:
        """The batch's openings sent at `since` (s) or later, answered within it."""
        n = decoded.tcp_index.shape[0]
        rows = np.flatnonzero((decoded.tcp_flags & (_SYN | _RST) == _SYN)
                              & (decoded.tcp_ts >= since)) if n else np.zeros(0, np.int64)
        answered = np.full(rows.shape[0], np.nan)
        if rows.shape[0]:
            position = np.empty(n, np.int64)
            position[flows.order] = np.arange(n)
            ends = flows.bounds[flows.flow[rows] + 1]
            found = _next_other(flows)[flows.from_lower[rows].astype(np.int64),
                                       np.minimum(position[rows] + 1, n)]
            hit = found < ends
            answered[hit] = decoded.tcp_ts[flows.order[found[hit]]]
        flow = flows.flow[rows].tolist()
        return Openings(
            ts=decoded.tcp_ts[rows], frame=decoded.tcp_frame[rows],
            version=decoded.tcp_version[rows], src=decoded.tcp_src[rows],
            dst=decoded.tcp_dst[rows], sport=decoded.tcp_sport[rows],
            dport=decoded.tcp_dport[rows], seq=decoded.tcp_seq[rows],
            ident=decoded.tcp_ip_id[rows], payload=decoded.tcp_payload_len[rows],
            from_lower=flows.from_lower[rows].astype(bool), answered=answered,
            keys=[flows.keys[f] for f in flow])

    def take(self, rows: np.ndarray) -> Openings:
        """These rows (indices or a mask) of the columns."""
        index = np.flatnonzero(rows) if rows.dtype == bool else rows
        return Openings(**{name: getattr(self, name)[index] for name in _COLUMNS},
                        keys=[self.keys[i] for i in index.tolist()])

    def joined(self, other: Openings) -> Openings:
        """These openings, then other's."""
        return Openings(**{name: np.concatenate((getattr(self, name), getattr(other, name)))
                           for name in _COLUMNS}, keys=self.keys + other.keys)

    def answer(self, decoded: DecodedBatch, flows: BatchFlows) -> None:
        """Set `answered` of the unanswered ones from a later batch: the time of its
        first packet of their connection from their other end (found by the ports
        swapped in one numpy pass, then the flow key and direction)."""
        waiting = np.flatnonzero(np.isnan(self.answered))
        if not waiting.shape[0] or not decoded.tcp_index.shape[0]:
            return
        reply = np.unique((self.dport[waiting] << 16) | self.sport[waiting])
        pairs = (decoded.tcp_sport << 16) | decoded.tcp_dport
        at = np.minimum(np.searchsorted(reply, pairs), reply.shape[0] - 1)
        rows = np.flatnonzero(reply[at] == pairs)
        if not rows.shape[0]:
            return
        by_end: dict[tuple[FlowKey, bool], list[int]] = {}
        for i in waiting.tolist():
            by_end.setdefault((self.keys[i], bool(self.from_lower[i])), []).append(i)
        for row in rows.tolist():
            end = (flows.keys[int(flows.flow[row])], not flows.from_lower[row])
            for i in by_end.pop(end, ()):
                self.answered[i] = decoded.tcp_ts[row]  # rows in capture order: the first

    def sent_by(self, to: bytes, version: int, since: float, until: float) -> list[Opening]:
        """Those sent by address `to` (bytes of IP `version`) from `since` to `until` (s)."""
        words = np.frombuffer(to.ljust(16, b"\0"), ">u4").astype(np.uint32)
        width = 1 if version == 4 else 4
        rows = np.flatnonzero((self.version == version) & (self.ts >= since)
                              & (self.ts <= until)
                              & (self.src[:, :width] == words[:width]).all(axis=1))
        size = 4 if version == 4 else 16
        return [Opening(
            ts=float(self.ts[i]), frame=int(self.frame[i]), key=self.keys[i],
            from_lower=bool(self.from_lower[i]), version=version, src=to,
            dst=self.dst[i].astype(">u4").tobytes()[:size], sport=int(self.sport[i]),
            dport=int(self.dport[i]), seq=int(self.seq[i]), ident=int(self.ident[i]),
            payload=int(self.payload[i]),
            answered=None if np.isnan(self.answered[i]) else float(self.answered[i]))
            for i in rows.tolist()]


def _next_other(flows: BatchFlows) -> np.ndarray:
    """(2, n + 1) positions in flows.order: row 0 (for an opening from the upper
    endpoint), each position's first position at or after it of a packet from the lower
    endpoint; row 1 of one from the upper endpoint; n where none (n: the packets). A
    position beyond its flow's slice (flows.bounds) means its flow has none after it."""
    n = flows.order.shape[0]
    lower = flows.from_lower[flows.order].astype(bool)
    at = np.arange(n)
    out = np.full((2, n + 1), n, np.int64)
    for row, sent in ((0, lower), (1, ~lower)):
        out[row, :n] = np.minimum.accumulate(np.where(sent, at, n)[::-1])[::-1]
    return out


# Whether an ICMP message that arrived in a tunnel may answer an opening packet of a key
# in its direction (from_lower) that arrived in the key's tunnel: (key, from_lower,
# tunnel) -> bool (flowcheck.connections.tunnel_halves.TunnelHalves.other_half: its own
# tunnel, or the other half's of a connection split between two tunnels).
Carrier = Callable[[FlowKey, bool, str], bool]


def _same_tunnel(key: FlowKey, from_lower: bool, tunnel: str) -> bool:
    return key[2] == tunnel


def fits(quote: CutQuote, opening: Opening, carrier: Carrier = _same_tunnel) -> bool:
    """Can the cut quote be of this opening packet: sent by the ICMP message's
    destination in its tunnel (carrier) within WINDOW before it, and equal in each
    field kept?"""
    if (opening.version != quote.version or opening.src != quote.to
            or not carrier(opening.key, opening.from_lower, quote.tunnel)
            or not quote.ts - WINDOW <= opening.ts <= quote.ts
            or (opening.answered is not None and opening.answered < quote.ts)):
        return False  # not its: another sender, tunnel or time, or answered before it
    for kept, own in ((quote.src, opening.src), (quote.dst, opening.dst),
                      (quote.sport, opening.sport), (quote.dport, opening.dport)):
        if kept is not None and kept != own:
            return False
    if quote.version == 4 and quote.ident is not None and quote.ident != opening.ident:
        return False
    if quote.length is not None and quote.header is not None:
        tcp = quote.length - (quote.header if quote.version == 4 else 0) - opening.payload
        if not _TCP_HEADER[0] <= tcp <= _TCP_HEADER[1]:
            return False
    return True


class CutTies:
    """The tracker's ties of cut quotes (module docstring), batch by batch."""

    def __init__(self) -> None:
        self._recent: Openings | None = None  # the last WINDOW seconds' openings
        self._last: list[tuple[float, str, bytes]] = []  # recent messages (copies.icmp_copy)

    def feed(self, decoded: DecodedBatch, flows: BatchFlows,
             record_at: Callable[[FlowKey, int], Connection | None],
             carrier: Carrier = _same_tunnel) -> None:
        """Tie the batch's cut quotes (after its connections are made: record_at gives
        the connection of a key whose packet is that frame; carrier: whether a message's
        tunnel carries an opening's direction), then carry its openings of its last
        WINDOW seconds to the next batch (columns: a few numpy passes per batch)."""
        ts = decoded.tcp_ts
        times = [quote.ts for quote in decoded.cut_quotes]
        last = max(([float(ts.max())] if ts.shape[0] else []) + times, default=None)
        if last is None:
            return
        if self._recent is not None:
            self._recent.answer(decoded, flows)
        since = min([last - WINDOW] + [t - WINDOW for t in times])
        new = Openings.of(decoded, flows, since)
        found = new if self._recent is None else self._recent.joined(new)
        for quote in decoded.cut_quotes:
            copy, self._last = icmp_copy(self._last, quote.ts, quote.tunnel, quote.identity)
            if not copy:
                self._tie(quote, found.sent_by(quote.to, quote.version,
                                               quote.ts - WINDOW, quote.ts),
                          record_at, carrier)
        # The next batch's messages come after this one's last packet (batches are read
        # in time order): an opening WINDOW before it answers none of them.
        self._recent = found.take(found.ts >= last - WINDOW)

    def _tie(self, quote: CutQuote, found: list[Opening],
             record_at: Callable[[FlowKey, int], Connection | None],
             carrier: Carrier) -> None:
        fitting = [o for o in found if fits(quote, o, carrier)]
        if not fitting:
            return
        own = [o for o in fitting if o.dst == quote.sender]
        source = "host" if own else "own" if quote.sender == quote.to else "router"
        chosen = own or fitting
        latest: dict[tuple[FlowKey, bool, int], Opening] = {}
        for o in sorted(chosen, key=lambda o: o.ts):
            latest[(o.key, o.from_lower, o.seq)] = o
        sender = address_text(quote.version, quote.sender)
        if len(latest) == 1:
            (o,) = latest.values()
            record = record_at(o.key, o.frame)
            if record is not None:
                _attach(record, quote, o, source)
            return
        for o in latest.values():
            record = record_at(o.key, o.frame)
            if record is not None and record.icmp_untied is None:
                record.icmp_untied = (quote.frame, quote.ts - o.ts, sender, len(latest))


def _attach(record: Connection, quote: CutQuote, opening: Opening, source: str) -> None:
    """The tied message as one more ICMP unreachable of the record (icmp_attach's); the
    whole quotes of its batch came first, so its frame is placed in order."""
    if add_icmp(record, quote.code, address_text(quote.version, quote.sender),
                address_text(quote.version, opening.src), quote.frame, in_order=False):
        record.icmp_cut = (quote.kept, quote.ts - opening.ts, source)

