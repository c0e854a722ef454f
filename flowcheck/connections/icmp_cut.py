"""ICMP unreachables whose quote the snap length cut, tied to connections by their
addresses and time when that is unambiguous (field check 46).

A cut quote (flowcheck.decode.cut_quote.CutQuote) names no 4-tuple, but the message
still goes to the quoted packet's sender (RFC 792, RFC 4443 2.4) right after that packet
left it: a host's own reject comes within microseconds of the SYN at a capture on it, a
router's or a capture elsewhere's within a round trip. So the connection it answers is a
connection attempt whose opening packet (a SYN, or a SYN-ACK) the ICMP message's
destination sent within WINDOW seconds before it, in the same tunnel (or the other
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

The batches of the last WINDOW seconds are kept (their arrays, by reference), so a
reject read in the batch after its SYN still finds it; only a batch with a cut quote
costs anything. A capture copy of a message
(its bytes again within COPY_WINDOW) is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from flowcheck.connections.flows import BatchFlows, FlowKey, address_text
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection
from flowcheck.model.frames import frames_of

if TYPE_CHECKING:
    from flowcheck.decode import DecodedBatch
    from flowcheck.decode.cut_quote import CutQuote

# Seconds from an opening packet within which an ICMP unreachable may answer it: a round
# trip on any path a backup runs over, and Linux's initial SYN retransmission timeout
# (RFC 6298 2.1: 1 s), after which the next SYN is the one answered.
WINDOW = 1.0
FRAMES_PER_QUOTE = 8  # as connections.icmp's
# Seconds between an ICMP message and its capture copy (the same bytes captured twice:
# `-i any` on a router, a SPAN session with two sources), at most: connections.copies'.
COPY_WINDOW = 0.0005
_SYN, _RST = 0x02, 0x04
_TCP_HEADER = (20, 60)  # bytes, RFC 9293 3.1: data offset 5 to 15 words


@fields_dataclass(slots=True)
class Opening:
    """A SYN or SYN-ACK of a batch: its time (s), frame, flow key and direction, IP
    version, source and destination (address bytes) and ports, sequence number, IPv4
    identification and TCP payload length (bytes)."""

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
    # The time of the first packet of the other end of its connection after it (its
    # answer: a SYN-ACK, a RST, the ACK of a SYN-ACK), None while the capture holds none.
    answered: float | None = None
    row: int = -1  # its TCP row in the batch it came in (-1: asked of a later batch)


@fields_dataclass(slots=True)
class Held:
    """A batch's TCP columns and flows, kept (by reference: no copy) while an ICMP
    message of a later batch may answer one of its packets; `end` its last packet's
    time (s) and `flow_of` its flows by key (made when first asked)."""

    decoded: DecodedBatch
    flows: BatchFlows
    end: float
    flow_of: dict[FlowKey, int] | None = None

    def __deepcopy__(self, memo: dict[int, object]) -> Held:
        """Itself: nothing writes a past batch's columns (flowcheck.live copies the
        tracker at every check, as Parked.__deepcopy__ shares its read-only columns)."""
        return self

    def flow(self, key: FlowKey) -> int | None:
        """The batch's flow of `key` (its index in flows.keys), None when it has none."""
        if self.flow_of is None:
            self.flow_of = {k: i for i, k in enumerate(self.flows.keys)}
        return self.flow_of.get(key)


def openings(held: Held, to: bytes, version: int, since: float,
             until: float) -> list[Opening]:
    """The held batch's SYNs and SYN-ACKs (no RST) sent by `to` (address bytes of IP
    `version`) from `since` to `until` (seconds); their `answered` from this batch only."""
    decoded, flows = held.decoded, held.flows
    ts = decoded.tcp_ts
    words = np.frombuffer(to.ljust(16, b"\0"), ">u4").astype(np.uint32)
    width = 1 if version == 4 else 4
    rows = np.flatnonzero((decoded.tcp_flags & (_SYN | _RST) == _SYN)
                          & (decoded.tcp_version == version) & (ts >= since) & (ts <= until)
                          & (decoded.tcp_src[:, :width] == words[:width]).all(axis=1))
    found = []
    size = 4 if version == 4 else 16
    for row in rows.tolist():
        found.append(Opening(
            ts=float(ts[row]), frame=int(decoded.tcp_frame[row]),
            key=flows.keys[int(flows.flow[row])], from_lower=bool(flows.from_lower[row]),
            version=version, src=to,
            dst=decoded.tcp_dst[row].astype(">u4").tobytes()[:size],
            sport=int(decoded.tcp_sport[row]), dport=int(decoded.tcp_dport[row]),
            seq=int(decoded.tcp_seq[row]), ident=int(decoded.tcp_ip_id[row]),
            payload=int(decoded.tcp_payload_len[row]), row=row))
    for opening in found:
        opening.answered = answer_time(held, opening, int(flows.flow[opening.row]))
    return found


