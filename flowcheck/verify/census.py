"""What the capture-wide checks read of every TCP connection, gathered in one pass.

The capture's first and last packet (verify.context, verify.evidence), the host-to-host
directions it holds (capture_one_direction), the payload it saw and missed
(capture_loss) and the connections whose opening it lacks part of (verify.openings) were
thirteen passes over every connection, each an operator.attrgetter under map reading
one field: about 0.4 s on a capture of 200,000 short connections. One loop reads them
all: on CPython 3.11 a loop's read of a slots field is specialized (LOAD_ATTR_SLOT),
where attrgetter takes the generic lookup, so a loop reading thirteen fields costs about
what one such map did (40 ms and 35 ms there). The connections a later pass must look
at one by one (a side silent, an opening packet missing) are a few of them, listed here
in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field

from flowcheck.decode.other_ways import MAX_WAYS, OtherWay, Ways
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection
from flowcheck.sessions.kept import KeptPackets, kept_packets
from flowcheck.sources.pieces import ONE_PIECE, Pieces


@fields_dataclass(slots=True, eq=False)
class Census:
    """The connections' capture-wide figures (take_census); seconds on the capture's
    clock, bytes of TCP payload.

    first_ts: the earliest connection's first packet (0.0 without connections);
    end_ts: the latest packet, each connection's ts or last_ts (0.0 without);
    captured: the (sender, receiver) host directions the capture holds a packet of;
    one_sided: the connections with no packet from one of their sides, in order;
    unopened: those whose SYN or SYN-ACK the capture lacks, in order;
    missed: missed_bytes summed over the connections with both sides captured, less
    the bytes the receivers never got either or the capture cannot place
    (SideEvidence.lost, .untold): the sniffer's loss (a one-sided connection's gaps have
    no receiver's ACK to place them: flowcheck.verify.one_way_loss);
    payload: orig_bytes and resp_bytes summed (retransmissions included);
    others: the packets that are not TCP per (source, destination) pair
    (decode.other_ways, from the decode's skipped packets; empty when not given): a
    direction `captured` lacks that the capture holds all the same;
    pieces: the set's parts apart in time (sources.pieces), and captured_in: per piece, the
    directions it holds a packet of (each connection's in the piece of its first packet;
    with one piece, [captured]); in_pieces: per piece, its connections (each in the piece
    of its first packet, in order: Pieces.group, once per analysis; [connections] with
    one piece)."""

    connections: Sequence[Connection] = field(repr=False)
    first_ts: float
    end_ts: float
    captured: set[tuple[str, str]]
    one_sided: list[Connection]
    unopened: list[Connection]
    missed: int
    payload: int
    others: Ways = field(default_factory=Ways, repr=False)
    pieces: Pieces = ONE_PIECE
    captured_in: list[set[tuple[str, str]]] = field(default_factory=list, repr=False)
    in_pieces: Sequence[Sequence[Connection]] = field(default_factory=list, repr=False)
    found_kept: KeptPackets | None = None  # kept(), once read

    def kept(self) -> KeptPackets:
        """The packet kinds the capture holds (sessions.kept.kept_packets), read once."""
        if self.found_kept is None:
            self.found_kept = kept_packets(self.connections)
        return self.found_kept

    def one_sided_in(self) -> list[list[Connection]]:
        """one_sided per piece of the set (each connection in the piece of its first
        packet: sources.pieces), in order; [one_sided] with one piece."""
        if len(self.pieces) == 1:
            return [self.one_sided]
        return self.pieces.group(self.one_sided, _first_ts)

    def other_way(self, sender: str, receiver: str, ts: float | None = None
                  ) -> tuple[OtherWay | None, int]:
        """(the packets from `sender` to `receiver` that are not TCP: decode.other_ways,
        None when the capture holds none or they were not given; where their first falls
        against the piece of the set (sources.pieces) that holds time `ts` (s): -1 an
        earlier piece, 1 a later, 0 the same, or no `ts` asked, or one piece). The one
        per-piece test of other_words, none_words and way_back.lacking_words (review58f)."""
        way = self.others.get(sender, receiver)
        if way is None or ts is None or len(self.pieces) < 2:
            return way, 0
        at, asked = self.pieces.of(way.ts), self.pieces.of(ts)
        return way, (at > asked) - (at < asked)

    def other_words(self, sender: str, receiver: str, ts: float | None = None) -> str | None:
        """The words of the packets from `sender` to `receiver` that are not TCP
        (decode.other_ways.OtherWay.words: "an ICMP echo reply (frame 2)"); None when the
        capture holds none (or they were not given). ts: a time (s) whose piece of the set
        (sources.pieces) asks: None too when their first packet is another piece's, the
        one time kept (review58f: a file's echo reply days before read "so that
        direction passed the capture point" for a later file's one-direction capture)."""
        way, where = self.other_way(sender, receiver, ts)
        return None if way is None or where else way.words()

    def none_words(self, sender: str, receiver: str, *, at_all: bool = True,
                   ts: float | None = None) -> str:
        """What the capture holds of `sender`'s packets to `receiver` when it holds none
        counted: "no packet at all from B to A" ("no packet from B to A", at_all False),
        or, when the count of the packets that are not TCP stopped at its cap of host
        pairs and left this one out (decode.other_ways.Ways.uncounted), "no TCP packet
        from B to A, nor any other among the 65,536 host pairs counted first": a pair
        after them may hold a ping reply (review 56k: 70,000 UDP sources before an echo
        reply from 10.77.0.2 read "holds no packet at all from 10.77.0.2"). ts: a time (s)
        whose piece of the set (sources.pieces) asks, when other_words(ts) said none
        there: "no TCP packet from B to A" when packets of the pair that are not TCP came
        in an earlier piece and more than one (where the others fell is not kept)."""
        way, where = self.other_way(sender, receiver, ts)
        if way is not None and way.count > 1 and where < 0:
            return f"no TCP packet from {sender} to {receiver}"
        if self.others.uncounted(sender, receiver):
            return (f"no TCP packet from {sender} to {receiver}, nor any other among the "
                    f"{MAX_WAYS:,} host pairs whose packets that are not TCP were counted "
                    "first (later pairs' were not)")
        return f"no packet{' at all' if at_all else ''} from {sender} to {receiver}"

    def loss_share(self) -> tuple[int, int, float]:
        """(bytes missed, payload bytes seen, missed share of the payload sent: 0.0-1.0)."""
        missed, seen = self.missed, self.payload
        return missed, seen, missed / (missed + seen) if missed + seen else 0.0


def take_census(connections: Sequence[Connection], others: Ways | None = None,
                pieces: Pieces = ONE_PIECE) -> Census:
    """The connections' Census, in one pass over them (a second placing each in its piece
    for the directions per piece, when the set has several: sources.pieces); others: the
    capture's packets that are not TCP by pair (decode.skipped.Skipped.ways), when known."""
    if others is None:
        others = Ways()
    if not connections:
        return Census(connections, 0.0, 0.0, set(), [], [], 0, 0, others, pieces,
                      [set() for _ in range(len(pieces))], [[] for _ in range(len(pieces))])
    first = latest = connections[0].ts
    last_ts = connections[0].last_ts
    captured: set[tuple[str, str]] = set()
    add = captured.add
    one_sided: list[Connection] = []
    unopened: list[Connection] = []
    missed = orig_bytes = resp_bytes = 0
    # The last host pair added both ways: the connections next to each other mostly
    # join the same two hosts, whose directions are then not hashed again.
    both: tuple[str, str] | None = None
    for conn in connections:
        # Each running extreme takes the first of equal values, as min and max do.
        ts = conn.ts
        if ts < first:
            first = ts
        if ts > latest:
            latest = ts
        if conn.last_ts > last_ts:
            last_ts = conn.last_ts
        orig_h, resp_h = conn.orig_h, conn.resp_h
        if conn.orig_pkts and conn.resp_pkts:
            if both is None or orig_h != both[0] or resp_h != both[1]:
                both = (orig_h, resp_h)
                add(both)
                add((resp_h, orig_h))
            missed += conn.missed_bytes
            if conn.orig_evidence is not None:
                missed -= conn.orig_evidence.lost + conn.orig_evidence.untold
            if conn.resp_evidence is not None:
                missed -= conn.resp_evidence.lost + conn.resp_evidence.untold
        else:
            one_sided.append(conn)
            if conn.orig_pkts:
                add((orig_h, resp_h))
            elif conn.resp_pkts:
                add((resp_h, orig_h))
        orig_bytes += conn.orig_bytes
        resp_bytes += conn.resp_bytes
        if not (conn.syn_frames and conn.synack_frames):
            unopened.append(conn)
    in_pieces: Sequence[Sequence[Connection]] = [connections]
    captured_in = [captured]
    if len(pieces) > 1:
        in_pieces = pieces.group(connections, _first_ts)
        captured_in = [_captured(conns) for conns in in_pieces]
    return Census(connections, first, max(last_ts, latest), captured, one_sided, unopened,
                  missed, orig_bytes + resp_bytes, others, pieces, captured_in, in_pieces)


def _first_ts(conn: Connection) -> float:
    """A connection's first packet time (s): the time that places it in a piece."""
    return conn.ts


def _captured(connections: Sequence[Connection]) -> set[tuple[str, str]]:
    """The (sender, receiver) directions `connections` (one piece's) hold a packet of."""
    held: set[tuple[str, str]] = set()
    add = held.add
    for conn in connections:
        if conn.orig_pkts:
            add((conn.orig_h, conn.resp_h))
        if conn.resp_pkts:
            add((conn.resp_h, conn.orig_h))
    return held
