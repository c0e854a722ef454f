"""verify.census: one pass gives what the capture-wide checks' own passes gave (the
capture's first and last packet, its directions, its payload seen and missed, the
connections a later pass reads one by one), on connections of every shape those passes
tell apart."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from flowcheck.decode.other_ways import OtherWay, Ways
from flowcheck.model import Connection
from flowcheck.model.evidence import SideEvidence
from flowcheck.sources.pieces import ONE_PIECE, Pieces
from flowcheck.verify.census import take_census
from flowcheck.verify.evidence import missing_directions


def _conn(uid: str, orig_h: str, resp_h: str, ts: float, last_ts: float, *,
          orig_pkts: int = 1, resp_pkts: int = 1, history: str = "ShADadFf",
          syn: bool = True, synack: bool = True, **fields: object) -> Connection:
    return Connection(uid, orig_h, 40000, resp_h, 10000, ts, last_ts=last_ts,
                      history=history, orig_pkts=orig_pkts, resp_pkts=resp_pkts,
                      syn_frames=[1] if syn else [], synack_frames=[2] if synack else [],
                      **fields)  # type: ignore[arg-type]


def _connections() -> list[Connection]:
    lossy = _conn("C2", "10.0.0.1", "10.0.0.2", 1.0, 9.0, orig_bytes=5000, resp_bytes=40,
                  missed_bytes=1500)
    lossy.set_evidence("orig", SideEvidence(lost=500, untold=100))
    return [
        _conn("C1", "10.0.0.1", "10.0.0.2", 2.0, 3.0, orig_bytes=10, resp_bytes=20),
        lossy,
        # A RST's record may end before it starts (ts after last_ts): its ts counts.
        _conn("C3", "10.0.0.3", "10.0.0.2", 12.0, 0.0, resp_pkts=0, history="SA",
              synack=False),
        _conn("C4", "10.0.0.4", "10.0.0.2", 1.0, 4.0, orig_pkts=0, history="ha",
              syn=False),
        _conn("C5", "10.0.0.5", "10.0.0.2", 5.0, 6.0, orig_pkts=0, resp_pkts=0, history="",
              syn=False, synack=False),
        # One side silent between hosts whose both directions other connections hold.
        _conn("C6", "10.0.0.1", "10.0.0.2", 7.0, 8.0, resp_pkts=0, history="SA",
              synack=False),
    ]


def test_one_pass_gives_what_the_separate_passes_gave() -> None:
    conns = _connections()
    census = take_census(conns)
    assert census.first_ts == min(c.ts for c in conns) == 1.0
    assert census.end_ts == max(max(c.last_ts for c in conns), max(c.ts for c in conns)) == 12.0
    assert census.captured == ({(c.orig_h, c.resp_h) for c in conns if c.orig_pkts}
                               | {(c.resp_h, c.orig_h) for c in conns if c.resp_pkts})
    assert [c.uid for c in census.one_sided] == ["C3", "C4", "C5", "C6"]
    assert [c.uid for c in census.unopened] == ["C3", "C4", "C5", "C6"]
    assert census.missed == sum(c.sniffer_missed for c in conns) == 900
    assert census.loss_share() == (900, 5070, 900 / 5970)


def test_the_silent_sides_alone_give_the_missing_directions() -> None:
    """missing_directions over Census.one_sided, given Census.captured, is what it is over
    every connection."""
    conns = _connections()
    census = take_census(conns)
    assert missing_directions(census.one_sided, census.captured) == missing_directions(conns)
    assert list(missing_directions(conns)) == [("10.0.0.2", "10.0.0.3"),
                                               ("10.0.0.4", "10.0.0.2")]


def test_no_connection() -> None:
    census = take_census([])
    assert (census.first_ts, census.end_ts, census.captured, census.missed) == (0.0, 0.0,
                                                                                 set(), 0)
    assert census.loss_share() == (0, 0, 0.0)


def test_pieces_group_places_each_item_in_its_piece_in_order() -> None:
    """Pieces.group: a list per piece in piece order ([] for a piece holding none), each
    item in the piece that holds its time (a time at a piece's start is that piece's) in
    the order given; one piece: every item, in order."""
    pieces = Pieces((10.0, 20.0, 30.0), ends=(9.0, 19.0, 29.0))
    times = [15.0, 5.0, 10.0, 9.5, 31.0, 12.0]
    assert pieces.group(times, float) == [[5.0, 9.5], [15.0, 10.0, 12.0], [], [31.0]]
    assert ONE_PIECE.group(times, float) == [times]
    assert pieces.group([], float) == [[], [], [], []]


def test_the_census_groups_the_connections_by_piece_once() -> None:
    """take_census with two pieces (a file from 6 s on): in_pieces holds each connection
    in the piece of its first packet, captured_in each piece's directions from its own
    connections, one_sided_in the one-sided ones per piece; one piece: [connections]."""
    conns = _connections()
    census = take_census(conns, pieces=Pieces((6.0,), ends=(4.0,)))
    assert [[c.uid for c in piece] for piece in census.in_pieces] == [
        ["C1", "C2", "C4", "C5"], ["C3", "C6"]]
    assert census.captured_in == [
        {("10.0.0.1", "10.0.0.2"), ("10.0.0.2", "10.0.0.1"), ("10.0.0.2", "10.0.0.4")},
        {("10.0.0.3", "10.0.0.2"), ("10.0.0.1", "10.0.0.2")}]
    assert [[c.uid for c in piece] for piece in census.one_sided_in()] == [
        ["C4", "C5"], ["C3", "C6"]]
    whole = take_census(conns)
    assert whole.in_pieces == [conns] and whole.captured_in == [whole.captured]


def test_other_way_says_where_the_pairs_first_packet_falls() -> None:
    """Census.other_way: the pair's packets that are not TCP and where their first falls
    against the piece of the time asked (-1 earlier, 0 the same, 1 later); 0 without a
    time or with one piece; (None, 0) for a pair without any."""
    way = OtherWay(3, 2, 15.0, "an ICMP echo reply")
    others = cast(Ways, SimpleNamespace(get=lambda s, r: way if (s, r) == ("B", "A") else None))
    census = take_census([], others, Pieces((10.0, 20.0), ends=(9.0, 19.0)))
    assert [census.other_way("B", "A", ts) for ts in (5.0, 12.0, 25.0, None)] == [
        (way, 1), (way, 0), (way, -1), (way, 0)]
    assert census.other_way("A", "B", 12.0) == (None, 0)
    assert take_census([], others).other_way("B", "A", 25.0) == (way, 0)
    assert census.other_words("B", "A", 25.0) is None
    assert census.other_words("B", "A", 12.0) == way.words()
    assert census.none_words("B", "A", ts=25.0) == "no TCP packet from B to A"