def answer_time(held: Held, opening: Opening, at: int | None) -> float | None:
    """The time of the held batch's first packet of flow `at` from the other end of the
    opening's connection after it (opening.row; -1: the opening came in an earlier
    batch), None if none."""
    if at is None:
        return None
    flows = held.flows
    rows = flows.order[flows.bounds[at]:flows.bounds[at + 1]]
    rows = rows[(rows > opening.row) & (flows.from_lower[rows] != opening.from_lower)]
    return float(held.decoded.tcp_ts[rows[0]]) if rows.shape[0] else None


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
        self._held: list[Held] = []  # this batch and those within WINDOW before it
        self._last: list[tuple[float, str, bytes]] = []  # recent messages: (ts, tunnel, identity)
        self.tied = 0  # cut quotes tied to a connection
        self.untied = 0  # cut quotes several connections fit

    def feed(self, decoded: DecodedBatch, flows: BatchFlows,
             record_at: Callable[[FlowKey, int], Connection | None],
             carrier: Carrier = _same_tunnel) -> None:
        """Tie the batch's cut quotes (after its connections are made: record_at gives
        the connection of a key whose packet is that frame; carrier: whether a message's
        tunnel carries an opening's direction). Keeps the batch while a later one's
        message may answer its packets (WINDOW): nothing else is done for a batch
        without cut quotes."""
        ts = decoded.tcp_ts
        if ts.shape[0]:
            self._held.append(Held(decoded, flows, float(ts.max())))
        for quote in decoded.cut_quotes:
            if not self._copy(quote):
                self._tie(quote, self._found(quote), record_at, carrier)
        # The next batch's messages come after this one's last packet (batches are read
        # in time order): a batch that ended WINDOW before it answers none of them.
        last = max(([float(ts.max())] if ts.shape[0] else [])
                   + [quote.ts for quote in decoded.cut_quotes], default=None)
        if last is not None:
            self._held = [h for h in self._held if h.end >= last - WINDOW]

    def _found(self, quote: CutQuote) -> list[Opening]:
        """The held openings sent by the message's destination within WINDOW before it,
        each with the time of its answer (the first packet of its other end after it)."""
        found = []
        for i, held in enumerate(self._held):
            for opening in openings(held, quote.to, quote.version, quote.ts - WINDOW,
                                    quote.ts):
                for later in self._held[i + 1:]:
                    if opening.answered is not None:
                        break
                    opening.row = -1  # every packet of a later batch comes after it
                    opening.answered = answer_time(later, opening, later.flow(opening.key))
                found.append(opening)
        return found

    def _copy(self, quote: CutQuote) -> bool:
        """Is the message a capture copy of one just before it (equal bytes within
        COPY_WINDOW, as connections.copies tells a whole quote's copy)? Remembers it."""
        recent = [e for e in self._last if abs(quote.ts - e[0]) <= COPY_WINDOW]
        copy = any(e[1:] == (quote.tunnel, quote.identity) for e in recent)
        self._last = [*recent, (quote.ts, quote.tunnel, quote.identity)][-64:]
        return copy

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
                self.tied += 1
                _attach(record, quote, o, source)
            return
        self.untied += 1
        for o in latest.values():
            record = record_at(o.key, o.frame)
            if record is not None and record.icmp_untied is None:
                record.icmp_untied = (quote.frame, quote.ts - o.ts, sender, len(latest))


def _attach(record: Connection, quote: CutQuote, opening: Opening, source: str) -> None:
    """The tied message as one more ICMP unreachable of the record (icmp_attach's)."""
    if len(record.icmp_frames) >= FRAMES_PER_QUOTE:
        return
    if not record.icmp_frames:
        record.icmp_code = quote.code
        record.icmp_sender = address_text(quote.version, quote.sender)
        record.icmp_to = address_text(quote.version, opening.src)
        record.icmp_cut = (quote.kept, quote.ts - opening.ts, source)
    record.icmp_frames = frames_of(record.icmp_frames)  # a short record's shared one
    record.icmp_frames.append(quote.frame)


def record_at(candidates: list[tuple], frame: int) -> Connection | None:
    """Of a key's connections in order of opening (icmp_attach's _Candidate tuples:
    first frame first, record fourth), the latest opened at or before `frame`."""
    for candidate in reversed(candidates):
        if candidate[0] <= frame and candidate[3] is not None:
            return candidate[3]
    return None
