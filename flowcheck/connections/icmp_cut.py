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
as numpy columns (each one's flow key as its batch's number and flow index), so a reject
read in the batch after its SYN still finds it; a batch without a cut quote costs a few
numpy passes over its columns and no Python work per opening (Openings). Python objects
(Opening) are made only of the openings that fit a cut quote. A capture copy of a
message (its bytes again within copy_window.COPY_WINDOW) is left out (icmp_copies.icmp_copy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from flowcheck.connections.conn import RST as _RST
from flowcheck.connections.conn import SYN as _SYN
from flowcheck.connections.flows import BatchFlows, FlowKey, address_text
from flowcheck.connections.icmp import add_icmp
from flowcheck.connections.icmp_copies import icmp_copy
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection

if TYPE_CHECKING:
    from flowcheck.decode import DecodedBatch
    from flowcheck.decode.cut_quote import CutQuote

# Seconds from an opening packet within which an ICMP unreachable may answer it: a round
# trip on any path a backup runs over, and Linux's initial SYN retransmission timeout
# (RFC 6298 2.1: 1 s), after which the next SYN is the one answered.
WINDOW = 1.0
# A batch of at most this many TCP packets finds the answers to the recent openings with
# a set of their ports (a 64 kB table per batch cost more than its packets).
_FEW_PACKETS = 64
_TCP_HEADER = (20, 60)  # bytes, RFC 9293 3.1: data offset 5 to 15 words


@fields_dataclass(slots=True)
class Opening:
    """A SYN or SYN-ACK that fits a cut quote: its time (s), frame, flow key and
    direction, source and destination (address bytes) and sequence number."""

    ts: float
    frame: int
    key: FlowKey
    from_lower: bool
    src: bytes
    dst: bytes
    seq: int


_COLUMNS = ("ts", "frame", "version", "tunnel", "src", "dst", "sport", "dport", "seq",
            "ident", "payload", "from_lower", "answered", "batch", "flow")


@fields_dataclass(slots=True)
class Openings:
    """SYNs and SYN-ACKs (no RST) as columns: times (s, float64), frames, IP versions,
    tunnels (CutTies' numbers of their names), source and destination address words
    ((k, 4) uint32, as DecodedBatch's), ports, sequence numbers, IPv4 identifications,
    TCP payload lengths, from_lower (bool), `answered` (the time of the other end's
    first packet after it, float64; NaN: none yet), and where their flow keys are:
    `batch` (CutTies' number of the batch) and `flow` (its BatchFlows.keys index)."""

    ts: np.ndarray
    frame: np.ndarray
    version: np.ndarray
    tunnel: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    seq: np.ndarray
    ident: np.ndarray
    payload: np.ndarray
    from_lower: np.ndarray
    answered: np.ndarray
    batch: np.ndarray
    flow: np.ndarray

    @staticmethod
    def of(decoded: DecodedBatch, flows: BatchFlows, since: float, tunnels: np.ndarray,
           batch: int) -> Openings:
        """The openings of batch number `batch` sent at `since` (s) or later, answered
        within it (tunnels: the numbers of decoded.tunnels' names)."""
        rows = np.flatnonzero(decoded.tcp_ts >= since)
        rows = rows[decoded.tcp_flags[rows] & (_SYN | _RST) == _SYN]
        return Openings(
            ts=decoded.tcp_ts[rows], frame=decoded.tcp_frame[rows],
            version=decoded.tcp_version[rows], tunnel=tunnels[decoded.tcp_tunnel[rows]],
            src=decoded.tcp_src[rows], dst=decoded.tcp_dst[rows],
            sport=decoded.tcp_sport[rows], dport=decoded.tcp_dport[rows],
            seq=decoded.tcp_seq[rows], ident=decoded.tcp_ip_id[rows],
            payload=decoded.tcp_payload_len[rows],
            from_lower=flows.from_lower[rows].astype(bool),
            answered=_answered(decoded, flows, rows),
            batch=np.full(rows.shape[0], batch, np.int64), flow=flows.flow[rows])

    def take(self, rows: np.ndarray) -> Openings:
        """These rows (indices or a mask) of the columns."""
        return Openings(**{name: getattr(self, name)[rows] for name in _COLUMNS})

    def joined(self, other: Openings) -> Openings:
        """These openings, then other's."""
        return Openings(**{name: np.concatenate((getattr(self, name), getattr(other, name)))
                           for name in _COLUMNS})

    def answer(self, decoded: DecodedBatch, tunnels: np.ndarray) -> None:
        """Set `answered` of the unanswered ones from a later batch: the time of the
        batch's first packet (capture order) from their destination to their source in
        their tunnel (found by the ports swapped: one numpy gather over the batch, then every
        field of the few packets found). An opening to its own endpoint has no other
        end: it stays unanswered (a flow key's direction)."""
        waiting = np.flatnonzero(np.isnan(self.answered))
        if not waiting.shape[0] or not decoded.tcp_index.shape[0]:
            return
        if decoded.tcp_index.shape[0] <= _FEW_PACKETS:  # a few packets: no port table
            ports = set(self.sport[waiting].tolist())
            rows = np.array([row for row, port in enumerate(decoded.tcp_dport.tolist())
                             if port in ports], np.int64)
        else:
            to = np.zeros(1 << 16, bool)
            to[self.sport[waiting]] = True
            rows = np.flatnonzero(to[decoded.tcp_dport])
        if not rows.shape[0]:
            return  # no packet to an opening's source port: none answered
        # Each packet found beside the openings of its ports swapped (sorted by them).
        pairs = (self.dport[waiting] << 16) | self.sport[waiting]
        by_ports = np.argsort(pairs, kind="stable")
        pairs = pairs[by_ports]
        ports = (decoded.tcp_sport[rows] << 16) | decoded.tcp_dport[rows]
        low, high = np.searchsorted(pairs, ports), np.searchsorted(pairs, ports, "right")
        count = high - low
        row = np.repeat(rows, count)
        opening = by_ports[np.repeat(low - np.cumsum(count) + count, count)
                           + np.arange(row.shape[0])]
        seen = _ends(decoded.tcp_version[row], tunnels[decoded.tcp_tunnel[row]],
                     decoded.tcp_src[row], decoded.tcp_sport[row], decoded.tcp_dst[row],
                     decoded.tcp_dport[row])
        at = waiting[opening]
        sent = _ends(self.version[at], self.tunnel[at], self.src[at], self.sport[at],
                     self.dst[at], self.dport[at])
        same = np.flatnonzero((seen[:, :2] == sent[:, :2]).all(axis=1)
                              & (seen[:, 2:7] == sent[:, 7:]).all(axis=1)
                              & (seen[:, 7:] == sent[:, 2:7]).all(axis=1)
                              & (sent[:, 2:7] != sent[:, 7:]).any(axis=1))
        # Rows in capture order: an opening's first place is its first answer.
        answered, first = np.unique(opening[same], return_index=True)
        self.answered[waiting[answered]] = decoded.tcp_ts[row[same[first]]]

    def fitting(self, quote: CutQuote, keys: dict[int, list[FlowKey]],
                carrier: Carrier) -> list[Opening]:
        """The openings the cut quote can be of: sent by the ICMP message's destination
        in its tunnel (carrier) within WINDOW before it, not answered before it, and
        equal in each field the quote kept (keys: the batches' flow keys, by number)."""
        fit = ((self.version == quote.version) & (self.ts >= quote.ts - WINDOW)
               & (self.ts <= quote.ts) & ~(self.answered < quote.ts)
               & _address_is(self.src, quote.to, quote.version))
        for kept, own in ((quote.src, self.src), (quote.dst, self.dst)):
            if kept is not None:
                fit &= _address_is(own, kept, quote.version)
        for port, column in ((quote.sport, self.sport), (quote.dport, self.dport)):
            if port is not None:
                fit &= column == port
        if quote.version == 4 and quote.ident is not None:
            fit &= self.ident == quote.ident
        if quote.length is not None and quote.header is not None:
            tcp = quote.length - (quote.header if quote.version == 4 else 0) - self.payload
            fit &= (tcp >= _TCP_HEADER[0]) & (tcp <= _TCP_HEADER[1])
        size = 4 if quote.version == 4 else 16
        found = [Opening(
            ts=float(self.ts[i]), frame=int(self.frame[i]),
            key=keys[int(self.batch[i])][int(self.flow[i])],
            from_lower=bool(self.from_lower[i]), src=quote.to,
            dst=self.dst[i].astype(">u4").tobytes()[:size], seq=int(self.seq[i]))
            for i in np.flatnonzero(fit).tolist()]
        return [o for o in found if carrier(o.key, o.from_lower, quote.tunnel)]


def _address_is(words: np.ndarray, address: bytes, version: int) -> np.ndarray:
    """Per row of address words ((k, 4) uint32), whether it is `address` (bytes of IP
    `version`: IPv4's in word 0)."""
    width = 1 if version == 4 else 4
    wanted = np.frombuffer(address.ljust(16, b"\0"), ">u4").astype(np.uint32)
    return (words[:, :width] == wanted[:width]).all(axis=1)


def _ends(version: np.ndarray, tunnel: np.ndarray, src: np.ndarray, sport: np.ndarray,
          dst: np.ndarray, dport: np.ndarray) -> np.ndarray:
    """A direction per row ((k, 12) int64): IP version, tunnel, source address words
    (IPv4: word 0, the others 0), port, destination address words, port."""
    six = (version == 6)[:, None]
    return np.column_stack((version, tunnel, src[:, :1], src[:, 1:] * six, sport,
                            dst[:, :1], dst[:, 1:] * six, dport)).astype(np.int64)


def _answered(decoded: DecodedBatch, flows: BatchFlows, rows: np.ndarray) -> np.ndarray:
    """Per opening packet (rows of the batch), the time of the first packet after it of
    its flow from its other end (float64, s; NaN when the batch holds none): on the
    slices of flows.order of their flows only (packets in capture order in each)."""
    answered = np.full(rows.shape[0], np.nan)
    if not rows.shape[0]:
        return answered
    has = np.zeros(len(flows.keys), bool)
    has[flows.flow[rows]] = True
    wanted = np.flatnonzero(has)
    flow_of = (np.cumsum(has) - 1)[flows.flow[rows]]  # each opening's place in wanted
    starts = flows.bounds[wanted]
    lengths = flows.bounds[wanted + 1] - starts
    offsets = np.cumsum(lengths) - lengths
    part = np.repeat(np.arange(wanted.shape[0]), lengths)  # each place's flow of `wanted`
    at = np.arange(part.shape[0])
    packets = flows.order[at - offsets[part] + starts[part]]
    index = np.empty(decoded.tcp_index.shape[0], np.int64)
    index[packets] = at
    # The first place after an opening's from the other end is the first place after
    # it where the direction changes (the end where none does).
    lower = flows.from_lower[packets]
    changes = np.append(np.flatnonzero(lower[1:] != lower[:-1]) + 1, at.shape[0])
    found = changes[np.searchsorted(changes, index[rows], "right")]
    hit = found < offsets[flow_of] + lengths[flow_of]  # within its own flow's places
    answered[hit] = decoded.tcp_ts[packets[found[hit]]]
    return answered


# Whether an ICMP message that arrived in a tunnel may answer an opening packet of a key
# in its direction (from_lower) that arrived in the key's tunnel: (key, from_lower,
# tunnel) -> bool (flowcheck.connections.tunnel_halves.TunnelHalves.other_half: its own
# tunnel, or the other half's of a connection split between two tunnels).
Carrier = Callable[[FlowKey, bool, str], bool]


def _same_tunnel(key: FlowKey, from_lower: bool, tunnel: str) -> bool:
    return key[2] == tunnel


class CutTies:
    """The tracker's ties of cut quotes (module docstring), batch by batch. `built`:
    the openings made Opening objects so far, those a cut quote fitted (none while no
    cut quote came)."""

    def __init__(self) -> None:
        self._recent: Openings | None = None  # the last WINDOW seconds' openings
        self._keys: dict[int, list[FlowKey]] = {}  # their batches' flow keys, by number
        self._batches = 0  # batches fed
        self._tunnels: dict[str, int] = {}  # tunnel names' numbers
        self._last: list[tuple[float, str, bytes]] = []  # recent messages (icmp_copies.icmp_copy)
        self.built = 0

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
        if not decoded.cut_quotes and not (decoded.tcp_flags & _SYN).any():
            self._carry(decoded, last - WINDOW)  # no opening, no quote: most batches
            return
        tunnels = self._numbers(decoded)
        if self._recent is not None:
            self._recent.answer(decoded, tunnels)
        batch = self._batches
        self._batches += 1
        self._keys[batch] = flows.keys
        since = min([last - WINDOW] + [t - WINDOW for t in times])
        new = Openings.of(decoded, flows, since, tunnels, batch)
        recent = self._recent
        if decoded.cut_quotes:
            found = new if recent is None else recent.joined(new)
            for quote in decoded.cut_quotes:
                copy, self._last = icmp_copy(self._last, quote.ts, quote.tunnel,
                                             quote.identity)
                if not copy:
                    fitting = found.fitting(quote, self._keys, carrier)
                    self.built += len(fitting)
                    self._tie(quote, fitting, record_at)
        # The next batch's messages come after this one's last packet (batches are read
        # in time order): an opening WINDOW before it answers none of them.
        cut = last - WINDOW
        new = new if since >= cut else new.take(new.ts >= cut)
        kept = None if recent is None else recent.take(recent.ts >= cut)
        self._recent = new if kept is None or not kept.ts.shape[0] else kept.joined(new)
        # The keys of the batches an opening kept is of, no other: one opening stamped
        # ahead of its batch (a clock set back, a broken stamp) kept every later batch's.
        self._keep_keys(self._recent.batch)

    def _numbers(self, decoded: DecodedBatch) -> np.ndarray:
        """The numbers of decoded.tunnels' names (int64; new names numbered as met)."""
        return np.array([self._tunnels.setdefault(name, len(self._tunnels))
                         for name in decoded.tunnels], np.int64)

    def _carry(self, decoded: DecodedBatch, cut: float) -> None:
        """feed's work for a batch with no cut quote and no SYN (no opening of its own):
        the recent openings answered by it and those before `cut` (s) dropped, with the
        keys of the batches no opening kept is of. The same state as feed's whole pass
        (which would number the batch and drop its keys again, keep an empty Openings
        for None, and copy the openings when none is dropped), for a few numpy calls
        and none when no opening is recent: a batch of a live capture's pipe, or a
        test's batch of one packet, paid about 60 us for that pass (issue 7)."""
        recent = self._recent
        if recent is None or not recent.ts.shape[0]:
            return  # and no batch's keys are kept (feed dropped them with the last one)
        recent.answer(decoded, self._numbers(decoded))
        if recent.ts.min() >= cut:
            return
        kept = recent.take(recent.ts >= cut)
        self._recent = kept if kept.ts.shape[0] else None
        self._keep_keys(kept.batch)

    def _keep_keys(self, batches: np.ndarray) -> None:
        """Drop the flow keys of every batch but `batches` (the batch numbers of the
        openings kept)."""
        live = set(batches.tolist())  # (np.unique would load numpy.ma)
        for number in [b for b in self._keys if b not in live]:
            del self._keys[number]

    def _tie(self, quote: CutQuote, fitting: list[Opening],
             record_at: Callable[[FlowKey, int], Connection | None]) -> None:
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
    """The tied message as one more ICMP unreachable of the record (connections.icmp.add_icmp); the
    whole quotes of its batch came first, so its frame is placed in order."""
    sender = address_text(quote.version, quote.sender)
    if add_icmp(record, quote.code, sender, address_text(quote.version, opening.src),
                quote.frame, ttl=quote.ttl, in_order=False, ts=quote.ts):
        record.icmp_cut = (quote.kept, quote.ts - opening.ts, source)
    if 0 <= quote.packet_type < 8 and sender == record.icmp_sender:
        # Its Linux cooked mark, as RejectWays keeps a whole quote's from the record's
        # ICMP sender (its capture copies were left out above: the first one's alone).
        record.icmp_ways |= 1 << quote.packet_type
